"""A fake Hugging Face hub on loopback: what the real ``huggingface_hub`` client (``hf
download``) and Spark Control's download planner ask the hub for, answered like the real hub.

Endpoints (the ones ``huggingface_hub`` calls; headers as the real hub sends them):

* ``GET /api/models/{repo}`` and ``/api/models/{repo}/revision/{rev}``: model info — ``id``,
  ``sha`` (the commit), ``gated``, ``siblings`` (``rfilename``; with ``?blobs=true`` also
  ``blobId``, ``size`` and ``lfs: {sha256, size, pointerSize}``).
* ``GET /api/models/{repo}/tree/{rev}[/{path}]``: the file listing ``snapshot_download``
  reads (``type``, ``oid``, ``size``, ``path``, ``lfs: {oid, size, pointerSize}``), one page.
* ``HEAD|GET /{repo}/resolve/{rev}/{path}``: a file kept in git answers 200 with ``ETag`` (the
  git blob id), ``X-Repo-Commit`` and the body; an LFS file answers ``302`` to an absolute
  "CDN" URL on this server, with ``X-Linked-Etag`` (its sha256), ``X-Linked-Size`` and
  ``X-Repo-Commit``, as the real hub does.
* ``GET /cdn/{repo}/{sha256}``: the LFS content, ``Range: bytes=N-`` answered with ``206``.
* Errors carry ``X-Error-Code`` (``RepoNotFound``, ``RevisionNotFound``, ``EntryNotFound``,
  ``GatedRepo``) or ``X-Error-Message``, which the client maps to its exception types.

Repos: every catalog repo (the same small files the simulated caches hold, see ``hfcache``)
and any ``sparksim/<name>``: a few small files (config, tokenizer, chat template, a README and
an ``original/`` copy that a downloader should skip) and one ``model.safetensors`` of
``size_for(repo)`` bytes (:meth:`FakeHub.set_size`, default ``default_size``), generated on the
fly from a repeating pattern. Repos whose name contains ``gated`` and ``meta-llama/*`` are
gated: files answer 401 without a token, 401 "Invalid credentials" with a wrong one (the right
one is :attr:`FakeHub.token`); their info and listing are public, as on the real hub.

Faults (:meth:`FakeHub.inject`): ``slow`` {bps} throttles file bodies; ``drop`` {after_bytes,
times} cuts the connection that many bytes into an LFS body; ``corrupt`` {offset} flips one
byte of every LFS body served; ``status`` {code, times, where} answers ``code`` (default 503)
on ``resolve`` / ``api`` / ``cdn`` requests.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs, quote, unquote

from scripts.sparksim import hfcache
from scripts.sparksim.hubrepos import CHUNK, SIM_ORG, HubFile, HubRepo, build_repo, read_file

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

DEFAULT_SIZE = 16 * 1024 * 1024
_FAULTS = {
    "slow": {"bps": 50 * 1024 * 1024},
    "drop": {"after_bytes": 1024 * 1024, "times": 1},
    "corrupt": {"offset": -1},
    "status": {"code": 503, "times": -1, "where": "resolve"},
}
_REPO = r"(?P<repo>[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*)"


class FakeHub:
    """The hub's state (repos, sizes, faults) and its ASGI app (serve it with
    ``service_server.ServiceServer``)."""

    name = "hfhub"

    def __init__(
        self,
        *,
        default_size: int = DEFAULT_SIZE,
        token: str = "hf_sparksim",  # noqa: S107 - a fake hub's token
        catalog: list[str] | None = None,
    ) -> None:
        self.default_size = default_size
        self.token = token
        # the catalog repos it serves (default: the bundled catalog's)
        self.catalog = set(catalog) if catalog is not None else None
        # Set by whoever serves it. The "CDN" must be another origin (another port), as on the
        # real hub: the client follows same-origin redirects on HEAD, but not those to a CDN.
        self.base_url = ""
        self.cdn_url = ""
        self._sizes: dict[str, int] = {}
        self._repos: dict[tuple[str, int], HubRepo] = {}
        self._lock = threading.Lock()
        self.faults: dict[str, dict[str, Any]] = {}
        # (method, path, Range header) of every request, oldest first
        self.requests: list[tuple[str, str, str]] = []

    # --- settings -------------------------------------------------------------------------

    def set_size(self, repo: str, size: int) -> None:
        """The big safetensors of ``sparksim/<name>`` repo ``repo`` gets ``size`` bytes."""
        self._sizes[repo] = int(size)

    def size_for(self, repo: str) -> int:
        return self._sizes.get(repo, self.default_size)

    def inject(self, fault: str, **params: Any) -> None:
        """Set a fault (see the module docstring). Raises ValueError for an unknown one."""
        if fault not in _FAULTS:
            raise ValueError(f"unknown hub fault {fault!r}; known: {', '.join(_FAULTS)}")
        unknown = set(params) - set(_FAULTS[fault])
        if unknown:
            raise ValueError(f"hub fault {fault}: unknown parameters {sorted(unknown)}")
        self.faults[fault] = {**_FAULTS[fault], **params}

    def clear_faults(self) -> None:
        self.faults.clear()

    def release(self) -> None:
        """Nothing held (the ``ServiceServer`` contract)."""

    # --- content --------------------------------------------------------------------------

    def repo(self, repo: str) -> HubRepo | None:
        """The repo's content, or None when the hub has no such repo."""
        org = repo.split("/", 1)[0]
        if org == SIM_ORG:
            size = self.size_for(repo)
        elif repo in self._catalog():
            size = 0
        else:
            return None
        key = (repo, size)
        with self._lock:
            found = self._repos.get(key)
        if found is None:
            found = build_repo(repo, size)
            with self._lock:
                self._repos[key] = found
        return found

    def _catalog(self) -> set[str]:
        if self.catalog is None:
            self.catalog = set(hfcache.catalog_repos())
        return self.catalog

    def read(self, repo: str, file: HubFile, offset: int, length: int) -> bytes:
        return read_file(repo, file, offset, length)

    # --- HTTP -----------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        method, path = scope["method"], unquote(scope["path"])
        query = parse_qs(scope.get("query_string", b"").decode())
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        self.requests.append((method, path, headers.get("range", "")))
        auth = headers.get("authorization", "")
        if auth and auth != f"Bearer {self.token}" and not path.startswith("/cdn/"):
            # the real hub refuses a wrong token on every endpoint, public repos included
            message = "Invalid credentials in Authorization header"
            await _reply(
                send, 401, {"error": message}, {"X-Error-Message": message}, head=method == "HEAD"
            )
            return
        if m := re.fullmatch(rf"/api/models/{_REPO}(?:/revision/(?P<rev>[^/]+))?", path):
            await self._info(send, m["repo"], m["rev"] or "main", query)
        elif m := re.fullmatch(rf"/api/models/{_REPO}/tree/(?P<rev>[^/]+)(?:/(?P<sub>.*))?", path):
            await self._tree(send, m["repo"], m["rev"], m["sub"] or "")
        elif m := re.fullmatch(rf"/{_REPO}/resolve/(?P<rev>[^/]+)/(?P<file>.+)", path):
            await self._resolve(send, method, m["repo"], m["rev"], m["file"], headers)
        elif m := re.fullmatch(rf"/cdn/{_REPO}/(?P<sha>[0-9a-f]{{64}})", path):
            await self._cdn(send, method, m["repo"], m["sha"], headers)
        else:
            await _reply(send, 404, {"error": "Not Found"})

    def _fault_status(self, where: str) -> int | None:
        fault = self.faults.get("status")
        if not fault or fault["where"] != where or fault["times"] == 0:
            return None
        if fault["times"] > 0:
            fault["times"] -= 1
        return int(fault["code"])

    def _lookup(self, repo: str, rev: str) -> tuple[HubRepo | None, dict[str, str] | None]:
        found = self.repo(repo)
        if found is None:
            return None, {"X-Error-Code": "RepoNotFound"}
        if rev not in ("main", found.commit):
            return None, {"X-Error-Code": "RevisionNotFound"}
        return found, None

    async def _info(self, send: Send, repo: str, rev: str, query: dict[str, list[str]]) -> None:
        if code := self._fault_status("api"):
            return await _reply(send, code, {"error": "Internal Error"})
        found, error = await asyncio.to_thread(self._lookup, repo, rev)
        if found is None:
            return await _reply(send, 404, {"error": "Repository not found"}, error)
        blobs = query.get("blobs", ["false"])[0].lower() in ("1", "true")
        siblings = []
        for f in found.files:
            entry: dict[str, Any] = {"rfilename": f.path}
            if blobs:
                entry.update(blobId=f.blob_id, size=f.size)
                if f.lfs:
                    entry["lfs"] = {"sha256": f.sha256, "size": f.size, "pointerSize": 134}
            siblings.append(entry)
        await _reply(
            send,
            200,
            {
                "_id": found.commit[:24],
                "id": found.repo,
                "modelId": found.repo,
                "author": found.repo.split("/")[0],
                "sha": found.commit,
                "private": False,
                "disabled": False,
                "gated": "manual" if found.gated else False,
                "lastModified": "2026-01-01T00:00:00.000Z",
                "tags": ["safetensors"],
                "siblings": siblings,
            },
        )

    async def _tree(self, send: Send, repo: str, rev: str, sub: str) -> None:
        if code := self._fault_status("api"):
            return await _reply(send, code, {"error": "Internal Error"})
        found, error = await asyncio.to_thread(self._lookup, repo, rev)
        if found is None:
            return await _reply(send, 404, {"error": "Not found"}, error)
        prefix = sub.strip("/") + "/" if sub.strip("/") else ""
        entries = []
        for f in found.files:
            if not f.path.startswith(prefix):
                continue
            entry: dict[str, Any] = {
                "type": "file",
                "oid": f.blob_id,
                "size": f.size,
                "path": f.path,
            }
            if f.lfs:
                entry["lfs"] = {"oid": f.sha256, "size": f.size, "pointerSize": 134}
            entries.append(entry)
        await _reply(send, 200, entries)

    def _auth_error(
        self, found: HubRepo, headers: dict[str, str]
    ) -> tuple[str, dict[str, str]] | None:
        if not found.gated:
            return None
        auth = headers.get("authorization", "")
        if not auth:
            return (
                f"Access to model {found.repo} is restricted. You must have access to it and be "
                "authenticated to access it. Please log in.",
                {"X-Error-Code": "GatedRepo"},
            )
        if auth != f"Bearer {self.token}":
            return (
                "Invalid credentials in Authorization header",
                {"X-Error-Message": "Invalid credentials in Authorization header"},
            )
        return None

    async def _resolve(
        self, send: Send, method: str, repo: str, rev: str, path: str, headers: dict[str, str]
    ) -> None:
        if code := self._fault_status("resolve"):
            return await _reply(send, code, {"error": "Internal Error"}, head=method == "HEAD")
        found, error = await asyncio.to_thread(self._lookup, repo, rev)
        if found is None:
            return await _reply(send, 404, {"error": "Not found"}, error, head=method == "HEAD")
        denied = self._auth_error(found, headers)
        if denied:
            return await _reply(send, 401, {"error": denied[0]}, denied[1], head=method == "HEAD")
        file = found.file(path)
        common = {"X-Repo-Commit": found.commit, "Accept-Ranges": "bytes"}
        if file is None:
            return await _reply(
                send,
                404,
                {"error": "Entry not found"},
                {**common, "X-Error-Code": "EntryNotFound"},
                head=method == "HEAD",
            )
        if file.lfs:
            location = f"{self.cdn_url or self.base_url}/cdn/{quote(found.repo)}/{file.sha256}?expires={int(time.time()) + 3600}"
            return await _send_head(
                send,
                302,
                {
                    **common,
                    "Location": location,
                    "ETag": f'"{file.blob_id}"',
                    "X-Linked-Etag": f'"{file.sha256}"',
                    "X-Linked-Size": str(file.size),
                    "Content-Length": "0",
                },
                b"",
            )
        body = self.read(found.repo, file, 0, file.size)
        headers_out = {**common, "ETag": f'"{file.blob_id}"', "Content-Length": str(file.size)}
        await _send_head(send, 200, headers_out, b"" if method == "HEAD" else body)

    async def _cdn(
        self, send: Send, method: str, repo: str, sha: str, headers: dict[str, str]
    ) -> None:
        if code := self._fault_status("cdn"):
            return await _reply(send, code, {"error": "Internal Error"}, head=method == "HEAD")
        found = await asyncio.to_thread(self.repo, repo)
        file = next((f for f in found.files if f.sha256 == sha), None) if found else None
        if found is None or file is None:
            return await _reply(send, 404, {"error": "NoSuchKey"})
        start = 0
        if m := re.fullmatch(r"bytes=(\d+)-(\d*)", headers.get("range", "")):
            start = int(m[1])
        if start > file.size:
            return await _send_head(send, 416, {"Content-Range": f"bytes */{file.size}"}, b"")
        length = file.size - start
        out = {"ETag": f'"{sha}"', "Content-Length": str(length), "Accept-Ranges": "bytes"}
        status = 200
        if start:
            status = 206
            out["Content-Range"] = f"bytes {start}-{file.size - 1}/{file.size}"
        await send({"type": "http.response.start", "status": status, "headers": _encode(out)})
        if method == "HEAD" or length == 0:
            return await send({"type": "http.response.body", "body": b""})
        await self._stream(send, found, file, start)

    async def _stream(self, send: Send, repo: HubRepo, file: HubFile, start: int) -> None:
        offset, sent = start, 0
        corrupt = self.faults.get("corrupt")
        flip = (file.size // 2 if corrupt["offset"] < 0 else corrupt["offset"]) if corrupt else -1
        drop = self.faults.get("drop")
        while offset < file.size:
            n = min(CHUNK, file.size - offset)
            chunk = (
                await asyncio.to_thread(self.read, repo.repo, file, offset, n)
                if n > 65536
                else self.read(repo.repo, file, offset, n)
            )
            if offset <= flip < offset + n:
                i = flip - offset
                chunk = chunk[:i] + bytes([chunk[i] ^ 0xFF]) + chunk[i + 1 :]
            if drop and drop["times"] != 0 and sent + n > drop["after_bytes"]:
                keep = max(0, drop["after_bytes"] - sent)
                await send({"type": "http.response.body", "body": chunk[:keep], "more_body": True})
                if drop["times"] > 0:
                    drop["times"] -= 1
                raise ConnectionAbortedError("hub fault: connection dropped mid-file")
            slow = self.faults.get("slow")
            if slow:
                await asyncio.sleep(n / float(slow["bps"]))
            offset += n
            sent += n
            await send(
                {"type": "http.response.body", "body": chunk, "more_body": offset < file.size}
            )


def _encode(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(k.lower().encode(), v.encode()) for k, v in headers.items()]


async def _send_head(send: Send, status: int, headers: dict[str, str], body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": _encode(headers)})
    await send({"type": "http.response.body", "body": body})


async def _reply(
    send: Send,
    status: int,
    payload: Any,
    headers: dict[str, str] | None = None,
    *,
    head: bool = False,
) -> None:
    body = json.dumps(payload).encode()
    out = {"Content-Type": "application/json", "Content-Length": str(len(body)), **(headers or {})}
    if "error" in payload if isinstance(payload, dict) else False:
        out.setdefault("X-Error-Message", str(payload["error"]))
    await _send_head(send, status, out, b"" if head else body)
