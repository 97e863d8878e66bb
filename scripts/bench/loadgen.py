"""The benchmarks' load generator: a minimal HTTP/1.1 keep-alive client (:class:`Conn`, just
enough protocol that the client's own CPU cost is small and the same for every target) and
the load shapes built on it: sequential latency at concurrency 1, closed-loop throughput at
concurrency N, and evenly spread streams. Times are ``time.perf_counter`` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from urllib.parse import urlsplit


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
        _, first, total = await self.send_timed(raw)
        return first, total

    async def send_timed(self, raw: bytes) -> tuple[float, float, float]:
        """Send one request; returns seconds to the response head, to the first body bytes
        and to the end."""
        assert self.reader is not None and self.writer is not None
        reader = self.reader
        started = time.perf_counter()
        self.writer.write(raw)
        head = await reader.readuntil(b"\r\n\r\n")
        head_at = time.perf_counter() - started
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
        return head_at, (first if first is not None else total), total


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def latency_c1(base: str, count: int) -> list[float]:
    async with Conn(base) as conn:
        raw = conn.post("/v1/completions", {"prompt": "hi", "max_tokens": 1})
        for _ in range(50):  # warm-up: connections, caches, the fake's JIT-less hot paths
            await conn.send(raw)
        return [(await conn.send(raw))[1] for _ in range(count)]


async def latency_interleaved(targets: dict[str, str], count: int) -> dict[str, list[float]]:
    """Sequential requests to every target in turn, one connection each: request ``i`` goes to
    each target before request ``i + 1`` goes to any, so a drift of the machine (another
    process, the CPU's clock) weighs on every target alike. Returns each target's latencies."""
    async with contextlib.AsyncExitStack() as stack:
        conns = {name: await stack.enter_async_context(Conn(url)) for name, url in targets.items()}
        raws = {
            name: conn.post("/v1/completions", {"prompt": "hi", "max_tokens": 1})
            for name, conn in conns.items()
        }
        for _ in range(50):  # warm-up, as latency_c1
            for name, conn in conns.items():
                await conn.send(raws[name])
        samples: dict[str, list[float]] = {name: [] for name in targets}
        for _ in range(count):
            for name, conn in conns.items():
                samples[name].append((await conn.send(raws[name]))[1])
        return samples


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


async def streams(
    base: str, concurrency: int, rounds: int, tokens: int, rate: float
) -> tuple[list[float], list[float], list[float]]:
    """``concurrency`` connections streaming back to back, ``tokens`` per stream from a backend
    producing ``rate`` tokens/s, their starts spread evenly over one stream's duration: ``concurrency`` streams are in flight at any moment, as with real
    traffic, instead of all of them arriving in the same millisecond (a thundering herd that
    measures the queue, not the proxy). Returns seconds to the response head, to the first
    token and to the end of each stream."""
    heads: list[float] = []
    ttft: list[float] = []
    totals: list[float] = []
    spacing = tokens / rate / concurrency

    async def worker(index: int) -> None:
        async with Conn(base) as conn:
            body = {"prompt": "hi", "max_tokens": tokens, "stream": True}
            raw = conn.post("/v1/completions", body)
            await conn.send(raw)  # warm-up
            await asyncio.sleep(index * spacing)
            for _ in range(rounds):
                head, first, total = await conn.send_timed(raw)
                heads.append(head)
                ttft.append(first)
                totals.append(total)

    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    return heads, ttft, totals


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"
