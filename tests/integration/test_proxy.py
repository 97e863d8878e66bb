"""The OpenAI-compatible proxy against the Spark simulator: the official SDK end to end,
streaming without buffering, disconnects, and every answer Spark Control gives by itself."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import openai
import pytest

from app.config import parse_config
from app.proxy.h1 import H1Upstream
from app.proxy.upstream import AiohttpUpstream, Upstream, UpstreamTimeouts
from tests.cluster import ClusterHarness, running_app, sim_config
from tests.servers import serve
from tests.sim.sim_helpers import wait_for

MODEL = "gemma-3-27b"
CHAT = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
IN_FLIGHT = 'spark_proxy_in_flight{route="/v1/chat/completions"}'


def sdk(cluster: ClusterHarness) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        base_url=str(cluster.client.base_url).rstrip("/") + "/v1",
        api_key="unused",
        max_retries=0,
        timeout=30,
    )


async def vllm_stats(cluster: ClusterHarness) -> dict[str, Any]:
    """The fake vLLM's own counters, read directly (not through Spark Control)."""
    async with httpx.AsyncClient(timeout=5) as direct:
        return (await direct.get(f"{cluster.sim.vllm_url}/sim/stats")).json()


def assert_openai_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert set(error) == {"message", "type", "code"}
    assert "Error" not in error["message"] and "http://" not in error["message"]
    return error


async def test_openai_sdk_chat_completions_models_embeddings(cluster: ClusterHarness) -> None:
    assert (await cluster.swap_and_wait(MODEL))["state"] == "ready"
    async with sdk(cluster) as client:
        chat = await client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "hi"}], max_tokens=5
        )
        assert chat.choices[0].message.content == "Hello from a simulated DGX"
        assert chat.usage is not None and chat.usage.completion_tokens == 5

        stream = await client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "hi"}], max_tokens=6, stream=True
        )
        pieces = [c.choices[0].delta.content async for c in stream if c.choices]
        assert "".join(p or "" for p in pieces) == "Hello from a simulated DGX Spark"

        completion = await client.completions.create(model=MODEL, prompt="Say", max_tokens=3)
        assert completion.choices[0].text == "Hello from a"

        models = await client.models.list()
        assert [m.id for m in models.data] == [MODEL]

        embeddings = await client.embeddings.create(model="sim-embed-384", input=["a", "b"])
        assert len(embeddings.data) == 2 and len(embeddings.data[0].embedding) == 384
    # Embeddings went to the embeddings service, not to the vLLM.
    assert cluster.sim.services["embeddings"].app.stats["requests"] == 1


async def test_backend_error_passes_through_unchanged(cluster: ClusterHarness) -> None:
    assert (await cluster.swap_and_wait(MODEL))["state"] == "ready"
    r = await cluster.client.post("/v1/chat/completions", json={**CHAT, "model": "nope"})
    assert r.status_code == 404
    assert r.json()["error"]["message"] == "The model `nope` does not exist."
    assert r.headers["x-accel-buffering"] == "no"


async def test_stream_reaches_client_chunk_by_chunk(sim: Any) -> None:
    sim.set_token_rate(20)  # 50 ms per token: 40 tokens take the backend about 2 s
    async with running_app(sim) as cluster:
        assert (await cluster.swap_and_wait(MODEL))["state"] == "ready"
        received = 0
        body = {**CHAT, "max_tokens": 40, "stream": True}
        async with cluster.client.stream("POST", "/v1/chat/completions", json=body) as r:
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/event-stream")
            assert r.headers["x-accel-buffering"] == "no"
            async for line in r.aiter_lines():
                if not line.startswith("data: "):
                    continue
                received += 1
                if received == 2:
                    # The first token is here while the backend is still generating: the
                    # proxy forwards chunks as they come, it does not buffer the response.
                    stats = await vllm_stats(cluster)
                    assert stats["open_streams"] == 1, stats
        assert received == 40 + 3  # role chunk, 40 tokens, finish chunk, [DONE]


