"""What a model is: :class:`ModelDef` with its launch :class:`Knobs`, validated by pattern
before any of it can reach a shell (it still reaches one only as quoted arguments)."""

from __future__ import annotations

import posixpath
import re
from typing import Annotated, Literal

import msgspec

from app.cluster import commands as cmd
from app.cluster.commands import control_char_problem, refuse_control_chars

MODEL_KEY = r"^[a-z0-9][a-z0-9._-]{0,63}$"
HF_REPO = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$"
SERVED_NAME = r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$"
QUANTIZATION = r"^[a-z0-9][a-z0-9_-]{0,31}$"
# A vLLM flag (``--max-num-seqs`` or ``--max-num-seqs=8``) or a plain value following one.
EXTRA_ARG = r"^(--[a-z0-9][a-z0-9-]*(=\S+)?|[^-\s]\S{0,255}|-?[0-9][0-9.eE+-]*)$"
LOCAL_PATH_MAX = 1024
_LOCAL_PATH_CHARS = re.compile(r"[A-Za-z0-9._/@+-]+")

# Flags the controller sets itself; letting extra_args repeat them would make the launch lie.
RESERVED_FLAGS = frozenset({"--host", "--port", "--served-model-name", "--model"})

Dtype = Literal["auto", "half", "float16", "bfloat16", "float", "float32"]


class Knobs(msgspec.Struct, forbid_unknown_fields=True, frozen=True, omit_defaults=True):
    """Per-model vLLM settings; each becomes a flag of ``vllm serve``."""

    tensor_parallel_size: Annotated[int, msgspec.Meta(ge=1, le=8)] | None = None
    max_model_len: Annotated[int, msgspec.Meta(ge=1, le=16_777_216)] | None = None
    gpu_memory_utilization: Annotated[float, msgspec.Meta(gt=0.0, le=1.0)] | None = None
    dtype: Dtype | None = None
    quantization: Annotated[str, msgspec.Meta(pattern=QUANTIZATION)] | None = None
    served_model_name: Annotated[str, msgspec.Meta(pattern=SERVED_NAME)] | None = None
    extra_args: tuple[Annotated[str, msgspec.Meta(pattern=EXTRA_ARG, max_length=256)], ...] = ()

    def __post_init__(self) -> None:
        # The patterns cannot be trusted with this alone: msgspec matches them with re.search,
        # where ``$`` also matches before a trailing newline.
        problem = control_char_problem("served_model_name", self.served_model_name)
        problem = problem or control_char_problem("quantization", self.quantization)
        for index, arg in enumerate(self.extra_args):
            problem = problem or control_char_problem(f"extra_args[{index}]", arg)
        if problem:
            raise ValueError(problem)
        if len(self.extra_args) > 64:
            raise ValueError("extra_args: at most 64 arguments")
        for arg in self.extra_args:
            if arg.split("=", 1)[0] in RESERVED_FLAGS:
                raise ValueError(
                    f"extra_args: {arg.split('=', 1)[0]} is set by Spark Control itself"
                )

    def vllm_flags(self) -> tuple[str, ...]:
        """The ``vllm serve`` flags for these knobs (served name excluded: the engine sets it)."""
        flags: list[str] = []
        if self.tensor_parallel_size is not None:
            flags += ["--tensor-parallel-size", str(self.tensor_parallel_size)]
        if self.max_model_len is not None:
            flags += ["--max-model-len", str(self.max_model_len)]
        if self.gpu_memory_utilization is not None:
            flags += ["--gpu-memory-utilization", f"{self.gpu_memory_utilization:g}"]
        if self.dtype is not None:
            flags += ["--dtype", self.dtype]
        if self.quantization is not None:
            flags += ["--quantization", self.quantization]
        return (*flags, *self.extra_args)


class ModelDef(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """One model: exactly one of ``repo`` (Hugging Face) or ``local_path`` (a directory present
    at the same absolute path on every Spark)."""

    key: Annotated[str, msgspec.Meta(pattern=MODEL_KEY)]
    name: Annotated[str, msgspec.Meta(max_length=200)] = ""
    repo: Annotated[str, msgspec.Meta(pattern=HF_REPO)] | None = None
    local_path: Annotated[str, msgspec.Meta(min_length=1, max_length=LOCAL_PATH_MAX)] | None = None
    knobs: Knobs = msgspec.field(default_factory=Knobs)

    def __post_init__(self) -> None:
        refuse_control_chars(self, "key", "name", "repo", "local_path")
        if (self.repo is None) == (self.local_path is None):
            raise ValueError("exactly one of repo or local_path is required")
        if self.local_path is not None:
            problem = local_path_problem(self.local_path)
            if problem:
                raise ValueError(f"local_path: {problem}")
            if self.local_path.endswith("/"):
                # Stored (and compared, mounted, shown) without the slash, never as given.
                msgspec.structs.force_setattr(self, "local_path", self.local_path.rstrip("/"))

    @property
    def local(self) -> bool:
        return self.local_path is not None

    @property
    def served_name(self) -> str:
        return self.knobs.served_model_name or self.key

    @property
    def display_name(self) -> str:
        return self.name or self.key

    @property
    def source_ref(self) -> str:
        """What ``vllm serve`` is given: the repo id or the local directory (validation
        guarantees exactly one of them is set)."""
        return self.repo if self.repo is not None else (self.local_path or "")


def local_path_problem(path: str) -> str | None:
    """Why ``path`` is not an acceptable local model path (shape only), or None."""
    if not path.startswith("/"):
        return "must be an absolute path"
    if not _LOCAL_PATH_CHARS.fullmatch(path):
        # The path is bind-mounted through VLLM_SPARK_EXTRA_DOCKER_ARGS, which the launch
        # script word-splits and Docker splits on ':' — so only plain path characters.
        return "may contain only letters, digits and . _ - + @ /"
    if path != "/" and path.endswith("/"):
        path = path.rstrip("/")
    if posixpath.normpath(path) != path or "/../" in f"{path}/" or "/./" in f"{path}/":
        return "must be normalised (no '.', '..' or repeated '/')"
    if path == "/":
        return "must not be the root directory"
    return None


def hf_cache_dir(repo: str) -> str:
    """The HF hub cache folder name of ``repo``: ``models--org--name``."""
    return "models--" + repo.replace("/", "--")


def weights_dir(model: ModelDef, hf_home: str) -> str:
    """Where ``model``'s weights live on every node: its local directory, or its folder in the
    HF cache under ``hf_home`` (the one place this path is computed)."""
    if model.local_path is not None:
        return model.local_path
    return cmd.join_path(cmd.remote_path(hf_home), "hub", hf_cache_dir(model.repo or ""))
