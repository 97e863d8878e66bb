"""Hosting a simulated cluster under real OpenSSH: ``SparkSim(..., ssh="openssh")``.

Two modes, chosen by :meth:`OpenSSHCluster.prepare`:

``netns`` (root, and ``ip netns`` works; what ``ssh="openssh"`` picks when it can)
    Every node is a host of its own: a network namespace on a private bridge (``netns``), its
    address ``10.213.K.<first_host + i>``, a root ``sshd`` on port 22 there, and a login user
    of its own (``accounts``: ``sps<pid>x<n>-<node>``, HOME the node's home, shell the
    recording ``login_shell``). Processes started over SSH (the fake vLLM included) live in
    the node's namespace, so they bind the node's address, which the root namespace reaches.
``loopback`` (not root, namespaces unavailable, or ``ssh="openssh-loopback"``)
    Every node is a non-root ``sshd`` on ``127.0.0.<first_host + i>`` at a free port, running as
    its login user: the created per-node user when root, else the invoking user, whose shell
    cannot be replaced: then a ``ForceCommand`` records the commands and ``SetEnv HOME`` points
    at the node's home. sshd refuses signal requests to forced commands (see ``login_shell``),
    which :attr:`OpenSSHCluster.signals` reports.

Faults: every fault the fakes read works as with the asyncssh server; ``ssh_drop`` does not,
being that server's own doing (sshd cannot be told to cut one connection mid-command).

Contract of :class:`OpenSSHCluster` (used by ``SparkSim``; blocking methods run in a thread):

* ``prepare(nodes, python) -> python`` (blocking): after the shared tree is provisioned and
  before the nodes are, sets every node's ``host`` (netns) and ``user``, replaces its
  ``commands`` by a :class:`~scripts.sparksim.command_log.CommandLog` of its ``commands.log``,
  makes the tree reachable by the users, and returns the interpreter the fakes must use.
  Reaps what earlier runs that died left behind first. Falls back to loopback when
  namespaces cannot be made; raises :class:`OpenSSHUnavailable` (nothing left behind) when
  sshd is missing, the users cannot be made, or no interpreter works for them.
* ``server(**NodeSSHServer kwargs)`` builds a node's :class:`OpenSSHServer`.
* ``free_port(host)`` / ``on_network(host, coro)``: a port free on, and sockets opened on, the
  network where ``host`` lives (its namespace in netns mode).
* ``await rekey(name)``: a new host key for one node, its sshd restarted and its connections
  dropped: what reinstalling a Spark looks like to a controller.
* ``teardown()`` (blocking): removes the namespaces, bridge, users and group. Idempotent.
"""

from __future__ import annotations

import asyncio
import grp
import os
import pwd
import re
import stat
from collections.abc import Awaitable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import asyncssh

from scripts.sparksim import accounts, interpreter, netns, procs
from scripts.sparksim.command_log import CommandLog
from scripts.sparksim.hfcache import REPO_ROOT
from scripts.sparksim.openssh_server import (
    OpenSSHServer,
    check_path,
    find_sshd,
    free_port,
    shell_path,
)

if TYPE_CHECKING:
    from scripts.sparksim.sim import SimNode

T = TypeVar("T")
BACKENDS = ("asyncssh", "openssh", "openssh-loopback")
_GROUP = re.compile(r"^sps(\d+)x\d+$")
_groups_made = 0


class OpenSSHUnavailable(OSError):
    """This machine cannot host simulated Sparks under OpenSSH (the message says why)."""


def unavailable_reason() -> str | None:
    """Why ``ssh="openssh"`` cannot work here, or None."""
    if find_sshd() is None:
        return "OpenSSH's sshd is not installed (apt-get install openssh-server)"
    return None


