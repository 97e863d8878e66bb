"""The dashboard's files as served: the page and its modules with the security headers, and the
static rules every browser test relies on (no string ever parsed as HTML, nothing external).
These run without a browser; tests/browser/ drives the page itself."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from app.web.routes.dashboard import CONTENT_SECURITY_POLICY, STATIC_DIR

HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}


def assert_secured(response: httpx.Response) -> None:
    for name, value in HEADERS.items():
        assert response.headers.get(name) == value, name


async def test_page_is_html_with_a_strict_policy(client: httpx.AsyncClient) -> None:
    r = await client.get("/")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert "attachment" not in r.headers.get("content-disposition", "")
    assert_secured(r)
    assert "default-src 'self'" in r.headers["content-security-policy"]
    assert '<script type="module" src="/static/main.js"></script>' in r.text


@pytest.mark.parametrize(
    ("path", "media"),
    [("main.js", "text/javascript"), ("app.css", "text/css"), ("favicon.svg", "image/svg+xml")],
)
async def test_static_files_are_served_with_the_policy(
    client: httpx.AsyncClient, path: str, media: str
) -> None:
    r = await client.get(f"/static/{path}")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith(media)
    assert_secured(r)


async def test_every_module_the_page_imports_is_served(client: httpx.AsyncClient) -> None:
    for module in sorted(STATIC_DIR.glob("*.js")):
        for imported in re.findall(r'from "\./([a-z]+\.js)"', module.read_text()):
            assert (await client.get(f"/static/{imported}")).status_code == 200, imported


async def test_nothing_outside_the_static_folder_is_served(client: httpx.AsyncClient) -> None:
    for path in ("/static/../routes/dashboard.py", "/static/%2e%2e/app.py", "/static/nope.js"):
        assert (await client.get(path)).status_code == 404, path


def _static_files(suffix: str) -> list[Path]:
    return sorted(STATIC_DIR.glob(f"*{suffix}"))


def test_scripts_never_parse_strings_as_html_or_code() -> None:
    forbidden = re.compile(
        r"\.innerHTML|\.outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|"
        r"setTimeout\(\s*['\"`]|createContextualFragment|DOMParser"
    )
    scripts = _static_files(".js")
    assert scripts
    for script in scripts:
        for number, line in enumerate(script.read_text().splitlines(), 1):
            assert not forbidden.search(line), f"{script.name}:{number}: {line.strip()}"


def test_page_has_no_inline_script_style_or_external_resource() -> None:
    html = (STATIC_DIR / "index.html").read_text()
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == []
    assert " style=" not in html and "<style" not in html
    assert not re.search(r"\son[a-z]+=", html)
    for path in [STATIC_DIR / "index.html", *_static_files(".js"), *_static_files(".css")]:
        assert not re.search(r"(?:src|href|url)\s*[=(]\s*['\"]?(?:https?:)?//", path.read_text()), (
            path.name
        )
