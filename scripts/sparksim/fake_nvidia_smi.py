"""The fake ``nvidia-smi`` on a simulated Spark's PATH: one NVIDIA GB10 with plausible figures.

* ``--query-gpu=<fields> --format=csv[,noheader][,nounits]``: fields in the order asked, among
  name, index, uuid, utilization.gpu, utilization.memory, memory.used, memory.total,
  memory.free, temperature.gpu, power.draw, power.limit, driver_version, pstate, count.
  An unknown field exits 2 like the real tool.
* ``--query-compute-apps=pid,used_memory[,process_name] --format=csv…``: the engine, if loaded.
* ``-L``: ``GPU 0: NVIDIA GB10 (UUID: GPU-…)``; no arguments: a short summary table.

Figures: 122880 MiB total; idle ~1500 MiB used, ~6 % util, ~38 °C, ~12 W; while a container
runs on this node (or for ``gpu_residual`` seconds after it stopped) ~90 GB used, ~45 °C,
~35 W; utilisation rises to 85-97 % while the head's fake vLLM has requests in flight (asked
over HTTP at ``/sim/stats``, so the benchmarked request path pays nothing for it).

Stdlib only: started as ``python -S -m scripts.sparksim.fake_nvidia_smi``.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys

from scripts.sparksim import containers
from scripts.sparksim.layout import NodePaths, SimPaths, sim_from_env

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing slows every fake command
if TYPE_CHECKING:
    from typing import Any

TOTAL_MIB = 122880
_UNITS = {
    "utilization.gpu": "%",
    "utilization.memory": "%",
    "memory.used": "MiB",
    "memory.total": "MiB",
    "memory.free": "MiB",
    "power.draw": "W",
    "power.limit": "W",
    "used_memory": "MiB",
}


def _active_requests(paths: SimPaths, node: NodePaths) -> int:
    """Requests in flight on the cluster's fake vLLM (0 when none runs or it does not answer)."""
    running = [r for r in containers.all_records(node) if containers.is_running(r)]
    if not running:
        return 0
    head = containers.load(paths.node(running[0]["cluster"][0]), running[0]["name"]) or {}
    api = head.get("vllm")
    if not api:
        return 0
    import http.client  # only when a model is loaded: it costs ~40 ms of start-up

    conn = http.client.HTTPConnection(api["host"], api["port"], timeout=0.3)
    try:
        conn.request("GET", "/sim/stats")
        return int(json.loads(conn.getresponse().read()).get("active_requests", 0))
    except (OSError, ValueError, http.client.HTTPException):
        return 0
    finally:
        conn.close()


def _jitter(span: int) -> int:
    """A small random integer in [-span, span] (os.urandom: the random module is slow to import)."""
    return int.from_bytes(os.urandom(2), "big") % (2 * span + 1) - span


def _readings(paths: SimPaths, node: NodePaths) -> dict[str, Any]:
    """Every queryable field's value, as nvidia-smi prints it without units."""
    used, loaded = containers.gpu_used_mib(node)
    active = _active_requests(paths, node) if loaded else 0
    if active:
        util, temp, power = min(97, 85 + 4 * active), 52, 48.0
    elif loaded:
        util, temp, power = 2, 45, 35.0
    else:
        util, temp, power = 6, 38, 12.0
    uuid = hashlib.sha256(f"{paths.root}/{node.name}".encode()).hexdigest()
    return {
        "name": "NVIDIA GB10",
        "index": 0,
        "count": 1,
        "uuid": f"GPU-{uuid[:8]}-{uuid[8:12]}-{uuid[12:16]}-{uuid[16:20]}-{uuid[20:32]}",
        "utilization.gpu": max(0, util + _jitter(1)),
        "utilization.memory": max(0, util // 2),
        "memory.used": used + _jitter(40),
        "memory.total": TOTAL_MIB,
        "memory.free": TOTAL_MIB - used,
        "temperature.gpu": temp + _jitter(1),
        "power.draw": f"{power + _jitter(60) / 100:.2f}",
        "power.limit": "140.00",
        "driver_version": "580.95.05",
        "pstate": "P0" if loaded else "P8",
    }


def _csv(rows: list[list[Any]], fields: list[str], fmt: set[str]) -> list[str]:
    with_units = "nounits" not in fmt
    lines = []
    if "noheader" not in fmt:
        lines.append(", ".join(f"{f} [{_UNITS[f]}]" if f in _UNITS else f for f in fields))
    for row in rows:
        cells = [
            f"{v} {_UNITS[f]}" if with_units and f in _UNITS else str(v)
            for f, v in zip(fields, row, strict=True)
        ]
        lines.append(", ".join(cells))
    return lines


def _options(args: list[str]) -> dict[str, str]:
    """``--opt=value`` and ``--opt value`` pairs; flags map to ''."""
    options: dict[str, str] = {}
    i = 0
    while i < len(args):
        name, has_value, value = args[i].partition("=")
        if (
            not has_value
            and name.startswith("--")
            and i + 1 < len(args)
            and not args[i + 1].startswith("-")
        ):
            value, i = args[i + 1], i + 1
        options[name] = value
        i += 1
    return options


def main(argv: list[str] | None = None) -> int:
    """Print what nvidia-smi would; returns its exit status."""
    args = sys.argv[1:] if argv is None else argv
    paths, node = sim_from_env()
    readings = _readings(paths, node)
    options = _options(args)
    fmt = set(options.get("--format", "csv").split(","))
    if "-L" in options or "--list-gpus" in options:
        print(f"GPU 0: {readings['name']} (UUID: {readings['uuid']})")
        return 0
    if "--query-gpu" in options:
        fields = [f.strip() for f in options["--query-gpu"].split(",") if f.strip()]
        for field in fields:
            if field not in readings:
                print(f'Field "{field}" is not a valid field to query.\n')
                return 2
        for line in _csv([[readings[f] for f in fields]], fields, fmt):
            print(line)
        return 0
    if "--query-compute-apps" in options:
        fields = [f.strip() for f in options["--query-compute-apps"].split(",") if f.strip()]
        apps = []
        for record in containers.all_records(node):
            if containers.is_running(record):
                pid = (record.get("vllm") or {}).get("pid", 4242)
                apps.append(
                    {"pid": pid, "used_memory": record["gpu_mib"], "process_name": "VLLM::Worker"}
                )
        for field in fields:
            if field not in ("pid", "used_memory", "process_name", "name"):
                print(f'Field "{field}" is not a valid field to query.\n')
                return 2
        rows = [[app.get(f, app["process_name"]) for f in fields] for app in apps]
        for line in _csv(rows, fields, fmt):
            print(line)
        return 0
    print(
        "+-----------------------------------------------------------------------------+\n"
        f"| NVIDIA-SMI {readings['driver_version']}   Driver Version: {readings['driver_version']}"
        "   CUDA Version: 13.0 |\n"
        f"| GPU 0  {readings['name']}   {readings['temperature.gpu']}C  {readings['pstate']}  "
        f"{readings['power.draw']}W  {readings['memory.used']}MiB / {TOTAL_MIB}MiB  "
        f"{readings['utilization.gpu']}% |\n"
        "+-----------------------------------------------------------------------------+"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
