"""Remote commands as argument lists, and the one function that quotes them for a shell.

Every command the app runs on a Spark is built here as a tuple of arguments. ``render`` is the
only place that turns arguments into a shell string: each argument is quoted with
``shlex.quote`` so a model key, path or container name always arrives as one literal argument,
whatever it contains. The single exception is :class:`Home`, a path relative to the remote
user's home directory, rendered as ``~/'rest'`` so the remote shell expands the ``~`` and
nothing else.

``render`` refuses (raises :class:`UnsafeArgument`) an argument holding a control character or
NUL, whatever validated it before: quoting makes such an argument literal for the shell, but SSH
refuses a NUL outright (the command would never start) and a newline or an escape sequence has
no business in a command line or in the log that shows it. The API refuses them first; this is
the last line.

The builders are pure: they take settings and values and return argument tuples.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Sequence
from typing import TypeAlias

from app.errors import Invalid


class Home(str):
    """A path relative to the remote ``$HOME`` (``Home("x/y")`` renders as ``~/'x/y'``)."""

    __slots__ = ()


Arg: TypeAlias = str
Argv: TypeAlias = tuple[Arg, ...]

# C0 controls (NUL, tab, newline, ESC, ...) and DEL.
CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")


class UnsafeArgument(Invalid):
    """An argument holds a control character; ``str(err)`` is one sentence saying which (a
    refusal of kind ``Invalid``: HTTP 400 when a request's dry run or validation meets it)."""

    def __init__(self, arg: str) -> None:
        shown = repr(arg if len(arg) <= 60 else arg[:57] + "...")
        super().__init__(
            f"Refusing to run a command whose argument {shown} contains a control character."
        )


def control_char_problem(field: str, value: str | None) -> str | None:
    """``"<field> must not contain control characters"`` when ``value`` holds one, else None
    (the API's validators use it so they refuse exactly what ``render`` would)."""
    if value is not None and CONTROL_CHARS.search(value):
        return f"{field} must not contain control characters"
    return None


def refuse_control_chars(struct: object, *fields: str) -> None:
    """Raise ``ValueError`` (msgspec's validation error, in a ``__post_init__``) naming the
    first of ``fields`` of ``struct`` that holds a control character. Patterns alone cannot
    refuse them: msgspec matches with ``re.search``, where ``$`` also matches before a final
    newline."""
    for field in fields:
        problem = control_char_problem(field, getattr(struct, field))
        if problem:
            raise ValueError(problem)


def remote_path(path: str) -> str:
    """A configured remote path: ``~`` or ``~/x`` becomes a :class:`Home`, anything else stays."""
    if path == "~":
        return Home("")
    if path.startswith("~/"):
        return Home(path[2:].lstrip("/"))
    return path


def join_path(base: str, *parts: str) -> str:
    """Join path parts, keeping a :class:`Home` base home-relative."""
    joined = "/".join(p.strip("/") for p in (base, *parts) if p.strip("/"))
    if isinstance(base, Home):
        return Home(joined)
    return ("/" if base.startswith("/") else "") + joined


def quote_arg(arg: str) -> str:
    """Quote one argument for a POSIX shell; see the module docstring for :class:`Home`.
    Raises :class:`UnsafeArgument` for an argument with a control character."""
    if CONTROL_CHARS.search(arg):
        raise UnsafeArgument(arg)
    if isinstance(arg, Home):
        return "~/" + shlex.quote(str(arg)) if arg else "~"
    return shlex.quote(arg)


def render(*commands: Sequence[str], sep: str = " && ") -> str:
    """The shell string for one or more argument lists, joined by ``sep`` (``&&`` by default:
    a later command runs only if the earlier ones succeeded)."""
    if sep not in (" && ", " ; ", " || "):
        raise ValueError(f"unsupported separator {sep!r}")
    if not commands or any(not argv for argv in commands):
        raise ValueError("empty command")
    return sep.join(" ".join(quote_arg(arg) for arg in argv) for argv in commands)


# --- builders ---------------------------------------------------------------------------------

GPU_FIELDS = (
    "name",
    "utilization.gpu",
    "memory.used",
    "memory.total",
    "temperature.gpu",
    "power.draw",
)


def gpu_query() -> Argv:
    return ("nvidia-smi", f"--query-gpu={','.join(GPU_FIELDS)}", "--format=csv,noheader,nounits")


def container_list(container: str) -> Argv:
    """Names of containers (running or not) named exactly ``container``; empty output if none."""
    return ("docker", "ps", "-a", "--filter", f"name=^{container}$", "--format", "{{.Names}}")


def container_remove(container: str) -> Argv:
    return ("docker", "rm", "-f", container)


def container_logs(container: str, *, tail: int, follow: bool = False) -> Argv:
    argv: tuple[str, ...] = ("docker", "logs", "--tail", str(tail))
    if follow:
        argv += ("-f",)
    return (*argv, container)


def container_processes(container: str) -> Argv:
    """``docker top``: the processes running in ``container`` (fails when it does not run)."""
    return ("docker", "top", container)


def image_inspect(image: str) -> Argv:
    return ("docker", "image", "inspect", "--format", "{{.Id}}", image)


def test_executable(path: str) -> Argv:
    return ("test", "-x", path)


def test_directory(path: str) -> Argv:
    return ("test", "-d", path)


def test_file(path: str) -> Argv:
    return ("test", "-f", path)


def disk_free(path: str) -> Argv:
    """``df -Pk`` of the nearest existing directory: POSIX output, 1 KiB blocks."""
    return ("df", "-Pk", path)


def dir_sizes(paths: Iterable[str]) -> Argv:
    """``du -sk`` of several paths; missing ones are reported on stderr and skipped."""
    return ("du", "-sk", "--", *paths)


def real_path(path: str) -> Argv:
    """The canonical path with every symlink resolved; fails if it does not exist."""
    return ("realpath", "-e", "--", path)


def remove_tree(path: str) -> Argv:
    return ("rm", "-rf", "--", path)


def cd(path: str) -> Argv:
    return ("cd", path)


def launch_cluster(
    *,
    hosts: Sequence[str],
    image: str,
    container: str,
    verb: str,
    verb_args: Sequence[str] = (),
    daemon: bool = False,
    env: Sequence[tuple[str, str]] = (),
    container_env: Sequence[str] = (),
) -> Argv:
    """``[env K=V…] ./launch-cluster.sh -n head,worker -t IMAGE --name C [-d] [-e NAME…] VERB
    ARGS…`` (run from the launch directory; options must precede the verb). ``env`` is set for
    the script itself; each ``container_env`` name is passed into the container with its value
    taken from the environment (``-e NAME``), so values never appear in the command."""
    argv: list[str] = []
    if env:
        argv += ["env", *(f"{key}={value}" for key, value in env)]
    argv += ["./launch-cluster.sh", "-n", ",".join(hosts), "-t", image, "--name", container]
    if daemon:
        argv.append("-d")
    for name in container_env:
        argv += ["-e", name]
    argv.append(verb)
    argv += verb_args
    return tuple(argv)


# --- weights downloads (app/downloads) ---------------------------------------------------------


def make_dirs(path: str) -> Argv:
    return ("mkdir", "-p", "--", path)


def physical_cwd() -> Argv:
    """The current directory with symlinks resolved (``pwd -P``)."""
    return ("pwd", "-P")


def user_id() -> Argv:
    return ("id", "-u")


def group_id() -> Argv:
    return ("id", "-g")


def cache_listing(revision: str) -> Argv:
    """Run in a repo's HF cache directory: one line per snapshot entry and blob, ``type\\tsize
    \\tpath\\tlink target`` (GNU find). Missing directories are reported on stderr only."""
    return ("find", f"snapshots/{revision}", "blobs", "-printf", "%y\\t%s\\t%p\\t%l\\n")


def sha256_files(paths: Sequence[str]) -> Argv:
    return ("sha256sum", "--", *paths)


def remove_files(paths: Sequence[str]) -> Argv:
    return ("rm", "-f", "--", *paths)


def write_stdin(path: str) -> Argv:
    """Copy standard input to ``path`` (a relative path: ``dd`` does no ``~`` expansion)."""
    if isinstance(path, Home) or path.startswith(("/", "~", "-")):
        raise ValueError("write_stdin takes a plain relative path")
    return ("dd", f"of={path}", "status=none")


def hf_download_container(
    *,
    image: str,
    name: str,
    cache_dir: str,
    user: str,
    endpoint: str,
    repo: str,
    revision: str,
    files: Sequence[str],
    with_token: bool,
) -> Argv:
    """``docker run --rm`` of the vLLM image's ``hf download`` with the node's HF cache
    (``cache_dir``, an absolute path) mounted as the container's ``HF_HOME``. ``-e HF_TOKEN``
    has no value: docker takes it from the environment the SSH session carries."""
    if not cache_dir.startswith("/") or any(c in cache_dir for c in ":,"):
        raise ValueError("cache_dir must be an absolute path without ':' or ','")
    argv = [
        "docker", "run", "--rm", "--name", name, "--user", user,
        "-v", f"{cache_dir}:/hf",
        "-e", "HF_HOME=/hf",
        "-e", "HOME=/tmp",
        "-e", "HF_HUB_DISABLE_PROGRESS_BARS=1",
        "-e", "HF_HUB_DISABLE_TELEMETRY=1",
        "-e", f"HF_ENDPOINT={endpoint}",
    ]  # fmt: skip
    if with_token:
        argv += ["-e", "HF_TOKEN"]
    argv += ["--entrypoint", "hf", image, "download", repo, "--revision", revision, "--", *files]
    return tuple(argv)


def rsync_push(*, source: str, user: str, host: str, port: int, dest: str) -> Argv:
    """Copy directory ``source`` (relative to the cwd) to ``dest`` on ``host`` over SSH:
    resumable (``--partial``), creating the destination, skipping in-progress downloads.
    A home-relative ``dest`` is given to rsync relative (its remote side starts in $HOME)."""
    remote = str(dest).strip("/") if isinstance(dest, Home) else str(dest).rstrip("/")
    where = f"[{host}]" if ":" in host else host
    return (
        "rsync", "-a", "--partial", "--mkpath",
        "--exclude=*.incomplete", "--exclude=.locks",
        "-e", f"ssh -p {int(port)} -o BatchMode=yes -o ConnectTimeout=10 "
              "-o StrictHostKeyChecking=accept-new",
        "--", source.rstrip("/") + "/", f"{user}@{where}:{remote}/",
    )  # fmt: skip
