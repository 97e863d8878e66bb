"""Talking HTTP to a vLLM server: health, served models, a one-token completion.

``probe_vllm_endpoint`` is the one probe shared by the swapped cluster model and every
``kind: vllm`` monitor. All calls take an injected ``httpx.AsyncClient`` and a timeout; none
raises for a server that is down or wrong — they return what they found.
"""

from __future__ import annotations

import time

import httpx
import msgspec

from app.services.http_failure import describe_http_failure


class VllmProbe(msgspec.Struct, frozen=True):
    up: bool
    latency_ms: float | None
    models: tuple[str, ...]
    detail: str


def base_url(host: str, port: int) -> str:
    """``http://host:port``, bracketing IPv6 literals."""
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


async def health_status(client: httpx.AsyncClient, base: str, *, timeout: float) -> int | None:
    """The status ``GET /health`` answers within ``timeout``; None when nothing answers."""
    try:
        response = await client.get(f"{base}/health", timeout=timeout)
    except httpx.HTTPError:
        return None
    return response.status_code


async def is_healthy(client: httpx.AsyncClient, base: str, *, timeout: float) -> bool:
    """True when ``GET /health`` answers 200 within ``timeout``."""
    return await health_status(client, base, timeout=timeout) == 200


async def served_models(
    client: httpx.AsyncClient, base: str, *, timeout: float
) -> tuple[str, ...] | None:
    """The model ids ``GET /v1/models`` lists, or None when it cannot be read."""
    try:
        response = await client.get(f"{base}/v1/models", timeout=timeout)
        if response.status_code != 200:
            return None
        data = response.json().get("data", [])
        return tuple(str(item["id"]) for item in data if isinstance(item, dict) and "id" in item)
    except (httpx.HTTPError, ValueError, AttributeError, KeyError):
        return None


async def one_token(
    client: httpx.AsyncClient, base: str, model: str, *, timeout: float
) -> str | None:
    """Ask for a one-token completion; returns None on success or a sentence saying why not."""
    try:
        response = await client.post(
            f"{base}/v1/completions",
            json={"model": model, "prompt": "ping", "max_tokens": 1},
            timeout=timeout,
        )
    except httpx.TimeoutException:
        return f"a one-token completion took longer than {timeout:g} s"
    except httpx.HTTPError as err:
        return f"a one-token completion failed ({describe_http_failure(err, timeout)})"
    if response.status_code != 200:
        return f"a one-token completion answered HTTP {response.status_code}"
    try:
        choices = response.json().get("choices")
    except (ValueError, AttributeError):
        choices = None
    if not choices:
        return "a one-token completion returned no choices"
    return None


async def probe_vllm_endpoint(client: httpx.AsyncClient, base: str, *, timeout: float) -> VllmProbe:
    """Health and served models of the vLLM at ``base``, with the health latency."""
    started = time.perf_counter()
    try:
        response = await client.get(f"{base}/health", timeout=timeout)
    except httpx.HTTPError as err:
        return VllmProbe(False, None, (), describe_http_failure(err, timeout))
    latency = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        return VllmProbe(
            False, latency, (), f"/health answered HTTP {response.status_code} (loading or failed)"
        )
    models = await served_models(client, base, timeout=timeout) or ()
    detail = f"serving {', '.join(models)}" if models else "healthy, no model listed"
    return VllmProbe(True, latency, models, detail)
