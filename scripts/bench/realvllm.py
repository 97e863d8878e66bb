"""Streaming through the proxy against the real vLLM: the real-vLLM tier's own figure.

Set-up as in ``proxy``: Spark Control as its own process, a one-node Spark simulator in this
process, but the launch runs the real vLLM 0.32 (CPU build, ``make realvllm``) serving a tiny
random Llama made here. Then ``STREAMS`` streamed ``/v1/completions`` of ``TOKENS`` tokens, one
at a time, alternating direct and proxied rounds: time to the response head, to the first token
(TTFT) and the proxy's added TTFT. Skips, saying why, where the real vLLM is not installed.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import statistics
import tempfile
from pathlib import Path

import httpx

from scripts import realvllm
from scripts.bench.loadgen import Conn, ms, pct
from scripts.bench.proxy import start_app, wait_until
from scripts.sparksim import SparkSim

STREAMS = 60  # per target, in ROUNDS alternating rounds
ROUNDS = 3
TOKENS = 16


async def swap(client: httpx.AsyncClient, model: str) -> None:
    job = (await client.post("/api/swap", json={"model_key": model})).json()

    async def swapped() -> bool:
        state = (await client.get(f"/api/swap/{job['job_id']}")).json()
        if state["state"] in ("failed", "cancelled"):
            raise RuntimeError(f"the swap to {model} ended {state['state']}: {state['error']}")
        return state["state"] == "ready"

    await wait_until(swapped, f"the swap to {model}", 900)


async def measure(direct: str, proxied: str) -> dict[str, dict[str, list[float]]]:
    figures: dict[str, dict[str, list[float]]] = {
        name: {"head": [], "ttft": []} for name in ("direct", "proxied")
    }
    body = {"model": "tiny", "prompt": "The quick", "max_tokens": TOKENS, "stream": True}
    for _ in range(ROUNDS):
        for name, url in (("direct", direct), ("proxied", proxied)):
            async with Conn(url) as conn:
                raw = conn.post("/v1/completions", body)
                await conn.send_timed(raw)  # warm-up
                for _ in range(STREAMS // ROUNDS):
                    head, first, _ = await conn.send_timed(raw)
                    figures[name]["head"].append(head)
                    figures[name]["ttft"].append(first)
    return figures


async def run() -> None:
    reason = realvllm.unavailable()
    if reason is not None:
        print(f"    skipped: {reason}")
        return
    with tempfile.TemporaryDirectory(prefix="bench-realvllm-") as tmp:
        root = Path(tmp)
        models = realvllm.make_tiny_models(root / "made")
        local = root / "models" / "tiny"
        shutil.copytree(models["ok"], local)
        catalog = root / "catalog.yaml"
        knobs = {"served_model_name": "tiny", "dtype": "float32", "max_model_len": 256,
                 "gpu_memory_utilization": 0.1}  # fmt: skip
        catalog.write_text(
            json.dumps({"models": [{"key": "tiny", "local_path": str(local), "knobs": knobs}]})
        )
        sim = SparkSim(root / "sim", nodes=1, vllm_cmd=realvllm.vllm_command())
        await sim.start()
        app = None
        try:
            config = sim.write_config(
                root / "config.yaml",
                vllm={"load_timeout_s": 900},
                models={"catalog_file": str(catalog), "local_roots": [str(root / "models")]},
            )
            app, proxied = start_app(root, config)
            async with httpx.AsyncClient(base_url=proxied, timeout=10, trust_env=False) as client:

                async def healthy() -> bool:
                    try:
                        return (await client.get("/api/health")).status_code == 200
                    except httpx.TransportError:
                        return False

                await wait_until(healthy, "Spark Control to start", 30)
                await swap(client, "tiny")
            figures = await measure(sim.vllm_url, proxied)
        finally:
            if app is not None:
                app.send_signal(signal.SIGINT)
                await asyncio.to_thread(app.wait, 15)
            await sim.stop()
    print(f"    streaming /v1/completions of {TOKENS} tokens, one at a time, {STREAMS} per target")
    for name, values in figures.items():
        print(
            f"    {name:8} head p50 {ms(statistics.median(values['head']))}"
            f"   TTFT p50 {ms(statistics.median(values['ttft']))} p99 {ms(pct(values['ttft'], 0.99))}"
        )
    for what in ("head", "ttft"):
        added = statistics.median(figures["proxied"][what]) - statistics.median(
            figures["direct"][what]
        )
        print(f"    added    {what.upper() if what == 'ttft' else what} p50 {ms(added)}")


def main() -> None:
    asyncio.run(run())


if __name__ == "__main__":
    main()
