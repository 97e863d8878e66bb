"""Soak: hundreds of swaps back to back with seeded random faults, while automation fights over
the lock, schedulers churn, clients stream through the proxy, dashboards follow /api/events and
someone edits the catalog.

Invariants checked throughout: at most one real swap runs; after every job the reported running
model converges to the simulator's truth; nothing answers 5xx except the documented 502/503 of
the proxy. At the end: no leaked asyncio tasks, SSH channels or upstream connections; RSS growth
after warm-up within 10 MB; nothing in the overrides file lost. ``SOAK_SWAPS`` (default 200) and
``SOAK_SEED`` change the run. The figures are printed and written to ``docs/SOAK.md`` by ``make
docs`` (a plain run writes a temporary copy: ``tests/reports.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import random
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from app.services.monitor import ProbeSettings
from app.swap.jobs import JobRecord, JobState, Phase
from tests.cluster import ClusterHarness, running_app, sim_config, simulator
from tests.reliability.test_fault_matrix import SSH_DROP_MATCH
from tests.reports import report_path
from tests.waits import wait_until

SWAPS = int(os.environ.get("SOAK_SWAPS", "200"))
SEED = int(os.environ.get("SOAK_SEED", "20261123"))
MODELS = ["gemma-3-27b", "qwen3-32b", "llama-3.3-70b"]
REPOS = {
    "gemma-3-27b": "google/gemma-3-27b-it",
    "qwen3-32b": "Qwen/Qwen3-32B",
    "llama-3.3-70b": "meta-llama/Llama-3.3-70B-Instruct",
}
# Faults are injected as a swap enters one of its own phases (a rollback is not one of them).
PHASES = [p.value for p in Phase if p != Phase.ROLLING_BACK]
FAULT_RATE = 0.35
# Until the bounded histories (50 jobs, 1000 events) are full, growth is expected, not a leak.
WARM_UP_SWAPS = 60


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def tcp_connections_to(ports: set[int]) -> int:
    """ESTABLISHED TCP sockets of this process whose remote port is in ``ports``."""
    inodes = set()
    for fd in Path("/proc/self/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    count = 0
    for table in ("/proc/self/net/tcp", "/proc/self/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                remote_port = int(fields[2].rsplit(":", 1)[1], 16)
                if fields[3] == "01" and fields[9] in inodes and remote_port in ports:
                    count += 1
    return count


class Soak:
    def __init__(self, cluster: ClusterHarness, rng: random.Random) -> None:
        self.cluster = cluster
        self.rng = rng
        self.stop = asyncio.Event()
        self.violations: list[str] = []
        self.stats: Counter[str] = Counter()
        self.max_running = 0
        self.added_models: list[str] = []
        self.last_knobs: dict[str, Any] | None = None

    def violation(self, what: str) -> None:
        self.violations.append(what)

    # --- background load ----------------------------------------------------------------

    async def lock_churn(self, holder: str) -> None:
        client = self.cluster.client
        while not self.stop.is_set():
            r = await client.post("/api/swap/lock", json={"holder": holder, "ttl_seconds": 5})
            self.stats[f"lock {r.status_code}"] += 1
            if r.status_code == 200:
                token = r.json()["token"]
                await asyncio.sleep(self.rng.uniform(0.05, 0.3))
                r = await client.post(
                    "/api/swap/lock", json={"holder": holder, "token": token, "ttl_seconds": 5}
                )
                if r.status_code != 200:
                    self.violation(f"extending own lock answered {r.status_code}")
                r = await client.delete("/api/swap/lock", headers={"X-Swap-Lock-Token": token})
                if r.status_code != 200:
                    self.violation(f"releasing own lock answered {r.status_code}")
            elif r.status_code != 409:
                self.violation(f"lock acquire answered {r.status_code}")
            await asyncio.sleep(self.rng.uniform(0.2, 1.0))

    async def schedule_churn(self) -> None:
        client = self.cluster.client
        n = 0
        while not self.stop.is_set():
            n += 1
            sid = f"soak-{n % 7}"
            r = await client.post(
                "/api/schedule", json={"id": sid, "name": f"Soak {n}", "cron": "*/5 * * * *"}
            )
            self.stats[f"schedule {r.status_code}"] += 1
            if n % 3 == 0:
                await client.delete(f"/api/schedule/{sid}")
            await asyncio.sleep(0.2)

    async def catalog_churn(self) -> None:
        client = self.cluster.client
        n = 0
        while not self.stop.is_set():
            n += 1
            knobs = {"max_model_len": 1000 + n, "extra_args": ["--max-num-seqs", str(n % 64 + 1)]}
            r = await client.put("/api/models/qwen3-coder-30b/knobs", json=knobs)
            if r.status_code == 200:
                self.last_knobs = knobs
            else:
                self.violation(f"knob edit answered {r.status_code}")
            if n % 10 == 0 and len(self.added_models) < 15:
                key = f"soak-model-{n}"
                r = await client.post("/api/models", json={"key": key, "repo": f"soak/model-{n}"})
                if r.status_code == 201:
                    self.added_models.append(key)
                else:
                    self.violation(f"adding a model answered {r.status_code}")
            await asyncio.sleep(0.3)

    async def proxy_traffic(self, stream: bool) -> None:
        client = self.cluster.client
        while not self.stop.is_set():
            body = {"model": self.cluster.runtime.served.current.served_name or "gemma-3-27b",
                    "messages": [{"role": "user", "content": "hi"}], "max_tokens": 8, "stream": stream}  # fmt: skip
            try:
                async with client.stream("POST", "/v1/chat/completions", json=body) as r:
                    self.stats[f"proxy {r.status_code}"] += 1
                    if r.status_code >= 500 and r.status_code not in (502, 503, 504):
                        self.violation(f"proxy answered {r.status_code}")
                    if stream and r.status_code == 200 and self.rng.random() < 0.3:
                        async for _ in r.aiter_bytes():
                            break  # a client that goes away mid-stream
                    else:
                        await r.aread()
            except httpx.HTTPError as err:
                self.violation(f"proxy request failed: {type(err).__name__}")
            await asyncio.sleep(self.rng.uniform(0.05, 0.2))

    async def dashboard(self, slow: bool) -> None:
        client = self.cluster.client
        last_id = None
        while not self.stop.is_set():
            headers = {"Last-Event-ID": last_id} if last_id else {}
            try:
                async with client.stream("GET", "/api/events", headers=headers, timeout=None) as r:
                    async for line in r.aiter_lines():
                        if line.startswith("id:"):
                            last_id = line[3:].strip()
                            self.stats["sse events"] += 1
                        elif line.startswith("event: resync"):
                            self.stats["sse resync"] += 1
                        if slow:
                            await asyncio.sleep(0.05)
                        if self.stop.is_set():
                            return
            except httpx.HTTPError as err:
                if not self.stop.is_set():
                    self.violation(f"event stream failed: {type(err).__name__}")

    # --- the swaps -------------------------------------------------------------------------

    def watch_single_flight(self, job: JobRecord, phase: Phase) -> None:
        running = [
            j
            for j in self.cluster.runtime.engine.history.newest_first()
            if j.state == JobState.RUNNING and not j.dry_run
        ]
        self.max_running = max(self.max_running, len(running))
        if len(running) > 1:
            self.violation(f"{len(running)} swaps running at once")

    def pick_fault(self, target: str) -> tuple[str, str, dict[str, Any], str] | None:
        if self.rng.random() > FAULT_RATE:
            return None
        phase = self.rng.choice(PHASES)
        fault = self.rng.choice(
            ["launch_fail", "crash_after_ready", "ssh_drop", "slow_stop", "gpu_residual",
             "model_missing", "image_missing", "ssh_drop", "launch_fail"]
            + (["never_healthy"] if self.rng.random() < 0.1 else [])
        )  # fmt: skip
        params: dict[str, Any] = {
            "launch_fail": {"exit_code": self.rng.choice([1, 2, 3])},
            "crash_after_ready": {"seconds": 0.0},
            "ssh_drop": {"match": SSH_DROP_MATCH[phase], "after_s": 0.05},
            "slow_stop": {"seconds": 0.3},
            "gpu_residual": {"seconds": 0.3},
            "model_missing": {"repo": REPOS[target]},
            "image_missing": {},
            "never_healthy": {},
        }[fault]
        node = "spark2" if fault in ("model_missing", "image_missing", "gpu_residual") else "spark1"
        return fault, node, params, phase

    async def reported_matches_truth(self) -> bool:
        """The reported running model converges to the simulator's truth within 10 s."""
        served, sim = self.cluster.runtime.served, self.cluster.sim

        def agree() -> bool:
            running = served.current
            return (
                running.served_name if running.state == "ready" else None
            ) == sim.running_model()

        try:
            await wait_until(agree, "the reported model to match the simulator", 10)
        except AssertionError:
            self.violation(
                f"reported {served.current} but the simulator runs {sim.running_model()!r}"
            )
            return False
        return True

    async def one_swap(self, index: int) -> None:
        cluster, sim = self.cluster, self.cluster.sim
        target = MODELS[index % len(MODELS)]
        fault = self.pick_fault(target)

        def inject(job: JobRecord, entered: Phase) -> None:
            if fault and entered.value == fault[3]:
                sim.inject(fault[1], fault[0], **fault[2])

        cluster.runtime.engine.phase_listeners.append(inject)
        try:
            while True:
                r = await cluster.swap(target)
                if r.status_code == 202:
                    break
                if r.status_code != 423:  # held by a churner for a moment
                    self.violation(f"swap answered {r.status_code}: {r.text[:200]}")
                    return
                self.stats["locked retries"] += 1
                await asyncio.sleep(0.1)
            done = await cluster.wait_job(r.json()["job_id"], timeout=120)
        finally:
            cluster.runtime.engine.phase_listeners.remove(inject)
        self.stats[f"swap {done['state']}"] += 1
        if fault:
            self.stats[f"fault {fault[0]}"] += 1
        if cluster.runtime.engine.active is not None:
            self.violation("the single-flight guard was not released")
        await self.reported_matches_truth()
        sim.clear_faults()


