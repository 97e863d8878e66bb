"""What the fake vLLM's responses look like: pure builders of OpenAI / vLLM payloads.

No I/O and no timing here (that is ``vllm_app``): every function maps its arguments to a JSON
-able mapping or to the exact bytes of one SSE event, so the shapes are easy to read and test.
"""

from __future__ import annotations

import hashlib
import math
import random
from typing import Any

import msgspec

EMBEDDING_DIM = 384
_WORDS = (
    "Hello", " from", " a", " simulated", " DGX", " Spark", ".", " The", " quick", " brown",
    " fox", " jumps", " over", " the", " lazy", " dog", ",", " token", " by", " token", ".",
)  # fmt: skip
_encode = msgspec.json.encode


def token(index: int) -> str:
    """The ``index``-th generated token (deterministic text, so responses are comparable)."""
    return _WORDS[index % len(_WORDS)]


def error(status: int, message: str, kind: str) -> dict[str, Any]:
    """``{"error": {message, type, param, code}}`` as vLLM's OpenAI server returns it."""
    return {"error": {"message": message, "type": kind, "param": None, "code": status}}


def model_list(served_name: str, model: str, created: int, max_model_len: int) -> dict[str, Any]:
    card = {
        "id": served_name,
        "object": "model",
        "created": created,
        "owned_by": "vllm",
        "root": model,
        "parent": None,
        "max_model_len": max_model_len,
        "permission": [],
    }
    return {"object": "list", "data": [card]}


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def completion(base: dict[str, Any], text: str, used: dict[str, int], *, chat: bool) -> dict:
    """A whole (non-streamed) chat or text completion; generation always stops at max_tokens."""
    if chat:
        choice = {"index": 0, "message": {"role": "assistant", "content": text}}
        kind = "chat.completion"
    else:
        choice, kind = {"index": 0, "text": text}, "text_completion"
    choice.update(logprobs=None, finish_reason="length")
    return {**base, "object": kind, "choices": [choice], "usage": used}


def chunk(
    base: dict[str, Any], *, chat: bool, piece: str | None = None, finish: str | None = None,
    role: bool = False,
) -> bytes:  # fmt: skip
    """One SSE event (``data: {…}\\n\\n``) of a streamed completion. ``role`` makes the first
    chat chunk (``delta: {role: assistant}``); ``piece=None`` with ``finish`` the last one."""
    if chat:
        if role:
            delta: dict[str, str] = {"role": "assistant", "content": ""}
        else:
            delta = {"content": piece} if piece is not None else {}
        choice: dict[str, Any] = {"index": 0, "delta": delta}
    else:
        choice = {"index": 0, "text": piece or ""}
    choice.update(logprobs=None, finish_reason=finish)
    kind = "chat.completion.chunk" if chat else "text_completion"
    return b"data: " + _encode({**base, "object": kind, "choices": [choice]}) + b"\n\n"


def usage_chunk(base: dict[str, Any], used: dict[str, int], *, chat: bool) -> bytes:
    """The extra event ``stream_options.include_usage`` asks for."""
    kind = "chat.completion.chunk" if chat else "text_completion"
    return b"data: " + _encode({**base, "object": kind, "choices": [], "usage": used}) + b"\n\n"


def embedding_texts(raw: Any) -> list[str]:
    """The inputs of an embeddings request (string, list of strings, token list or lists).
    Raises ValueError for anything else."""
    if isinstance(raw, str):
        return [raw]
    if isinstance(raw, list) and raw and all(isinstance(x, int) for x in raw):
        return [" ".join(map(str, raw))]  # one pre-tokenised input
    if isinstance(raw, list) and raw and all(isinstance(x, str | list) for x in raw):
        return [x if isinstance(x, str) else " ".join(map(str, x)) for x in raw]
    raise ValueError("input must be a string or a non-empty list.")


def embed(text: str) -> list[float]:
    """A deterministic unit vector of ``EMBEDDING_DIM`` floats for ``text``."""
    rng = random.Random(hashlib.sha256(text.encode()).digest())
    vector = [rng.gauss(0.0, 1.0) for _ in range(EMBEDDING_DIM)]
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    return [x / norm for x in vector]


def embeddings(served_name: str, texts: list[str], prompt_tokens: int) -> dict[str, Any]:
    items = [
        {"object": "embedding", "index": i, "embedding": embed(t)} for i, t in enumerate(texts)
    ]
    return {
        "object": "list",
        "data": items,
        "model": served_name,
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
    }


# (name, type, help) of the vLLM metrics the fake exposes; values come from the app's counters.
METRICS = (
    ("vllm:num_requests_running", "gauge", "Number of requests in model execution batches."),
    ("vllm:num_requests_waiting", "gauge", "Number of requests waiting to be processed."),
    ("vllm:gpu_cache_usage_perc", "gauge", "GPU KV-cache usage. 1 means 100 percent usage."),
    ("vllm:prompt_tokens_total", "counter", "Number of prefill tokens processed."),
    ("vllm:generation_tokens_total", "counter", "Number of generation tokens processed."),
    ("vllm:request_success_total", "counter", "Count of successfully processed requests."),
)


def metrics_text(served_name: str, values: dict[str, float]) -> bytes:
    """Prometheus text exposition of ``METRICS`` (missing values are 0)."""
    label = f'model_name="{served_name}"'
    return "".join(
        f"# HELP {name} {doc}\n# TYPE {name} {kind}\n{name}{{{label}}} {float(values.get(name, 0))}\n"
        for name, kind, doc in METRICS
    ).encode()