async def test_client_disconnect_closes_upstream_within_a_second(sim: Any) -> None:
    sim.set_token_rate(10)
    async with running_app(sim) as cluster:
        assert (await cluster.swap_and_wait(MODEL))["state"] == "ready"
        body = {**CHAT, "max_tokens": 500, "stream": True}
        async with httpx.AsyncClient(base_url=cluster.client.base_url, timeout=10) as client:
            async with client.stream("POST", "/v1/chat/completions", json=body) as r:
                assert r.status_code == 200
                # Hold the iterator: a dropped one is finalised, which closes the connection.
                chunks = r.aiter_raw()
                assert (await anext(chunks)).startswith(b"data: ")  # the stream is open
                assert (await vllm_stats(cluster))["open_streams"] == 1
                assert (await vllm_stats(cluster))["aborted_streams"] == 0
                assert IN_FLIGHT + " 1.0" in (await cluster.client.get("/metrics")).text
            # Leaving the block before the end closes the client's connection.

        async def upstream_closed() -> bool:
            stats = await vllm_stats(cluster)
            return stats["aborted_streams"] == 1 and stats["open_streams"] == 0

        await wait_for(upstream_closed, "the fake vLLM to see the stream aborted", timeout=1.0)

        async def none_in_flight() -> bool:
            return IN_FLIGHT + " 0.0" in (await cluster.client.get("/metrics")).text

        await wait_for(none_in_flight, "the in-flight gauge to drop to 0", timeout=2.0)
        # The proxy still works afterwards (no leaked state, no stuck connection).
        r = await cluster.client.post("/v1/completions", json={"prompt": "x", "max_tokens": 1})
        assert r.status_code == 200


async def test_backend_down_is_502(cluster: ClusterHarness) -> None:
    # No model was swapped in: nothing listens on the vLLM port.
    assert_openai_error(
        await cluster.client.post("/v1/chat/completions", json=CHAT), 502, "backend_unavailable"
    )
    await cluster.sim.stop_service("embeddings")
    error = assert_openai_error(
        await cluster.client.post("/v1/embeddings", json={"input": "x"}),
        502,
        "backend_unavailable",
    )
    assert "embeddings" in error["message"]
    await cluster.sim.start_service("embeddings")
    assert (await cluster.client.post("/v1/embeddings", json={"input": "x"})).status_code == 200


async def test_swap_in_progress_is_503_with_retry_after_when_holding_is_off(sim: Any) -> None:
    sim.set_load_time(30)
    config = sim_config(sim, swap={"hold_timeout_s": 0})
    async with running_app(sim, config=config) as cluster:
        r = await cluster.swap(MODEL)
        assert r.status_code == 202
        assert cluster.runtime.served.swapping
        r = await cluster.client.post("/v1/chat/completions", json=CHAT)
        assert_openai_error(r, 503, "swap_in_progress")
        assert int(r.headers["retry-after"]) > 0
        assert (await cluster.client.get("/v1/models")).status_code == 503
        # Services other than the swapped vLLM are unaffected by a swap.
        assert (await cluster.client.post("/v1/embeddings", json={"input": "x"})).status_code == 200
        job_id = r = (await cluster.client.get("/api/swap")).json()["jobs"][0]["job_id"]
        assert (await cluster.client.post(f"/api/swap/{job_id}/cancel")).status_code == 202
        await cluster.wait_job(job_id)


async def test_disabled_service_is_404(sim: Any) -> None:
    config = sim_config(sim, services={"disabled": ["kokoro"]})
    async with running_app(sim, config=config) as cluster:
        r = await cluster.client.post("/v1/audio/speech", json={"input": "hello"})
        error = assert_openai_error(r, 404, "service_disabled")
        assert "kokoro" in error["message"]
        assert cluster.sim.services["kokoro"].app.stats["requests"] == 0
        # Other audio services still answer.
        r = await cluster.client.post(
            "/v1/audio/transcriptions", files={"file": ("a.wav", b"RIFF" + b"\0" * 1000)}
        )
        assert r.status_code == 200 and r.json()["text"].startswith("Simulated transcript")


