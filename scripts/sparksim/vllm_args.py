"""The parts of a ``vllm serve`` command line the simulator cares about, checked the way vLLM's
own argparse checks them.

Shared by the launch script (which records where the engine will listen) and the fake vLLM
(which refuses what real vLLM 0.32 refuses). Stdlib only.

:func:`parse_serve` raises :class:`ServeUsageError` for what argparse rejects: an unknown flag
or a stray word is ``unrecognized arguments`` (vLLM prints the top-level usage and exits 2), a
bad value is the ``serve`` subcommand's error (also exit 2). Flags vLLM has that the simulator
ignores are kept in ``other``.
"""

from __future__ import annotations

# Real vLLM 0.32's answer to an unknown flag (captured), before "vllm: error: …".
TOP_USAGE = (
    "usage: vllm [-h] [-v]\n"
    "            {chat,complete,serve,launch,bench,collect-env,download-kernels,preload,"
    "run-batch,snapshot}\n"
    "            ..."
)
SERVE_USAGE = "usage: vllm serve [model_tag] [options]"

INT_FLAGS = frozenset(
    {
        "--port", "--max-model-len", "--tensor-parallel-size", "-tp", "--pipeline-parallel-size",
        "-pp", "--data-parallel-size", "-dp", "--max-num-seqs", "--max-num-batched-tokens",
        "--seed", "--nnodes", "--node-rank", "--master-port", "--swap-space",
        "--max-logprobs", "--api-server-count",
    }
)  # fmt: skip
FLOAT_FLAGS = frozenset({"--gpu-memory-utilization", "--cpu-offload-gb"})
CHOICES = {
    "--dtype": ("auto", "half", "float16", "bfloat16", "float", "float32"),
    "--distributed-executor-backend": ("ray", "mp", "uni", "external_launcher"),
}
STR_FLAGS = frozenset(
    {
        "--host", "--model", "--quantization", "-q", "--tokenizer", "--revision",
        "--chat-template", "--kv-cache-dtype", "--load-format", "--download-dir",
        "--tool-call-parser", "--reasoning-parser", "--generation-config", "--api-key",
        "--uvicorn-log-level", "--limit-mm-per-prompt", "--master-addr", "--hf-overrides",
        "--override-generation-config", "--compilation-config", "-O", "--speculative-config",
        "--chat-template-content-format", "--tokenizer-mode", "--max-cpu-loras",
        "--mm-processor-kwargs", "--root-path", "--safetensors-load-strategy",
    }
)  # fmt: skip
MULTI_FLAGS = frozenset({"--served-model-name"})  # nargs="+"
BOOL_FLAGS = frozenset(
    {
        "--trust-remote-code", "--enforce-eager", "--enable-prefix-caching",
        "--enable-chunked-prefill", "--enable-auto-tool-choice", "--disable-log-stats",
        "--disable-log-requests", "--enable-log-requests", "--headless", "--enable-lora",
        "--async-scheduling", "--enable-expert-parallel", "--disable-custom-all-reduce",
        "--no-enable-prefix-caching", "--no-enable-chunked-prefill", "--enable-sleep-mode",
        "--disable-frontend-multiprocessing", "--enable-scale-out",
    }
)  # fmt: skip
_ALIASES = {
    "-tp": "--tensor-parallel-size",
    "-pp": "--pipeline-parallel-size",
    "-q": "--quantization",
}


class ServeUsageError(ValueError):
    """What argparse prints (usage + ``error: …``) before exiting 2."""

    def __init__(self, usage: str, prog: str, message: str) -> None:
        super().__init__(message)
        self.text = f"{usage}\n{prog}: error: {message}"


