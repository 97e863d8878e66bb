"""The real-vLLM tier: Spark Control swaps against the real vLLM (the CPU build from PyPI)
serving tiny random Llamas, launched through the Spark simulator with ``--vllm-cmd``.

Skips, with the reason, only when the real vLLM could not be installed on this machine.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from scripts import realvllm
from scripts.sparksim import SparkSim
from tests.cluster import FAST, ClusterHarness, running_app, sim_config

REAL = msgspec.structs.replace(FAST, exit_poll_s=0.5)


def pytest_collection_modifyitems(config: Any, items: list[pytest.Item]) -> None:
    reason = realvllm.unavailable()
    if reason is None:
        return
    for item in items:
        if "tests/realvllm" in str(item.fspath):
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return realvllm.make_tiny_models(tmp_path_factory.mktemp("tiny-models"))


def catalog(path: Path, models: dict[str, Path]) -> Path:
    """The models the tier swaps to: one that loads and one per way vLLM refuses a launch."""
    base = {"served_model_name": "tiny", "dtype": "float32", "gpu_memory_utilization": 0.1}
    entries = [
        {"key": "tiny", "local_path": str(models["ok"]), "knobs": {**base, "max_model_len": 256}},
        {
            "key": "bad-flag",
            "local_path": str(models["ok"]),
            "knobs": {**base, "max_model_len": 256, "extra_args": ["--no-such-flag"]},
        },
        {
            "key": "too-long",
            "local_path": str(models["ok"]),
            "knobs": {**base, "max_model_len": 100000},
        },
        {
            "key": "bad-arch",
            "local_path": str(models["badarch"]),
            "knobs": {**base, "max_model_len": 256},
        },
        {
            "key": "broken",
            "local_path": str(models["broken"]),
            "knobs": {**base, "max_model_len": 256},
        },
    ]
    path.write_text(json.dumps({"models": entries}))  # JSON is YAML
    return path


@pytest.fixture
async def real_cluster(
    tmp_path: Path, tiny_models: dict[str, Path]
) -> AsyncIterator[ClusterHarness]:
    """Spark Control against one simulated Spark whose launches run the real vLLM."""
    models = tmp_path / "models"
    for model in tiny_models.values():
        shutil.copytree(model, models / model.name)
    local = {name: models / path.name for name, path in tiny_models.items()}
    async with SparkSim(tmp_path / "sim", nodes=1, vllm_cmd=realvllm.vllm_command()) as sim:
        config = sim_config(
            sim,
            vllm={"load_timeout_s": 900},
            models={
                "catalog_file": str(catalog(tmp_path / "catalog.yaml", local)),
                "local_roots": [str(models)],
            },
        )
        async with running_app(sim, config=config, timings=REAL) as cluster:
            yield cluster
