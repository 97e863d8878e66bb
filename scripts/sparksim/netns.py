"""Network namespaces for simulated Sparks: each node a host of its own on a private bridge.

Contract of :class:`Subnet` (root only; every method blocks, run them in a thread):

* ``Subnet.create(names, first_host)`` claims the first free index ``K`` (0-255) by creating
  the bridge ``spsimK`` (``ip link add`` fails when it exists, which makes creation the lock),
  skipping indexes whose range ``10.213.K.0/24`` the host already routes somewhere. The
  bridge gets ``10.213.K.254/24`` in the root namespace and an alias naming this process, so a
  later run can :func:`reap` what a killed run left behind. Then per node ``i``: namespace
  ``spsimK-<name>`` with ``lo`` up, and a veth pair, ``spsimKn<i+1>`` on the bridge and
  ``eth0`` inside holding ``10.213.K.<first_host + i>/24``. Nothing else: no default route,
  no forwarding, so traffic only flows between these addresses. Raises
  :class:`NetnsUnavailable` (after undoing what it made) when namespaces cannot be used.
* ``hosts`` lists the nodes' addresses; ``namespace(host)`` names a node's namespace.
* :meth:`Subnet.destroy` kills whatever still runs in the namespaces, deletes them, the veths
  and the bridge. Idempotent; also what :func:`reap` does for a dead owner's index.

:func:`entered` / :func:`stepped` open sockets inside a namespace from this process (the
simulator serves its fake services on a node's address): a socket belongs to the namespace of
the thread that created it, for its whole life.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import re
import signal
import subprocess
from collections.abc import Awaitable, Coroutine, Generator, Iterator
from typing import Any, TypeVar

from scripts.sparksim import procs

PREFIX = "spsim"
NETWORK = "10.213"  # private test range: 10.213.K.0/24 per simulated cluster
BRIDGE_HOST = 254
_ALIAS = re.compile(r"^sparksim pid=(\d+)")
_CLONE_NEWNET = 0x40000000
_IP_TIMEOUT_S = 20.0

T = TypeVar("T")


class NetnsUnavailable(OSError):
    """Network namespaces cannot be created here (not root, no ``ip``, no CAP_SYS_ADMIN…)."""


def ip(*args: str, check: bool = True) -> str:
    """Run ``ip args…``; its stdout. Raises NetnsUnavailable naming the command on failure."""
    try:
        done = subprocess.run(
            ["ip", *args], capture_output=True, text=True, timeout=_IP_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        raise NetnsUnavailable(f"ip {' '.join(args)}: {err}") from None
    if check and done.returncode != 0:
        raise NetnsUnavailable(f"ip {' '.join(args)}: {done.stderr.strip() or done.returncode}")
    return done.stdout


def namespace_path(name: str) -> str:
    return f"/run/netns/{name}"


class Subnet:
    """One simulated cluster's bridge and per-node namespaces (see the module docstring)."""

    def __init__(self, index: int, names: list[str], first_host: int) -> None:
        self.index = index
        self.bridge = f"{PREFIX}{index}"
        self.names = list(names)
        self.hosts = [f"{NETWORK}.{index}.{first_host + i}" for i in range(len(names))]

    def namespace(self, host: str) -> str:
        """The namespace holding ``host``. Raises KeyError."""
        return f"{self.bridge}-{self.names[self.hosts.index(host)]}"

    @classmethod
    def create(cls, names: list[str], first_host: int) -> Subnet:
        if os.geteuid() != 0:
            raise NetnsUnavailable("network namespaces need root")
        for index in range(256):
            if _routed(index):
                continue  # the host uses this range: never shadow its traffic
            made = subprocess.run(
                ["ip", "link", "add", f"{PREFIX}{index}", "type", "bridge"],
                capture_output=True,
                text=True,
                timeout=_IP_TIMEOUT_S,
                check=False,
            )
            if made.returncode == 0:
                break
            if "exists" not in made.stderr:
                raise NetnsUnavailable(f"cannot create a bridge: {made.stderr.strip()}")
        else:
            raise NetnsUnavailable(f"every {PREFIX}0-255 bridge is taken")
        subnet = cls(index, names, first_host)
        try:
            subnet._build()
        except BaseException:
            subnet.destroy()
            raise
        return subnet

    def _build(self) -> None:
        bridge = self.bridge
        ip("link", "set", "dev", bridge, "alias", f"sparksim pid={os.getpid()}")
        ip("addr", "add", f"{NETWORK}.{self.index}.{BRIDGE_HOST}/24", "dev", bridge)
        ip("link", "set", "dev", bridge, "up")
        for i, host in enumerate(self.hosts):
            ns, veth = self.namespace(host), f"{bridge}n{i + 1}"
            ip("netns", "add", ns)
            ip("-n", ns, "link", "set", "dev", "lo", "up")
            ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
            ip("link", "set", "dev", veth, "master", bridge, "up")
            ip("-n", ns, "addr", "add", f"{host}/24", "dev", "eth0")
            ip("-n", ns, "link", "set", "dev", "eth0", "up")

    def destroy(self) -> None:
        _destroy(self.index)


