"""DNS rebinding: only known names are served (dashboard, proxy and every API route, reads
included), and X-Forwarded-Host counts only from a trusted proxy — never as a way around the
Host check. Includes a request shaped exactly as StartOS 0.4's reverse proxy sends it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from app.config import parse_config
from app.runtime import Runtime
from app.web import create_app
from tests.servers import serve

ROUTES = [
    ("GET", "/"),
    ("GET", "/static/app.css"),
    ("GET", "/api/status"),
    ("GET", "/api/models"),
    ("GET", "/api/swap/lock"),
    ("GET", "/api/events"),
    ("GET", "/v1/models"),
    ("POST", "/v1/chat/completions"),
    ("POST", "/api/swap/lock"),
    ("PUT", "/api/models/gemma-3-27b/knobs"),
    ("POST", "/api/swap"),
]


@asynccontextmanager
async def app_with(
    server: dict[str, Any] | None = None,
) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    app = create_app(Runtime(parse_config({"server": server or {}}, {})))
    async with serve(app) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
        yield client, app


def port_of(client: httpx.AsyncClient) -> int:
    return client.base_url.port or 80


@pytest.mark.parametrize(("method", "path"), ROUTES)
async def test_rebinding_page_is_refused_everywhere(method: str, path: str) -> None:
    async with app_with() as (client, _):
        evil = f"evil.example:{port_of(client)}"
        headers = {"Host": evil, "Origin": f"http://{evil}", "Sec-Fetch-Site": "same-origin"}
        body = {"holder": "attacker"} if method != "GET" else None
        r = await client.request(method, path, headers=headers, json=body)
        assert r.status_code == 421, (path, r.status_code, r.text[:200])
        assert r.json() == {
            "detail": "Spark Control is not served under the name "
            f"'{evil}'; add it to server.allowed_hosts to allow it."
        }
        lock = await client.get("/api/swap/lock")
        assert lock.json() == {"held": False}


ALLOWED_BY_DEFAULT = [
    "127.0.0.1", "192.168.1.20:9999", "[::1]:9999", "[fe80::1]", "localhost", "LOCALHOST:80",
    "spark-control.local", "Spark-Control.LOCAL:9999", "spark-control.local.", "abc.onion",
    "spark.lan", "spark.home.arpa", "spark.internal", "spark.tail1234.ts.net:443",
]  # fmt: skip
REFUSED_BY_DEFAULT = [
    "evil.example", "local", "evil-local", "localhost.evil.example", "spark.local.evil.example",
    "ts.net.evil.example", "onion", "1.2.3.4.evil.example", "spark-control", "",
]  # fmt: skip


async def test_default_names() -> None:
    async with app_with() as (client, _):
        for host in ALLOWED_BY_DEFAULT:
            r = await client.get("/api/status", headers={"Host": host})
            assert r.status_code == 200, (host, r.status_code)
        for host in REFUSED_BY_DEFAULT:
            r = await client.get("/api/status", headers={"Host": host})
            assert r.status_code == 421, (host, r.status_code)


async def test_allowed_hosts_ignore_port_and_case_and_take_wildcards() -> None:
    server = {"allowed_hosts": ["Spark.Example.org:9999", "*.corp.example"]}
    async with app_with(server) as (client, _):
        for host in [
            "spark.example.org",
            "SPARK.EXAMPLE.ORG:1234",
            "a.corp.example",
            "a.b.corp.example:8",
        ]:
            r = await client.get("/api/models", headers={"Host": host})
            assert r.status_code == 200, host
        for host in ["corp.example", "other.example.org", "evil.example", "xcorp.example"]:
            r = await client.get("/api/models", headers={"Host": host})
            assert r.status_code == 421, host
            assert "server.allowed_hosts" in r.json()["detail"]
        # The defaults still apply beside the configured names.
        assert (await client.get("/api/models", headers={"Host": "spark.local"})).status_code == 200


async def test_star_restores_serving_every_name() -> None:
    async with app_with({"allowed_hosts": ["*"]}) as (client, _):
        r = await client.get("/api/status", headers={"Host": "evil.example:1"})
        assert r.status_code == 200


async def test_forged_forwarded_host_from_an_untrusted_peer_is_ignored() -> None:
    """A rebinding page can set X-Forwarded-Host: from a peer that is not a trusted proxy it
    neither satisfies the same-origin check nor adds a name."""
    async with app_with({"trusted_proxies": ["10.0.3.1"]}) as (client, _):
        forged = {
            "Host": f"127.0.0.1:{port_of(client)}",
            "Origin": "http://evil.example",
            "X-Forwarded-Host": "evil.example",
        }
        r = await client.post("/api/swap/lock", json={"holder": "x"}, headers=forged)
        assert r.status_code == 403, r.text
        r = await client.get(
            "/api/status", headers={"Host": "evil.example", "X-Forwarded-Host": "spark.local"}
        )
        assert r.status_code == 421


async def test_forged_forwarded_host_cannot_pass_even_through_a_trusted_proxy() -> None:
    async with app_with() as (client, _):  # loopback is trusted by default
        r = await client.get(
            "/api/status", headers={"Host": "spark.local", "X-Forwarded-Host": "evil.example"}
        )
        assert r.status_code == 421
        assert "evil.example" in r.json()["detail"]


def startos_proxy_client(app: Any, peer: str = "10.0.3.1") -> httpx.AsyncClient:
    """A client whose requests reach the app exactly as from StartOS 0.4's reverse proxy: from
    the lxcbr0 gateway, Host as the browser sent it, X-Forwarded-Proto/-For added."""
    transport = httpx.ASGITransport(app=app, client=(peer, 51234))
    return httpx.AsyncClient(transport=transport, base_url="http://spark-control.local")


STARTOS_HEADERS = {
    "Host": "spark-control.local",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-For": "192.168.1.20",
    "Origin": "https://spark-control.local",
    "Sec-Fetch-Site": "same-origin",
}


async def test_a_request_shaped_like_startos_proxy_works() -> None:
    async with app_with() as (_, app), startos_proxy_client(app) as startos:
        r = await startos.get("/api/status", headers=STARTOS_HEADERS)
        assert r.status_code == 200, r.text
        r = await startos.post("/api/swap/lock", json={"holder": "dash"}, headers=STARTOS_HEADERS)
        assert r.status_code == 200, r.text
        # Without Sec-Fetch-Site, the Origin is compared with the Host (https, port 443).
        plain = {k: v for k, v in STARTOS_HEADERS.items() if k != "Sec-Fetch-Site"}
        r = await startos.delete("/api/swap/lock?force=true", headers=plain)
        assert r.status_code == 200, r.text


async def test_a_rebinding_page_through_startos_proxy_is_refused() -> None:
    async with app_with() as (_, app), startos_proxy_client(app) as startos:
        evil = {**STARTOS_HEADERS, "Host": "evil.example", "Origin": "https://evil.example"}
        assert (await startos.get("/api/status", headers=evil)).status_code == 421
        # StartOS passes a client's own X-Forwarded-Host through untouched.
        forged = {**STARTOS_HEADERS, "X-Forwarded-Host": "evil.example"}
        assert (await startos.get("/api/status", headers=forged)).status_code == 421