class OpenSSHCluster:
    """The OpenSSH hosting of one ``SparkSim`` (see the module docstring)."""

    def __init__(self, root: Path, *, loopback: bool = False) -> None:
        self.root = Path(root)
        self.mode = "loopback" if loopback or os.geteuid() != 0 else "netns"
        self.subnet: netns.Subnet | None = None
        self.group: str | None = None
        self._accounts: dict[str, tuple[int, int]] = {}
        self._python = ""
        self._servers: dict[str, OpenSSHServer] = {}

    @property
    def signals(self) -> bool:
        """True when sshd delivers the client's signals to commands (no ForceCommand)."""
        return bool(self._accounts)

    # --- set-up -----------------------------------------------------------------------------

    def prepare(self, nodes: list[SimNode], python: str) -> str:
        """Hosts, users and the fakes' interpreter (see the module docstring). Blocks."""
        reason = unavailable_reason()
        if reason:
            raise OpenSSHUnavailable(reason)
        check_path(self.root)
        if os.geteuid() != 0:
            return self._adopt(nodes, python, user=pwd.getpwuid(os.getuid()).pw_name)
        netns.reap()
        _reap_groups()
        try:
            return self._prepare_as_root(nodes)
        except BaseException:
            self.teardown()
            raise

    def _prepare_as_root(self, nodes: list[SimNode]) -> str:
        if self.mode == "netns":
            try:
                self.subnet = netns.Subnet.create([n.name for n in nodes], _first_host(nodes))
            except netns.NetnsUnavailable:
                self.mode = "loopback"  # e.g. a container without CAP_NET_ADMIN
        if self.subnet is not None:
            for node, host in zip(nodes, self.subnet.hosts, strict=True):
                node.host = host
        self.group = _new_group()
        shells = {f"{self.group}-{n.name}": (n.home, shell_path(n.paths)) for n in nodes}
        try:
            made = accounts.create(self.group, shells)
        except accounts.AccountError as err:
            raise OpenSSHUnavailable(f"cannot create the nodes' users: {err}") from None
        gid = grp.getgrnam(self.group).gr_gid
        for node in nodes:
            entry = made[f"{self.group}-{node.name}"]
            self._accounts[node.name] = (entry.pw_uid, gid)
        self._reachable(gid)
        uid = next(iter(self._accounts.values()))[0]
        try:
            python = interpreter.for_user(uid, gid, repo=REPO_ROOT, scratch=self.root / "python")
        except interpreter.InterpreterError as err:
            raise OpenSSHUnavailable(str(err)) from None
        return self._adopt(nodes, python)

    def _reachable(self, gid: int) -> None:
        """Let the users reach the tree: search the root, write the shared pid directory.
        Raises OpenSSHUnavailable when a parent directory shuts them out."""
        self.root.chmod(stat.S_IMODE(self.root.stat().st_mode) | 0o755)
        for parent in self.root.parents:
            if not parent.stat().st_mode & stat.S_IXOTH:
                raise OpenSSHUnavailable(
                    f"the nodes' users cannot reach {self.root}: {parent} is private; "
                    "put the simulator's root in a searchable directory such as /tmp"
                )
        pids = self.root / "run" / "pids"
        pids.mkdir(parents=True, exist_ok=True)
        accounts.share(pids, 0, gid)

    def _adopt(self, nodes: list[SimNode], python: str, user: str | None = None) -> str:
        self._python = python
        for node in nodes:
            node.user = user or f"{self.group}-{node.name}"
            # A read-only view of the file the login shell appends to, standing in for the
            # in-process list (SimNode.commands is typed for the asyncssh server's case).
            node.commands = CommandLog(node.paths.commands_log)  # type: ignore[assignment]
        return python

    def server(self, **kwargs: Any) -> OpenSSHServer:
        """A node's sshd; takes ``NodeSSHServer``'s keyword arguments."""
        node = kwargs["node"]
        account = self._accounts.get(node.name)
        launcher: list[str] = []
        if self.subnet is not None:
            launcher = ["ip", "netns", "exec", self.subnet.namespace(kwargs["host"])]
            # sshd (as root) insists on its privilege-separation directory, which Debian only
            # creates when the service starts; make one in sshd's own mount namespace (which
            # ip netns exec gives it) rather than on the host.
            launcher += ["/bin/sh", "-c", _PRIVSEP, "sshd"]
        server = OpenSSHServer(
            **kwargs,
            python=self._python,
            repo=REPO_ROOT,
            launcher=launcher,
            account=account,
            forced=account is None,
            default_port=22 if self.subnet is not None else 0,
        )
        self._servers[node.name] = server
        return server

    # --- the nodes' network -----------------------------------------------------------------

    def free_port(self, host: str) -> int:
        """A TCP port free on ``host``, probed where ``host`` lives."""
        if self.subnet is None:
            return free_port(host)
        with netns.entered(self.subnet.namespace(host)):
            return free_port(host)

    def on_network(self, host: str, coro: Coroutine[Any, Any, T]) -> Awaitable[T]:
        """``coro``, with the sockets it creates opened where ``host`` lives."""
        if self.subnet is None:
            return coro
        return netns.stepped(self.subnet.namespace(host), coro)

    # --- changes and tear-down --------------------------------------------------------------

    async def rekey(self, name: str) -> None:
        """Replace node ``name``'s host key and restart its sshd (dropping its connections).
        Raises KeyError for an unknown node, OSError when sshd does not come back."""
        server = self._servers[name]
        await server.stop()
        key = asyncssh.generate_private_key("ssh-ed25519", comment=f"sparksim-{name}-rekeyed")
        path = server.node.host_key
        await asyncio.to_thread(_write_key, key, path)
        await server.start(server.port)

    def teardown(self) -> None:
        """Remove the namespaces, the bridge, the users and their group. Idempotent."""
        if self.subnet is not None:
            self.subnet.destroy()
            self.subnet = None
        if self.group is not None:
            accounts.remove(self.group)
            self.group = None


_PRIVSEP = (
    "[ -d /run/sshd ] || { mount -t tmpfs -o mode=0755,size=64k sparksim /run"
    ' && mkdir -m 0755 /run/sshd; } && exec "$@"'
)


def _write_key(key: asyncssh.SSHKey, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    key.write_private_key(tmp)
    tmp.chmod(0o600)
    tmp.replace(path)
    key.write_public_key(path.with_name(path.name + ".pub"))


def _first_host(nodes: list[SimNode]) -> int:
    """The last octet of the first node's loopback address (``first_host``)."""
    return int(nodes[0].host.rsplit(".", 1)[1])


def _new_group() -> str:
    """A group name no other simulator uses: it carries our pid (for :func:`_reap_groups`)."""
    global _groups_made
    _groups_made += 1
    return f"sps{os.getpid()}x{_groups_made}"


def _reap_groups() -> None:
    """Remove the users and groups of simulators whose process died without tearing down."""
    for entry in grp.getgrall():
        match = _GROUP.match(entry.gr_name)
        if match and not procs.alive(int(match.group(1))):
            accounts.remove(entry.gr_name)
