"""Model definitions refuse what must never reach a launch command."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from app.catalog.models import Knobs, ModelDef, hf_cache_dir
from app.catalog.store import CatalogError, load_base_catalog, make_catalog, parse_catalog


def decode(data: dict[str, Any]) -> ModelDef:
    return msgspec.convert(data, ModelDef)


def test_bundled_catalog_loads_with_repo_models() -> None:
    models = load_base_catalog("")
    assert len(models) >= 3
    assert all(m.repo and not m.local for m in models)


@pytest.mark.parametrize(
    "data",
    [
        {"key": "a", "repo": "org/x", "local_path": "/models/x"},
        {"key": "a"},
        {"key": "A-upper", "repo": "org/x"},
        {"key": "a;b", "repo": "org/x"},
        {"key": "a", "repo": "org/x; rm -rf /"},
        {"key": "a", "repo": "no-slash"},
        {"key": "a", "local_path": "relative/path"},
        {"key": "a", "local_path": "/models/../etc"},
        {"key": "a", "local_path": "/models//x"},
        {"key": "a", "local_path": "/models/with space"},
        {"key": "a", "local_path": "/models/$(x)"},
        {"key": "a", "local_path": "/models/a:b"},
        {"key": "a", "local_path": "/"},
        {"key": "a", "repo": "org/x", "knobs": {"served_model_name": "bad name"}},
        {"key": "a", "repo": "org/x", "knobs": {"tensor_parallel_size": 9}},
        {"key": "a", "repo": "org/x", "knobs": {"gpu_memory_utilization": 0}},
        {"key": "a", "repo": "org/x", "knobs": {"extra_args": ["--port=1"]}},
        {"key": "a", "repo": "org/x", "knobs": {"extra_args": ["-x;y z"]}},
        {"key": "a", "repo": "org/x", "knobs": {"dtype": "int3"}},
        {"key": "a", "repo": "org/x", "knobs": {"unknown": 1}},
    ],
)
def test_invalid_models_are_refused(data: dict[str, Any]) -> None:
    with pytest.raises(msgspec.ValidationError):
        decode(data)


def test_knob_flags_in_order() -> None:
    knobs = Knobs(
        tensor_parallel_size=2,
        max_model_len=4096,
        gpu_memory_utilization=0.9,
        dtype="bfloat16",
        quantization="fp8",
        extra_args=("--max-num-seqs", "8", "--enable-prefix-caching"),
    )
    assert knobs.vllm_flags() == (
        "--tensor-parallel-size", "2", "--max-model-len", "4096", "--gpu-memory-utilization", "0.9",
        "--dtype", "bfloat16", "--quantization", "fp8", "--max-num-seqs", "8", "--enable-prefix-caching",
    )  # fmt: skip


def test_served_name_defaults_to_key() -> None:
    assert decode({"key": "m", "repo": "o/m"}).served_name == "m"
    assert (
        decode({"key": "m", "repo": "o/m", "knobs": {"served_model_name": "o/m:v2"}}).served_name
        == "o/m:v2"
    )


def test_hf_cache_dir() -> None:
    assert hf_cache_dir("google/gemma-3-27b-it") == "models--google--gemma-3-27b-it"


def test_catalog_duplicate_keys_refused() -> None:
    with pytest.raises(CatalogError, match="duplicate"):
        parse_catalog("models:\n  - {key: a, repo: o/a}\n  - {key: a, repo: o/b}\n", "x")


def test_user_entries_replace_and_extend() -> None:
    base = (decode({"key": "a", "repo": "o/a"}),)
    user = (
        decode({"key": "a", "repo": "o/a", "knobs": {"max_model_len": 5}}),
        decode({"key": "b", "local_path": "/m/b"}),
    )
    catalog = make_catalog(base, user)
    assert [m.key for m in catalog.models] == ["a", "b"]
    assert catalog.source("a") == "catalog" and catalog.source("b") == "user"
    a = catalog.get("a")
    assert a is not None and a.knobs.max_model_len == 5
