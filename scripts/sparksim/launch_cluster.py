"""The fake ``~/spark-vllm-docker/launch-cluster.sh`` of a simulated Spark.

Interface of the real script (read, not copied)::

    launch-cluster.sh [options] start|stop|status|exec <cmd…>
      -n, --nodes H1,H2   hosts, head first (default: this node, then the others)
      -t IMAGE            image (default vllm-node)     --name NAME  container (default vllm_node)
      -d                  daemon: return once started   -e K=V       container env (repeatable)
      --ray / --no-ray    accepted

``VLLM_SPARK_EXTRA_DOCKER_ARGS`` is "appended to docker run" on every node: its bind mounts
are stored in each container record, and the fake vLLM can only see host paths under them.

``exec CMD…`` checks the image on every node (exit 1 naming the node), refuses when the
container already runs on any node (the real script would silently reuse it), honours
``launch_fail``, creates a container record on every node and starts CMD on the head as the
container's engine: for ``vllm serve …`` the fake vLLM (or, when the simulator was given
``--vllm-cmd``, that command in place of ``vllm``: the real vLLM), detached (new session, output
appended to the container log) under ``engine_exec``, so it survives the SSH session and its
exit is recorded. ``0.0.0.0`` means the head's own
address. With ``-d`` it returns at once; without, it follows the head's log until the
container stops, and SIGTERM / SIGHUP / SIGINT (the SSH client going away) stop the cluster on
every node before it exits: that is why a controller must always pass ``-d``. ``start`` does the same
without an engine. ``stop`` stops and removes the container on every node (``slow_stop``
applies per node). ``status`` prints one line per node.

Stdlib only: started as ``python -S -m scripts.sparksim.launch_cluster``.
"""

from __future__ import annotations

import os
import shlex
import signal
import sys

from scripts.sparksim import containers, docker_observe, faults
from scripts.sparksim.hfcache import REPO_ROOT
from scripts.sparksim.layout import (
    ENV_NODE,
    NodePaths,
    SimPaths,
    cluster_nodes,
    node_by_peer_address,
    read_vllm_cmd,
    sim_from_env,
)
from scripts.sparksim.procs import spawn_detached
from scripts.sparksim.vllm_args import ServeUsageError, is_serve, parse_serve

FAKE_VLLM = "scripts.sparksim.fake_vllm"
ENGINE_EXEC = "scripts.sparksim.engine_exec"

USAGE = (
    "Usage: launch-cluster.sh [-n head,worker] [-t image] [--name name] [-d] [-e K=V] "
    "[--ray|--no-ray] start|stop|status|exec <command…>"
)
EXTRA_ARGS_ENV = "VLLM_SPARK_EXTRA_DOCKER_ARGS"


class LaunchError(Exception):
    """Stops the script: ``str()`` is printed to stderr, ``code`` is the exit status."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


class Options:
    """Parsed options; ``verb`` and ``command`` (the words after ``exec``)."""

    def __init__(self, args: list[str]) -> None:
        self.hosts: list[str] = []
        self.image, self.name = "vllm-node", "vllm_node"
        self.daemon, self.ray = False, True
        self.env: dict[str, str] = {}
        i = 0
        while i < len(args) and args[i].startswith("-"):
            arg = args[i]
            if arg in ("-h", "--help"):
                raise LaunchError(USAGE, 0)
            if arg in ("-n", "--nodes", "-t", "--image", "--name", "-e", "--env"):
                if i + 1 >= len(args):
                    raise LaunchError(f"Error: option {arg} needs a value\n{USAGE}")
                value, i = args[i + 1], i + 1
                if arg in ("-n", "--nodes"):
                    self.hosts = [h.strip() for h in value.split(",") if h.strip()]
                elif arg in ("-t", "--image"):
                    self.image = value
                elif arg == "--name":
                    self.name = value
                else:
                    key, eq, val = value.partition("=")
                    if not key:
                        raise LaunchError(f"Error: -e expects KEY=VALUE or KEY, got {value!r}")
                    if eq:
                        self.env[key] = val
                    elif key in os.environ:
                        # Like `docker run -e KEY`: the value comes from this environment, so a
                        # secret passed over SSH never appears on a command line.
                        self.env[key] = os.environ[key]
            elif arg == "-d":
                self.daemon = True
            elif arg in ("--ray", "--no-ray"):
                self.ray = arg == "--ray"
            else:
                raise LaunchError(f"Error: unknown option {arg}\n{USAGE}")
            i += 1
        if i >= len(args) or args[i] not in ("start", "stop", "status", "exec"):
            raise LaunchError(USAGE)
        self.verb, self.command = args[i], args[i + 1 :]
        if self.verb == "exec" and not self.command:
            raise LaunchError(f"Error: exec needs a command\n{USAGE}")


def _nodes(paths: SimPaths, here: NodePaths, hosts: list[str]) -> list[tuple[NodePaths, str]]:
    """``(node, host)`` for the cluster, head first. Unknown hosts fail like ssh would; so
    does a node's SSH host when the node has a cluster-link address (the link's peers cannot
    reach it there, e.g. the StartOS server's LAN address in place of 192.168.100.x)."""
    if not hosts:
        entries = cluster_nodes(paths)
        entries.sort(key=lambda e: e["name"] != here.name)  # this node first, order kept
        return [(paths.node(e["name"]), e["host"]) for e in entries]
    result = []
    for host in hosts:
        entry, reachable = node_by_peer_address(paths, host)
        if entry is None:
            raise LaunchError(f"ssh: Could not resolve hostname {host}: Name or service not known")
        if not reachable:
            raise LaunchError(f"ssh: connect to host {host} port 22: No route to host")
        result.append((paths.node(entry["name"]), entry["host"]))
    return result