async def test_audio_upload_over_limit_is_413_without_reading_it(sim: Any) -> None:
    config = sim_config(sim, limits={"max_upload_mb": 1})
    async with running_app(sim, config=config) as cluster:
        parakeet = cluster.sim.services["parakeet"].app
        big = b"\0" * (2 * 1024 * 1024)
        r = await cluster.client.post("/v1/audio/transcriptions", files={"file": ("a.wav", big)})
        assert_openai_error(r, 413, "request_too_large")
        assert parakeet.stats["bytes_received"] == 0  # refused on Content-Length alone

        sent = 0

        async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: counted as it streams
            nonlocal sent
            for _ in range(64):
                sent += 64 * 1024
                yield b"\0" * (64 * 1024)

        r = await cluster.client.post(
            "/v1/audio/transcriptions",
            content=chunked(),
            headers={"Content-Type": "multipart/form-data; boundary=x"},
        )
        assert_openai_error(r, 413, "request_too_large")
        assert parakeet.stats["requests"] == 0
        assert parakeet.stats["bytes_received"] <= 1024 * 1024  # never more than the limit
        # A small upload still goes through.
        r = await cluster.client.post(
            "/v1/audio/transcriptions", files={"file": ("a.wav", b"\0" * 1000)}
        )
        assert r.status_code == 200


async def test_chat_body_over_16_mib_is_413(cluster: ClusterHarness) -> None:
    body = b'{"messages": "' + b"x" * (16 * 1024 * 1024) + b'"}'
    r = await cluster.client.post(
        "/v1/chat/completions", content=body, headers={"Content-Type": "application/json"}
    )
    error = assert_openai_error(r, 413, "request_too_large")
    assert "16 MiB" in error["message"]


async def test_third_concurrent_audio_request_is_429(cluster: ClusterHarness) -> None:
    parakeet = cluster.sim.services["parakeet"].app
    parakeet.hold()  # the backend keeps every request in flight until released
    audio = {"file": ("a.wav", b"\0" * 32000)}

    async def transcribe() -> httpx.Response:
        return await cluster.client.post("/v1/audio/diarize", files=audio)

    first, second = asyncio.create_task(transcribe()), asyncio.create_task(transcribe())
    await wait_for(lambda: parakeet.stats["in_flight"] == 2, "two requests in flight")
    r = await transcribe()
    assert_openai_error(r, 429, "too_many_requests")
    assert int(r.headers["retry-after"]) > 0
    parakeet.release()
    for response in await asyncio.gather(first, second):
        assert response.status_code == 200
        assert response.json()["speakers"] == ["SPEAKER_00"]
    # The cap is per route and frees up as requests finish.
    assert (await transcribe()).status_code == 200


async def test_cross_site_post_is_refused_plain_client_passes(cluster: ClusterHarness) -> None:
    r = await cluster.client.post(
        "/v1/embeddings", json={"input": "x"}, headers={"Origin": "http://evil.example"}
    )
    assert r.status_code == 403
    assert cluster.sim.services["embeddings"].app.stats["requests"] == 0
    r = await cluster.client.post("/v1/embeddings", json={"input": "x"})
    assert r.status_code == 200
    assert r.json()["data"][0]["object"] == "embedding"
    metrics = (await cluster.client.get("/metrics")).text
    assert 'spark_proxy_requests_total{route="/v1/embeddings",status="200"} 1.0' in metrics


async def test_tts_audio_streams_through(cluster: ClusterHarness) -> None:
    r = await cluster.client.post("/v1/audio/speech", json={"input": "Hello there, Spark."})
    assert r.status_code == 200
    assert r.headers["content-type"] == "audio/wav"
    assert r.content[:4] == b"RIFF" and len(r.content) == int(r.headers["content-length"])


async def test_wrong_method_is_405(cluster: ClusterHarness) -> None:
    assert_openai_error(await cluster.client.get("/v1/chat/completions"), 405, "method_not_allowed")


def backend_config(url: str) -> Any:
    """A config whose vLLM service is the test's own backend at ``url``."""
    port = int(url.rsplit(":", 1)[1])
    return parse_config(
        {"sparks": [{"name": "spark1", "host": "127.0.0.1"}], "vllm": {"port": port}}, {}
    )


UPSTREAMS = pytest.mark.parametrize("kind", [H1Upstream, AiohttpUpstream])


