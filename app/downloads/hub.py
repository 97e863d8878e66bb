"""The Hugging Face hub's own listing of a repo, as the download planner needs it.

:class:`HubClient` asks ``GET {endpoint}/api/models/{repo}/revision/{rev}?blobs=true`` (the
call ``huggingface_hub``'s ``model_info(files_metadata=True)`` makes) for the commit, the gating
and every file's size, git blob id and LFS sha256, and checks access to a gated repo with a
``HEAD`` of one file, as ``hf download`` will do. The token travels in the Authorization header
and is never logged or put in a message.

Every failure is a :class:`HubError` (unreachable, failing) or a :class:`HubRefused` (the hub
answered no), whose message is one sentence a user can act on.
"""

from __future__ import annotations

from urllib.parse import quote

import httpx
import msgspec

from app.errors import Conflict, Unavailable

HUB_TIMEOUT_S = 20.0


class HubError(Unavailable):
    """The hub could not be reached or failed; ``message`` is one sentence (HTTP 502 when a
    request depends on it, the error of a failed download otherwise)."""


class HubRefused(Conflict):
    """The hub answered, and its answer rules the model out as configured: no such repo or
    revision, gated, a rejected token, no usable weights. The owner must change something,
    so it is the model's problem, not an outage (HTTP 409 when a request depends on it)."""


class _Lfs(msgspec.Struct):
    sha256: str
    size: int


class _Sibling(msgspec.Struct):
    rfilename: str
    size: int | None = None
    blobId: str | None = None  # the hub's field name
    lfs: _Lfs | None = None


class _ModelInfo(msgspec.Struct):
    sha: str
    siblings: list[_Sibling] = msgspec.field(default_factory=list)
    gated: bool | str = False


class HubFile(msgspec.Struct, frozen=True):
    """One file of a repo at a commit."""

    path: str
    size: int
    blob_id: str
    sha256: str | None = None  # LFS files only


class RepoListing(msgspec.Struct, frozen=True):
    repo: str
    commit: str
    gated: bool
    files: tuple[HubFile, ...]


class HubClient:
    def __init__(self, http: httpx.AsyncClient, endpoint: str, token: str = "") -> None:
        self._http = http
        self._endpoint = endpoint.rstrip("/")
        self._token = token

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}"} if self._token else {}

    async def listing(self, repo: str, revision: str = "main") -> RepoListing:
        """The repo's files at ``revision`` (pinned to the commit it resolves to)."""
        url = f"{self._endpoint}/api/models/{repo}/revision/{quote(revision, safe='')}"
        try:
            response = await self._http.get(
                url, params={"blobs": "true"}, headers=self._headers(), timeout=HUB_TIMEOUT_S
            )
        except httpx.HTTPError as err:
            raise HubError(
                f"The Hugging Face hub ({self._endpoint}) could not be reached: {_reason(err)}."
            ) from None
        self._raise_for(response, repo)
        try:
            info = msgspec.json.decode(response.content, type=_ModelInfo)
        except msgspec.DecodeError:
            raise HubError(
                f"The Hugging Face hub's answer for {repo} was not a model listing."
            ) from None
        files = []
        for sib in info.siblings:
            if sib.size is None or sib.blobId is None:
                raise HubError(f"The Hugging Face hub listed {repo} without file sizes.")
            files.append(
                HubFile(
                    path=sib.rfilename,
                    size=sib.lfs.size if sib.lfs else sib.size,
                    blob_id=sib.blobId,
                    sha256=sib.lfs.sha256 if sib.lfs else None,
                )
            )
        return RepoListing(repo=repo, commit=info.sha, gated=bool(info.gated), files=tuple(files))

    async def check_access(self, repo: str, commit: str, path: str) -> None:
        """Raise :class:`HubError` when the files of ``repo`` cannot be fetched with our token
        (a gated repo without a token or with a wrong one)."""
        url = f"{self._endpoint}/{repo}/resolve/{commit}/{quote(path)}"
        try:
            response = await self._http.head(
                url, headers=self._headers(), timeout=HUB_TIMEOUT_S, follow_redirects=False
            )
        except httpx.HTTPError as err:
            raise HubError(
                f"The Hugging Face hub ({self._endpoint}) could not be reached: {_reason(err)}."
            ) from None
        self._raise_for(response, repo)

    def _raise_for(self, response: httpx.Response, repo: str) -> None:
        status = response.status_code
        if status < 400:
            return
        code = response.headers.get("X-Error-Code", "")
        message = response.headers.get("X-Error-Message", "")
        if status == 401 and message == "Invalid credentials in Authorization header":
            raise HubRefused(
                f"The Hugging Face hub rejected the configured token for {repo}; set a valid "
                "token in Configure Sparks."
            )
        if code == "GatedRepo" or (status in (401, 403) and self._token):
            if self._token:
                raise HubRefused(
                    f"{repo} is a gated model and the configured Hugging Face token has no "
                    "access to it; accept its terms on huggingface.co with that account."
                )
            raise HubRefused(
                f"{repo} is a gated model: accept its terms on huggingface.co, then set a "
                "Hugging Face token in Configure Sparks."
            )
        if status in (401, 404) or code == "RepoNotFound":
            raise HubRefused(f"The Hugging Face hub has no model {repo} (or it is private).")
        if code == "RevisionNotFound":
            raise HubRefused(f"The Hugging Face hub has no such revision of {repo}.")
        raise HubError(f"The Hugging Face hub answered HTTP {status} for {repo}; try again later.")


def _reason(err: httpx.HTTPError) -> str:
    if isinstance(err, httpx.TimeoutException):
        return f"no answer within {HUB_TIMEOUT_S:g} s"
    return str(err).split("\n")[0][:120] or type(err).__name__
