"""What the OpenAI-compatible proxy costs: the same requests sent to the fake vLLM directly,
through Debian's nginx, and through Spark Control, on the same machine, in the same run.

Set-up: a two-node Spark simulator in this process; Spark Control as its own process
(``python -m app``, as deployed); a swap loads the fake vLLM (a process of its own); when
``/usr/sbin/nginx`` (or ``nginx`` on PATH) exists, an nginx in front of the same backend
(``proxy_pass`` with upstream keepalive, buffering off: the distance to a C proxy). The load
comes from the minimal HTTP/1.1 keep-alive client in ``loadgen``, so the client's own CPU cost
is small and identical for every target. Against the realistic backend, latency at
concurrency 1 is measured request by request in turn across the targets
(``latency_interleaved``: a drift of the machine weighs on all alike; in rounds of 50 requests
per target the added p50 moved by +-0.3 ms from run to run); the other figures alternate
targets round by round. Added latencies come with a 95% bootstrap interval. Two calibration columns, concurrency 1 only:
``floor (Python)`` is the least a Python forwarder on the same uvloop and httptools can do
(``floor_proxy``): its distance to direct is Python's; ``floor (server)`` is Spark Control's
own HTTP server (uvicorn with the lane) around that same forwarder (``floor_server``): its
distance to the first is the server's, and Spark Control's distance to it is the cost of
Spark Control's proxy code.

Figures, each for direct / nginx / Spark Control, with the added latency or ratio to direct:
(a) a fast backend (1000 tokens/s: a 1-token answer takes ~1 ms): latency p50/p99 at
    concurrency 1; throughput at concurrency 32 for 1-token answers (pure HTTP overhead,
    CPU-bound: the worst case for a proxy sharing two cores with its backend and client) and
    for 32-token answers; Spark Control's CPU time per request;
(b) a backend with realistic latency (40 tokens/s, the demo's fake vLLM: a 1-token answer
    takes ~25 ms): latency at concurrency 1, where wake-up costs show that a busy loop hides;
    streams of 32 tokens at concurrency 32, starts spread evenly: time to first token.
Goals: added p50 at c=1 <= 0.5 ms on both backends; 1-token throughput at c=32 >= 0.5x
direct; added TTFT <= 2 ms.
``BENCH_PROFILE=FILE`` runs Spark Control under cProfile and writes its stats to FILE.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shutil
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

from scripts.bench.loadgen import latency_c1, latency_interleaved, pct, streams, throughput
from scripts.sparksim import SparkSim

FAST_MODEL, FAST_RATE = "gemma-3-27b", 1000.0  # phase (a): tokens/s per request
SLOW_MODEL, SLOW_RATE = "qwen3-32b", 40.0  # phase (b): the demo's pace
C1_REQUESTS = 600
C1_SLOW_REQUESTS = 300
C32_SECONDS = 3.0
STREAM_TOKENS = 32
STREAMS_PER_CONNECTION = 2
ROUNDS = 3  # direct and proxied alternate this many times per throughput figure
BOOTSTRAP = 1000
FLOOR = "floor (Python)"
FLOOR_SERVER = "floor (server)"
PROFILE = (
    ["-m", "cProfile", "-o", os.environ["BENCH_PROFILE"]] if os.environ.get("BENCH_PROFILE") else []
)


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
        # The deployed level: at INFO every proxied request writes its access line.
        [*command, "--log-level", "INFO"],
        stdout=subprocess.DEVNULL,
        stderr=(root / "app.log").open("wb"),
    )
    return app, f"http://127.0.0.1:{port}"


NGINX_CONF = """\
worker_processes 1;
daemon off;
pid {root}/nginx.pid;
error_log {root}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {root}/body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    upstream backend {{
        server {backend};
        keepalive 64;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
            proxy_request_buffering off;
        }}
    }}
}}
"""


def nginx_binary() -> str | None:
    if os.access("/usr/sbin/nginx", os.X_OK):
        return "/usr/sbin/nginx"
    return shutil.which("nginx")


def start_nginx(root: Path, backend: str) -> tuple[subprocess.Popen[bytes], str] | None:
    """nginx (one worker, as Spark Control is one process) in front of ``backend``; None when
    nginx is not installed."""
    binary = nginx_binary()
    if binary is None:
        return None
    home = root / "nginx"
    home.mkdir()
    port = free_port()
    conf = home / "nginx.conf"
    conf.write_text(NGINX_CONF.format(root=home, backend=urlsplit(backend).netloc, port=port))
    process = subprocess.Popen(
        [binary, "-p", str(home), "-c", str(conf), "-e", str(home / "nginx-error.log")],
        stdout=subprocess.DEVNULL,
        stderr=(home / "stderr.log").open("wb"),
    )
    return process, f"http://127.0.0.1:{port}"


def start_floor(backend: str, module: str) -> tuple[subprocess.Popen[bytes], str]:
    """A calibration forwarder (``scripts.bench.<module>``) in front of ``backend``."""
    port = free_port()
    parts = urlsplit(backend)
    command = [sys.executable, "-m", f"scripts.bench.{module}", parts.hostname or "127.0.0.1"]
    process = subprocess.Popen([*command, str(parts.port or 80), str(port)])
    return process, f"http://127.0.0.1:{port}"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Results:
    def __init__(self, targets: list[str]) -> None:
        self.targets = targets
        # figure -> target -> samples
        self.latency: dict[str, dict[str, list[float]]] = {}
        self.rate: dict[str, dict[str, list[float]]] = {}
        self.app_cpu: dict[str, list[float]] = {}

    def add(
        self,
        table: dict[str, dict[str, list[float]]],
        figure: str,
        target: str,
        values: list[float],
    ) -> None:
        table.setdefault(figure, {t: [] for t in self.targets})[target] += values


async def measure(
    sim: SparkSim,
    app: subprocess.Popen[bytes],
    proxied: str,
    nginx: str | None,
    floors: dict[str, str],
) -> Results:
    targets = {
        "direct": sim.vllm_url,
        **({"nginx": nginx} if nginx else {}),
        "Spark Control": proxied,
    }
    sequential = {**targets, **floors}  # the floor forwarders take one request at a time
    res = Results(list(sequential))
    async with httpx.AsyncClient(base_url=proxied, timeout=10, trust_env=False) as client:

        async def healthy() -> bool:
            with contextlib.suppress(httpx.TransportError):
                return (await client.get("/api/health")).status_code == 200
            return False

        await wait_until(healthy, "Spark Control to start", 30)
        await swap(client, FAST_MODEL)
        fast_c1 = f"fast backend, c=1, 1 token ({FAST_RATE:.0f} tok/s)"
        # Each target in its own rounds here: interleaved, every request would find the proxy
        # idle for the other targets' turns, and this figure is the busy loop's.
        for _ in range(ROUNDS):
            for name, url in sequential.items():
                res.add(res.latency, fast_c1, name, await latency_c1(url, C1_REQUESTS // ROUNDS))
        for max_tokens in (1, 32):
            figure = f"fast backend, c=32, {max_tokens} token{'s' if max_tokens > 1 else ''}"
            for _ in range(ROUNDS):
                for name, url in targets.items():
                    before = cpu_seconds(app.pid)
                    done, seconds = await throughput(url, 32, C32_SECONDS / ROUNDS, max_tokens)
                    res.add(res.rate, figure, name, [done / seconds])
                    if name == "Spark Control":
                        used = cpu_seconds(app.pid) - before
                        res.app_cpu.setdefault(figure, []).append(used / max(done, 1))
        sim.set_token_rate(SLOW_RATE)  # read by the fake vLLM when it starts
        await swap(client, SLOW_MODEL)
        slow_c1 = f"realistic backend, c=1, 1 token ({SLOW_RATE:.0f} tok/s)"
        ttft = f"realistic backend, c=32, stream TTFT ({STREAM_TOKENS} tok)"
        # The fake answers a stream's head at once and its first token 1/rate later (vLLM's
        # header-then-first-token gap): a proxy that held the head back would show it here.
        head = "realistic backend, c=32, stream head"
        for name, samples in (await latency_interleaved(sequential, C1_SLOW_REQUESTS)).items():
            res.add(res.latency, slow_c1, name, samples)
        for _ in range(ROUNDS):
            for name, url in targets.items():
                heads, first, _totals = await streams(
                    url, 32, STREAMS_PER_CONNECTION, STREAM_TOKENS, SLOW_RATE
                )
                res.add(res.latency, head, name, heads)
                res.add(res.latency, ttft, name, first)
    return res


async def run() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-proxy-") as tmp:
        root = Path(tmp)
        sim = SparkSim(root / "sim", load_time=0.2, token_rate=FAST_RATE)
        await sim.start()
        app = nginx = None
        floors: list[subprocess.Popen[bytes]] = []
        try:
            app, proxied = start_app(root, sim.write_config(root / "config.yaml"))
            started = start_nginx(root, sim.vllm_url)
            nginx_url = None
            if started is not None:
                nginx, nginx_url = started
            else:
                print("nginx is not installed: its column is left out")
            floor_urls = {}
            for name, module in ((FLOOR, "floor_proxy"), (FLOOR_SERVER, "floor_server")):
                process, floor_urls[name] = start_floor(sim.vllm_url, module)
                floors.append(process)
            res = await measure(sim, app, proxied, nginx_url, floor_urls)
        finally:
            for process in floors:
                process.kill()
                await asyncio.to_thread(process.wait, 15)
            if nginx is not None:
                nginx.send_signal(signal.SIGQUIT)  # graceful: finish, then exit
                await asyncio.to_thread(nginx.wait, 15)
            if app is not None:
                app.send_signal(signal.SIGINT)  # a clean exit: a profile, if any, is written
                await asyncio.to_thread(app.wait, 15)
            await sim.stop()
    report(res)


def added_interval(target: list[float], direct: list[float]) -> tuple[float, float]:
    """A 95% bootstrap interval of ``p50(target) - p50(direct)`` (seconds)."""
    rng = random.Random(0)
    diffs = sorted(
        pct(rng.choices(target, k=len(target)), 0.5) - pct(rng.choices(direct, k=len(direct)), 0.5)
        for _ in range(BOOTSTRAP)
    )
    return diffs[int(0.025 * BOOTSTRAP)], diffs[int(0.975 * BOOTSTRAP) - 1]


def report(res: Results) -> None:
    """One table: a row per figure, a column per target, the proxies' cost next to theirs."""
    width = 44
    cell = 40
    columns = "".join(f"{t:>{cell}}" for t in res.targets)
    print(f"{'latency p50 / p99 (added p50 vs direct, 95%)':{width}}{columns}")
    for figure, samples in res.latency.items():
        direct = pct(samples["direct"], 0.5)
        cells = []
        for target in res.targets:
            if not samples[target]:
                cells.append("-")
                continue
            p50, p99 = pct(samples[target], 0.5), pct(samples[target], 0.99)
            added = ""
            if target != "direct":
                low, high = added_interval(samples[target], samples["direct"])
                added = f" ({(p50 - direct) * 1000:+.2f} [{low * 1000:+.2f},{high * 1000:+.2f}])"
            cells.append(f"{p50 * 1000:.2f}/{p99 * 1000:.2f} ms{added}")
        print(f"{figure:{width}}" + "".join(f"{c:>{cell}}" for c in cells))
    print(f"{'throughput req/s (ratio to direct)':{width}}{columns}")
    for figure, samples in res.rate.items():
        direct = statistics.median(samples["direct"])
        cells = []
        for target in res.targets:
            if not samples[target]:
                cells.append("-")
                continue
            rate = statistics.median(samples[target])
            ratio = "" if target == "direct" else f" ({rate / direct:.2f}x)"
            cells.append(f"{rate:.0f}{ratio}")
        cpu = statistics.median(res.app_cpu[figure]) * 1e6
        print(
            f"{figure:{width}}"
            + "".join(f"{c:>{cell}}" for c in cells)
            + f"   SC CPU {cpu:.0f} us/req"
        )
    print("goals: added p50 at c=1 <= 0.5 ms (both backends); 1-token c=32 >= 0.5x direct;")
    print("       added stream TTFT p50 <= 2 ms")


def main() -> None:
    asyncio.run(run())


if __name__ == "__main__":
    main()