@contextlib.asynccontextmanager
async def impatient(kind: type[H1Upstream | AiohttpUpstream]) -> AsyncIterator[Upstream]:
    """A real upstream with a 0.3 s read timeout (closed by the test: it owns it)."""
    upstream = kind(timeouts=UpstreamTimeouts(read_s=0.3))
    try:
        yield upstream
    finally:
        await upstream.aclose()


@UPSTREAMS
async def test_backend_silent_past_the_read_timeout_is_504(spark_app: Any, kind: Any) -> None:
    release = asyncio.Event()

    async def silent(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await release.wait()

    async with serve(silent) as url:
        async with (
            impatient(kind) as upstream,
            spark_app(backend_config(url), upstream=upstream) as c,
        ):
            r = await c.post("/v1/chat/completions", json=CHAT)
            error = assert_openai_error(r, 504, "backend_timeout")
            assert error["message"] == "The vllm backend did not answer in time."
        release.set()


@UPSTREAMS
async def test_backend_stalling_mid_stream_truncates_the_answer(spark_app: Any, kind: Any) -> None:
    release = asyncio.Event()

    async def stalls(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        headers = [(b"content-type", b"text/event-stream")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"data: {}\n\n", "more_body": True})
        await release.wait()

    async with serve(stalls) as url:
        async with (
            impatient(kind) as upstream,
            spark_app(backend_config(url), upstream=upstream) as c,
        ):
            received = b""
            with pytest.raises(httpx.RemoteProtocolError):
                async with c.stream("POST", "/v1/chat/completions", json=CHAT) as r:
                    assert r.status_code == 200
                    async for chunk in r.aiter_raw():
                        received += chunk
            # The client got what the backend sent, then a truncated (not a complete) body.
            assert received == b"data: {}\n\n"
        release.set()


async def test_unsafe_headers_are_filtered_both_ways(spark_app: Any) -> None:
    seen: list[dict[bytes, bytes]] = []

    async def backend(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        seen.append(
            {**dict(scope["headers"]), b":target": scope["raw_path"] + b"?" + scope["query_string"]}
        )
        body = b'{"object": "list", "data": []}'
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"set-cookie", b"session=backend"),
            (b"access-control-allow-origin", b"*"),
            (b"x-request-id", b"abc"),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async with serve(backend) as url, spark_app(backend_config(url)) as client:
        r = await client.get(
            "/v1/models?x=%2F1",
            headers={
                "Cookie": "mine=1",
                "Authorization": "Bearer k",
                "X-Forwarded-For": "6.6.6.6",
                "Accept-Encoding": "identity",
            },
        )
    assert r.status_code == 200 and r.json() == {"object": "list", "data": []}
    assert "set-cookie" not in r.headers and "access-control-allow-origin" not in r.headers
    assert r.headers["x-request-id"] == "abc" and r.headers["x-accel-buffering"] == "no"
    (request,) = [r for r in seen if r[b":target"].endswith(b"x=%2F1")]  # not the probes'
    assert request[b":target"] == b"/v1/models?x=%2F1"  # forwarded byte for byte
    assert request[b"authorization"] == b"Bearer k"
    assert b"cookie" not in request and b"x-forwarded-for" not in request
    # The client's own negotiation goes up, not the upstream library's defaults.
    assert request[b"accept-encoding"] == b"identity"
    assert request[b"user-agent"].startswith(b"python-httpx/")


async def test_headers_reach_the_client_before_the_first_token(spark_app: Any) -> None:
    """vLLM answers a stream's headers before its first token; the proxy must not hold them
    until the body starts (the client's time to first byte would include the model's wait)."""
    release = asyncio.Event()

    async def thinks(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        headers = [(b"content-type", b"text/event-stream"), (b"x-request-id", b"r1")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await release.wait()  # the model is still thinking
        await send({"type": "http.response.body", "body": b"data: [DONE]\n\n"})

    async with serve(thinks) as url:
        async with spark_app(backend_config(url)) as c:
            async with (
                asyncio.timeout(10),
                c.stream("POST", "/v1/chat/completions", json=CHAT) as r,
            ):
                # Here only the head has arrived: the backend has not sent a body byte yet.
                assert r.status_code == 200
                assert r.headers["x-request-id"] == "r1"
                assert not release.is_set()
                release.set()
                assert await r.aread() == b"data: [DONE]\n\n"
