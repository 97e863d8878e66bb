"""Probes: is a service answering, is a Spark reachable and what are its GPU figures.

Every probe takes its collaborators (an ``httpx.AsyncClient``, an ``SshTransport``) and a
``timeout`` in seconds, and the whole probe — connect, every request, every command — is
bounded by it. A probe never raises for a target that is down, slow or wrong: it returns what
it found, with a client-safe sentence in ``detail``. Cancellation propagates.

* ``kind: vllm`` services go through :func:`app.services.vllm.probe_vllm_endpoint`, the one
  probe shared by the swapped cluster model and every vLLM monitor.
* Other kinds get ``GET <url><health_path>``: up when it answers 2xx or 3xx.
* A Spark is probed with ``nvidia-smi`` over SSH: answering at all makes it reachable; the
  parsed figures are its GPU reading.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import msgspec

from app.cluster import commands as cmd
from app.cluster.gpu import GpuSample, parse_gpu_csv
from app.cluster.ssh import CommandTimeout, SshError, SshTransport, Unreachable
from app.services.http_failure import describe_http_failure
from app.services.registry import Service
from app.services.vllm import probe_vllm_endpoint


class ServiceProbe(msgspec.Struct, frozen=True):
    """One look at a service. ``models``: what a vLLM serves (empty for other kinds)."""

    up: bool
    latency_ms: float | None
    detail: str
    models: tuple[str, ...] = ()


class SparkProbe(msgspec.Struct, frozen=True):
    """One look at a Spark. ``gpu``: its reading, folded over its GPUs (a GB10 has one)."""

    reachable: bool
    gpu: GpuSample | None
    detail: str
    latency_ms: float | None = None


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


async def probe_http(client: httpx.AsyncClient, url: str, *, timeout: float) -> ServiceProbe:
    """``GET url``: up on 2xx/3xx (redirects are not followed), down otherwise."""
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout):
            response = await client.get(url, timeout=timeout, follow_redirects=False)
    except TimeoutError:
        return ServiceProbe(False, None, f"no answer within {timeout:g} s")
    except httpx.HTTPError as err:
        return ServiceProbe(False, None, describe_http_failure(err, timeout))
    latency = _ms_since(started)
    if response.status_code < 400:
        return ServiceProbe(True, latency, f"healthy (HTTP {response.status_code})")
    return ServiceProbe(False, latency, f"the health check answered HTTP {response.status_code}")


async def probe_service(
    client: httpx.AsyncClient, service: Service, *, timeout: float
) -> ServiceProbe:
    """Probe one service the way its kind asks for. Does not look at ``service.disabled``:
    callers never probe a disabled service."""
    if service.url is None:
        where = f"Spark {service.node!r}" if service.node else "its Spark"
        return ServiceProbe(False, None, f"no address: {where} is not configured")
    if service.kind == "vllm":
        try:
            async with asyncio.timeout(timeout):
                found = await probe_vllm_endpoint(client, service.url, timeout=timeout)
        except TimeoutError:
            return ServiceProbe(False, None, f"no answer within {timeout:g} s")
        latency = round(found.latency_ms, 1) if found.latency_ms is not None else None
        return ServiceProbe(found.up, latency, found.detail, found.models)
    return await probe_http(client, service.url + service.health_path, timeout=timeout)


def fold_gpus(samples: list[GpuSample]) -> GpuSample | None:
    """Fold one Spark's per-GPU samples into one reading (None when there are none):
    memory and power add up, utilisation is the mean, temperature the hottest GPU."""
    if not samples:
        return None

    def values(field: str) -> list[float]:
        return [v for s in samples if (v := getattr(s, field)) is not None]

    def total(field: str) -> float | None:
        found = values(field)
        return round(sum(found), 1) if found else None

    util = values("utilization_pct")
    temps = values("temperature_c")
    return GpuSample(
        name=samples[0].name,
        utilization_pct=round(sum(util) / len(util), 1) if util else None,
        memory_used_mib=total("memory_used_mib"),
        memory_total_mib=total("memory_total_mib"),
        temperature_c=max(temps) if temps else None,
        power_w=total("power_w"),
    )


async def probe_spark(ssh: SshTransport, node: str, *, timeout: float) -> SparkProbe:
    """Run ``nvidia-smi`` on ``node`` over SSH within ``timeout`` seconds (connecting
    included). A Spark that answered is reachable even when nvidia-smi fails."""
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout):
            result = await ssh.run(node, cmd.render(cmd.gpu_query()), timeout=timeout)
    except TimeoutError:
        return SparkProbe(False, None, f"{node} did not answer over SSH within {timeout:g} s.")
    except CommandTimeout:
        return SparkProbe(True, None, f"nvidia-smi on {node} did not finish within {timeout:g} s.")
    except Unreachable as err:
        return SparkProbe(False, None, err.message)
    except SshError as err:
        return SparkProbe(False, None, err.message)
    latency = _ms_since(started)
    if not result.ok:
        tail = result.tail(2)
        return SparkProbe(
            True,
            None,
            f"nvidia-smi on {node} failed (exit status {result.exit_status})"
            + (f": {tail}" if tail else "."),
            latency,
        )
    figures = fold_gpus(parse_gpu_csv(result.stdout))
    if figures is None:
        return SparkProbe(True, None, f"nvidia-smi on {node} reported no GPU.", latency)
    return SparkProbe(True, figures, "reachable", latency)
