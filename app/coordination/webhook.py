"""The webhook: POST a signed JSON event to the configured URL when something happens (after
every real swap: ``ready``, ``failed``, or cancelled, which is reported as ``swap_failed`` with a
``reason``).

Contract:
* Swap events keep the seed's exact payload (:class:`SwapEvent`, coordination seed §2); other
  events are ``{"event", "at", ...fields}``. ``events`` selects which types are sent (default
  the seed's ``swap_complete`` and ``swap_failed``); ``test`` is always sendable.
* ``notify(event)`` / ``emit(type, fields)`` return immediately; delivery runs in a background
  task. The caller never waits on it and never sees its failures. Dry runs never fire.
* Headers: ``X-Spark-Event`` and, with a secret, ``X-Spark-Signature`` exactly as the seed says,
  plus the Standard Webhooks ``webhook-id`` / ``webhook-timestamp`` / ``webhook-signature``
  (:mod:`app.coordination.signing`). Retries resend the same id, timestamp and signature.
* One attempt by default, each bounded by ``timeout_s`` (5 s) for the whole exchange;
  ``retries`` more attempts after a connection failure, a timeout, HTTP 429 or 5xx, waiting
  ``backoff_s``, then twice and four times that, in between (capped at 60 s).
* Every delivery is reported once, after its last attempt, to ``on_delivery`` (the history
  records it) and to ``on_result(ok)`` (metrics); a dropped one too.
* At most ``max_in_flight`` deliveries run at once; beyond that an event is dropped and logged
  (a receiver that hangs must not make the app accumulate tasks without bound).
* Logs name the URL's scheme://host:port only, never the path, the secret or a signature.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
import msgspec

from app.clock import isoformat
from app.coordination import signing
from app.storage.deliveries import Delivery
from app.tls import client_context

log = logging.getLogger("spark_control.webhook")

DEFAULT_TIMEOUT_S = 5.0
DEFAULT_EVENTS = ("swap_complete", "swap_failed")
MAX_BACKOFF_S = 60.0
RESPONSE_EXCERPT = 500

sign = signing.sign  # the seed's signature; kept importable from here


class RolledBack(msgspec.Struct, frozen=True):
    """After a failed swap: the previous model Spark Control relaunched, and whether it is
    ready again."""

    model_key: str
    ready: bool


class SwapEvent(msgspec.Struct, frozen=True):
    """The exact payload of the seed, in the seed's field order, plus ``reason`` (only present
    when a swap was cancelled or interrupted by a shutdown; the seed's fields are unchanged)."""

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
    reason: str | msgspec.UnsetType = msgspec.UNSET


class TestResult(msgspec.Struct, frozen=True):
    """What ``POST /api/webhook/test`` reports: the receiver's answer or why there was none."""

    delivered: bool
    delivery_id: str
    status: int | None
    latency_ms: float | None
    error: str | None
    response: str | None


class _Outcome(msgspec.Struct):
    ok: bool = False
    status: int | None = None
    latency_ms: float | None = None
    error: str | None = None
    response: str | None = None
    attempts: int = 0


