"""What the proxy forwards where, and when it answers by itself instead.

:data:`ROUTES` maps each OpenAI-compatible path to the service that serves it (API.md).
:meth:`ProxyPolicy.admit` decides, before anything is read from the client or sent upstream,
whether a request may go through; a refusal carries the status and OpenAI-style error fields
the client gets. Nothing here blocks or does I/O; nothing here knows HTTP servers.
"""

from __future__ import annotations

import msgspec

from app.metrics import Metrics
from app.services.registry import ServiceRegistry

MIB = 1024 * 1024
LLM_BODY_LIMIT = 16 * MIB
BUSY_RETRY_AFTER_S = 2


class ProxyRoute(msgspec.Struct, frozen=True):
    path: str
    service: str
    methods: frozenset[str]
    audio: bool = False  # body limit MAX_UPLOAD_MB and the in-flight cap apply


_POST = frozenset({"POST"})
ROUTES: dict[str, ProxyRoute] = {
    r.path: r
    for r in (
        ProxyRoute("/v1/chat/completions", "vllm", _POST),
        ProxyRoute("/v1/completions", "vllm", _POST),
        ProxyRoute("/v1/models", "vllm", frozenset({"GET", "HEAD"})),
        ProxyRoute("/v1/embeddings", "embeddings", _POST),
        ProxyRoute("/v1/audio/transcriptions", "parakeet", _POST, audio=True),
        ProxyRoute("/v1/audio/diarize", "parakeet", _POST, audio=True),
        ProxyRoute("/v1/audio/diarize-chunk", "parakeet", _POST, audio=True),
        ProxyRoute("/v1/audio/speech", "kokoro", _POST, audio=True),
    )
}


class ProxyLimits(msgspec.Struct, frozen=True):
    llm_body_bytes: int = LLM_BODY_LIMIT
    upload_bytes: int = 200 * MIB  # from limits.max_upload_mb
    audio_in_flight: int = 2  # per audio route: the GPU services handle a couple at a time


class Refusal(msgspec.Struct, frozen=True):
    """An answer Spark Control gives itself. ``message`` is client-safe."""

    status: int
    message: str
    type: str
    code: str
    retry_after: int | None = None


class Admission(msgspec.Struct, frozen=True):
    """A request that may go upstream: where, and how much body it may send."""

    route: ProxyRoute
    url: str
    body_limit: int


def too_large(limit: int) -> Refusal:
    return Refusal(
        413,
        f"The request body is over the limit of {limit // MIB} MiB for this endpoint.",
        "invalid_request_error",
        "request_too_large",
    )


class ProxyPolicy:
    """Admission for proxied requests; tracks the in-flight count of capped routes.

    Swaps are not its business (``app.proxy.admission`` holds, refuses or drains around them).
    Every successful :meth:`admit` must be paired with exactly one :meth:`release`.
    """

    def __init__(
        self,
        services: ServiceRegistry,
        metrics: Metrics,
        limits: ProxyLimits | None = None,
    ) -> None:
        self._services = services
        self.metrics = metrics
        self.limits = limits or ProxyLimits()
        self._in_flight: dict[str, int] = {}

    def body_limit(self, route: ProxyRoute) -> int:
        return self.limits.upload_bytes if route.audio else self.limits.llm_body_bytes

    def admit(
        self, route: ProxyRoute, method: str, content_length: int | None
    ) -> Admission | Refusal:
        """Admit or refuse (in this order: method, disabled, not configured, size, cap)."""
        refusal = self._check(route, method, content_length)
        if isinstance(refusal, Refusal):
            self.metrics.proxy_refused(route.path, refusal.status)
            return refusal
        if route.audio:
            self._in_flight[route.path] = self._in_flight.get(route.path, 0) + 1
        return refusal

    def release(self, admission: Admission) -> None:
        route = admission.route
        if route.audio:
            self._in_flight[route.path] = max(0, self._in_flight.get(route.path, 0) - 1)

    def _check(
        self, route: ProxyRoute, method: str, content_length: int | None
    ) -> Admission | Refusal:
        if method not in route.methods:
            allowed = ", ".join(sorted(route.methods))
            return Refusal(
                405,
                f"Method {method} is not allowed on {route.path}; use {allowed}.",
                "invalid_request_error",
                "method_not_allowed",
            )
        service = self._services.get(route.service)
        if service is None or service.disabled:
            return Refusal(
                404,
                f"The {route.service} service is disabled on this Spark Control.",
                "invalid_request_error",
                "service_disabled",
            )
        if service.url is None:
            return Refusal(
                502,
                f"The {route.service} service has no address: its Spark is not configured.",
                "server_error",
                "backend_not_configured",
            )
        limit = self.body_limit(route)
        if content_length is not None and content_length > limit:
            return too_large(limit)
        if route.audio and self._in_flight.get(route.path, 0) >= self.limits.audio_in_flight:
            return Refusal(
                429,
                f"{route.path} already has {self.limits.audio_in_flight} requests in flight; "
                "retry shortly.",
                "rate_limit_error",
                "too_many_requests",
                retry_after=BUSY_RETRY_AFTER_S,
            )
        return Admission(route, service.url + route.path, limit)
