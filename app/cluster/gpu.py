"""Parsing ``nvidia-smi --query-gpu=… --format=csv,noheader,nounits`` into GPU figures.

GB10 reports some fields as ``[N/A]`` or ``[Not Supported]`` (its memory is unified): those
become ``None`` rather than errors.
"""

from __future__ import annotations

import msgspec

from app.cluster.commands import GPU_FIELDS


class GpuSample(msgspec.Struct, frozen=True):
    name: str | None
    utilization_pct: float | None
    memory_used_mib: float | None
    memory_total_mib: float | None
    temperature_c: float | None
    power_w: float | None


def _number(text: str) -> float | None:
    text = text.strip()
    if not text or text.startswith("["):
        return None
    try:
        return float(text)
    except ValueError:
        return None


def parse_gpu_csv(output: str) -> list[GpuSample]:
    """One sample per GPU line, fields in :data:`GPU_FIELDS` order; malformed lines skipped."""
    samples = []
    for line in output.splitlines():
        cells = [cell.strip() for cell in line.split(",")]
        if len(cells) != len(GPU_FIELDS):
            continue
        name, util, used, total, temp, power = cells
        samples.append(
            GpuSample(
                name=name or None,
                utilization_pct=_number(util),
                memory_used_mib=_number(used),
                memory_total_mib=_number(total),
                temperature_c=_number(temp),
                power_w=_number(power),
            )
        )
    return samples