class WebhookSender:
    """Delivery of events to one URL.

    ``transport`` lets tests substitute an httpx transport; ``now`` is the wall clock for
    ``webhook-timestamp`` (receivers reject stale ones, so it is real time by default).
    With an empty URL the sender is disabled and ``notify`` / ``emit`` do nothing."""

    def __init__(
        self,
        url: str,
        secret: str = "",
        *,
        events: Iterable[str] = DEFAULT_EVENTS,
        retries: int = 0,
        backoff_s: float = 1.0,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        max_in_flight: int = 8,
        transport: httpx.AsyncBaseTransport | None = None,
        on_result: Callable[[bool], None] | None = None,
        on_delivery: Callable[[Delivery], None] | None = None,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.url = url
        self._secret = secret
        self.events = frozenset(events)
        self.retries = max(0, retries)
        self.backoff_s = backoff_s
        self.timeout_s = timeout_s
        self.max_in_flight = max_in_flight
        self._transport = transport
        self._on_result = on_result
        self.on_delivery = on_delivery
        self._now = now or (lambda: datetime.now(UTC))
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

    def wants(self, event: str) -> bool:
        """True when ``event`` would be sent (a URL is set and the type is selected)."""
        return self.enabled and event in self.events

    def target(self) -> str:
        """scheme://host[:port] of the URL: what logs and the delivery history show."""
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.hostname or '?'}" + (
            f":{parts.port}" if parts.port else ""
        )

    # --- producers ---------------------------------------------------------------------------

    def notify(self, event: SwapEvent) -> asyncio.Task[None] | None:
        """Schedule delivery of a swap event; returns the task (tests may await it) or None."""
        if event.dry_run or not self.wants(event.event):
            return None
        return self._schedule(event.event, msgspec.json.encode(event), f"job {event.job_id}")

    def emit(self, event: str, fields: dict[str, Any]) -> asyncio.Task[None] | None:
        """Schedule delivery of ``{"event": event, "at": now, **fields}`` when ``event`` is
        selected; returns the task or None."""
        if not self.wants(event):
            return None
        body = msgspec.json.encode({"event": event, "at": isoformat(self._now()), **fields})
        return self._schedule(event, body, event)

    async def send_test(self) -> TestResult:
        """Send a signed ``test`` event now, once, and report the receiver's answer (bounded
        by the timeout). Recorded like any delivery."""
        message_id = _message_id()
        if not self.enabled:
            return TestResult(False, message_id, None, None, "No webhook URL is configured.", None)
        body = msgspec.json.encode(
            {"event": "test", "at": isoformat(self._now()), "detail": "A test from Spark Control."}
        )
        outcome = await self._deliver("test", body, "test", message_id, attempts=1)
        return TestResult(
            outcome.ok,
            message_id,
            outcome.status,
            outcome.latency_ms,
            outcome.error,
            outcome.response,
        )

    # --- delivery ----------------------------------------------------------------------------

    def _schedule(self, event: str, body: bytes, what: str) -> asyncio.Task[None] | None:
        message_id = _message_id()
        if len(self._tasks) >= self.max_in_flight:
            log.warning(
                "webhook %s: %d deliveries already in flight; dropping %s for %s",
                self.target(),
                len(self._tasks),
                event,
                what,
            )
            self._report(
                event, message_id, _Outcome(error="Dropped: too many deliveries in flight.")
            )
            return None
        task = asyncio.get_running_loop().create_task(
            self._background(event, body, what, message_id)
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _background(self, event: str, body: bytes, what: str, message_id: str) -> None:
        await self._deliver(event, body, what, message_id, attempts=1 + self.retries)

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                transport=self._transport,
                timeout=httpx.Timeout(self.timeout_s),
                follow_redirects=False,
                trust_env=False,
                verify=client_context(),
            )
        return self._client

    async def _deliver(
        self, event: str, body: bytes, what: str, message_id: str, *, attempts: int
    ) -> _Outcome:
        timestamp = int(self._now().timestamp())
        headers = signing.headers(self._secret, event, message_id, timestamp, body)
        outcome = _Outcome()
        for attempt in range(1, attempts + 1):
            outcome = await self._attempt(body, headers)
            outcome.attempts = attempt
            retryable = not outcome.ok and (
                outcome.status is None or outcome.status == 429 or outcome.status >= 500
            )
            if not retryable or attempt == attempts:
                break
            await asyncio.sleep(min(MAX_BACKOFF_S, self.backoff_s * 2 ** (attempt - 1)))
        if outcome.ok:
            log.info("webhook %s: %s delivered for %s", self.target(), event, what)
        else:
            log.warning(
                "webhook %s: %s delivery failed for %s: %s",
                self.target(),
                event,
                what,
                outcome.error,
            )
        self._report(event, message_id, outcome)
        return outcome

    async def _attempt(self, body: bytes, headers: dict[str, str]) -> _Outcome:
        started = time.perf_counter()
        try:
            # The per-phase httpx timeout bounds each wait; this bounds the whole exchange.
            async with asyncio.timeout(self.timeout_s):
                response = await self._http().post(self.url, content=body, headers=headers)
                text = response.text[:RESPONSE_EXCERPT]
        except (TimeoutError, httpx.TimeoutException):
            return _Outcome(error=f"No answer within {self.timeout_s:g} s.")
        except httpx.HTTPError as err:
            return _Outcome(error=f"Could not connect ({type(err).__name__}).")
        latency = round((time.perf_counter() - started) * 1000, 1)
        if response.is_success:
            return _Outcome(True, response.status_code, latency, None, text)
        return _Outcome(
            False,
            response.status_code,
            latency,
            f"The receiver answered HTTP {response.status_code}.",
            text,
        )

    def _report(self, event: str, message_id: str, outcome: _Outcome) -> None:
        if self._on_result is not None:
            self._on_result(outcome.ok)
        if self.on_delivery is not None:
            self.on_delivery(
                Delivery(
                    delivery_id=message_id,
                    event=event,
                    at=isoformat(self._now()),
                    target=self.target(),
                    attempts=outcome.attempts,
                    ok=outcome.ok,
                    status=outcome.status,
                    latency_ms=outcome.latency_ms,
                    error=outcome.error,
                )
            )

    async def drain(self) -> None:
        """Wait for deliveries in flight (each bounded by its attempts); for shutdown and tests."""
        while self._tasks:
            await asyncio.gather(*tuple(self._tasks), return_exceptions=True)

    async def aclose(self) -> None:
        await self.drain()
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def _message_id() -> str:
    return "msg_" + secrets.token_hex(12)
