"""Cross-cutting HTTP rules: same-origin guard, body limits, health, OpenAPI, allowed hosts."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx

from tests.servers import SparkApp


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_cross_site_post_is_403(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/api/swap/lock", json={"holder": "a"}, headers={"Origin": "http://evil.example"}
    )
    assert r.status_code == 403
    assert r.json() == {"detail": "Cross-site requests are not allowed."}
    assert (await client.get("/api/swap/lock")).json() == {"held": False}


async def test_sec_fetch_site_cross_site_is_403(client: httpx.AsyncClient) -> None:
    r = await client.delete(
        "/api/swap/lock", params={"force": "true"}, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert r.status_code == 403


async def test_cross_site_writes_to_the_proxy_are_403_too(client: httpx.AsyncClient) -> None:
    """The proxy's paths skip the router, not the guards: a page on another site cannot spend
    the cluster's GPUs through a visitor's browser."""
    for path in ("/v1/chat/completions", "/v1/chat/completions/", "/v1/embeddings"):
        r = await client.post(
            path, json={"model": "m", "messages": []}, headers={"Origin": "http://evil.example"}
        )
        assert r.status_code == 403, path
        assert r.json() == {"detail": "Cross-site requests are not allowed."}


async def test_null_origin_is_403(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/schedule", json={"name": "x"}, headers={"Origin": "null"})
    assert r.status_code == 403


async def test_request_without_origin_passes(client: httpx.AsyncClient) -> None:
    assert (await client.post("/api/schedule", json={"name": "cron job"})).status_code == 200


async def test_same_origin_passes(client: httpx.AsyncClient) -> None:
    origin = str(client.base_url).rstrip("/")
    r = await client.post(
        "/api/schedule",
        json={"name": "from the page"},
        headers={"Origin": origin, "Sec-Fetch-Site": "same-origin"},
    )
    assert r.status_code == 200


async def test_behind_a_reverse_proxy(client: httpx.AsyncClient) -> None:
    # The browser says same-origin; Host names the backend the proxy forwarded to.
    r = await client.post(
        "/api/schedule",
        json={"name": "via proxy"},
        headers={"Origin": "https://spark.local", "Sec-Fetch-Site": "same-origin"},
    )
    assert r.status_code == 200
    # Older browsers without Sec-Fetch-*: the proxy's X-Forwarded-Host is compared instead.
    r = await client.post(
        "/api/schedule",
        json={"name": "via proxy"},
        headers={"Origin": "https://spark.local", "X-Forwarded-Host": "spark.local"},
    )
    assert r.status_code == 200
    r = await client.post(
        "/api/schedule",
        json={"name": "x"},
        headers={"Origin": "https://evil.example", "X-Forwarded-Host": "spark.local"},
    )
    assert r.status_code == 403


async def test_same_host_other_port_is_cross_origin(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/api/schedule", json={"name": "x"}, headers={"Origin": "http://127.0.0.1:1"}
    )
    assert r.status_code == 403


async def test_cross_site_get_is_allowed(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/swap/lock", headers={"Origin": "http://evil.example"})
    assert r.status_code == 200


async def test_body_over_one_mib_is_413(client: httpx.AsyncClient) -> None:
    big = b'{"name": "' + b"x" * (1024 * 1024) + b'"}'
    r = await client.post(
        "/api/schedule", content=big, headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 413
    assert "too large" in r.json()["detail"]


async def test_health(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    assert body["version"]


async def test_openapi_lists_every_api_route(client: httpx.AsyncClient) -> None:
    r = await client.get("/openapi.json")
    assert r.status_code == 200
    paths = r.json()["paths"]
    for path in [
        "/api/health",
        "/api/swap/lock",
        "/api/schedule",
        "/api/schedule/{schedule_id}",
        "/api/status",
    ]:
        assert path in paths, path


async def test_unknown_route_is_404_json(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/nope")
    assert r.status_code == 404
    assert "detail" in r.json()


async def test_allowed_hosts_refuses_other_host_header(spark_app: SparkApp) -> None:
    async with spark_app({"server": {"allowed_hosts": ["spark-control.local"]}}) as c:
        r = await c.get("/api/health", headers={"Host": "attacker.example"})
        assert r.status_code == 421 and "server.allowed_hosts" in r.json()["detail"]
        r = await c.get("/api/health", headers={"Host": "spark-control.local"})
        assert r.status_code == 200


async def test_status_without_config_says_no_sparks(client: httpx.AsyncClient) -> None:
    body = (await client.get("/api/status")).json()
    assert body["configured"] is False
    assert body["sparks"] == []
    assert "no Sparks configured — run the Configure Sparks action" in body["warnings"]


async def test_status_shows_config_warnings(spark_app: SparkApp, tmp_path: Path) -> None:
    config = {
        # loopback on a port nobody serves: the background probes may only ever touch loopback
        "sparks": [{"name": "spark1", "host": "127.0.0.1", "ssh_port": free_port()}],
        "ssh": {
            "key_file": str(tmp_path / "id_ed25519"),
            "known_hosts": str(tmp_path / "known_hosts"),
        },
        "vllm": {"port": "", "container": "a;b"},
    }
    async with spark_app(config) as c:
        body = (await c.get("/api/status")).json()
        assert body["configured"] is True
        assert body["sparks"][0]["name"] == "spark1"
        assert body["sparks"][0]["role"] == "head"
        assert any("vllm.port" in w and "8888" in w for w in body["warnings"])
        assert any("vllm.container" in w and "vllm_node" in w for w in body["warnings"])


async def test_options_lists_every_method_of_the_path(client: httpx.AsyncClient) -> None:
    for path, methods in [
        ("/api/swap/lock", {"GET", "POST", "DELETE", "OPTIONS"}),
        ("/api/swap", {"GET", "POST", "OPTIONS"}),
        ("/api/schedule", {"GET", "POST", "OPTIONS"}),
        ("/api/models", {"GET", "POST", "OPTIONS"}),
    ]:
        r = await client.options(path)
        assert r.status_code == 204
        assert {m.strip() for m in r.headers["allow"].split(",")} == methods, path


async def test_first_start_creates_the_ssh_key_pair(spark_app: SparkApp, tmp_path: Path) -> None:
    key = tmp_path / "ssh" / "id_ed25519"
    config = {
        "sparks": [{"name": "spark1", "host": "127.0.0.1", "ssh_port": free_port()}],
        "ssh": {"key_file": str(key), "known_hosts": str(tmp_path / "ssh" / "known_hosts")},
    }
    async with spark_app(config):
        assert key.exists() and (key.stat().st_mode & 0o777) == 0o600
        assert (tmp_path / "ssh" / "id_ed25519.pub").read_text().startswith("ssh-ed25519 ")