def _routed(index: int) -> bool:
    """True when the host already routes ``10.213.<index>.0/24`` (other than by default)."""
    try:
        routes = json.loads(ip("-j", "route", "show", "match", f"{NETWORK}.{index}.1") or "[]")
    except (NetnsUnavailable, ValueError):
        return False
    return any(route.get("dst") != "default" for route in routes)


def _destroy(index: int) -> None:
    """Remove index ``index``'s namespaces (killing what runs there), veths and bridge."""
    bridge = f"{PREFIX}{index}"
    listed = ip("-j", "netns", "list", check=False)
    try:
        namespaces = [entry["name"] for entry in json.loads(listed or "[]")]
    except (ValueError, KeyError, TypeError):
        namespaces = []
    for ns in namespaces:
        if not ns.startswith(f"{bridge}-"):
            continue
        # Everything in a simulator's namespace is the simulator's; normally gone by now.
        pids = [int(p) for p in ip("netns", "pids", ns, check=False).split() if p.isdigit()]
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        procs.wait_gone(pids, 5.0)
        ip("netns", "del", ns, check=False)
    # Deleting a veth deletes its peer; namespaces hold none of them any more.
    for link in _links(f"{bridge}n"):
        ip("link", "del", "dev", link, check=False)
    ip("link", "del", "dev", bridge, check=False)


def _links(prefix: str) -> list[str]:
    try:
        return [
            link["ifname"]
            for link in json.loads(ip("-j", "link", "show", check=False) or "[]")
            if link.get("ifname", "").startswith(prefix)
        ]
    except ValueError:
        return []


def reap() -> list[int]:
    """Destroy the subnets of simulators that died without cleaning up (their bridge's alias
    names a dead pid). Returns the indexes reaped; nothing when ``ip`` is unusable."""
    try:
        links = json.loads(ip("-j", "link", "show", "type", "bridge") or "[]")
    except (NetnsUnavailable, ValueError):
        return []
    reaped = []
    for link in links:
        name, alias = link.get("ifname", ""), _ALIAS.match(link.get("ifalias", ""))
        index = name.removeprefix(PREFIX)
        if name.startswith(PREFIX) and index.isdigit() and alias:
            if not procs.alive(int(alias.group(1))):
                _destroy(int(index))
                reaped.append(int(index))
    return reaped


# --- sockets inside a namespace --------------------------------------------------------------


def _setns(fd: int) -> None:
    setns = getattr(os, "setns", None)  # Python 3.12+
    if setns is not None:
        setns(fd, _CLONE_NEWNET)
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, _CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


@contextlib.contextmanager
def entered(namespace: str) -> Iterator[None]:
    """Run the block with the calling thread in network namespace ``namespace`` (only this
    thread moves; it moves back on exit). Sockets created in the block stay in it."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        target = os.open(namespace_path(namespace), os.O_RDONLY)
        try:
            _setns(target)
        finally:
            os.close(target)
        try:
            yield
        finally:
            _setns(own)
    finally:
        os.close(own)


class _Stepped(Awaitable[T]):
    def __init__(self, namespace: str, coro: Coroutine[Any, Any, T]) -> None:
        self._namespace, self._coro = namespace, coro

    def __await__(self) -> Generator[Any, Any, T]:
        value: Any = None
        error: BaseException | None = None
        while True:
            # Only this synchronous step runs in the namespace; between steps the event loop
            # (and every other task on it) is back in ours.
            with entered(self._namespace):
                try:
                    if error is not None:
                        future = self._coro.throw(error)
                    else:
                        future = self._coro.send(value)
                except StopIteration as done:
                    return done.value
            try:
                value, error = (yield future), None
            except BaseException as err:  # cancellation and the like go to the coroutine
                value, error = None, err


def stepped(namespace: str, coro: Coroutine[Any, Any, T]) -> Awaitable[T]:
    """Await ``coro`` with each of its steps run inside ``namespace``: every socket it creates
    is the namespace's, while other tasks of the event loop stay in ours."""
    return _Stepped(namespace, coro)
