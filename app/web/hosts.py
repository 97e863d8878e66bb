"""Which ``Host`` names are served (DNS-rebinding defence), and whose forwarded headers count.

A page on ``evil.example`` whose name is rebound to the appliance's address becomes
same-origin with it: the browser sends ``Host: evil.example:PORT`` and lets the page read every
answer. Refusing requests for names the appliance is not known by stops that, for the
dashboard, the proxy and every API route, reads included.

:class:`HostPolicy` serves, by default:

* IP literals (v4 and v6, ``[…]`` in a Host header) — a rebinding attack needs a name;
* ``localhost``, and names ending ``.local``, ``.onion``, ``.lan``, ``.home.arpa``,
  ``.internal`` or ``.ts.net`` (mDNS, Tor, home routers, VPNs: names only the owner's own
  network or overlay resolves);
* whatever ``server.allowed_hosts`` adds: exact names, ``*.example.org`` (any name below
  example.org, not example.org itself), or ``*`` (every name: the old behaviour, explicitly).

Matching ignores the port and the case (and a trailing dot). A request without any Host (HTTP/1.0
from a script) is not a browser's and is served.

Forwarded headers (``X-Forwarded-Host``, ``X-Forwarded-Proto``, and ``X-Forwarded-For`` for the
client address the failed-credential limiter counts by) count only when the TCP peer is
one of ``server.trusted_proxies`` (addresses or networks; by default loopback and the StartOS
0.4 bridge gateway ``10.0.3.1``, from which StartOS's reverse proxy connects to the service
container). From anyone else they are ignored. Even from a trusted proxy, ``X-Forwarded-Host``
is only an *additional* name that must be allowed: StartOS's proxy passes a client's own
``X-Forwarded-Host`` through untouched (it strips only ``X-Forwarded-For/-Proto/-User``), so it
can never make a refused ``Host`` acceptable.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

import msgspec
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send

from app.web.raw import send_json

DEFAULT_SUFFIXES = (".local", ".onion", ".lan", ".home.arpa", ".internal", ".ts.net")
SETTING = "server.allowed_hosts"

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


def host_name(authority: str) -> str | None:
    """``"Evil.Example:8080"`` → ``"evil.example"``; ``"[::1]:9"`` → ``"::1"``; None when it is
    not an authority at all."""
    authority = authority.strip()
    if not authority or any(c in authority for c in "/?#@ \t"):
        return None
    try:
        name = urlsplit(f"//{authority}").hostname
    except ValueError:
        return None
    return name.rstrip(".").lower() if name else None


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class HostPolicy:
    """The names served. ``allowed`` is ``server.allowed_hosts`` as configured."""

    def __init__(self, allowed: Iterable[str] = ()) -> None:
        self.allow_all = False
        self._exact: set[str] = {"localhost"}
        self._suffixes: list[str] = list(DEFAULT_SUFFIXES)
        for entry in allowed:
            entry = entry.strip().lower()
            if entry == "*":
                self.allow_all = True
            elif entry.startswith("*."):
                name = host_name(entry[2:])
                if name:
                    self._suffixes.append("." + name)
            else:
                name = host_name(entry)
                if name:
                    self._exact.add(name)
        # Every request is checked and clients repeat one Host: parsing it (urlsplit, an
        # address parse) was a fifth of a proxied request's CPU. Bounded, so hostile names
        # only evict each other.
        self._allowed = functools.lru_cache(maxsize=256)(self._allows)

    def allows(self, authority: str) -> bool:
        """Whether a request addressed to ``authority`` (a Host header value) is served."""
        return self._allowed(authority)

    def _allows(self, authority: str) -> bool:
        if self.allow_all:
            return True
        name = host_name(authority)
        if name is None:
            return False
        return _is_ip(name) or name in self._exact or name.endswith(tuple(self._suffixes))


def parse_ip(text: str) -> IpAddress | None:
    """``text`` as an address (IPv4-mapped IPv6 as the IPv4 it maps), None when it is none."""
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class ProxyTrust:
    """Whose forwarded headers count: peers inside one of the ``trusted`` networks."""

    def __init__(self, trusted: Iterable[str]) -> None:
        self._networks: list[IpNetwork] = [ipaddress.ip_network(t, strict=False) for t in trusted]
        # Parsing is most of what resolving a client address costs, and clients repeat.
        self._hop = functools.lru_cache(maxsize=1024)(self._classify)

    def _classify(self, text: str) -> tuple[str, bool] | None:
        """An address as text → its normal form and whether it is a trusted proxy's; None when
        it is no address."""
        address = parse_ip(text)
        if address is None:
            return None
        return str(address), any(address in network for network in self._networks)

    def trusts(self, scope: Scope) -> bool:
        client = scope.get("client")
        hop = self._hop(client[0]) if client else None
        return hop is not None and hop[1]

    def client_address(self, scope: Scope) -> str:
        """The address of the client a request comes from: the TCP peer, or — while that is a
        trusted proxy — the hop before it in ``X-Forwarded-For``, read from the right.

        Right to left because a proxy appends the address it saw to whatever the client sent:
        only the entries added by trusted proxies are facts, the leftmost may be invented. An
        entry that is not an IP address ends the walk (the last trusted hop is the answer).
        ``""`` when the server gave no peer at all."""
        client = scope.get("client")
        if not client:
            return ""
        current = self._hop(client[0])
        if current is None:
            return str(client[0])
        if current[1]:
            hops = ",".join(
                value.decode("latin-1")
                for key, value in scope.get("headers", ())
                if key == b"x-forwarded-for"
            ).split(",")
            for text in reversed(hops):
                previous = self._hop(text)
                if previous is None:
                    break
                current = previous
                if not current[1]:
                    break
        return current[0]

    def forwarded_header(self, scope: Scope, name: bytes) -> str | None:
        """The forwarded header ``name`` when the peer is trusted (first value of a list)."""
        if not self.trusts(scope):
            return None
        value = header(scope, name)
        return value.split(",")[0].strip() if value else None

    def is_https(self, scope: Scope) -> bool:
        """Whether the browser reached us over HTTPS (directly, or via a trusted proxy)."""
        proto = self.forwarded_header(scope, b"x-forwarded-proto")
        return scope.get("scheme") == "https" or (proto or "").lower() == "https"


def refused_host(scope: Scope, policy: HostPolicy, trust: ProxyTrust) -> str | None:
    """The first name the request claims that is not served, or None when all are."""
    claimed = [header(scope, b"host"), trust.forwarded_header(scope, b"x-forwarded-host")]
    for authority in claimed:
        if authority is not None and not policy.allows(authority):
            return authority
    return None


def _refusal(authority: str) -> bytes:
    shown = authority if len(authority) <= 100 else authority[:97] + "..."
    shown = "".join(c if c.isprintable() else "?" for c in shown)
    return msgspec.json.encode(
        {
            "detail": f"Spark Control is not served under the name {shown!r}; "
            f"add it to {SETTING} to allow it."
        }
    )


def host_guard(policy: HostPolicy, trust: ProxyTrust) -> Callable[[ASGIApp], ASGIApp]:
    """The ASGI middleware factory: 421 Misdirected Request for a refused Host, before any
    route runs."""

    def middleware(app: ASGIApp) -> ASGIApp:
        async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == ScopeType.HTTP:
                refused = refused_host(scope, policy, trust)
                if refused is not None:
                    body = _refusal(refused)
                    await send_json(send, 421, body)
                    return
            await app(scope, receive, send)

        return guarded

    return middleware
