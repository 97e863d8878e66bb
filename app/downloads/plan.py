"""What to download: the files of a repo that vLLM needs, chosen from the hub's listing (pure).

vLLM loads a model from the repo's top level: its ``config.json`` and other JSON configs, the
tokenizer (``tokenizer.json``, ``*.model``, ``*.tiktoken``, ``vocab*``, ``merges.txt``), chat
templates (``*.jinja``), remote code (``*.py``) and the weights. Of the weights only one copy is
taken: the top-level safetensors when there are any (then ``*.bin``, ``*.pth``, GGUF, ONNX and
Mistral's ``consolidated*`` duplicates are skipped), else the top-level PyTorch ``*.bin``.
Subdirectories (``original/``, ``metal/``, ``onnx/`` …) hold alternative copies and are skipped;
so are READMEs, licences and images.

A :class:`DownloadPlan` also fixes where each file lands in the HF cache: the blob is named by
the sha256 for LFS files and by the git blob id otherwise (the ETag ``hf download`` uses).
"""

from __future__ import annotations

import msgspec

from app.downloads.hub import RepoListing

_CONFIG_SUFFIXES = (".json", ".jinja", ".py", ".model", ".tiktoken", ".txt")
_TEXT_NAMES = ("merges.txt", "vocab.txt", "added_tokens.txt", "special_tokens_map.txt")


class PlannedFile(msgspec.Struct, frozen=True):
    path: str
    size: int
    blob: str
    sha256: str | None = None

    @property
    def lfs(self) -> bool:
        return self.sha256 is not None


class DownloadPlan(msgspec.Struct, frozen=True):
    repo: str
    revision: str
    files: tuple[PlannedFile, ...]

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)

    def file(self, path: str) -> PlannedFile | None:
        return next((f for f in self.files if f.path == path), None)


def _is_config(name: str) -> bool:
    if name.endswith(".txt"):
        return name in _TEXT_NAMES or name.startswith("vocab")
    return name.endswith(_CONFIG_SUFFIXES) or name.startswith("vocab")


def select_files(listing: RepoListing) -> DownloadPlan:
    """The plan for ``listing``. Raises ValueError when nothing loadable is listed."""
    top = [f for f in listing.files if "/" not in f.path]
    safetensors = [f for f in top if f.path.endswith(".safetensors")]
    if any(not f.path.startswith("consolidated") for f in safetensors):
        # Mistral repos carry both the HF-format shards and a consolidated copy.
        safetensors = [f for f in safetensors if not f.path.startswith("consolidated")]
    weights = safetensors or [f for f in top if f.path.endswith(".bin")]
    chosen = {f.path for f in weights}
    for f in top:
        if f.path in chosen or f.path.endswith((".safetensors", ".bin")):
            continue
        if _is_config(f.path) and not f.path.lower().startswith(("readme", "license")):
            chosen.add(f.path)
    if not weights or "config.json" not in chosen:
        raise ValueError(
            f"{listing.repo} lists no weights vLLM can load (top-level safetensors or .bin with a config.json)."
        )
    files = tuple(
        PlannedFile(path=f.path, size=f.size, blob=f.sha256 or f.blob_id, sha256=f.sha256)
        for f in listing.files
        if f.path in chosen
    )
    return DownloadPlan(repo=listing.repo, revision=listing.commit, files=files)
