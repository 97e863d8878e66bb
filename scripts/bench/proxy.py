"""What the OpenAI-compatible proxy costs: the same requests sent to the fake vLLM directly and
through Spark Control, on the same machine, in the same run.

Set-up: a two-node Spark simulator in this process; Spark Control as its own process
(``python -m app``, as deployed); a swap loads the fake vLLM (a process of its own). The load
comes from a minimal HTTP/1.1 keep-alive client below, so the client's own CPU cost is small
and identical for both targets. Direct and proxied rounds alternate, so load from anything
else on the machine weighs on both alike.

Figures:
(a) non-streaming ``/v1/completions``: latency p50/p99 at concurrency 1 (``max_tokens=1``,
    ~1 ms of generation) and the proxy's added latency; throughput at concurrency 32 and its
    ratio to direct, for 1-token answers (pure HTTP overhead: CPU-bound, the worst case for a
    proxy that shares the CPU with its backend) and for 32-token answers (~32 ms of
    generation, closer to what a GPU takes); Spark Control's CPU time per request;
(b) streaming ``/v1/completions`` of 64 tokens at concurrency 32 at 100 tokens/s per stream
    (a fast model on a Spark), stream starts spread evenly: time to first token and total
    time, direct vs proxied.
Targets: added p50 ≤ 1 ms at c=1, throughput ≥ 0.8x direct at c=32, added TTFT ≤ 2 ms.
``BENCH_PROFILE=FILE`` runs Spark Control under cProfile and writes its stats to FILE.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from scripts.sparksim import SparkSim

FAST_MODEL, FAST_RATE = "gemma-3-27b", 1000.0  # phase (a): tokens/s per request
STREAM_MODEL, STREAM_RATE = "qwen3-32b", 100.0  # phase (b)
C1_REQUESTS = 600
C32_SECONDS = 3.0
STREAM_TOKENS = 64
STREAMS_PER_CONNECTION = 2
ROUNDS = 3  # direct and proxied alternate this many times per figure
PROFILE = (
    ["-m", "cProfile", "-o", os.environ["BENCH_PROFILE"]] if os.environ.get("BENCH_PROFILE") else []
)


class Conn:
    """One keep-alive HTTP/1.1 connection; just enough protocol for these benchmarks."""

    def __init__(self, base: str) -> None:
        parts = urlsplit(base)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def __aenter__(self) -> Conn:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()

    def post(self, path: str, body: dict) -> bytes:
        data = json.dumps(body).encode()
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
        )
        return head.encode() + data

    async def send(self, raw: bytes) -> tuple[float, float]:
        """Send one request; returns (seconds to the first body bytes, seconds to the end)."""
        assert self.reader is not None and self.writer is not None
        reader = self.reader
        started = time.perf_counter()
        self.writer.write(raw)
        head = await reader.readuntil(b"\r\n\r\n")
        if head[9:12] != b"200":
            raise RuntimeError(f"unexpected answer: {head[:200]!r}")
        lower = head.lower()
        first = None
        if b"transfer-encoding: chunked" in lower:
            while True:
                size = int((await reader.readline()).strip(), 16)
                await reader.readexactly(size + 2)
                if first is None:
                    first = time.perf_counter() - started
                if size == 0:
                    break
        else:
            length = int(lower.split(b"content-length: ")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
        total = time.perf_counter() - started
        return (first if first is not None else total), total


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def latency_c1(base: str, count: int) -> list[float]:
    async with Conn(base) as conn:
        raw = conn.post("/v1/completions", {"prompt": "hi", "max_tokens": 1})
        for _ in range(50):  # warm-up: connections, caches, the fake's JIT-less hot paths
            await conn.send(raw)
        return [(await conn.send(raw))[1] for _ in range(count)]


async def throughput(
    base: str, concurrency: int, seconds: float, max_tokens: int
) -> tuple[int, float]:
    """Requests completed by ``concurrency`` keep-alive connections in ``seconds``; returns
    (requests, seconds measured)."""
    done = 0
    deadline = 0.0
    ready = asyncio.Event()
    opened = 0
    all_open = asyncio.Event()

    async def worker() -> None:
        nonlocal done, opened
        async with Conn(base) as conn:
            raw = conn.post("/v1/completions", {"prompt": "hi", "max_tokens": max_tokens})
            await conn.send(raw)  # warm-up
            opened += 1
            if opened == concurrency:
                all_open.set()
            await ready.wait()
            while time.perf_counter() < deadline:
                await conn.send(raw)
                done += 1

    tasks = [asyncio.create_task(worker()) for _ in range(concurrency)]
    await all_open.wait()  # every connection is open and warm before the clock starts
    started = time.perf_counter()
    deadline = started + seconds
    ready.set()
    await asyncio.gather(*tasks)
    return done, time.perf_counter() - started


async def streams(base: str, concurrency: int, rounds: int) -> tuple[list[float], list[float]]:
    """``concurrency`` connections streaming back to back, their starts spread evenly over one
    stream's duration: ``concurrency`` streams are in flight at any moment, as with real
    traffic, instead of all of them arriving in the same millisecond (a thundering herd that
    measures the queue, not the proxy)."""
    ttft: list[float] = []
    totals: list[float] = []
    spacing = STREAM_TOKENS / STREAM_RATE / concurrency

    async def worker(index: int) -> None:
        async with Conn(base) as conn:
            body = {"prompt": "hi", "max_tokens": STREAM_TOKENS, "stream": True}
            raw = conn.post("/v1/completions", body)
            await conn.send(raw)  # warm-up
            await asyncio.sleep(index * spacing)
            for _ in range(rounds):
                first, total = await conn.send(raw)
                ttft.append(first)
                totals.append(total)

    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    return ttft, totals


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def wait_until(check: Callable[[], Awaitable[bool]], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def swap(client: httpx.AsyncClient, model: str) -> None:
    job = (await client.post("/api/swap", json={"model_key": model})).json()

    async def swapped() -> bool:
        state = (await client.get(f"/api/swap/{job['job_id']}")).json()["state"]
        if state in ("failed", "cancelled"):
            raise RuntimeError(f"the swap to {model} ended {state}")
        return state == "ready"

    await wait_until(swapped, f"the swap to {model}", 60)


def start_app(root: Path, config: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    command = [sys.executable, *PROFILE, "-m", "app", "--config", str(config), "--port", str(port)]
    app = subprocess.Popen(
        [*command, "--log-level", "WARNING"],
        stdout=subprocess.DEVNULL,
        stderr=(root / "app.log").open("wb"),
    )
    return app, f"http://127.0.0.1:{port}"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.2f} ms"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


TARGETS = ("direct", "proxied")


class Results:
    def __init__(self) -> None:
        self.latency: dict[str, list[float]] = {t: [] for t in TARGETS}
        self.rate: dict[tuple[int, str], list[float]] = {}
        self.app_cpu: dict[int, list[float]] = {}
        self.ttft: dict[str, list[float]] = {t: [] for t in TARGETS}
        self.total: dict[str, list[float]] = {t: [] for t in TARGETS}


async def measure(sim: SparkSim, app: subprocess.Popen[bytes], proxied: str) -> Results:
    res = Results()
    async with httpx.AsyncClient(base_url=proxied, timeout=10, trust_env=False) as client:

        async def healthy() -> bool:
            with contextlib.suppress(httpx.TransportError):
                return (await client.get("/api/health")).status_code == 200
            return False

        await wait_until(healthy, "Spark Control to start", 30)
        await swap(client, FAST_MODEL)
        targets = {"direct": sim.vllm_url, "proxied": proxied}
        for _ in range(ROUNDS):
            for name, url in targets.items():
                res.latency[name] += await latency_c1(url, C1_REQUESTS // ROUNDS)
        for max_tokens in (1, 32):
            for _ in range(ROUNDS):
                for name, url in targets.items():
                    before = cpu_seconds(app.pid)
                    done, seconds = await throughput(url, 32, C32_SECONDS / ROUNDS, max_tokens)
                    res.rate.setdefault((max_tokens, name), []).append(done / seconds)
                    if name == "proxied":
                        used = cpu_seconds(app.pid) - before
                        res.app_cpu.setdefault(max_tokens, []).append(used / max(done, 1))
        sim.set_token_rate(STREAM_RATE)  # read by the fake vLLM when it starts
        await swap(client, STREAM_MODEL)
        for _ in range(ROUNDS):
            for name, url in targets.items():
                ttft, totals = await streams(url, 32, STREAMS_PER_CONNECTION)
                res.ttft[name] += ttft
                res.total[name] += totals
    return res


async def run() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-proxy-") as tmp:
        root = Path(tmp)
        sim = SparkSim(root / "sim", load_time=0.2, token_rate=FAST_RATE)
        await sim.start()
        app = None
        try:
            app, proxied = start_app(root, sim.write_config(root / "config.yaml"))
            res = await measure(sim, app, proxied)
        finally:
            if app is not None:
                app.send_signal(signal.SIGINT)  # a clean exit: a profile, if any, is written
                await asyncio.to_thread(app.wait, 15)
            await sim.stop()
    report(res)


def report(res: Results) -> None:
    lat = res.latency
    print(f"(a) non-streaming /v1/completions, {FAST_RATE:.0f} tokens/s per request")
    print(f"    concurrency 1, max_tokens=1, {C1_REQUESTS} requests each:")
    for name, values in lat.items():
        print(f"    {name:8} p50 {ms(pct(values, 0.5))}  p99 {ms(pct(values, 0.99))}")
    added50 = pct(lat["proxied"], 0.5) - pct(lat["direct"], 0.5)
    added99 = pct(lat["proxied"], 0.99) - pct(lat["direct"], 0.99)
    print(f"    added    p50 {ms(added50)}  p99 {ms(added99)}   (target p50 <= 1 ms)")
    for max_tokens in (1, 32):
        direct = statistics.median(res.rate[(max_tokens, "direct")])
        proxied = statistics.median(res.rate[(max_tokens, "proxied")])
        cpu = statistics.median(res.app_cpu[max_tokens]) * 1e6
        print(f"    concurrency 32, max_tokens={max_tokens}, {C32_SECONDS:.0f} s each:")
        print(
            f"    direct {direct:7.0f} req/s   proxied {proxied:7.0f} req/s   ratio {proxied / direct:.2f}x"
        )
        print(f"    (target >= 0.8x); Spark Control CPU per proxied request {cpu:.0f} us")
    print(
        f"(b) streaming /v1/completions, {STREAM_TOKENS} tokens at {STREAM_RATE:.0f} tokens/s, concurrency 32"
    )
    for name in TARGETS:
        ttft, totals = res.ttft[name], res.total[name]
        print(
            f"    {name:8} TTFT p50 {ms(statistics.median(ttft))} p99 {ms(pct(ttft, 0.99))}"
            f"   total p50 {ms(statistics.median(totals))}"
        )
    added_ttft = statistics.median(res.ttft["proxied"]) - statistics.median(res.ttft["direct"])
    added_total = statistics.median(res.total["proxied"]) - statistics.median(res.total["direct"])
    print(
        f"    added    TTFT p50 {ms(added_ttft)}   total p50 {ms(added_total)}"
        "   (target TTFT <= 2 ms)"
    )


def main() -> None:
    asyncio.run(run())


if __name__ == "__main__":
    main()
