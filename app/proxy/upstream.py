"""The upstream side of the proxy: the interface every backend client implements.

One small interface, :class:`Upstream`, and a client on aiohttp (:class:`AiohttpUpstream`);
the default is the leaner :class:`app.proxy.h1.H1Upstream`, which costs about a third less
CPU per request (``make bench`` → ``proxy``). Everything else in the proxy depends on the
interface only, so ``Runtime(upstream=…)`` substitutes it (tests hand in either real class
with short timeouts, or a fake).

Contract of :meth:`Upstream.open`:

* blocks until the upstream's status line and headers arrive, or a timeout: ``connect_s`` to
  get a connection (pool wait included), ``read_s`` for the head and then between body
  chunks (no total limit: a generation may stream for many minutes);
* the request ``body`` (bytes, or an async iterator that is read as it is sent, for uploads)
  is sent as given; ``headers`` are sent as given, plus ``Host`` and the framing header;
* raises :class:`UpstreamUnavailable` (refused, reset, closed before answering: HTTP 502) and
  :class:`UpstreamTimeout` (no answer in time: 504); an exception raised by the ``body``
  iterator may surface as either: callers that need it record it themselves;
* cancellation closes the upstream connection.

The :class:`UpstreamResponse` must be closed (``aclose``, idempotent) in a ``finally``: a
response read to its end returns its connection to the pool, any other is closed, which is
how a backend learns that the client went away. ``chunks()`` yields body bytes as they arrive,
undecoded (``Content-Encoding`` passes through), and raises :class:`UpstreamBroken` when the
upstream fails mid-body. ``complete`` turns true once the whole body has arrived: read right
after a chunk, it says that chunk was the last (the proxy then ends its own response with it,
one write instead of two).
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from typing import TYPE_CHECKING, Protocol

import msgspec

if TYPE_CHECKING:
    import aiohttp

# aiohttp is imported at the first proxied request, not at startup: it is a tenth of a second
# of import time and several MB that an app nobody proxies through never needs.

Headers = list[tuple[bytes, bytes]]
Body = bytes | AsyncIterable[bytes] | None


class UpstreamTimeouts(msgspec.Struct, frozen=True):
    """Network waits of the proxy, in seconds (see the module docstring)."""

    connect_s: float = 5.0
    # An LLM may think for minutes before a non-streamed answer, and between streamed tokens
    # when the engine is saturated; a few minutes of silence still means "broken".
    read_s: float = 300.0


class UpstreamError(Exception):
    """The upstream could not be used. ``str()`` is a client-safe predicate ("is not
    reachable") to complete "The <service> backend …"; it never names an exception class."""


class UpstreamUnavailable(UpstreamError):
    """Could not connect, or the connection failed before a response head arrived."""


class UpstreamTimeout(UpstreamError):
    """Connected, but no response head within the read timeout."""


class UpstreamBroken(UpstreamError):
    """The upstream failed while sending its body (reset, timeout between chunks)."""


class UpstreamResponse(Protocol):
    status: int
    headers: Headers  # lower-case names, as received

    def chunks(self) -> AsyncIterator[bytes]: ...

    @property
    def complete(self) -> bool: ...

    async def aclose(self) -> None: ...


class Upstream(Protocol):
    async def open(self, method: str, url: str, headers: Headers, body: Body) -> UpstreamResponse:
        """Send the request and return once the response head arrived (see module docs)."""
        ...

    async def aclose(self) -> None:
        """Close pooled connections. The upstream must not be used afterwards."""
        ...


class _AiohttpResponse:
    __slots__ = ("_response", "headers", "status")

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
        self.status = response.status
        self.headers: Headers = [(k.lower(), v) for k, v in response.raw_headers]

    async def chunks(self) -> AsyncIterator[bytes]:
        import aiohttp

        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        except TimeoutError:
            raise UpstreamBroken("stopped sending its answer") from None
        except aiohttp.ClientError:
            raise UpstreamBroken("dropped the connection mid-answer") from None

    @property
    def complete(self) -> bool:
        return self._response.content.at_eof()

    async def aclose(self) -> None:
        response = self._response
        if response.content.at_eof():
            response.release()  # complete: the connection goes back to the pool
        else:
            response.close()  # incomplete: drop the connection so the backend stops


class AiohttpUpstream:
    """:class:`Upstream` on one ``aiohttp.ClientSession``, created at first use (inside the
    running event loop, and so that an idle app pays nothing for it)."""

    def __init__(
        self, *, timeouts: UpstreamTimeouts | None = None, max_connections: int = 512
    ) -> None:
        self.timeouts = timeouts or UpstreamTimeouts()
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    def _get_session(self) -> aiohttp.ClientSession:
        import aiohttp

        if self._session is None:
            t = self.timeouts
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    limit=self._max_connections, limit_per_host=0, keepalive_timeout=30.0
                ),
                timeout=aiohttp.ClientTimeout(
                    total=None, connect=t.connect_s, sock_connect=t.connect_s, sock_read=t.read_s
                ),
                # A shared jar would replay one backend's Set-Cookie to every later caller.
                cookie_jar=aiohttp.DummyCookieJar(),
                # Bodies pass through undecoded, and only the client's own headers go up: no
                # default Accept-Encoding (the client must get only encodings it asked for),
                # User-Agent, Accept or Content-Type of ours.
                auto_decompress=False,
                skip_auto_headers=("Accept", "Accept-Encoding", "User-Agent", "Content-Type"),
                trust_env=False,  # a proxy from the environment must not see LAN traffic
            )
        return self._session

    async def open(self, method: str, url: str, headers: Headers, body: Body) -> UpstreamResponse:
        import aiohttp
        import yarl

        session = self._get_session()
        try:
            response = await session.request(
                method,
                # encoded=True: path and query go out byte for byte, never re-quoted.
                yarl.URL(url, encoded=True),
                headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in headers],
                data=body,
                allow_redirects=False,
                compress=None,
            )
        except aiohttp.ConnectionTimeoutError:
            raise UpstreamUnavailable("did not accept a connection in time") from None
        except TimeoutError:
            raise UpstreamTimeout("did not answer in time") from None
        except (aiohttp.ClientError, OSError):
            raise UpstreamUnavailable("is not reachable") from None
        return _AiohttpResponse(response)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
