"""The swap-event webhook: after every real swap reaches ``ready`` or ``failed``, POST a signed
JSON event to the configured URL (coordination seed §2).

Contract:
* ``notify(event)`` returns immediately; delivery runs in a background task. The caller never
  waits on it and never sees its failures.
* One attempt, no retries, a 5 s timeout for the whole exchange.
* ``X-Spark-Event: <event>``; when a secret is set, ``X-Spark-Signature: sha256=<hex>`` is the
  HMAC-SHA256 of exactly the bytes sent as the body.
* At most ``max_in_flight`` deliveries run at once; beyond that an event is dropped and logged
  (a receiver that hangs must not make the app accumulate tasks without bound).
* Dry runs never fire: an event with ``dry_run=True`` is ignored.
* Failures are logged with the URL's host only, never the secret or the body signature.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from collections.abc import Callable
from typing import Literal
from urllib.parse import urlsplit

import httpx
import msgspec

log = logging.getLogger("spark_control.webhook")

DEFAULT_TIMEOUT_S = 5.0


class RolledBack(msgspec.Struct, frozen=True):
    """After a failed swap: the previous model Spark Control relaunched, and whether it is
    ready again."""

    model_key: str
    ready: bool


class SwapEvent(msgspec.Struct, frozen=True):
    """The exact payload of the seed, in the seed's field order."""

    event: Literal["swap_complete", "swap_failed"]
    job_id: str
    model_key: str
    state: Literal["ready", "failed"]
    returncode: int | None
    started_at: str
    finished_at: str
    dry_run: bool = False
    # Only in ``swap_failed`` after a rollback (``swap.on_failure: rollback``); absent otherwise.
    rolled_back_to: RolledBack | msgspec.UnsetType = msgspec.UNSET


def sign(secret: str, body: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 of ``body`` keyed with ``secret``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookSender:
    """Fire-and-forget delivery of :class:`SwapEvent`s to one URL.

    ``transport`` lets tests substitute an httpx transport; ``on_result(ok)`` observes outcomes
    (metrics, tests). With an empty URL the sender is disabled and ``notify`` does nothing.
    """

    def __init__(
        self,
        url: str,
        secret: str = "",
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        max_in_flight: int = 8,
        transport: httpx.AsyncBaseTransport | None = None,
        on_result: Callable[[bool], None] | None = None,
    ) -> None:
        self.url = url
        self._secret = secret
        self.timeout_s = timeout_s
        self.max_in_flight = max_in_flight
        self._transport = transport
        self._on_result = on_result
        self._tasks: set[asyncio.Task[None]] = set()
        self._client: httpx.AsyncClient | None = None

    def __repr__(self) -> str:
        return f"WebhookSender(url={self.url!r}, signed={bool(self._secret)})"

    @property
    def enabled(self) -> bool:
        return bool(self.url)

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    def _where(self) -> str:
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.hostname or '?'}" + (
            f":{parts.port}" if parts.port else ""
        )

    def notify(self, event: SwapEvent) -> asyncio.Task[None] | None:
        """Schedule delivery of ``event``; returns the task (tests may await it) or None."""
        if not self.enabled or event.dry_run:
            return None
        if len(self._tasks) >= self.max_in_flight:
            log.warning(
                "webhook %s: %d deliveries already in flight; dropping %s for job %s",
                self._where(),
                len(self._tasks),
                event.event,
                event.job_id,
            )
            self._report(False)
            return None
        task = asyncio.get_running_loop().create_task(self._deliver(event))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _report(self, ok: bool) -> None:
        if self._on_result is not None:
            self._on_result(ok)

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                transport=self._transport,
                timeout=httpx.Timeout(self.timeout_s),
                follow_redirects=False,
                trust_env=False,
            )
        return self._client

    async def _deliver(self, event: SwapEvent) -> None:
        body = msgspec.json.encode(event)
        headers = {"Content-Type": "application/json", "X-Spark-Event": event.event}
        if self._secret:
            headers["X-Spark-Signature"] = sign(self._secret, body)
        try:
            # The per-phase httpx timeout bounds each wait; this bounds the whole exchange.
            async with asyncio.timeout(self.timeout_s):
                response = await self._http().post(self.url, content=body, headers=headers)
        except (TimeoutError, httpx.TimeoutException):
            log.warning(
                "webhook %s: no answer within %.0f s for job %s",
                self._where(),
                self.timeout_s,
                event.job_id,
            )
            self._report(False)
            return
        except httpx.HTTPError as err:
            log.warning(
                "webhook %s: delivery failed for job %s (%s)",
                self._where(),
                event.job_id,
                type(err).__name__,
            )
            self._report(False)
            return
        ok = response.is_success
        if not ok:
            log.warning(
                "webhook %s: HTTP %d for job %s", self._where(), response.status_code, event.job_id
            )
        else:
            log.info(
                "webhook %s: %s delivered for job %s", self._where(), event.event, event.job_id
            )
        self._report(ok)

    async def drain(self) -> None:
        """Wait for deliveries in flight (each bounded by the timeout); for shutdown and tests."""
        while self._tasks:
            await asyncio.gather(*tuple(self._tasks), return_exceptions=True)

    async def aclose(self) -> None:
        await self.drain()
        if self._client is not None:
            await self._client.aclose()
            self._client = None
