"""One sentence for a failed HTTP request to a Spark's service, safe to show a client.

Probe details reach ``/api/status`` and job errors, so they must never carry an internal class
name (``ConnectError``) or a stack trace; they say what a person can act on.
"""

from __future__ import annotations

import errno
import socket

import httpx


def describe_http_failure(err: httpx.HTTPError, timeout: float) -> str:
    """What went wrong with a request that raised ``err`` (made with ``timeout`` seconds)."""
    if isinstance(err, httpx.TimeoutException):
        return f"no answer within {timeout:g} s"
    if isinstance(err, httpx.ConnectError):
        cause = _os_cause(err)
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused (nothing listens on that port)"
        if isinstance(cause, socket.gaierror):
            return "the host name does not resolve"
        if cause is not None and cause.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
            return "the host is unreachable"
        return "could not connect"
    if isinstance(err, httpx.RemoteProtocolError):
        return "the connection closed without a valid HTTP answer"
    if isinstance(err, httpx.ReadError | httpx.WriteError):
        return "the connection broke during the request"
    if isinstance(err, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return "the service URL is not a valid http(s) URL"
    return "the HTTP request failed"


def _os_cause(err: BaseException) -> OSError | None:
    """The most specific OS error behind ``err`` (httpx wraps it, sometimes twice)."""
    found: OSError | None = None
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError):
            found = current  # keep walking: the innermost one names the real reason
        current = current.__cause__ or current.__context__
    return found