@pytest.mark.slow
async def test_soak(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    tasks_before = set(asyncio.all_tasks())
    async with simulator(tmp_path / "sim", load_time=0.1, token_rate=2000.0) as sim:
        config = sim_config(sim, vllm={"load_timeout_s": 10})
        ports = {sim.vllm_port, *(n.ssh_port for n in sim.nodes)}
        probes = ProbeSettings(interval_s=1.0, timeout_s=1.0)
        async with running_app(sim, config=config, probes=probes) as cluster:
            soak = Soak(cluster, rng)
            cluster.runtime.engine.phase_listeners.append(soak.watch_single_flight)
            background = [
                asyncio.create_task(soak.lock_churn("cron-a")),
                asyncio.create_task(soak.lock_churn("cron-b")),
                asyncio.create_task(soak.schedule_churn()),
                asyncio.create_task(soak.catalog_churn()),
                asyncio.create_task(soak.proxy_traffic(stream=False)),
                asyncio.create_task(soak.proxy_traffic(stream=True)),
                asyncio.create_task(soak.dashboard(slow=False)),
                asyncio.create_task(soak.dashboard(slow=True)),
            ]
            started = time.monotonic()
            baseline_rss = None
            rss_samples: list[float] = []
            for i in range(SWAPS):
                await soak.one_swap(i)
                if i % 20 == 19:
                    gc.collect()
                    rss_samples.append(round(rss_mb(), 1))
                if i == min(WARM_UP_SWAPS, SWAPS - 1):
                    gc.collect()
                    baseline_rss = rss_mb()
            elapsed = time.monotonic() - started
            soak.stop.set()
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            # The churn's last edit may have been cancelled mid-request, its change still
            # running on the server. Changes are serialised: the answer to one more edit comes
            # after every change the churn started, and then file and catalog must both hold it.
            final = {"max_model_len": 9999, "extra_args": ["--max-num-seqs", "7"]}
            r = await cluster.client.put("/api/models/qwen3-coder-30b/knobs", json=final)
            if r.status_code == 200:
                soak.last_knobs = final
            else:
                soak.violation(f"the last knob edit answered {r.status_code}")
            gc.collect()
            rss_growth = rss_mb() - (baseline_rss or rss_mb())

            # Quiescent now: no SSH channel may be left open (probes finish within their timeout).
            transport: Any = cluster.runtime.ssh
            with contextlib.suppress(AssertionError):
                await wait_until(lambda: transport.open_channels() == 0, "SSH channels to close", 5)
            leaked_channels = transport.open_channels()

            overrides = yaml.safe_load(Path(config.models.overrides_file).read_text())
            stored_keys = {m["key"] for m in overrides.get("models", [])}
            lost = [k for k in soak.added_models if k not in stored_keys]
            if overrides["knobs"].get("qwen3-coder-30b") != soak.last_knobs:
                soak.violation("the overrides file lost the last knob edit")
            edited = cluster.runtime.catalog().get("qwen3-coder-30b")
            if edited is None or edited.knobs.max_model_len != soak.last_knobs["max_model_len"]:
                soak.violation("the published catalog lost the last knob edit")
        leaked_connections = tcp_connections_to(ports)
    await asyncio.sleep(0)
    leaked_tasks = [
        t
        for t in asyncio.all_tasks() - tasks_before
        if t is not asyncio.current_task() and not t.done()
    ]

    faults = sum(v for k, v in soak.stats.items() if k.startswith("fault "))
    figures = {
        "swaps": SWAPS,
        "seed": SEED,
        "minutes": round(elapsed / 60, 1),
        "faults injected": faults,
        "outcomes": {k[5:]: v for k, v in sorted(soak.stats.items()) if k.startswith("swap ")},
        "faults by kind": {
            k[6:]: v for k, v in sorted(soak.stats.items()) if k.startswith("fault ")
        },
        "max real swaps running at once": soak.max_running,
        "invariant violations": len(soak.violations),
        f"RSS growth after {WARM_UP_SWAPS} warm-up swaps (MB)": round(rss_growth, 1),
        "RSS every 20 swaps (MB)": rss_samples,
        "leaked asyncio tasks": len(leaked_tasks),
        "leaked SSH channels": leaked_channels,
        "leaked upstream/SSH connections": leaked_connections,
        "user models lost from the overrides file": len(lost),
        "proxy answers": {
            k[6:]: v for k, v in sorted(soak.stats.items()) if k.startswith("proxy ")
        },
        "lock answers": {k[5:]: v for k, v in sorted(soak.stats.items()) if k.startswith("lock ")},
        "swaps retried after 423 (lock held by a churner)": soak.stats["locked retries"],
        "SSE events read / resyncs": f"{soak.stats['sse events']} / {soak.stats['sse resync']}",
    }
    report_path("SOAK.md").write_text(
        "# Soak\n\nGenerated by `tests/reliability/test_soak.py` (part of `make test`).\n\n"
        + "\n".join(f"- **{k}**: {v}" for k, v in figures.items())
        + (
            "\n\nViolations:\n" + "\n".join(f"- {v}" for v in soak.violations[:50])
            if soak.violations
            else ""
        )
        + "\n",
        encoding="utf-8",
    )
    print(figures)
    assert soak.violations == [], soak.violations[:20]
    assert soak.max_running <= 1
    assert rss_growth <= 10, figures
    assert leaked_tasks == [], leaked_tasks
    assert leaked_channels == 0
    assert leaked_connections == 0
    assert lost == []
