"""Clients of the proxy during a swap, over the Spark simulator: in-flight requests drain or are
cut with an error they can read, new requests for the incoming model wait for it, and every
other request gets a 503 with an estimated ``Retry-After``."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx

from tests.cluster import ClusterHarness, running_app, sim_config
from tests.waits import wait_until

MODEL = "gemma-3-27b"
OTHER = "qwen3-32b"
SWAP_CUT_ERROR = {
    "message": "the model is being swapped",
    "type": "service_unavailable",
    "code": "model_swapping",
}


def chat(model: str, **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": "hi"}], **extra}


async def job_log(cluster: ClusterHarness, job_id: str) -> list[str]:
    """The job's log lines as its SSE stream replays them (the job has finished)."""
    lines: list[str] = []
    async with cluster.client.stream("GET", f"/api/swap/{job_id}/stream") as response:
        event = None
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event == "log":
                lines.append(json.loads(line[6:])["line"])
    return lines


async def sse_events(response: httpx.Response) -> list[Any]:
    """Every ``data:`` payload of a streamed answer (``[DONE]`` as the string)."""
    found: list[Any] = []
    async for line in response.aiter_lines():
        if line.startswith("data: "):
            payload = line[6:]
            found.append(payload if payload == "[DONE]" else json.loads(payload))
    return found


async def start_swap(cluster: ClusterHarness, model: str) -> str:
    r = await cluster.swap(model)
    assert r.status_code == 202, r.text
    return r.json()["job_id"]


async def test_stream_in_flight_finishes_when_the_drain_allows(sim: Any) -> None:
    sim.set_token_rate(40)  # 30 tokens: 0.75 s, well inside the drain timeout
    async with running_app(sim, config=sim_config(sim, swap={"drain_timeout_s": 20})) as cluster:
        assert (await cluster.swap_and_wait(MODEL))["state"] == "ready"
        body = chat(MODEL, max_tokens=30, stream=True)
        async with cluster.client.stream("POST", "/v1/chat/completions", json=body) as r:
            assert r.status_code == 200
            lines = r.aiter_lines()
            assert (await anext(lines)).startswith("data: ")  # the stream is running
            job_id = await start_swap(cluster, OTHER)
            rest = [json.loads(x[6:]) if x != "data: [DONE]" else x async for x in _data(lines)]
        assert rest[-1] == "data: [DONE]"
        assert not any(isinstance(x, dict) and "error" in x for x in rest)
        assert rest[-2]["choices"][0]["finish_reason"] == "length"  # the whole answer arrived
        done = await cluster.wait_job(job_id)
        assert done["state"] == "ready"
        assert "drain: 1 request(s) finished, 0 cut" in await job_log(cluster, job_id)


async def _data(lines: Any) -> Any:
    async for line in lines:
        if line.startswith("data: "):
            yield line


async def test_stream_past_the_drain_deadline_gets_the_error_event(sim: Any) -> None:
    sim.set_token_rate(10)  # 500 tokens would take 50 s
    config = sim_config(sim, swap={"drain_timeout_s": 0.3})
    async with running_app(sim, config=config) as cluster:
        assert (await cluster.swap_and_wait(MODEL))["state"] == "ready"
        body = chat(MODEL, max_tokens=500, stream=True)
        async with cluster.client.stream("POST", "/v1/chat/completions", json=body) as r:
            assert r.status_code == 200
            job_id = await start_swap(cluster, OTHER)
            events = await sse_events(r)
        assert events[-2:] == [{"error": SWAP_CUT_ERROR}, "[DONE]"]
        assert len(events) < 100  # cut, not finished
        done = await cluster.wait_job(job_id)
        assert done["state"] == "ready"
        assert "drain: 0 request(s) finished, 1 cut after 0.3 s" in await job_log(cluster, job_id)
        assert done["timings"]["draining_s"] >= 0.3  # the drain waited out its deadline


