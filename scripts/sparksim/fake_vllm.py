"""The fake vLLM engine process: ``python -m scripts.sparksim.fake_vllm serve MODEL [flags…]``.

Started by the fake launch script on the head; stdout is the container log, written in real
vLLM 0.32's format and pace (``vllm_log``), scaled to the simulator's ``load_time``. It refuses
what real vLLM refuses, the way it does:

* an unknown flag or bad value: argparse's usage and error, exit 2 (``vllm_args``);
* a model it cannot see (a repo missing from a node's HF cache; a local path outside the
  container's bind mounts or without ``config.json``): a traceback, exit 1;
* an architecture vLLM does not support, or ``--max-model-len`` beyond the model's
  ``max_position_embeddings``: pydantic's ValidationError, exit 1;
* missing or corrupt safetensors weights: the worker's ``SafetensorError``, then "EngineCore
  failed to start" and "Engine core initialization failed", exit 1.

The port is bound at start (a taken port fails at once, like vLLM's early bind) but only
listened on once the start completes: until then connections are refused, as with real vLLM.
Then it serves :class:`~scripts.sparksim.vllm_app.VllmApp`, records ``healthy_at`` in the
head's ``state/vllm.json`` and logs uvicorn's "Application startup complete.". Faults are read
when they matter: ``never_healthy`` (it never listens), ``crash_after_ready`` (``seconds``
later the engine core dies: EngineDeadError, /health 503, the process gone ~1.5 s later).

Environment (set by the launch script): ``SIM_ROOT``, ``SIM_NODE`` (the head),
``SIM_CLUSTER`` (node names, head first), ``SIM_CONTAINER``.
SIGTERM shuts down gracefully (open streams get 1 s), as ``docker stop`` expects.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
import time
from pathlib import Path

from scripts.sparksim import containers, faults, hfcache
from scripts.sparksim.hfcache import SUPPORTED_ARCHITECTURES, safetensors_problem
from scripts.sparksim.layout import NodePaths, node_by_host, read_settings, sim_from_env, write_json
from scripts.sparksim.vllm_app import VllmApp
from scripts.sparksim.vllm_args import ServeArgs, ServeUsageError, parse_serve
from scripts.sparksim.vllm_log import PACE, READY_AT_S, VERSION, VllmLog
from scripts.sparksim.vllm_socket import bind, listen

SITE = "/usr/local/lib/python3.12/dist-packages"
CRASH_EXIT_AFTER_S = 1.5  # observed: /health 503 within ~1 s, the process gone ~2 s


class Refused(Exception):
    """Ends the start with exit status ``code`` (the log lines are already written)."""

    def __init__(self, code: int = 1) -> None:
        super().__init__(code)
        self.code = code


class Engine:
    """One fake engine: what it serves, where, on which cluster, with which faults."""

    def __init__(
        self,
        serve: ServeArgs,
        head: NodePaths,
        cluster: list[NodePaths],
        container: str,
        load_time: float,
        log: VllmLog,
    ) -> None:
        self.serve, self.head, self.cluster, self.container = serve, head, cluster, container
        self.load_time, self.log = load_time, log
        self.started = time.monotonic()
        self.state = {
            "pid": os.getpid(),
            "served_name": serve.served_name,
            "model": serve.model,
            "port": serve.port,
            "started_at": time.time(),
            "healthy_at": None,
        }
        self.max_model_len = serve.max_model_len or 0

    async def at(self, step: str, extra_s: float = 0.0) -> None:
        """Sleep until ``step`` of a real start, scaled to ``load_time``."""
        due = self.started + self.load_time * PACE[step] + extra_s * self.load_time / READY_AT_S
        await asyncio.sleep(max(0.0, due - time.monotonic()))

    # --- what vLLM finds on disk --------------------------------------------------------------

    def model_dir(self) -> Path:
        """The directory vLLM reads the model from; raises Refused after logging why not."""
        model = self.serve.model
        if model.startswith("/"):
            record = containers.load(self.head, self.container) or {}
            host_path = containers.visible_in_container(record, model)
            if host_path is None:  # inside the container the path does not exist: a repo id?
                self._api_traceback(
                    "huggingface_hub.errors.HFValidationError: Repo id must be in the form "
                    f"'repo_name' or 'namespace/repo_name': '{model}'. Use `repo_type` argument "
                    "if needed."
                )
            if not (host_path / "config.json").is_file():
                self._api_traceback(
                    f"OSError: {model} does not appear to have a file named config.json."
                )
            return host_path
        for node in self.cluster:
            if not hfcache.has_weights(node.hf_hub, model):
                self._api_traceback(
                    "OSError: We couldn't connect to 'https://huggingface.co' to load the files, "
                    f"and couldn't find them in the cached files (no {model} on {node.name})."
                )
        snapshots = self.head.hf_hub / hfcache.repo_dir_name(model) / "snapshots"
        return next(s for s in sorted(snapshots.iterdir()) if (s / "config.json").is_file())

    def _api_traceback(
        self, final: str, frames: list[tuple[str, int, str, str]] | None = None
    ) -> None:
        self.log.traceback(
            frames or [("/usr/local/bin/vllm", 10, "<module>", "sys.exit(main())")], final
        )
        raise Refused(1)

    def check_config(self, directory: Path) -> str:
        """vLLM's ModelConfig validation; returns the architecture."""
        config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
        architectures = config.get("architectures") or []
        frames = [
            (f"{SITE}/vllm/engine/arg_utils.py", 1955, "create_model_config", "return ModelConfig(")
        ]
        if not any(a in SUPPORTED_ARCHITECTURES for a in architectures):
            self.log.traceback(
                frames,
                "pydantic_core._pydantic_core.ValidationError: 1 validation error for ModelConfig",
            )
            self.log.raw(
                f"  Value error, Model architectures {architectures!r} are not supported for now. "
                f"Supported architectures: dict_keys({list(SUPPORTED_ARCHITECTURES)!r}) "
                "[type=value_error, input_value=ArgsKwargs((), {...}), input_type=ArgsKwargs]"
            )
            raise Refused(1)
        text = config.get("text_config") or {}
        derived = config.get("max_position_embeddings") or text.get("max_position_embeddings")
        if derived and self.max_model_len > derived:
            self.log.traceback(
                frames,
                "pydantic_core._pydantic_core.ValidationError: 1 validation error for ModelConfig",
            )
            self.log.raw(
                f"  Value error, User-specified max_model_len ({self.max_model_len}) is greater "
                f"than the derived max_model_len (max_position_embeddings={float(derived)} or "
                "model_max_length=None in model's config.json). To allow overriding this "
                "maximum, set the env var VLLM_ALLOW_LONG_MAX_MODEL_LEN=1. "
                "[type=value_error, input_value=ArgsKwargs((), {...}), input_type=ArgsKwargs]"
            )
            raise Refused(1)
        self.max_model_len = self.max_model_len or int(derived or 32768)
        return next(a for a in architectures if a in SUPPORTED_ARCHITECTURES)

    async def check_weights(self, directory: Path) -> int:
        """The weight files as safetensors would read them; returns their count."""
        files = sorted(directory.glob("*.safetensors"))  # noqa: ASYNC240 - a few tiny files
        problem = (
            None
            if files
            else f"RuntimeError: Cannot find any model weights with `{self.serve.model}`"
        )
        for path in files:
            reason = safetensors_problem(path)
            if reason:
                problem = f"safetensors._safetensors_rust.SafetensorError: Error while deserializing header: {reason}"
                break
        if problem is None:
            return len(files)
        log = self.log
        worker = f"(Worker pid={log.pids['Worker']}) ERROR {time.strftime('%m-%d %H:%M:%S')} [multiproc_executor.py:953] "
        log.line("Worker", "ERROR", "multiproc_executor.py:953", "WorkerProc failed to start.")
        log.traceback(
            [
                (
                    f"{SITE}/vllm/model_executor/model_loader/weight_utils.py",
                    1208,
                    "safetensors_weights_iterator",
                    'with safe_open(st_file, framework="pt") as f:',
                )
            ],
            problem,
            worker,
        )
        await self.at("worker", extra_s=1.9)  # the captured worker shutdown took 1.9 s
        core = f"(EngineCore pid={log.pids['EngineCore']}) ERROR {time.strftime('%m-%d %H:%M:%S')} [core.py:1510] "
        log.line("EngineCore", "ERROR", "core.py:1510", "EngineCore failed to start.")
        log.traceback(
            [
                (
                    f"{SITE}/vllm/v1/engine/core.py",
                    1482,
                    "run_engine_core",
                    "engine_core = EngineCoreProc(*args, engine_index=dp_rank, **kwargs)",
                )
            ],
            "Exception: WorkerProc initialization failed due to an exception in a background process. See stack trace for root cause.",
            core,
        )
        self._api_traceback(
            "RuntimeError: Engine core initialization failed. See root cause above. "
            "Failed core proc(s): {'EngineCore': 1}"
        )
        return 0


