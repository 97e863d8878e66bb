"""The controller config a Spark simulator hands out, and the atomic YAML writes it makes.

:func:`build_config` gives a CONFIG.md-shaped mapping pointing at the simulated nodes, the
client key, a not-yet-existing known_hosts file, the fake vLLM's port on the head, the fake
Hugging Face hub and the local model root ``<root>/models``; the services and models
overrides files live in the simulator's root. :func:`write_yaml` writes a mapping so that a
reader never sees half a file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from scripts.sparksim.layout import SimPaths


def build_config(
    root: Path,
    paths: SimPaths,
    nodes: list[tuple[str, str, int, str]],
    *,
    vllm_port: int,
    load_time: float,
    hub_url: str,
    catalog: Path | None,
    cluster_addresses: list[str | None] | None = None,
) -> dict[str, Any]:
    """The config for ``nodes`` given as ``(name, host, ssh_port, ssh_user)``; the load
    timeout is ten times ``load_time`` (at least 60 s). ``cluster_addresses`` (one per node,
    None for none) become the Sparks' ``cluster_address``."""
    links = cluster_addresses or [None] * len(nodes)
    return {
        "sparks": [
            {
                "name": name,
                "host": host,
                "ssh_port": port,
                "ssh_user": user,
                **({"cluster_address": link} if link else {}),
            }
            for (name, host, port, user), link in zip(nodes, links, strict=True)
        ],
        "ssh": {
            "key_file": str(paths.client_key),
            "known_hosts": str(paths.known_hosts),
        },
        "vllm": {
            "port": vllm_port,
            "container": "vllm_node",
            "image": "vllm-node",
            "launch_dir": "~/spark-vllm-docker",
            "hf_home": "~/.cache/huggingface",
            "load_timeout_s": max(60, int(load_time * 10)),
            "hf_endpoint": hub_url,
        },
        "services": {
            "disabled": [],
            "overrides_file": str(root / "services-overrides.yaml"),
        },
        "models": {
            "catalog_file": str(catalog) if catalog else "",
            "overrides_file": str(root / "models-overrides.yaml"),
            "local_roots": [str(paths.models)],
        },
        "storage": {"database": str(root / "spark-control.db")},
    }


def write_yaml(path: Path, data: dict[str, Any]) -> Path:
    """Write ``data`` as YAML (keys in insertion order) to ``path`` through a temporary file
    and a rename, creating the parent directory. Returns ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    tmp.replace(path)
    return path
