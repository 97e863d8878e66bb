"""The Spark simulator: N simulated Sparks reachable over real SSH, plus a config for them.

Contract of :class:`SparkSim`:

* ``await start()`` provisions ``root`` (see ``layout``), generates the client key pair and
  one host key per node, and returns once every node's SSH server listens. Node ``i`` listens
  on ``127.0.0.<first_host + i>`` with a port chosen by the kernel, so several simulators can
  run at once. Cheap: well under a second for two nodes.
* ``config_dict()`` / ``write_config()`` give a CONFIG.md-shaped config pointing at the nodes,
  the client key, a not-yet-existing known_hosts file, a free vLLM port on the head, and the
  local model root ``<root>/models`` (built by ``sim_config``). The audio / embeddings /
  Qdrant fakes (``fake_services``) run in this process on the second node's address at free
  ports, written to ``<root>/services-overrides.yaml``; ``stop_service`` / ``start_service``
  take one down and bring it back (same port).
* Ground truth for tests, read from the nodes' state (never through the controller):
  ``running_model()``, ``container_running()``, ``vllm_healthy_at()``.
* ``inject()`` / ``clear_faults()`` manage the faults documented in ``faults``.
* ``cluster_link=True`` gives node ``i`` a cluster-link address ``127.0.1.<first_host + i>``
  (the config's ``cluster_address``): only those pass launch-cluster.sh's ``-n``, and the
  nodes' own ``ssh`` reaches a node there (mapped to its SSH host; see ``provision``).
* ``ssh="openssh"`` serves the nodes with OpenSSH's sshd instead of asyncssh, each node in a
  network namespace of its own when root (see ``openssh``; ``SparkSim.openssh`` is then that
  hosting, else None).
* ``await stop()`` stops the SSH servers (terminating the commands they run) and every
  process the fakes left behind (the fake vLLM, followers). Idempotent. Also an async
  context manager.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import sys
from collections.abc import Awaitable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncssh

from scripts.sparksim import (
    diskfull,
    fake_services,
    faults,
    hfcache,
    hfhub,
    openssh,
    procs,
    provision,
)
from scripts.sparksim.containers import all_records, is_running
from scripts.sparksim.layout import ENV_NODE, ENV_ROOT, NodePaths, SimPaths, read_json
from scripts.sparksim.service_server import ServiceServer
from scripts.sparksim.sim_config import build_config, write_yaml
from scripts.sparksim.sshd import NodeSSHServer

SSH_USER = "nvidia"


@dataclass
class SimNode:
    """One simulated Spark. ``commands`` lists every command string its SSH server ran;
    ``user`` is the SSH login user."""

    name: str
    host: str
    paths: NodePaths
    ssh_port: int = 0
    user: str = SSH_USER
    cluster_address: str | None = None
    commands: list[str] = field(default_factory=list)

    @property
    def home(self) -> Path:
        return self.paths.home

    def _record(self, command: str) -> None:
        self.commands.append(command)
        # One JSON string per line: command strings may contain newlines.
        with open(self.paths.commands_log, "a", encoding="utf-8") as log:
            log.write(json.dumps(command) + "\n")


class SparkSim:
    """A simulated cluster of DGX Sparks (see the module docstring)."""

    def __init__(
        self,
        root: Path,
        nodes: int = 2,
        *,
        load_time: float = 3.0,
        token_rate: float = 50.0,
        catalog: Path | None = None,
        first_host: int = 1,
        vllm_port: int | None = None,
        ssh: str = "asyncssh",
        hub_model_size: int = hfhub.DEFAULT_SIZE,
        vllm_cmd: str = "",
        cluster_link: bool = False,
    ) -> None:
        if not 1 <= nodes <= 200 or not 1 <= first_host <= 254 - nodes:
            raise ValueError("nodes must be 1-200 and fit in 127.0.0.1-254")
        self.root = Path(root).resolve()
        self.paths = SimPaths(self.root)
        self.catalog = catalog
        self._load_time, self._token_rate = load_time, token_rate
        # The command replacing `vllm` in a launched `vllm serve …` ("" = the fake vLLM).
        self.vllm_cmd = vllm_cmd
        self.nodes = [
            SimNode(f"spark{i + 1}", f"127.0.0.{first_host + i}", self.paths.node(f"spark{i + 1}"))
            for i in range(nodes)
        ]
        for i, node in enumerate(self.nodes if cluster_link else []):
            node.cluster_address = f"127.0.1.{first_host + i}"
        self.vllm_port = vllm_port or 0
        self._servers: list[NodeSSHServer] = []
        if ssh not in openssh.BACKENDS:
            raise ValueError(f"ssh must be one of {', '.join(openssh.BACKENDS)}")
        # Real sshd per node (see ``openssh``): hosts, users and servers come from there.
        self.openssh = (
            openssh.OpenSSHCluster(self.root, loopback=ssh == "openssh-loopback")
            if ssh != "asyncssh"
            else None
        )
        self.services: dict[str, ServiceServer] = {}
        # The fake Hugging Face hub (``hfhub``): downloads fetch from it, over loopback.
        self.hub = hfhub.FakeHub(default_size=hub_model_size)
        self._hub_servers: list[ServiceServer] = []
        self._started = self._stopped = False

    # --- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Provision the root and start every node's SSH server. Raises OSError when an
        address cannot be bound, ValueError / OSError for an unreadable catalog."""
        if self._started:
            return
        self._started = True
        repos = hfcache.catalog_repos(self.catalog)
        self.hub.catalog = set(repos)
        if self.root.exists():
            await asyncio.to_thread(self._reset)
        self.root.mkdir(parents=True, exist_ok=True)
        client_key = self._key(self.paths.client_key)
        provision.provision_shared(self.paths)
        self._write_settings()
        python = sys.executable  # absolute: the fakes run with exactly this interpreter
        if self.openssh is not None:  # hosts, users, and an interpreter those users can run
            python = await asyncio.to_thread(self.openssh.prepare, self.nodes, python)
        server_type = self.openssh.server if self.openssh else NodeSSHServer
        for node in self.nodes:
            provision.provision_node(node.paths, python, repos)
            links = {n.cluster_address: n.host for n in self.nodes if n.cluster_address}
            provision.write_peer_ssh(node.paths, self.paths.client_key, links)
            self._servers.append(
                server_type(
                    node=node.paths,
                    host=node.host,
                    user=node.user,
                    host_key=self._key(node.paths.host_key),
                    client_key=client_key,
                    env=self._node_env(node),
                    on_command=node._record,
                )
            )
        ports = await asyncio.gather(*(server.start() for server in self._servers))
        for node, port in zip(self.nodes, ports, strict=True):
            node.ssh_port = port
        provision.write_cluster(self.paths, self.nodes)
        if not self.vllm_port:
            self.vllm_port = (self.openssh.free_port if self.openssh else _free_port)(
                self.head.host
            )
        await self._start_services()
        self._hub_servers = [
            ServiceServer(self.hub, self.head.host)  # type: ignore[arg-type]
            for _ in ("hub", "cdn")
        ]
        for server in self._hub_servers:
            await self._on_host(self.head.host, server.start())
        self.hub.base_url, self.hub.cdn_url = (server.url for server in self._hub_servers)

    @property
    def hub_url(self) -> str:
        """Base URL of the fake Hugging Face hub (valid after ``start()``)."""
        return self.hub.base_url

    async def _start_services(self) -> None:
        """Serve the fake services on the second node's address at free ports (the built-in
        ports would collide between simulators) and point the config's overrides file at
        them."""
        node = self.nodes[1] if len(self.nodes) > 1 else self.head
        for key, fake in fake_services.FAKES.items():
            self.services[key] = ServiceServer(fake(), node.host)
            await self._on_host(node.host, self.services[key].start())
        entries = [{"key": k, "node": node.name, "port": s.port} for k, s in self.services.items()]
        write_yaml(self.root / "services-overrides.yaml", {"services": entries})

    async def stop_service(self, key: str) -> None:
        """Take fake service ``key`` down (its port refuses connections). Raises KeyError."""
        await self.services[key].stop()

    async def start_service(self, key: str) -> None:
        """Bring fake service ``key`` back on its port. Raises KeyError, OSError."""
        await self._on_host(self.services[key].host, self.services[key].start())

    def _on_host(self, host: str, coro: Coroutine[Any, Any, None]) -> Awaitable[None]:
        """``coro``, its sockets opened where ``host`` lives (a namespace under OpenSSH)."""
        return self.openssh.on_network(host, coro) if self.openssh else coro

    async def stop(self) -> None:
        """Stop every SSH server and every process the simulator started. Idempotent."""
        if self._stopped or not self._started:
            self._stopped = True
            return
        self._stopped = True
        try:
            http = [*self.services.values(), *self._hub_servers]
            await asyncio.gather(*(server.stop() for server in http))
            for server in self._servers:
                server.close()  # commands' process groups start terminating
            # Meanwhile stop what outlives SSH sessions (the engine, detached or escaped ones).
            await asyncio.to_thread(procs.sweep, self.root, self.paths.pids)
            await asyncio.gather(*(server.wait_closed() for server in self._servers))
            if self.openssh is not None:
                await asyncio.to_thread(self.openssh.teardown)
        finally:
            for node in self.nodes:  # a mount left behind would outlive the simulator's root
                await asyncio.to_thread(diskfull.unmount_all, node.paths)

    async def __aenter__(self) -> SparkSim:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _reset(self) -> None:
        """Start from a clean slate in a reused root: stop what a previous run left running,
        drop its faults, containers and engine state, and empty the command logs. Keys are
        kept, so a controller that pinned the host keys still trusts the nodes."""
        procs.sweep(self.root, self.paths.pids)
        self.clear_faults()
        for node in self.nodes:
            shutil.rmtree(node.paths.state, ignore_errors=True)
            node.paths.commands_log.unlink(missing_ok=True)

    def _key(self, path: Path) -> asyncssh.SSHKey:
        """The ed25519 key at ``path``, generated (mode 600, with ``.pub``) when absent."""
        if path.exists():
            return asyncssh.read_private_key(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        key = asyncssh.generate_private_key("ssh-ed25519", comment=f"sparksim-{path.stem}")
        key.write_private_key(path)
        path.chmod(0o600)
        key.write_public_key(path.with_name(path.name + ".pub"))
        return key

    def _node_env(self, node: SimNode) -> dict[str, str]:
        return {
            "HOME": str(node.home),
            "PATH": f"{node.paths.bin}:/usr/bin:/bin",
            "USER": SSH_USER,
            "LOGNAME": SSH_USER,
            "SHELL": "/bin/sh",
            "LANG": "C.UTF-8",
            ENV_ROOT: str(self.root),
            ENV_NODE: node.name,
        }

    # --- the config -------------------------------------------------------------------------

    @property
    def head(self) -> SimNode:
        return self.nodes[0]

    @property
    def vllm_url(self) -> str:
        """Base URL of the fake vLLM when one runs (``http://<head>:<vllm_port>``)."""
        return f"http://{self.head.host}:{self.vllm_port}"

    def node(self, name: str) -> SimNode:
        """The node called ``name``. Raises KeyError."""
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(f"no simulated node {name!r}")

    def config_dict(self) -> dict[str, Any]:
        """A CONFIG.md-shaped mapping for these nodes (valid only after ``start()``)."""
        return build_config(
            self.root,
            self.paths,
            [(n.name, n.host, n.ssh_port, n.user) for n in self.nodes],
            vllm_port=self.vllm_port,
            load_time=self._load_time,
            hub_url=self.hub_url,
            catalog=self.catalog,
            cluster_addresses=[n.cluster_address for n in self.nodes],
        )

    def write_config(self, path: Path, **section_overrides: Any) -> Path:
        """Write ``config_dict()`` as YAML to ``path`` (atomically). Each keyword replaces
        keys of that section (``vllm={"load_timeout_s": 30}``); a non-mapping replaces the
        whole section. Returns ``path``."""
        config = self.config_dict()
        for section, value in section_overrides.items():
            if isinstance(value, dict) and isinstance(config.get(section), dict):
                config[section] = {**config[section], **value}
            else:
                config[section] = value
        return write_yaml(Path(path), config)

    # --- settings and faults ----------------------------------------------------------------

    def set_load_time(self, seconds: float) -> None:
        """Load time of the next fake vLLM start."""
        self._load_time = seconds
        self._write_settings()

    def set_token_rate(self, tokens_per_s: float) -> None:
        """Token rate of the next fake vLLM start."""
        self._token_rate = tokens_per_s
        self._write_settings()

    def _write_settings(self) -> None:
        provision.write_settings(
            self.paths,
            load_time=self._load_time,
            token_rate=self._token_rate,
            vllm_cmd=self.vllm_cmd,
        )

    def inject(self, node_name: str, fault: str, **params: Any) -> None:
        """Set ``fault`` on a node (see ``faults`` for names and params). Raises KeyError for
        an unknown node, ValueError for an unknown fault or bad params, and
        ``diskfull.MountUnavailable`` when ``disk_full`` cannot mount (not root)."""
        node = self.node(node_name)
        params = faults.validate(fault, params)
        if fault == "disk_full":  # mount first: a fault that could not be set is not recorded
            diskfull.mount(node.paths, params["repo"], params["mib"])
        faults.store(node.paths, fault, params)
        if fault == "model_missing":
            hfcache.hide_repo(node.paths, params["repo"])

    def clear_faults(self, node_name: str | None = None) -> None:
        """Remove every fault of one node (or all nodes) and undo their lasting effects."""
        for node in [self.node(node_name)] if node_name else self.nodes:
            cleared = faults.clear(node.paths)
            for repo in cleared.get("model_missing", {}).get("repos", []):
                hfcache.restore_repo(node.paths, repo)
            if "disk_full" in cleared:
                diskfull.unmount(node.paths, cleared["disk_full"]["repo"])

    def active_faults(self, node_name: str) -> dict[str, dict[str, Any]]:
        """The faults currently set on a node."""
        return faults.read(self.node(node_name).paths)

    # --- ground truth -----------------------------------------------------------------------

    def _live_engine(self) -> dict[str, Any] | None:
        state = read_json(self.head.paths.vllm_state)
        if not state or not procs.alive(int(state.get("pid", 0) or 0)):
            return None
        return state

    def running_model(self) -> str | None:
        """Served model name of a live fake vLLM on the head that has turned healthy."""
        state = self._live_engine()
        return state["served_name"] if state and state.get("healthy_at") else None

    def vllm_healthy_at(self) -> float | None:
        """``time.time()`` at which the live fake vLLM turned healthy (None: none is)."""
        state = self._live_engine()
        return state.get("healthy_at") if state else None

    def engine_exit(self, container: str = "vllm_node") -> dict[str, Any] | None:
        """``{pid, exit_code, exited_at}`` once the head's engine process has exited (its
        wrapper records it), else None."""
        return read_json(self.head.paths.engine_exit(container))

    def container_running(self, node_name: str, container: str | None = None) -> bool:
        """True when a container record (``container``, or any) is running on the node;
        records outlive a crashed engine, as real containers do."""
        return any(
            is_running(r) and container in (None, r["name"])
            for r in all_records(self.node(node_name).paths)
        )


def _free_port(host: str) -> int:
    """A port free on ``host`` right now (for the fake vLLM, which binds it later)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]
