"""Model weights on a simulated Spark: the Hugging Face cache and local model directories.

The cache has the real layout (what ``hf download`` writes), with the same content the fake
Hugging Face hub (``hfhub``) serves for the repo, so a verification against the hub's listing
passes::

    hub/models--<org>--<name>/refs/main               -> the snapshot hash
    hub/models--<org>--<name>/blobs/<etag>            sha256 for LFS files, git blob id else
    hub/models--<org>--<name>/snapshots/<hash>/<file> symlinks into blobs

Weights are a few KiB of valid safetensors, their size differs by model. Stdlib only (the fake vLLM and the fakes
import it); ``catalog_repos`` imports PyYAML lazily and is only called by the simulator itself.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from scripts.sparksim.layout import NodePaths

REPO_ROOT = Path(__file__).resolve().parents[2]
BUNDLED_CATALOG = REPO_ROOT / "app" / "catalog" / "models.yaml"


def repo_dir_name(repo: str) -> str:
    """``"Qwen/Qwen3-32B"`` -> ``"models--Qwen--Qwen3-32B"`` (the HF cache naming rule)."""
    return "models--" + repo.replace("/", "--")


def catalog_repos(catalog_file: Path | None = None) -> list[str]:
    """The ``repo`` of every model in a catalog file (default: the app's bundled catalog).

    Raises OSError / ValueError when the file cannot be read or is not a catalog.
    """
    import yaml  # only the simulator process calls this; fakes stay dependency-free

    data = yaml.safe_load((catalog_file or BUNDLED_CATALOG).read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("models"), list):
        raise ValueError(f"{catalog_file}: expected a mapping with a 'models' list")
    return [m["repo"] for m in data["models"] if isinstance(m, dict) and m.get("repo")]


# The real config.json facts of the bundled catalog's models that vLLM checks at start (other
# repos get a Llama's): the architecture (must be one vLLM supports) and the positions that
# bound --max-model-len.
KNOWN_CONFIGS = {
    "google/gemma-3-27b-it": ("Gemma3ForConditionalGeneration", 131072),
    "Qwen/Qwen3-32B": ("Qwen3ForCausalLM", 40960),
    "meta-llama/Llama-3.3-70B-Instruct": ("LlamaForCausalLM", 131072),
    "openai/gpt-oss-120b": ("GptOssForCausalLM", 131072),
    "Qwen/Qwen3-Coder-30B-A3B-Instruct": ("Qwen3MoeForCausalLM", 262144),
}
DEFAULT_CONFIG = ("LlamaForCausalLM", 131072)


def safetensors_bytes(values: int, seed: bytes) -> bytes:
    """A valid one-tensor safetensors file (8-byte header length, JSON header, F32 data)."""
    header = json.dumps(
        {
            "__metadata__": {"format": "pt"},
            "weight": {"dtype": "F32", "shape": [values], "data_offsets": [0, 4 * values]},
        },
        separators=(",", ":"),
    ).encode()
    header += b" " * (-len(header) % 8)  # the format pads the header to 8 bytes
    data = (seed * (4 * values // len(seed) + 1))[: 4 * values]
    return len(header).to_bytes(8, "little") + header + data


# What the fake vLLM accepts (a subset of real vLLM 0.32's list).
SUPPORTED_ARCHITECTURES = (
    "DeepseekV3ForCausalLM", "Gemma2ForCausalLM", "Gemma3ForCausalLM",
    "Gemma3ForConditionalGeneration", "GptOssForCausalLM", "LlamaForCausalLM",
    "MistralForCausalLM", "MixtralForCausalLM", "Phi3ForCausalLM", "Qwen2ForCausalLM",
    "Qwen3ForCausalLM", "Qwen3MoeForCausalLM",
)  # fmt: skip


def safetensors_problem(path: Path) -> str | None:
    """What safetensors would say about a file's header (None: readable)."""
    data = path.read_bytes()
    if len(data) < 8:
        return "HeaderTooSmall"
    size = int.from_bytes(data[:8], "little")
    if size > len(data) - 8:
        return "invalid header length"
    try:
        header = json.loads(data[8 : 8 + size])
    except ValueError:
        return "invalid JSON in header"
    ends = [t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"]
    if max(ends, default=0) > len(data) - 8 - size:
        return "incomplete metadata, file not fully covered"  # real safetensors' words
    return None


def _model_files(name: str) -> dict[str, bytes]:
    """Deterministic small files for model ``name``: a config and a valid safetensors file
    whose size (1-5 KiB) differs by model, so disk-usage displays show different numbers."""
    digest = hashlib.sha256(name.encode()).digest()
    size = 1024 + int.from_bytes(digest[:2], "big") % 4096
    architecture, positions = KNOWN_CONFIGS.get(name, DEFAULT_CONFIG)
    config = {
        "_name_or_path": name,
        "architectures": [architecture],
        "model_type": "sim",
        "max_position_embeddings": positions,
        "torch_dtype": "bfloat16",
    }
    return {
        "config.json": json.dumps(config, indent=1).encode(),
        "model.safetensors": safetensors_bytes(size // 4, digest),
    }


def catalog_commit(repo: str) -> str:
    """The (only) commit of a catalog repo, on the fake hub and in the pre-filled caches."""
    return hashlib.sha1(repo.encode()).hexdigest()  # noqa: S324 - a name, not security


def is_lfs(filename: str) -> bool:
    """Whether the hub stores ``filename`` with LFS (weights) rather than in git."""
    return filename.endswith((".safetensors", ".bin", ".pth", ".pt", ".gguf", ".onnx"))


def git_blob_id(content: bytes) -> str:
    """Git's object id of a blob: what the hub's ETag is for a file kept in git."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()  # noqa: S324


def blob_name(filename: str, content: bytes) -> str:
    """The name ``hf download`` gives the file's blob: the sha256 for LFS files, else the git
    blob id (the ETag the hub sends)."""
    return hashlib.sha256(content).hexdigest() if is_lfs(filename) else git_blob_id(content)


def catalog_files(repo: str) -> dict[str, bytes]:
    """The files of catalog repo ``repo`` (what the fake hub serves and caches hold)."""
    return _model_files(repo)


def populate_repo(hub: Path, repo: str) -> Path:
    """Create ``repo`` in the cache at ``hub`` (idempotent); returns its snapshot directory."""
    repo_dir = hub / repo_dir_name(repo)
    commit = catalog_commit(repo)
    snapshot = repo_dir / "snapshots" / commit
    if snapshot.is_dir():
        return snapshot
    (repo_dir / "blobs").mkdir(parents=True, exist_ok=True)
    (repo_dir / "refs").mkdir(exist_ok=True)
    snapshot.mkdir(parents=True, exist_ok=True)
    (repo_dir / "refs" / "main").write_text(commit)
    for filename, content in catalog_files(repo).items():
        blob = blob_name(filename, content)
        (repo_dir / "blobs" / blob).write_bytes(content)
        link = snapshot / filename
        if not link.is_symlink():
            link.symlink_to(Path("..", "..", "blobs", blob))
    return snapshot


def create_local_model(directory: Path) -> None:
    """A local (fine-tuned) model directory: ``config.json`` plus weights, as vLLM expects."""
    directory.mkdir(parents=True, exist_ok=True)
    for filename, content in _model_files(directory.name).items():
        (directory / filename).write_bytes(content)


def has_weights(hub: Path, repo: str) -> bool:
    """True when some snapshot of ``repo`` in ``hub`` has a ``config.json`` (what vLLM needs
    to start loading without a network)."""
    snapshots = hub / repo_dir_name(repo) / "snapshots"
    try:
        return any((snap / "config.json").is_file() for snap in snapshots.iterdir())
    except OSError:
        return False


def hide_repo(node: NodePaths, repo: str) -> None:
    """Move ``repo`` out of ``node``'s cache (the ``model_missing`` fault). Idempotent."""
    import shutil

    source = node.hf_hub / repo_dir_name(repo)
    if source.exists():
        node.hidden.mkdir(parents=True, exist_ok=True)
        target = node.hidden / repo_dir_name(repo)
        shutil.rmtree(target, ignore_errors=True)
        os.replace(source, target)


def restore_repo(node: NodePaths, repo: str) -> None:
    """Undo ``hide_repo``. When the controller re-created the directory meanwhile, its copy
    wins and the parked one is discarded."""
    import shutil

    parked = node.hidden / repo_dir_name(repo)
    target = node.hf_hub / repo_dir_name(repo)
    if not parked.exists():
        return
    if target.exists():
        shutil.rmtree(parked, ignore_errors=True)
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(parked, target)
