"""What the fake Hugging Face hub serves (see ``hfhub``): repos, their files and commits.

Catalog repos hold the same small files the simulated caches are filled with (``hfcache``); a
``sparksim/<name>`` repo holds a few small files and one big ``model.safetensors`` generated
from a repeating pattern (any byte range is cheap to produce; its sha256 is computed once).
Both are what the simulator's vLLM accepts, as real vLLM would: a Llama config and a
safetensors file whose header covers the whole file.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from scripts.sparksim import hfcache

SIM_ORG = "sparksim"
CHUNK = 1024 * 1024
# Above this the big file's sha256 is not computed (a listing-only repo, e.g. to test that a
# download is refused for lack of disk): its "sha256" is then a stand-in.
HASH_LIMIT = 16 * 1024**3
_PATTERN_LEN = CHUNK + 13  # not a power of two, so blocks of the file differ


@dataclass(frozen=True)
class HubFile:
    path: str
    size: int
    blob_id: str  # git object id (for an LFS file: of its pointer)
    sha256: str | None  # LFS files only
    content: bytes | None  # small files; None: generated from the pattern

    @property
    def lfs(self) -> bool:
        return self.sha256 is not None


@dataclass(frozen=True)
class HubRepo:
    repo: str
    commit: str
    gated: bool
    files: tuple[HubFile, ...]

    def file(self, path: str) -> HubFile | None:
        return next((f for f in self.files if f.path == path), None)


def _pattern(repo: str) -> bytes:
    seed = hashlib.sha256(repo.encode()).digest()
    out = bytearray()
    counter = 0
    while len(out) < _PATTERN_LEN:
        out += hashlib.sha256(seed + counter.to_bytes(8, "big")).digest()
        counter += 1
    return bytes(out[:_PATTERN_LEN])


def _safetensors_header(size: int) -> bytes:
    """The first bytes of a ``size``-byte safetensors file holding one U8 tensor that covers
    the rest (header length, JSON header padded to 8 bytes)."""
    header_len = 0
    while True:
        data_len = size - 8 - header_len
        header = json.dumps(
            {"__metadata__": {"format": "pt"},
             "weight": {"dtype": "U8", "shape": [data_len], "data_offsets": [0, data_len]}},
            separators=(",", ":"),
        ).encode()  # fmt: skip
        header += b" " * (-len(header) % 8)
        if len(header) == header_len:
            return len(header).to_bytes(8, "little") + header
        header_len = len(header)


def _big_bytes(repo: str, size: int, offset: int, length: int) -> bytes:
    """Bytes ``offset`` to ``offset + length`` of a big file: its safetensors header, then
    the repo's pattern."""
    data = _generated(_pattern(repo), offset, length)
    head = _safetensors_header(size)
    if offset < len(head):
        overlap = head[offset : offset + length]
        data = overlap + data[len(overlap) :]
    return data


def _generated(pattern: bytes, offset: int, length: int) -> bytes:
    parts = []
    while length > 0:
        start = offset % len(pattern)
        piece = pattern[start : start + length]
        parts.append(piece)
        offset += len(piece)
        length -= len(piece)
    return b"".join(parts)


def _pointer(sha256: str, size: int) -> bytes:
    return (
        f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()
    )


def build_repo(repo: str, size: int) -> HubRepo:
    """The content of ``repo`` (a catalog repo, or ``sparksim/<name>`` with a big file of
    ``size`` bytes)."""
    gated = "gated" in repo.lower() or repo.startswith("meta-llama/")
    if repo.split("/", 1)[0] != SIM_ORG:
        files = [_small(p, c) for p, c in hfcache.catalog_files(repo).items()]
        return HubRepo(repo, hfcache.catalog_commit(repo), gated, tuple(files))
    name = repo.split("/", 1)[1]
    config = {
        "_name_or_path": repo,
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "max_position_embeddings": 32768,
        "torch_dtype": "bfloat16",
    }
    small = {
        "config.json": json.dumps(config, indent=1).encode(),
        "generation_config.json": b'{"do_sample": true, "temperature": 0.6}\n',
        "tokenizer.json": json.dumps({"version": "1.0", "model": {"type": "BPE"}}).encode(),
        "tokenizer_config.json": b'{"model_max_length": 32768}\n',
        "chat_template.jinja": b"{% for m in messages %}{{ m.content }}{% endfor %}\n",
        "README.md": f"# {name}\nA simulated model.\n".encode(),
        "original/params.json": b'{"dim": 4096}\n',
    }
    files = [_small(p, c) for p, c in small.items()]
    files.append(_small("original/consolidated.pth", _pattern(repo + "/orig")[:4096]))
    files.append(_big(repo, "model.safetensors", size))
    commit = hashlib.sha1(f"{repo}@{size}".encode()).hexdigest()  # noqa: S324 - a name
    return HubRepo(repo, commit, gated, tuple(files))


def _small(path: str, content: bytes) -> HubFile:
    if hfcache.is_lfs(path):
        sha = hashlib.sha256(content).hexdigest()
        pointer = _pointer(sha, len(content))
        return HubFile(path, len(content), hfcache.git_blob_id(pointer), sha, content)
    return HubFile(path, len(content), hfcache.git_blob_id(content), None, content)


def _big(repo: str, path: str, size: int) -> HubFile:
    if size <= HASH_LIMIT:
        digest = hashlib.sha256()
        for offset in range(0, size, 8 * CHUNK):
            digest.update(_big_bytes(repo, size, offset, min(8 * CHUNK, size - offset)))
        sha = digest.hexdigest()
    else:
        sha = hashlib.sha256(f"unhashed {repo} {size}".encode()).hexdigest()
    return HubFile(path, size, hfcache.git_blob_id(_pointer(sha, size)), sha, None)


def read_file(repo: str, file: HubFile, offset: int, length: int) -> bytes:
    """``length`` bytes of ``file`` from ``offset``."""
    if file.content is not None:
        return file.content[offset : offset + length]
    return _big_bytes(repo, file.size, offset, length)
