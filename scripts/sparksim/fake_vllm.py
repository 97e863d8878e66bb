"""The fake vLLM engine process: ``python -m scripts.sparksim.fake_vllm serve MODEL [flags…]``.

Started (detached) by the fake launch script on the head; stdout is the container log. It
binds ``--host``/``--port`` first (a wildcard host means the head's own address), serves
:class:`~scripts.sparksim.vllm_app.VllmApp` with ``/health`` 503 while "loading", and:

1. checks the weights like the real container would see them: a repo id must be in the HF
   cache of every node of the cluster; an absolute path must be under a bind mount of the
   container (``VLLM_SPARK_EXTRA_DOCKER_ARGS``) and hold a ``config.json``. Otherwise it logs
   a clear error and exits 1 (the container record stays, as a real container would);
2. logs "Loading model weights…" progress lines spread over ``load_time`` (from ``sim.json``,
   read at start), then "Loading weights took …";
3. turns healthy (unless ``never_healthy`` is set on a node of the cluster at that moment;
   faults are read when they matter, not at start), records ``healthy_at`` (``time.time()``) in the
   head's ``state/vllm.json`` and logs "Application startup complete.";
4. with ``crash_after_ready``, dies ``seconds`` later with an engine error in the log.

Environment (set by the launch script): ``SIM_ROOT``, ``SIM_NODE`` (the head),
``SIM_CLUSTER`` (node names, head first), ``SIM_CONTAINER``.
SIGTERM shuts down gracefully (open streams get 1 s), as ``docker stop`` expects.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import time
from pathlib import Path

from scripts.sparksim import containers, faults, hfcache
from scripts.sparksim.layout import (
    NodePaths,
    SimPaths,
    node_by_host,
    read_settings,
    sim_from_env,
    write_json,
)
from scripts.sparksim.vllm_app import VllmApp
from scripts.sparksim.vllm_args import ServeArgs, parse_serve

PROGRESS_STEPS = 4


def log(level: str, where: str, message: str) -> None:
    """One vLLM-style log line on stdout (the container log): ``INFO 06-17 12:00:00 [x.py] m``."""
    print(f"{level} {time.strftime('%m-%d %H:%M:%S')} [{where}] {message}", flush=True)


class Engine:
    """One fake engine: what it serves, where, on which cluster, with which faults."""

    def __init__(
        self, serve: ServeArgs, paths: SimPaths, head: NodePaths, cluster: list[str], container: str
    ) -> None:
        self.serve, self.paths, self.head, self.container = serve, paths, head, container
        self.cluster = [paths.node(name) for name in cluster]
        settings = read_settings(paths)
        self.load_time, self.token_rate = settings["load_time"], settings["token_rate"]
        self.state = {
            "pid": os.getpid(),
            "served_name": serve.served_name,
            "model": serve.model,
            "port": serve.port,
            "started_at": time.time(),
            "healthy_at": None,
        }
        self.exit_code = 0

    def load_errors(self) -> list[str]:
        """The error lines a real engine would log for weights it cannot see ([] = loadable)."""
        model = self.serve.model
        if model.startswith("/"):
            record = containers.load(self.head, self.container) or {}
            host_path = containers.visible_in_container(record, model)
            if host_path is None:
                # Inside the container the path does not exist, so vLLM takes it for a repo id.
                return [
                    "huggingface_hub.errors.HFValidationError: Repo id must be in the form "
                    f"'repo_name' or 'namespace/repo_name': '{model}'.",
                    f"(sparksim) {model} does not exist inside container {self.container}: it is "
                    f"not under any bind mount (add -v {model}:{model} to "
                    "VLLM_SPARK_EXTRA_DOCKER_ARGS)",
                ]
            if not (host_path / "config.json").is_file():
                return [f"OSError: {model} does not appear to have a file named config.json."]
            return []
        for node in self.cluster:
            if not hfcache.has_weights(node.hf_hub, model):
                return [
                    "OSError: We couldn't connect to 'https://huggingface.co' to load the files, "
                    "and couldn't find them in the cached files.",
                    f"(sparksim) {model} is not in the Hugging Face cache on {node.name}",
                ]
        return []

    async def load(self, app: VllmApp, stop: asyncio.Event) -> None:
        """Simulate loading, then serve; sets ``stop`` (with ``exit_code`` 1) on failure."""
        started = time.monotonic()
        log("INFO", "gpu_model_runner.py:1770", f"Starting to load model {self.serve.model}...")
        errors = self.load_errors()
        if errors:
            log("ERROR", "core.py:708", "EngineCore failed to start.")
            for line in errors:
                log("ERROR", "core.py:708", line)
            log(
                "ERROR",
                "core.py:708",
                "RuntimeError: Engine core initialization failed. "
                "See root cause above. Failed core proc(s): {}",
            )
            self.exit_code = 1
            stop.set()
            return
        for step in range(1, PROGRESS_STEPS + 1):
            await asyncio.sleep(
                max(0.0, started + self.load_time * step / (PROGRESS_STEPS + 1) - time.monotonic())
            )
            percent = 100 * step // PROGRESS_STEPS
            log("INFO", "default_loader.py:262", f"Loading model weights… {percent}%")
            # vLLM's own tqdm bar, as it appears in `docker logs`.
            print(
                f"Loading safetensors checkpoint shards: {percent:3d}% Completed | "
                f"{step}/{PROGRESS_STEPS} [00:0{step}<00:00]",
                flush=True,
            )
        await asyncio.sleep(max(0.0, started + self.load_time - time.monotonic()))
        took = time.monotonic() - started
        # From here to "Application startup complete." is one synchronous step: whoever reads
        # "Loading weights took" in the log can rely on /health already answering as it will.
        log("INFO", "default_loader.py:272", f"Loading weights took {took:.2f} seconds")
        log(
            "INFO",
            "gpu_model_runner.py:1793",
            f"Model loading took 61.20 GiB and {took:.2f} seconds",
        )
        log("INFO", "kv_cache_utils.py:829", "GPU KV cache size: 656,960 tokens")
        log(
            "INFO",
            "gpu_model_runner.py:2541",
            "Capturing CUDA graphs (mixed prefill-decode, PIECEWISE)...",
        )
        # Faults are read when they matter (a fault set while loading still applies), on every
        # node of the cluster: a tensor-parallel engine fails if any of its ranks does.
        crash = faults.first(self.cluster, "crash_after_ready")
        if faults.first(self.cluster, "never_healthy") is not None:
            log("WARNING", "core.py:90", "Engine core is not responding; still initialising…")
            return
        log("INFO", "gpu_model_runner.py:2636", "Graph capturing finished in 0 secs, took 0.31 GiB")
        app.ready = True
        self.state["healthy_at"] = time.time()
        write_json(self.head.vllm_state, self.state)
        log(
            "INFO",
            "api_server.py:1880",
            f"Starting vLLM API server on http://{self.serve.host}:{self.serve.port}",
        )
        log("INFO", "launcher.py:29", "Application startup complete.")
        if crash is not None:
            await asyncio.sleep(float(crash[1]["seconds"]))
            log("ERROR", "core.py:708", "EngineCore encountered a fatal error.")
            log(
                "ERROR",
                "core.py:708",
                "RuntimeError: CUDA error: an illegal memory access was encountered",
            )
            sys.stdout.flush()
            os._exit(1)  # a crash: no graceful shutdown, the container record stays "running"


async def _serve(engine: Engine, app: VllmApp, sock: socket.socket) -> int:
    import uvicorn  # heavy import after the port is bound, so /health answers sooner

    config = uvicorn.Config(
        app, lifespan="off", log_level="warning", access_log=False, timeout_graceful_shutdown=1
    )
    server = uvicorn.Server(config)
    failed = asyncio.Event()

    async def stop_on_failure() -> None:
        await failed.wait()
        server.should_exit = True

    tasks = [asyncio.create_task(engine.load(app, failed)), asyncio.create_task(stop_on_failure())]
    try:
        await server.serve(sockets=[sock])
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return engine.exit_code


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say they are TCP;
    # without it Nagle + delayed ACKs hold a response's body segment back for ~40 ms.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(512)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(False)
    return sock


def main(argv: list[str] | None = None) -> int:
    """Run the engine until stopped; returns the exit status."""
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["serve"]:
        args = args[1:]
    log("INFO", "api_server.py:1805", "vLLM API server version 0.11.0 (sparksim)")
    try:
        serve = parse_serve(args)
    except ValueError as err:
        print(f"vllm serve: error: {err}", flush=True)
        return 2
    paths, head = sim_from_env()
    entry = node_by_host(paths, head.name)
    host = serve.bind_host(entry["host"] if entry else "127.0.0.1")
    cluster = [n for n in os.environ.get("SIM_CLUSTER", head.name).split(",") if n]
    engine = Engine(serve, paths, head, cluster, os.environ.get("SIM_CONTAINER", "vllm_node"))
    try:
        sock = _bind(host, serve.port)
    except OSError as err:
        log(
            "ERROR",
            "api_server.py:1820",
            f"[Errno {err.errno}] error while attempting to bind on "
            f"address ({host!r}, {serve.port}): {err.strerror.lower() if err.strerror else err}",
        )
        return 1
    engine.state["host"] = host
    write_json(head.vllm_state, engine.state)
    log(
        "INFO",
        "api_server.py:1810",
        f"args: model={serve.model!r} served_model_name="
        f"{serve.served_name!r} host={serve.host!r} port={serve.port}",
    )
    app = VllmApp(
        served_name=serve.served_name,
        model=serve.model,
        token_rate=engine.token_rate,
        max_model_len=serve.max_model_len,
    )
    os.chdir(Path.home() if "HOME" in os.environ else "/")
    return asyncio.run(_serve(engine, app, sock))


if __name__ == "__main__":
    sys.exit(main())