async def start(engine: Engine, app: VllmApp, sock: socket.socket, host: str) -> int:
    """The whole start, then serving until SIGTERM; returns the exit status."""
    serve, log = engine.serve, engine.log
    log.banner(serve.model)
    args = {"model_tag": serve.model, "host": serve.host, "port": serve.port, "model": serve.model}
    if serve.max_model_len:
        args["max_model_len"] = serve.max_model_len
    if serve.served_names:
        args["served_model_name"] = list(serve.served_names)
    log.line("APIServer", "INFO", "api_utils.py:286", f"non-default args: {args}")
    directory = engine.model_dir()
    architecture = engine.check_config(directory)
    log.line("APIServer", "INFO", "model.py:733", f"Resolved architecture: {architecture}")
    log.line("APIServer", "INFO", "model.py:2152", f"Using max model len {engine.max_model_len}")
    await engine.at("engine")
    log.line(
        "EngineCore",
        "INFO",
        "core.py:133",
        f"Initializing a V1 LLM engine (v{VERSION}) with config: model='{serve.model}', served_model_name={serve.served_name}",
    )
    await engine.at("worker")
    log.line("Worker", "INFO", "gpu_model_runner.py:68", f"Starting to load model {serve.model}...")
    shards = await engine.check_weights(directory)
    for done in range(shards + 1):
        await engine.at(
            "worker", extra_s=(PACE["weights"] - PACE["worker"]) * READY_AT_S * done / shards
        )
        log.progress_bar(
            "Loading safetensors checkpoint shards", done, shards, final=done == shards
        )
    took = (PACE["weights"] - PACE["worker"]) * engine.load_time
    log.line("Worker", "INFO", "default_loader.py:501", f"Loading weights took {took:.2f} seconds")
    log.line("Worker", "INFO", "gpu_model_runner.py:87", "Warming up model for the compilation...")
    await engine.at("kv_cache")
    log.line(
        "EngineCore",
        "INFO",
        "kv_cache_utils.py:2327",
        "GPU KV cache size: 656,960 tokens, Maximum concurrency for 32,768 tokens per request: 20.05x",
    )
    log.line(
        "EngineCore",
        "INFO",
        "core.py:402",
        f"init engine (profile, create kv cache, warmup model) took {engine.load_time * 0.25:.2f} s",
    )
    # Faults are read when they matter, on every node: a tensor-parallel engine fails if any
    # of its ranks does.
    if faults.first(engine.cluster, "never_healthy") is not None:
        log.line(
            "EngineCore",
            "WARNING",
            "core.py:90",
            "Engine core is not responding; still initialising…",
        )
        await asyncio.Event().wait()  # never listens; SIGTERM ends it
    crash = faults.first(engine.cluster, "crash_after_ready")
    await engine.at("serving")
    log.line(
        "APIServer",
        "INFO",
        "entry.py:140",
        f"Starting vLLM server on http://{serve.host}:{serve.port}",
    )
    for route in (
        "/health",
        "/v1/models",
        "/v1/chat/completions",
        "/v1/completions",
        "/v1/embeddings",
    ):
        log.line(
            "APIServer",
            "INFO",
            "launcher.py:195",
            f"Route: {route}, Methods: {'GET' if route in ('/health', '/v1/models') else 'POST'}",
        )
    log.raw(f"INFO:     Started server process [{os.getpid()}]")
    log.raw("INFO:     Waiting for application startup.")
    await engine.at("ready")
    server = await listen(app, sock)
    app.ready = True
    engine.state["healthy_at"] = time.time()
    write_json(engine.head.vllm_state, engine.state)
    log.raw("INFO:     Application startup complete.")
    if crash is not None:
        await asyncio.sleep(float(crash[1]["seconds"]))
        _crash(engine, app)
        await asyncio.sleep(CRASH_EXIT_AFTER_S)
        log.raw("INFO:     Shutting down")
        os._exit(1)  # the API server dies with its engine; the container keeps running
    await server.wait()
    return 0


