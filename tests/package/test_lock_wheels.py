"""Every package requirements.lock installs on the Spark-side image has an aarch64 wheel.

The StartOS image for aarch64 is built with ``pip install --require-hashes --only-binary=:all:``
on CPython 3.11 (Debian bookworm, glibc 2.36). That build fails late, on another machine, when a
pinned version has no wheel for that platform or when none of its locked hashes is such a
wheel. This asks PyPI's JSON API for each pin and checks both, so the failure shows up here.
Skipped, with the reason, when PyPI cannot be reached.
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from packaging.markers import Marker
from packaging.tags import Tag, compatible_tags, cpython_tags
from packaging.utils import parse_wheel_filename

ROOT = Path(__file__).resolve().parents[2]
PYPI = "https://pypi.org/pypi"

# The image's Python and platform: CPython 3.11 on glibc 2.36 (bookworm), aarch64.
PLATFORMS = [f"manylinux_2_{minor}_aarch64" for minor in range(36, 16, -1)] + [
    "manylinux2014_aarch64",
    "linux_aarch64",
]
ENVIRONMENT = {
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "platform_machine": "aarch64",
    "platform_system": "Linux",
    "sys_platform": "linux",
    "os_name": "posix",
    "python_version": "3.11",
    "python_full_version": "3.11.2",
}


def image_tags() -> set[Tag]:
    return set(cpython_tags((3, 11), abis=["cp311"], platforms=PLATFORMS)) | set(
        compatible_tags((3, 11), interpreter="cp311", platforms=PLATFORMS)
    )


def locked_pins(text: str) -> list[tuple[str, str, set[str]]]:
    """(name, version, sha256 hashes) of every lock entry installed in the aarch64 image."""
    pins = []
    for entry in re.split(r"\n(?=\S)", text):
        head = re.match(r"^([A-Za-z0-9._-]+)==([^\s;\\]+)(?:\s*;\s*([^\\\n]+))?", entry)
        if head is None:
            continue
        name, version, marker = head.groups()
        if marker and not Marker(marker.strip()).evaluate(ENVIRONMENT):
            continue
        hashes = set(re.findall(r"--hash=sha256:([0-9a-f]{64})", entry))
        pins.append((name, version, hashes))
    return pins


def test_the_lock_parser_reads_pins_markers_and_hashes() -> None:
    text = (
        "a-pkg==1.0 \\\n    --hash=sha256:" + "a" * 64 + "\n    # via x\n"
        "winonly==2.0 ; sys_platform == 'win32' \\\n    --hash=sha256:" + "b" * 64 + "\n"
        "cpy==3.0 ; platform_python_implementation != 'PyPy' \\\n"
        "    --hash=sha256:" + "c" * 64 + " \\\n    --hash=sha256:" + "d" * 64 + "\n"
    )
    assert locked_pins(text) == [("a-pkg", "1.0", {"a" * 64}), ("cpy", "3.0", {"c" * 64, "d" * 64})]


def test_image_tags_accept_aarch64_cp311_and_refuse_other_platforms() -> None:
    tags = image_tags()

    def ok(filename: str) -> bool:
        return bool(parse_wheel_filename(filename)[3] & tags)

    assert ok("msgspec-0.19.0-cp311-cp311-manylinux_2_17_aarch64.manylinux2014_aarch64.whl")
    assert ok("yarl-1.0-cp311-cp311-manylinux_2_28_aarch64.whl")
    assert ok("idna-3.10-py3-none-any.whl")
    assert ok("cryptography-44.0.0-cp39-abi3-manylinux_2_34_aarch64.whl")
    assert not ok("msgspec-0.19.0-cp311-cp311-manylinux_2_17_x86_64.whl")
    assert not ok("msgspec-0.19.0-cp312-cp312-manylinux_2_17_aarch64.whl")
    assert not ok("pkg-1.0-cp311-cp311-manylinux_2_39_aarch64.whl")  # newer glibc than bookworm
    assert not ok("pkg-1.0-cp311-cp311-musllinux_1_2_aarch64.whl")


def test_every_locked_package_has_a_hashed_aarch64_cp311_wheel() -> None:
    pins = locked_pins((ROOT / "requirements.lock").read_text(encoding="utf-8"))
    assert len(pins) > 10
    tags = image_tags()
    missing = []
    with httpx.Client(timeout=httpx.Timeout(15.0), trust_env=True) as client:
        try:
            client.get(f"{PYPI}/pip/json").raise_for_status()
        except httpx.HTTPError as err:
            pytest.skip(f"PyPI cannot be reached: {err.__class__.__name__}")
        for name, version, hashes in pins:
            response = client.get(f"{PYPI}/{name}/json")
            assert response.status_code == 200, f"PyPI has no project {name}"
            files = response.json()["releases"].get(version)
            assert files, f"PyPI has no {name}=={version}"
            wheels = [
                f
                for f in files
                if f["packagetype"] == "bdist_wheel"
                and parse_wheel_filename(f["filename"])[3] & tags
            ]
            if not wheels:
                missing.append(f"{name}=={version}: no cp311 manylinux aarch64 wheel on PyPI")
            elif not any(f["digests"]["sha256"] in hashes for f in wheels):
                missing.append(
                    f"{name}=={version}: the lock has none of its aarch64 wheels' hashes"
                )
    assert not missing, "run scripts/lock_requirements.sh:\n" + "\n".join(missing)
