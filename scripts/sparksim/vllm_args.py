"""The parts of a ``vllm serve`` command line the simulator cares about.

Shared by the launch script (which records where the engine will listen) and the fake vLLM
(which listens there). Stdlib only.
"""

from __future__ import annotations


class ServeArgs:
    """``vllm serve MODEL [--host H] [--port P] [--served-model-name N …] [other flags…]``.
    (Not a dataclass: the launch script imports this and dataclasses costs ~10 ms.)"""

    def __init__(
        self,
        model: str,
        host: str = "0.0.0.0",
        port: int = 8000,
        served_names: tuple[str, ...] = (),
        max_model_len: int = 32768,
        other: tuple[str, ...] = (),
    ) -> None:
        self.model, self.host, self.port = model, host, port
        self.served_names, self.max_model_len, self.other = served_names, max_model_len, other

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


def parse_serve(argv: list[str]) -> ServeArgs:
    """Parse the arguments after ``vllm serve``. Flags vLLM has but the simulator ignores are
    kept in ``other``. Raises ValueError (with vLLM-like wording) for a missing model or a
    non-numeric port."""
    model = None
    host, port, names, max_len = "0.0.0.0", 8000, [], 32768
    other: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        name, has_value, value = arg.partition("=")
        takes = name in ("--host", "--port", "--served-model-name", "--max-model-len", "--model")
        if takes and not has_value:
            if i + 1 >= len(argv):
                raise ValueError(f"argument {name}: expected one argument")
            value, i = argv[i + 1], i + 1
        if name == "--host":
            host = value
        elif name == "--port":
            if not value.isdigit() or not 0 < int(value) < 65536:
                raise ValueError(f"argument --port: invalid int value: {value!r}")
            port = int(value)
        elif name == "--served-model-name":
            names.append(value)
            # vLLM's --served-model-name takes several names (nargs="+").
            while i + 1 < len(argv) and not argv[i + 1].startswith("-"):
                names.append(argv[i + 1])
                i += 1
        elif name == "--max-model-len":
            max_len = int(value) if value.isdigit() else max_len
        elif name == "--model" or (model is None and not arg.startswith("-")):
            model = value if name == "--model" else arg
        else:
            other.append(arg)
        i += 1
    if not model:
        raise ValueError("the following arguments are required: model_tag")
    return ServeArgs(model, host, port, tuple(names), max_len, tuple(other))