def _crash(engine: Engine, app: VllmApp) -> None:
    log = engine.log
    app.ready = False  # /health answers 503 until the process is gone
    core = f"(EngineCore pid={log.pids['EngineCore']}) ERROR {time.strftime('%m-%d %H:%M:%S')} [core.py:1079] "
    log.line("EngineCore", "ERROR", "core.py:1079", "EngineCore encountered a fatal error.")
    log.traceback(
        [
            (
                f"{SITE}/vllm/v1/engine/core.py",
                1070,
                "run_engine_core",
                "engine_core.run_busy_loop()",
            )
        ],
        "RuntimeError: CUDA error: an illegal memory access was encountered",
        core,
    )
    log.line("APIServer", "ERROR", "async_llm.py:693", "AsyncLLM output_handler failed.")
    log.raw(
        "vllm.v1.engine.exceptions.EngineDeadError: EngineCore encountered an issue. See stack trace (above) for the root cause."
    )


async def run(engine: Engine, app: VllmApp, sock: socket.socket, host: str) -> int:
    loop = asyncio.get_running_loop()
    main_task = asyncio.current_task()
    stopping = asyncio.Event()

    def on_term() -> None:
        stopping.set()
        if main_task is not None:
            main_task.cancel()

    import signal

    loop.add_signal_handler(signal.SIGTERM, on_term)
    loop.add_signal_handler(signal.SIGINT, on_term)
    try:
        return await start(engine, app, sock, host)
    except Refused as refused:
        return refused.code
    except asyncio.CancelledError:
        return 0