class ServeArgs:
    """``vllm serve MODEL [--host H] [--port P] [--served-model-name N …] [other flags…]``.
    (Not a dataclass: the launch script imports this and dataclasses costs ~10 ms.)"""

    def __init__(
        self,
        model: str,
        host: str = "0.0.0.0",
        port: int = 8000,
        served_names: tuple[str, ...] = (),
        max_model_len: int | None = None,
        other: tuple[str, ...] = (),
        values: dict[str, object] | None = None,
    ) -> None:
        self.model, self.host, self.port = model, host, port
        self.served_names, self.max_model_len, self.other = served_names, max_model_len, other
        self.values = values or {}

    def bind_host(self, head_host: str) -> str:
        """Where the server really listens: a wildcard ``--host`` means the head's own
        address (each simulated Spark is one loopback address)."""
        return head_host if self.host in ("0.0.0.0", "::", "") else self.host

    @property
    def served_name(self) -> str:
        """The name ``/v1/models`` lists: the first ``--served-model-name``, else the model."""
        return self.served_names[0] if self.served_names else self.model


def is_serve(argv: list[str]) -> bool:
    """True for ``vllm serve …`` (the command the launch script runs as the fake vLLM)."""
    return len(argv) >= 2 and argv[0].rsplit("/", 1)[-1] == "vllm" and argv[1] == "serve"


def _convert(flag: str, value: str) -> object:
    name = _ALIASES.get(flag, flag)
    try:
        if flag in INT_FLAGS:
            if flag == "--max-model-len" and value[-1:].lower() in ("k", "m"):
                return int(value[:-1]) * (1024 if value[-1] in "kK" else 1024 * 1024)
            return int(value)
        if flag in FLOAT_FLAGS:
            return float(value)
    except ValueError:
        kind = "int" if flag in INT_FLAGS else "float"
        raise ServeUsageError(
            SERVE_USAGE, "vllm serve", f"argument {name}: invalid {kind} value: {value!r}"
        ) from None
    if flag in CHOICES and value not in CHOICES[flag]:
        options = ", ".join(repr(c) for c in CHOICES[flag])
        raise ServeUsageError(
            SERVE_USAGE,
            "vllm serve",
            f"argument {name}: invalid choice: {value!r} (choose from {options})",
        )
    return value


def parse_serve(argv: list[str]) -> ServeArgs:
    """Parse the arguments after ``vllm serve`` like vLLM 0.32 does; raises ServeUsageError."""
    model = None
    values: dict[str, object] = {}
    names: list[str] = []
    other: list[str] = []
    unrecognized: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        flag, has_value, value = arg.partition("=")
        takes = flag in INT_FLAGS or flag in FLOAT_FLAGS or flag in STR_FLAGS or flag in CHOICES
        if flag in MULTI_FLAGS or takes:
            if not has_value:
                if i + 1 >= len(argv) or argv[i + 1].startswith("--"):
                    raise ServeUsageError(
                        SERVE_USAGE, "vllm serve", f"argument {flag}: expected one argument"
                    )
                value, i = argv[i + 1], i + 1
            if flag in MULTI_FLAGS:
                names.append(value)
                while i + 1 < len(argv) and not argv[i + 1].startswith("-"):
                    names.append(argv[i + 1])
                    i += 1
            else:
                values[_ALIASES.get(flag, flag)] = _convert(flag, value)
                if flag not in ("--host", "--port", "--max-model-len", "--model"):
                    other.append(arg if has_value else f"{flag}={value}")
        elif arg in BOOL_FLAGS:
            values[arg] = True
            other.append(arg)
        elif not arg.startswith("-") and model is None:
            model = arg
        else:
            unrecognized.append(arg)
        i += 1
    model = model or values.get("--model")  # type: ignore[assignment]
    if unrecognized:
        raise ServeUsageError(
            TOP_USAGE, "vllm", f"unrecognized arguments: {' '.join(unrecognized)}"
        )
    if not model:
        raise ServeUsageError(
            SERVE_USAGE, "vllm serve", "the following arguments are required: model_tag"
        )
    port = values.get("--port", 8000)
    if not isinstance(port, int) or not 0 < port < 65536:
        raise ServeUsageError(SERVE_USAGE, "vllm serve", f"argument --port: invalid port {port}")
    max_len = values.get("--max-model-len")
    return ServeArgs(
        str(model),
        str(values.get("--host", "0.0.0.0")),
        port,
        tuple(names),
        max_len if isinstance(max_len, int) else None,
        tuple(other),
        values,
    )