def _start(opts: Options, paths: SimPaths, nodes: list[tuple[NodePaths, str]]) -> None:
    """Create the container on every node and, on the head, start the engine for ``exec``."""
    for node, host in nodes:
        if containers.image_missing(node, opts.image):
            raise LaunchError(
                f"Error: image {opts.image} not found on {host} ({node.name}); "
                "build it or copy it there first"
            )
    for node, host in nodes:
        if containers.is_running(containers.load(node, opts.name)):
            raise LaunchError(
                f"Error: container {opts.name} is already running on {host} "
                f"({node.name}); stop it first"
            )
    failing = faults.first([n for n, _ in nodes], "launch_fail")
    if failing:
        node, params = failing
        raise LaunchError(
            f"Error: failed to start container {opts.name} on {node.name}: docker: "
            "Error response from daemon: failed to create task for container "
            "(simulated launch_fail)",
            int(params["exit_code"]),
        )
    extra = os.environ.get(EXTRA_ARGS_ENV, "")
    names = [n.name for n, _ in nodes]
    (head, head_host), workers = nodes[0], nodes[1:]
    common = {"image": opts.image, "cluster": names, "env": opts.env, "extra_docker_args": extra}
    try:
        for node, host in workers:
            containers.create(
                node, name=opts.name, role="worker", command=["ray", "start"], **common
            )
            containers.log(
                node,
                opts.name,
                f"Worker {node.name} ({host}) joined the Ray cluster at {head_host}:6379",
            )
            print(f"Started worker container {opts.name} on {host} ({node.name})")
        record = containers.create(
            head,
            name=opts.name,
            role="head",
            command=opts.command or ["ray", "start", "--head"],
            **common,
        )
    except ValueError as err:
        raise LaunchError(f"docker: {err}. (in {EXTRA_ARGS_ENV})", 125) from None
    print(f"Started head container {opts.name} on {head_host} ({head.name})")
    if opts.command:
        record["vllm"] = _spawn_engine(opts, paths, head, head_host, names)
        containers.save(head, record)
        print(f"Executing in head container: {' '.join(opts.command)}")


def _spawn_engine(
    opts: Options, paths: SimPaths, head: NodePaths, head_host: str, names: list[str]
) -> dict:
    """Start the head's engine detached; returns what the record keeps about it."""
    env = {
        **os.environ,
        **opts.env,
        "SIM_CONTAINER": opts.name,
        "SIM_CLUSTER": ",".join(names),
        ENV_NODE: head.name,
        "PYTHONPATH": str(REPO_ROOT),
        "PYTHONUNBUFFERED": "1",
    }
    info: dict = {"host": head_host}
    argv = list(opts.command)
    if is_serve(opts.command):
        try:
            serve = parse_serve(opts.command[2:])
            info.update(
                host=serve.bind_host(head_host),
                port=serve.port,
                served_name=serve.served_name,
                model=serve.model,
            )
        except ServeUsageError:
            pass  # the engine prints argparse's refusal into the log and exits 2
        vllm_cmd = read_vllm_cmd(paths)
        engine = shlex.split(vllm_cmd) if vllm_cmd else [sys.executable, "-m", FAKE_VLLM]
        argv = [*engine, *opts.command[1:]]
    # The engine runs under a wrapper that records its exit, as `docker exec -d … bash -c` does.
    exit_file, pid_file = head.engine_exit(opts.name), head.engine_pid(opts.name)
    argv = [sys.executable, "-S", "-m", ENGINE_EXEC, str(exit_file), str(pid_file), *argv]
    try:
        info["pid"] = spawn_detached(
            argv, env=env, cwd=head.home, log=head.container_log(opts.name), pid_dir=paths.pids
        )
    except OSError as err:
        containers.log(head, opts.name, f"exec: {argv[0]}: {err.strerror}")
    return info


def _stop(opts: Options, nodes: list[tuple[NodePaths, str]]) -> None:
    for node, host in nodes:
        stopped = containers.stop(node, opts.name)
        print(
            f"{'Stopped' if stopped else 'No'} container {opts.name} on {host} ({node.name})"
            + ("" if stopped else " to stop")
        )


def _stop_when_hung_up(opts: Options, nodes: list[tuple[NodePaths, str]]) -> None:
    def handler(signum: int, frame: object) -> None:
        _stop(opts, nodes)
        sys.stdout.flush()
        os._exit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, handler)


def _status(opts: Options, nodes: list[tuple[NodePaths, str]]) -> None:
    for node, host in nodes:
        record = containers.load(node, opts.name)
        state = (
            f"running ({containers.status_text(record)})"
            if containers.is_running(record)
            else "not running"
        )
        print(f"{host} ({node.name}): container {opts.name} {state}")


def main(argv: list[str] | None = None) -> int:
    """Run the script; returns its exit status."""
    args = sys.argv[1:] if argv is None else argv
    try:
        opts = Options(args)
        paths, here = sim_from_env()
        nodes = _nodes(paths, here, opts.hosts)
        if opts.verb in ("start", "exec"):
            _start(opts, paths, nodes)
            if opts.daemon:
                print(f"Daemon mode: follow the logs with: docker logs -f {opts.name}")
                return 0
            # Foreground mode: follow the head's log like the real script does; losing the
            # session takes the cluster down with it.
            _stop_when_hung_up(opts, nodes)
            sys.stdout.flush()
            return docker_observe.cmd_logs(nodes[0][0], ["-f", opts.name])
        if opts.verb == "stop":
            _stop(opts, nodes)
        else:
            _status(opts, nodes)
        return 0
    except LaunchError as err:
        print(str(err), file=sys.stderr if err.code else sys.stdout)
        return err.code


if __name__ == "__main__":
    sys.exit(main())
