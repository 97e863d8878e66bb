"""The data-volume check: which files the app could not write, said in one sentence each."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from app.datavolume import check_writable

NOBODY = 65534


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory another user can traverse (pytest's tmp_path is private to its owner)."""
    path = Path(tempfile.mkdtemp(prefix="datavolume-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def check_as_unprivileged(paths: list[str]) -> dict[str, object]:
    """check_writable run by a user that does not own the files, as the app on StartOS: in a
    forked child that drops to ``nobody`` when the tests run as root."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        status = 1
        try:
            os.close(read_end)
            if os.geteuid() == 0:
                os.setgid(NOBODY)
                os.setuid(NOBODY)
            os.write(write_end, msgspec.json.encode(check_writable(paths)))
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        output = pipe.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    return json.loads(output)


def test_files_in_a_writable_directory_are_writable(tmp_path: Path) -> None:
    (tmp_path / "ssh").mkdir()
    (tmp_path / "ssh" / "known_hosts").write_text("")
    result = check_writable(
        [tmp_path / "ssh" / "id_ed25519", tmp_path / "ssh" / "known_hosts", tmp_path / "new" / "x"]
    )
    assert result.writable is True
    assert result.problems == []


def test_a_directory_where_a_file_belongs_is_a_problem(tmp_path: Path) -> None:
    (tmp_path / "known_hosts").mkdir()
    result = check_writable([tmp_path / "known_hosts", "", tmp_path / "known_hosts"])
    assert result.writable is False
    assert result.problems == [f"{tmp_path / 'known_hosts'} is a directory, not a file"]


def test_a_file_under_a_regular_file_cannot_be_created(tmp_path: Path) -> None:
    (tmp_path / "ssh").write_text("not a directory")
    result = check_writable([tmp_path / "ssh" / "id_ed25519"])
    assert result.writable is False
    assert "is not a directory" in result.problems[0]


def test_a_root_owned_volume_is_reported_for_the_unprivileged_app(shared_dir: Path) -> None:
    if os.geteuid() != 0:
        shared_dir.chmod(0o555)  # not root: a read-only directory stands in for "owned by root"
    key = shared_dir / "ssh" / "id_ed25519"
    result = check_as_unprivileged([str(key), str(shared_dir / "models-overrides.yaml")])
    assert result["writable"] is False
    problems = result["problems"]
    assert isinstance(problems, list) and len(problems) == 2
    assert problems[0].startswith(f"cannot write {key}: no write permission on {shared_dir}")
    if os.geteuid() == 0:
        assert f"belongs to uid 0; Spark Control runs as uid {NOBODY}" in problems[0]


def test_the_volume_handed_to_the_app_user_is_writable(shared_dir: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("handing the directory to another user needs root")
    os.chown(shared_dir, NOBODY, NOBODY)
    result = check_as_unprivileged([str(shared_dir / "ssh" / "known_hosts")])
    assert result == {"writable": True, "problems": []}
