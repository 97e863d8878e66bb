"""Nothing unprintable reaches a shell: the API refuses control characters and NUL in every
string that can end up in a remote command (400 naming the field), the argv builder refuses
them again (the engine then fails the job in one sentence, with the cluster untouched), and a
local model's directory is resolved again on every node before each real swap."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from app.catalog.models import Knobs, ModelDef
from tests.cluster import ClusterHarness
from tests.integration.test_models_api import local_model_dir

CONTROLS = ["\u0000", "\x01", "\n", "\x1b", "\x7f", "\t"]
REPO = "google/gemma-3-27b-it"


@pytest.mark.parametrize("char", CONTROLS)
async def test_extra_args_with_control_chars_are_400(client: httpx.AsyncClient, char: str) -> None:
    for arg in [char, f"--x={char}", f"a{char}", f"--chat-template=t{char}"]:
        r = await client.post(
            "/api/models", json={"key": "m", "repo": REPO, "knobs": {"extra_args": ["--ok", arg]}}
        )
        assert r.status_code == 400, (arg, r.text)
        assert "extra_args[1]" in r.json()["detail"], r.text
        r = await client.put("/api/models/gemma-3-27b/knobs", json={"extra_args": [arg]})
        assert r.status_code == 400, (arg, r.text)
        assert "extra_args[0]" in r.json()["detail"], r.text


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"key": "m\n", "repo": REPO}, "key"),
        ({"key": "m", "repo": f"{REPO}\n"}, "repo"),
        ({"key": "m", "name": "Nice\x1b[31m", "repo": REPO}, "name"),
        (
            {"key": "m", "repo": REPO, "knobs": {"served_model_name": "org/m\n"}},
            "served_model_name",
        ),
        ({"key": "m", "repo": REPO, "knobs": {"quantization": "fp8\n"}}, "quantization"),
        ({"key": "m", "local_path": "/home/nvidia/models/m\n"}, "local_path"),
        ({"key": "m", "local_path": "/home/nvidia/models/m\x00"}, "local_path"),
    ],
)
async def test_every_field_that_reaches_a_command_refuses_control_chars(
    client: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    r = await client.post("/api/models", json=body)
    assert r.status_code == 400, r.text
    assert field in r.json()["detail"], r.text


def smuggled_model(key: str, arg: str) -> ModelDef:
    """A model whose knobs hold ``arg`` although validation would refuse it (as if a bug or an
    edited file let it through): what the argv builder must still stop."""
    knobs = Knobs()
    msgspec.structs.force_setattr(knobs, "extra_args", ("--trust-remote-code", arg))
    return ModelDef(key=key, repo=REPO, knobs=knobs)


async def test_the_engine_fails_a_smuggled_control_char_before_touching_anything(
    cluster: ClusterHarness,
) -> None:
    await cluster.runtime.catalog_manager.add(smuggled_model("smuggled", "\x00"))
    before = len(cluster.commands())
    done = await cluster.swap_and_wait("smuggled")
    assert done["state"] == "failed", done
    assert done["error"] == (
        "Refusing to run a command whose argument '\\x00' contains a control character."
    )
    assert not any("launch-cluster.sh" in c for c in cluster.commands()[before:])
    # The dry run and the validation report say the same, as a 400.
    r = await cluster.swap("smuggled", dry_run=True)
    assert r.status_code == 400 and "control character" in r.json()["detail"]
    assert cluster.runtime.engine.active is None
    done = await cluster.swap_and_wait("gemma-3-27b")
    assert done["state"] == "ready", done


async def test_local_path_is_resolved_again_before_each_swap(
    cluster: ClusterHarness, tmp_path: Path
) -> None:
    path = local_model_dir(cluster.sim, "swapped")
    r = await cluster.client.post("/api/models", json={"key": "swapped", "local_path": str(path)})
    assert r.status_code == 201, r.text
    # After the model was added, the directory is replaced by a symlink leading outside.
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "config.json").write_text("{}")
    shutil.rmtree(path)
    path.symlink_to(outside)

    report = (await cluster.client.post("/api/swap/swapped/validate")).json()
    checks = {c["name"]: c for c in report["checks"]}
    assert report["ok"] is False
    assert checks["local path spark1"]["ok"] is False
    assert "outside the model roots" in checks["local path spark1"]["detail"]

    before = len(cluster.commands())
    done = await cluster.swap_and_wait("swapped")
    assert done["state"] == "failed", done
    assert done["error"].startswith("Pre-flight check 'local path spark1' failed: spark1: ")
    assert "outside the model roots" in done["error"]
    assert not any("launch-cluster.sh" in c for c in cluster.commands()[before:])
