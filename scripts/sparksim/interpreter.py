"""A Python that the simulated Sparks' users can run, for the fakes and the fake vLLM.

The fakes run as the node's login user. Under OpenSSH with users of their own (see
``accounts``) that user may not be able to run the simulator's interpreter: a pyenv build
under root's private home, say. :func:`for_user` then falls back to a minimal virtual
environment (PEP 405: a ``pyvenv.cfg`` and a ``bin/python3`` link) on the system's Python of
the same version, whose site-packages points at the simulator's (a ``.pth`` file), so the
fake vLLM still finds msgspec and uvicorn; same version, so compiled extensions still load.
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
from pathlib import Path

_CHECK = "import msgspec, uvicorn, scripts.sparksim.fake_vllm"
_TIMEOUT_S = 30.0


class InterpreterError(OSError):
    """No Python the node users can run was found."""


def runs_as(python: str, uid: int, gid: int, repo: Path) -> str | None:
    """None when user ``uid`` can run ``python`` and import what the fake vLLM needs from
    ``repo``; else the reason (the interpreter's error output)."""
    try:
        done = subprocess.run(
            [python, "-c", _CHECK],
            capture_output=True,
            text=True,
            timeout=_TIMEOUT_S,
            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(repo), "LANG": "C.UTF-8"},
            cwd="/",
            user=uid,
            group=gid,
            extra_groups=[],
            check=False,
        )
    except OSError as err:
        return str(err)
    except subprocess.TimeoutExpired:
        return f"{python} did not answer within {_TIMEOUT_S:g} s"
    return None if done.returncode == 0 else (done.stderr.strip().splitlines() or ["?"])[-1]


def _system_python() -> str | None:
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    return shutil.which(version, path="/usr/bin:/usr/local/bin:/bin")


def build_venv(where: Path, base: str) -> str:
    """A virtual environment at ``where`` on interpreter ``base`` that also sees this
    interpreter's site-packages; returns its ``bin/python3``. Replaces what was there."""
    shutil.rmtree(where, ignore_errors=True)
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    packages = where / "lib" / version / "site-packages"
    packages.mkdir(parents=True)
    (where / "bin").mkdir()
    python = where / "bin" / "python3"
    python.symlink_to(base)
    (where / "pyvenv.cfg").write_text(
        f"home = {Path(base).parent}\ninclude-system-site-packages = false\n"
        f"version = {'.'.join(map(str, sys.version_info[:3]))}\n"
    )
    # Plain directory lines in a .pth are appended to sys.path at start-up.
    (packages / "sparksim-packages.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    for path in [where, *where.rglob("*")]:
        if not path.is_symlink():
            os.chmod(path, 0o755 if path.is_dir() else 0o644)
    return str(python)


def for_user(uid: int, gid: int, *, repo: Path, scratch: Path) -> str:
    """``sys.executable`` when user ``uid`` can run it, else a virtual environment built at
    ``scratch`` on the system Python. Raises InterpreterError naming both attempts."""
    own = runs_as(sys.executable, uid, gid, repo)
    if own is None:
        return sys.executable
    base = _system_python()
    if base is None:
        raise InterpreterError(
            f"the simulated Sparks' users cannot run {sys.executable} ({own}) and there is "
            f"no system python{sys.version_info.major}.{sys.version_info.minor} to use instead"
        )
    python = build_venv(scratch, base)
    other = runs_as(python, uid, gid, repo)
    if other is not None:
        raise InterpreterError(
            f"the simulated Sparks' users cannot run {sys.executable} ({own}) nor {base} "
            f"with this environment's packages ({other})"
        )
    return python