def main(argv: list[str] | None = None) -> int:
    """Run the engine until stopped; returns the exit status."""
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["serve"]:
        args = args[1:]
    paths, head = sim_from_env()
    settings = read_settings(paths)
    load_time = settings["load_time"]
    started = time.monotonic()
    time.sleep(max(0.0, started + load_time * PACE["args"] - time.monotonic()))
    try:
        serve = parse_serve(args)
    except ServeUsageError as err:
        print(err.text, flush=True)
        return 2
    log = VllmLog()
    entry = node_by_host(paths, head.name)
    host = serve.bind_host(entry["host"] if entry else "127.0.0.1")
    cluster = [paths.node(n) for n in os.environ.get("SIM_CLUSTER", head.name).split(",") if n]
    engine = Engine(
        serve, head, cluster, os.environ.get("SIM_CONTAINER", "vllm_node"), load_time, log
    )
    engine.started = started
    try:
        sock = bind(host, serve.port)
    except OSError as err:
        log.line(
            "APIServer",
            "ERROR",
            "api_server.py:1820",
            f"[Errno {err.errno}] error while attempting to bind on address ({host!r}, {serve.port}): {err.strerror.lower() if err.strerror else err}",
        )
        return 1
    engine.state["host"] = host
    write_json(head.vllm_state, engine.state)
    app = VllmApp(
        served_name=serve.served_name,
        model=serve.model,
        token_rate=settings["token_rate"],
        max_model_len=serve.max_model_len or 32768,
    )
    os.chdir(Path.home() if "HOME" in os.environ else "/")
    return asyncio.run(run(engine, app, sock, host))


if __name__ == "__main__":
    sys.exit(main())
