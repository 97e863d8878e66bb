"""Which headers cross the proxy, in each direction.

Headers are ASGI-style ``(name, value)`` byte pairs with lower-case names. Two kinds never
cross:

* hop-by-hop headers (RFC 9110 §7.6.1: ``Connection`` and every header it names, plus the
  classic list) describe one connection, not the message;
* headers that would let one side act on the other's behalf: the client's ``Host`` (the
  upstream gets its own), ``Cookie`` and ``X-Forwarded-*`` / ``Forwarded`` going up (Spark
  Control's own cookies are not a backend's business, and a client must not choose the
  address a backend logs); ``Set-Cookie`` and ``Access-Control-*`` coming back (a backend
  must not set cookies on, or widen the CORS policy of, Spark Control's origin — vLLM answers
  ``Access-Control-Allow-Origin: *`` by default); ``Date`` and ``Server``, which our own HTTP
  server adds.

``Content-Length`` is dropped going up (the upstream request sets it from the body it sends)
but kept coming back: the body is forwarded byte for byte, so the upstream's length is right.
``Content-Encoding`` is kept: bodies are never decoded on the way through.
"""

from __future__ import annotations

from collections.abc import Iterable

Headers = list[tuple[bytes, bytes]]

HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)
REQUEST_DROP = HOP_BY_HOP | {
    b"host",
    b"content-length",
    b"cookie",
    b"forwarded",
    b"x-forwarded-for",
    b"x-forwarded-host",
    b"x-forwarded-proto",
    b"x-forwarded-port",
    b"x-real-ip",
    b"expect",  # our server already answered 100-continue; the upstream request has no such step
}
RESPONSE_DROP = HOP_BY_HOP | {b"set-cookie", b"date", b"server", b"alt-svc"}
NO_BUFFERING = (b"x-accel-buffering", b"no")


def _named_by_connection(headers: Iterable[tuple[bytes, bytes]]) -> set[bytes]:
    """Header names listed in ``Connection`` (those are hop-by-hop too)."""
    named: set[bytes] = set()
    for name, value in headers:
        if name.lower() == b"connection":
            named.update(part.strip().lower() for part in value.split(b",") if part.strip())
    return named


def request_headers(headers: Iterable[tuple[bytes, bytes]]) -> Headers:
    """The client's headers that go to the upstream (names lower-cased)."""
    headers = list(headers)
    extra = _named_by_connection(headers)
    out: Headers = []
    for name, value in headers:
        name = name.lower()
        if name in REQUEST_DROP or name in extra:
            continue
        out.append((name, value))
    return out


def response_headers(headers: Iterable[tuple[bytes, bytes]]) -> Headers:
    """The upstream's headers that go back to the client, plus ``X-Accel-Buffering: no`` so a
    reverse proxy in front of Spark Control does not buffer streamed tokens either."""
    headers = list(headers)
    extra = _named_by_connection(headers)
    out: Headers = []
    for name, value in headers:
        name = name.lower()
        if name in RESPONSE_DROP or name in extra or name.startswith(b"access-control-"):
            continue
        if name == NO_BUFFERING[0]:
            continue  # ours is appended below; never send two
        out.append((name, value))
    out.append(NO_BUFFERING)
    return out
