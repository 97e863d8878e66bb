"""The fake vLLM's OpenAI-compatible API, against one engine launched for the whole module."""

from __future__ import annotations

import json
import math

import httpx
import pytest
import pytest_asyncio

from scripts.sparksim import SparkSim
from tests.sim.sim_helpers import launch_command, run, wait_for, wait_healthy

pytestmark = pytest.mark.asyncio(loop_scope="module")

SERVED = "qwen"
UTIL = "nvidia-smi --query-gpu=utilization.gpu --format=csv,noheader,nounits"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def served(tmp_path_factory):
    """A simulator whose head serves Qwen3-32B as ``qwen`` at 1000 tokens/s."""
    sim = SparkSim(
        tmp_path_factory.mktemp("vllm") / "sim", nodes=2, load_time=0.2, token_rate=1000.0
    )
    await sim.start()
    try:
        launched = await run(sim, launch_command(sim, "Qwen/Qwen3-32B", SERVED))
        assert launched.exit_status == 0, launched.stderr
        await wait_healthy(sim)
        yield sim
    finally:
        await sim.stop()


@pytest_asyncio.fixture(loop_scope="module")
async def client(served):
    async with httpx.AsyncClient(base_url=served.vllm_url, timeout=10.0) as http:
        yield http


def _chat(max_tokens: int | None = None, **extra) -> dict:
    body = {"model": SERVED, "messages": [{"role": "user", "content": "Say hello"}], **extra}
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    return body


def _events(text: str) -> list[str]:
    assert text.endswith("\n\n")
    events = text.strip("\n").split("\n\n")
    assert all(event.startswith("data: ") for event in events)
    return [event.removeprefix("data: ") for event in events]


async def test_chat_completion_json(client):
    response = await client.post("/v1/chat/completions", json=_chat(5))
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "chat.completion" and body["model"] == SERVED
    choice = body["choices"][0]
    assert choice["message"]["role"] == "assistant" and choice["message"]["content"]
    assert choice["finish_reason"] == "length"
    assert body["usage"]["completion_tokens"] == 5


async def test_chat_completion_stream(client):
    response = await client.post("/v1/chat/completions", json=_chat(7, stream=True))
    assert response.headers["content-type"].startswith("text/event-stream")
    events = _events(response.text)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(event) for event in events[:-1]]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    contents = [c["choices"][0]["delta"].get("content") for c in chunks[1:-1]]
    assert len(contents) == 7 and all(contents)
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}


async def test_completions_default_to_16_tokens_json_and_stream(client):
    body = (await client.post("/v1/completions", json={"model": SERVED, "prompt": "Once"})).json()
    assert body["object"] == "text_completion" and body["usage"]["completion_tokens"] == 16
    streamed = await client.post(
        "/v1/completions",
        json={"prompt": "Once", "stream": True, "stream_options": {"include_usage": True}},
    )
    events = _events(streamed.text)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(event) for event in events[:-1]]
    assert sum(1 for c in chunks if c["choices"] and c["choices"][0]["text"]) == 16
    assert chunks[-1]["usage"]["completion_tokens"] == 16


async def test_embeddings_are_deterministic_unit_vectors(client):
    async def embed(data):
        response = await client.post("/v1/embeddings", json={"model": SERVED, "input": data})
        assert response.status_code == 200
        return [item["embedding"] for item in response.json()["data"]]

    first, second = await embed(["alpha", "beta"])
    assert len(first) == 384 and math.isclose(sum(x * x for x in first), 1.0, rel_tol=1e-6)
    assert first != second
    assert (await embed("alpha")) == [first]


@pytest.mark.parametrize(
    ("method", "path", "content", "status", "kind"),
    [
        (
            "POST",
            "/v1/chat/completions",
            json.dumps(_chat(2) | {"model": "nope"}),
            404,
            "NotFoundError",
        ),
        ("POST", "/v1/chat/completions", "{not json", 400, "BadRequestError"),
        ("POST", "/v1/chat/completions", json.dumps({"model": SERVED}), 400, "BadRequestError"),
        (
            "POST",
            "/v1/completions",
            json.dumps({"prompt": "x", "max_tokens": 0}),
            400,
            "BadRequestError",
        ),
        (
            "POST",
            "/v1/embeddings",
            json.dumps({"model": "nope", "input": "x"}),
            404,
            "NotFoundError",
        ),
    ],
)
async def test_openai_style_errors(client, method, path, content, status, kind):
    response = await client.request(method, path, content=content)
    assert response.status_code == status
    error = response.json()["error"]
    assert error["type"] == kind and error["code"] == status and error["message"]


async def test_unknown_routes_and_methods(client):
    assert (await client.get("/v1/nothing")).status_code == 404
    assert (await client.get("/v1/chat/completions")).status_code == 405


async def test_a_client_disconnect_aborts_the_stream(client, served):
    before = (await client.get("/sim/stats")).json()
    async with httpx.AsyncClient(base_url=served.vllm_url) as other:
        request = other.build_request(
            "POST", "/v1/chat/completions", json=_chat(100_000, stream=True)
        )
        response = await other.send(request, stream=True)
        chunks = response.aiter_bytes()  # not `async for … break`: that closes the response
        assert (await anext(chunks)).startswith(b"data: ")
        stats = (await client.get("/sim/stats")).json()
        assert stats["open_streams"] == before["open_streams"] + 1
        # Busy GPU on every node while a request is in flight.
        for node in served.nodes:
            assert int((await run(served, UTIL, node=node.name)).stdout) >= 80
        await chunks.aclose()  # closes the response: the client goes away mid-stream

    async def aborted() -> bool:
        stats = (await client.get("/sim/stats")).json()
        return (
            stats["aborted_streams"] == before["aborted_streams"] + 1 and stats["open_streams"] == 0
        )

    await wait_for(aborted, "the stream to be counted as aborted")
    assert int((await run(served, UTIL)).stdout) <= 10


async def test_metrics_count_generated_tokens(client):
    def generated(text: str) -> float:
        line = next(x for x in text.splitlines() if x.startswith("vllm:generation_tokens_total"))
        assert f'model_name="{SERVED}"' in line
        return float(line.rsplit(" ", 1)[1])

    before = generated((await client.get("/metrics")).text)
    await client.post("/v1/chat/completions", json=_chat(3))
    metrics = (await client.get("/metrics")).text
    assert generated(metrics) == before + 3
    assert "vllm:num_requests_running" in metrics
