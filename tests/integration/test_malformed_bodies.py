"""Every malformed body is the client's error: a 400 with ``{"detail": "<sentence>"}`` on every
JSON endpoint, never a 500 and never a framework's own wording."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from app.catalog.models import ModelDef
from app.web.body import MAX_JSON_DEPTH, json_depth
from tests.cluster import ClusterHarness
from tests.integration.test_models_api import local_model_dir

JSON_ENDPOINTS = [
    ("POST", "/api/swap/lock"),
    ("POST", "/api/schedule"),
    ("POST", "/api/models"),
    ("POST", "/api/swap"),
    ("PUT", "/api/models/gemma-3-27b/knobs"),
]
MALFORMED = {
    "invalid UTF-8": (b'{"holder": "\xff\xfe", "name": "\xc3\x28"}', "not valid UTF-8"),
    "an array 1000 deep": (b"[" * 1000 + b"]" * 1000, f"deeper than {MAX_JSON_DEPTH} levels"),
    "an object 1000 deep": (
        b'{"a":' * 1000 + b"1" + b"}" * 1000,
        f"deeper than {MAX_JSON_DEPTH} levels",
    ),
    "an empty body": (b"", "The request body is empty; send a JSON object."),
    "truncated JSON": (b'{"holder": "x"', "not valid JSON"),
}


@pytest.mark.parametrize("case", list(MALFORMED))
@pytest.mark.parametrize(("method", "path"), JSON_ENDPOINTS)
async def test_malformed_body_is_400_with_detail(
    client: httpx.AsyncClient, method: str, path: str, case: str
) -> None:
    body, sentence = MALFORMED[case]
    r = await client.request(
        method, path, content=body, headers={"content-type": "application/json"}
    )
    assert r.status_code == 400, (case, r.status_code, r.text)
    assert list(r.json()) == ["detail"], r.text
    assert sentence in r.json()["detail"], r.text


async def test_nesting_up_to_the_cap_is_decoded(client: httpx.AsyncClient) -> None:
    """The cap refuses hostile depth only: a body at the cap reaches validation."""
    nested: Any = 1
    for _ in range(MAX_JSON_DEPTH - 1):
        nested = [nested]
    r = await client.post("/api/schedule", json={"name": "deep-but-fine", "x": nested})
    assert r.status_code == 200, r.text


def test_json_depth_ignores_brackets_inside_strings() -> None:
    assert json_depth(json.dumps({"a": "[[[{{{", "b": ['"]]]\\"']}).encode()) == 2
    assert json_depth(b"1") == 0
    assert json_depth(b"[[],[[]]]") == 3


async def test_schedule_ignores_unknown_fields(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/api/schedule",
        json={"id": "nightly", "name": "Nightly", "priority": 5, "tags": ["a"], "v2": {"x": 1}},
    )
    assert r.status_code == 200, r.text
    assert r.json()["id"] == "nightly" and "priority" not in r.json()


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/swap/lock", {"holder": "cron\n"}, "holder"),
        ("/api/swap/lock", {"holder": "cron\r\n"}, "holder"),
        ("/api/schedule", {"id": "nightly\n", "name": "Nightly"}, "id"),
    ],
)
async def test_a_name_ending_in_a_newline_is_400(
    client: httpx.AsyncClient, path: str, body: dict[str, str], field: str
) -> None:
    """Python's ``$`` matches before a final newline, so the patterns alone let these through."""
    r = await client.post(path, json=body)
    assert r.status_code == 400, r.text
    assert r.json()["detail"].startswith("Invalid request: ") and field in r.json()["detail"]
    assert (await client.get("/api/swap/lock")).json()["held"] is False
    assert (await client.get("/api/schedule")).json() == {"schedules": []}


@pytest.mark.parametrize("bad", [".", ".."])
async def test_schedule_dot_ids_are_400(client: httpx.AsyncClient, bad: str) -> None:
    r = await client.post("/api/schedule", json={"id": bad, "name": "A"})
    assert r.status_code == 400, r.text
    assert "id" in r.json()["detail"]
    assert (await client.get("/api/schedule")).json() == {"schedules": []}


async def test_schedule_ids_with_dots_inside_are_fine(client: httpx.AsyncClient) -> None:
    for ok in ["...", ".hidden", "v1.2", "a..b"]:
        r = await client.post("/api/schedule", json={"id": ok, "name": "A"})
        assert r.status_code == 200, (ok, r.text)


def test_local_path_trailing_slash_is_normalised_in_the_model() -> None:
    model = ModelDef(key="mine", local_path="/home/nvidia/models/mine/")
    assert model.local_path == "/home/nvidia/models/mine"


async def test_local_path_trailing_slash_is_stored_normalised(cluster: ClusterHarness) -> None:
    path = local_model_dir(cluster.sim, "slashy")
    r = await cluster.client.post("/api/models", json={"key": "slashy", "local_path": f"{path}/"})
    assert r.status_code == 201, r.text
    assert r.json()["local_path"] == str(path)
    listed = (await cluster.client.get("/api/models")).json()["models"]
    assert [m["local_path"] for m in listed if m["key"] == "slashy"] == [str(path)]
    job = (await cluster.swap("slashy", dry_run=True)).json()
    launch = next(c["command"] for c in job["commands"] if "exec vllm serve" in c["command"])
    assert f"-v {path}:{path}:ro" in launch


WRONG_TYPES = [
    ("/api/swap", {"model_key": "gemma-3-27b", "dry_run": 0}, "dry_run: expected bool, got int"),
    (
        "/api/swap",
        {"model_key": "gemma-3-27b", "dry_run": "true"},
        "dry_run: expected bool, got str",
    ),
    (
        "/api/swap/lock",
        {"holder": "ci", "ttl_seconds": "60"},
        "ttl_seconds: expected int | null, got str",
    ),
    (
        "/api/swap/lock",
        {"holder": "ci", "ttl_seconds": 1.5},
        "ttl_seconds: expected int | null, got float",
    ),
    ("/api/swap/lock", {"holder": 7}, "holder: expected str, got int"),
]


@pytest.mark.parametrize(("path", "body", "sentence"), WRONG_TYPES)
async def test_values_of_the_wrong_json_type_are_400_not_coerced(
    client: httpx.AsyncClient, path: str, body: dict[str, Any], sentence: str
) -> None:
    """The schema promises JSON types: ``0`` is not ``false`` and ``"60"`` not 60 (the
    framework alone would coerce them, and a dry run sent as ``0`` would become a real swap)."""
    r = await client.post(path, json=body)
    assert r.status_code == 400, r.text
    assert r.json() == {"detail": f"Invalid request: {sentence}"}
    assert (await client.get("/api/swap/lock")).json()["held"] is False
