"""An injection corpus through every user-controlled field that can reach a shell on a Spark.

Each value is either refused by validation (400, or a config fallback) before it goes near a
shell, or it reaches the simulated Spark as one literal argument: the recorded container
command equals the value byte for byte, and no marker file appears.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

from app.config import parse_config
from tests.cluster import ClusterHarness

MARKER = Path("/tmp/spark-control-injected")
CORPUS = [
    f"; touch {MARKER}",
    f"$(touch {MARKER})",
    f"`touch {MARKER}`",
    f"' ; touch {MARKER} ; '",
    f'" ; touch {MARKER} ; "',
    f"&& touch {MARKER}",
    f"| tee {MARKER}",
    "a b",
    "line\nbreak",
    "-rf",
    "--help",
    "../../etc/passwd",
    "${IFS}",
    "x\x00y",
]
# Values extra_args accepts (a flag, or a plain value after one) that a shell would act on.
LITERAL_EXTRA_ARGS = [
    f"--chat-template=$(touch${{IFS}}{MARKER})",
    f"--x=`touch${{IFS}}{MARKER}`",
    f"--y=';touch${{IFS}}{MARKER};'",
    f"plain;touch${{IFS}}{MARKER}",
    "$HOME",
    "*",
]


def nothing_ran() -> None:
    assert not MARKER.exists(), "an injected command ran"


async def test_model_fields_refused_or_literal(cluster: ClusterHarness) -> None:
    post = cluster.client.post
    for value in CORPUS:
        assert (await post("/api/models", json={"key": value, "repo": "a/b"})).status_code == 400
        assert (await post("/api/models", json={"key": "k", "repo": value})).status_code == 400
        assert (
            await post("/api/models", json={"key": "k", "local_path": value})
        ).status_code == 400
        assert (
            await post("/api/models", json={"key": "k", "local_path": f"/models/{value}"})
        ).status_code == 400
        for knob in ("served_model_name", "quantization", "dtype"):
            r = await cluster.client.put("/api/models/gemma-3-27b/knobs", json={knob: value})
            assert r.status_code == 400, (knob, value)
        assert (await post("/api/swap", json={"model_key": value})).status_code in (400, 404)
        r = await cluster.client.get("/api/logs/vllm", params={"node": value})
        assert r.status_code in (400, 404), value
        path = quote(value, safe="")  # percent-encoded, as a browser or SDK would send it
        assert (await post(f"/api/swap/{path}/validate")).status_code in (400, 404)
    # none of it was ever sent to a Spark
    sent = "\n".join(cluster.commands())
    for value in CORPUS:
        if len(value) > 3:
            assert value not in sent
    nothing_ran()


async def test_extra_args_arrive_as_literal_arguments(cluster: ClusterHarness) -> None:
    r = await cluster.client.put(
        "/api/models/gemma-3-27b/knobs", json={"extra_args": LITERAL_EXTRA_ARGS}
    )
    assert r.status_code == 200, r.text
    done = await cluster.swap_and_wait("gemma-3-27b")
    # vLLM knows --chat-template and refuses the rest, quoting them as it received them: the
    # strongest proof that they arrived as literal arguments, unexpanded.
    assert done["state"] == "failed", done
    assert done["error"] == (
        "vLLM refused the launch: unrecognized arguments: " + " ".join(LITERAL_EXTRA_ARGS[1:])
    )
    record: dict[str, Any] = json.loads(
        (cluster.sim.node("spark1").paths.containers / "vllm_node.json").read_text()
    )
    assert record["command"][-len(LITERAL_EXTRA_ARGS) :] == LITERAL_EXTRA_ARGS
    nothing_ran()


async def test_local_path_checks_quote_the_path(cluster: ClusterHarness) -> None:
    root = Path(cluster.sim.config_dict()["models"]["local_roots"][0])
    weird = root / "-rf"  # a leading dash would be an option to an unguarded realpath/test
    weird.mkdir()
    (weird / "config.json").write_text("{}")
    r = await cluster.client.post("/api/models", json={"key": "dash", "local_path": str(weird)})
    assert r.status_code == 201, r.text
    assert any(c.startswith("realpath -e -- ") for c in cluster.sim.node("spark1").commands)
    nothing_ran()


def test_config_names_fall_back_instead_of_reaching_a_shell() -> None:
    for value in CORPUS:
        config = parse_config(
            {"vllm": {"container": value, "image": value, "launch_dir": value}}, {}
        )
        assert config.vllm.container == "vllm_node"
        assert config.vllm.image == "vllm-node"
        assert (
            config.vllm.launch_dir in ("~/spark-vllm-docker", value)
            and "\n" not in config.vllm.launch_dir
        )
        assert "\x00" not in config.vllm.launch_dir