async def test_non_streaming_request_cut_before_its_headers_gets_a_503(sim: Any) -> None:
    sim.set_token_rate(10)
    config = sim_config(sim, swap={"drain_timeout_s": 0})
    async with running_app(sim, config=config) as cluster:
        assert (await cluster.swap_and_wait(MODEL))["state"] == "ready"
        pending = asyncio.create_task(
            cluster.client.post("/v1/chat/completions", json=chat(MODEL, max_tokens=500))
        )
        await wait_until(lambda: cluster.runtime.gate.requests_in_flight() == 1, "the request")
        job_id = await start_swap(cluster, OTHER)
        r = await pending
        assert r.status_code == 503
        assert r.json() == {"error": SWAP_CUT_ERROR}
        assert (await cluster.wait_job(job_id))["state"] == "ready"
        assert "drain: 0 request(s) finished, 1 cut" in await job_log(cluster, job_id)


async def test_fifty_held_requests_are_all_answered_after_the_swap(sim: Any) -> None:
    sim.set_load_time(1.5)
    async with running_app(sim) as cluster:
        gate = cluster.runtime.gate
        job_id = await start_swap(cluster, MODEL)
        requests = [
            asyncio.create_task(
                cluster.client.post("/v1/chat/completions", json=chat(MODEL, max_tokens=2))
            )
            for _ in range(50)
        ]
        await wait_until(lambda: gate.held == 50, "50 held requests")
        # Meanwhile a request for another model gets 503 at once.
        other = await cluster.client.post("/v1/chat/completions", json=chat(OTHER))
        assert other.status_code == 503
        assert other.json()["error"]["code"] == "model_swapping"
        assert int(other.headers["retry-after"]) >= 1

        async def job_shows_50_held() -> bool:
            job = (await cluster.client.get(f"/api/swap/{job_id}")).json()
            return job.get("held_requests") == 50

        await wait_until(job_shows_50_held, "the job to show 50 held requests")
        answers = await asyncio.gather(*requests)
        assert [r.status_code for r in answers] == [200] * 50
        assert all(r.json()["model"] == MODEL for r in answers)
        done = await cluster.wait_job(job_id)
        assert done["state"] == "ready" and "held_requests" not in done
        assert gate.held == 0


async def test_held_requests_get_503_with_the_reason_when_the_swap_fails(sim: Any) -> None:
    sim.inject("spark1", "slow_stop", seconds=1.0)  # time to queue the requests
    sim.inject("spark1", "launch_fail", exit_code=3)
    async with running_app(sim) as cluster:
        gate = cluster.runtime.gate
        job_id = await start_swap(cluster, MODEL)
        requests = [
            asyncio.create_task(cluster.client.post("/v1/chat/completions", json=chat(MODEL)))
            for _ in range(5)
        ]
        await wait_until(lambda: gate.held == 5, "5 held requests")
        answers = await asyncio.gather(*requests)
        done = await cluster.wait_job(job_id)
        assert done["state"] == "failed"
        for r in answers:
            assert r.status_code == 503
            error = r.json()["error"]
            assert error["code"] == "swap_failed"
            assert error["message"].startswith(f"The swap to {MODEL} failed: launch-cluster.sh")


async def test_held_client_that_leaves_is_dropped_and_timeout_answers_503(sim: Any) -> None:
    sim.set_load_time(30)
    config = sim_config(sim, swap={"hold_timeout_s": 0.5})
    async with running_app(sim, config=config) as cluster:
        gate = cluster.runtime.gate
        job_id = await start_swap(cluster, MODEL)
        async with httpx.AsyncClient(base_url=cluster.client.base_url, timeout=10) as leaving:
            held = asyncio.create_task(leaving.post("/v1/chat/completions", json=chat(MODEL)))
            await wait_until(lambda: gate.held == 1, "the held request")
            held.cancel()
        await wait_until(lambda: gate.held == 0, "the queue to forget the client that left")
        r = await cluster.client.post("/v1/chat/completions", json=chat(MODEL))
        assert r.status_code == 503
        assert r.json()["error"]["code"] == "swap_in_progress"
        assert int(r.headers["retry-after"]) >= 1
        assert (await cluster.client.post(f"/api/swap/{job_id}/cancel")).status_code == 202
        await cluster.wait_job(job_id)


async def test_hold_queue_bound(sim: Any) -> None:
    sim.set_load_time(30)
    config = sim_config(sim, swap={"hold_max_requests": 2})
    async with running_app(sim, config=config) as cluster:
        job_id = await start_swap(cluster, MODEL)
        held = [
            asyncio.create_task(cluster.client.post("/v1/chat/completions", json=chat(MODEL)))
            for _ in range(2)
        ]
        await wait_until(lambda: cluster.runtime.gate.held == 2, "2 held requests")
        r = await cluster.client.post("/v1/chat/completions", json=chat(MODEL))
        assert r.status_code == 503 and r.json()["error"]["code"] == "hold_queue_full"
        assert int(r.headers["retry-after"]) >= 1
        assert (await cluster.client.post(f"/api/swap/{job_id}/cancel")).status_code == 202
        for answer in await asyncio.gather(*held):
            assert answer.status_code == 503
            assert answer.json()["error"]["code"] == "swap_failed"
            assert "cancelled" in answer.json()["error"]["message"]
        await cluster.wait_job(job_id)


THIRD = "llama-3.3-70b"


async def test_swap_on_request_two_clients_two_models_one_swap(sim: Any) -> None:
    config = sim_config(sim, swap={"on_request": True, "min_dwell_s": 0})
    async with running_app(sim, config=config) as cluster:
        assert (await cluster.swap_and_wait(MODEL))["state"] == "ready"
        sim.set_load_time(1.0)
        wants_other = asyncio.create_task(
            cluster.client.post("/v1/chat/completions", json=chat(OTHER, max_tokens=3))
        )
        await wait_until(lambda: cluster.runtime.gate.held == 1, "the request that asked")
        third = await cluster.client.post("/v1/chat/completions", json=chat(THIRD))
        assert third.status_code == 503
        assert third.json()["error"]["code"] == "model_swapping"
        assert int(third.headers["retry-after"]) >= 1
        answer = await wants_other
        assert answer.status_code == 200 and answer.json()["model"] == OTHER
        jobs = (await cluster.client.get("/api/swap")).json()["jobs"]
        assert [j["model_key"] for j in jobs] == [OTHER, MODEL]  # one swap, newest first
        assert jobs[0]["origin"] == {"kind": "swap_on_request", "client": "127.0.0.1"}
        assert jobs[1]["origin"]["kind"] != "swap_on_request"
        assert sim.running_model() == OTHER
        # The served model is simply served: no swap.
        assert (
            await cluster.client.post(
                "/v1/completions", json={"model": OTHER, "prompt": "x", "max_tokens": 1}
            )
        ).status_code == 200
        assert len((await cluster.client.get("/api/swap")).json()["jobs"]) == 2


async def test_swap_on_request_honours_min_dwell_and_the_lock(sim: Any) -> None:
    config = sim_config(sim, swap={"on_request": True, "min_dwell_s": 300})
    async with running_app(sim, config=config) as cluster:
        assert (await cluster.swap_and_wait(MODEL))["state"] == "ready"
        r = await cluster.client.post("/v1/chat/completions", json=chat(OTHER))
        assert r.status_code == 503 and r.json()["error"]["code"] == "model_not_served"
        assert 200 < int(r.headers["retry-after"]) <= 300
        assert not cluster.runtime.served.swapping

    config = sim_config(sim, swap={"on_request": True, "min_dwell_s": 0})
    async with running_app(sim, config=config) as cluster:
        assert (await cluster.swap_and_wait(MODEL))["state"] == "ready"
        grant = await cluster.client.post("/api/swap/lock", json={"holder": "nightly-eval"})
        assert grant.status_code == 200, grant.text
        r = await cluster.client.post("/v1/chat/completions", json=chat(OTHER))
        assert r.status_code == 503 and r.json()["error"]["code"] == "swap_locked"
        assert "nightly-eval" in r.json()["error"]["message"]
        assert not cluster.runtime.served.swapping
        # The history keeps both runs' swaps to MODEL (it survives the restart); none to OTHER.
        jobs = (await cluster.client.get("/api/swap")).json()["jobs"]
        assert [job["model_key"] for job in jobs] == [MODEL, MODEL]
