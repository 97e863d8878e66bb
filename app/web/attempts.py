"""Failed credential attempts per client address: the brake on guessing API keys.

With ``server.api_keys`` set, a client that presents a wrong credential (a wrong Bearer key, a
session cookie that is not a session, a wrong key posted to ``POST /api/session``) fails once.
After :data:`MAX_FAILURES` failures in a window of :data:`WINDOW_S` seconds — the window opens
at the address's first failure — every request from that address that presents a credential is
answered 429 with ``Retry-After`` (the whole seconds until the window ends) *without* the
credential being checked: a right key during the lock-out is refused like a wrong one, or the
lock-out would tell a guesser when it guessed right. When the window ends, the address starts
afresh.

What is not a guess does not count: a request with no credential at all (the dashboard before
its login), and a wrong credential the address already failed with in this window (a script
polling with a mistyped key, the dashboard's tabs all sending the same expired cookie: repeats
teach a guesser nothing). A success resets nothing: a client holding a ``read`` key must not be
able to clear its count between guesses at an ``admin`` key.

The client address is :meth:`app.web.hosts.ProxyTrust.client_address` (``X-Forwarded-For`` only
from ``server.trusted_proxies``). An IPv6 address counts by its /64 network
(:func:`counted_as`): a host picks any address in its /64 at will (privacy addresses rotate by
themselves), so a count per IPv6 address would brake nobody; the price is that hosts sharing a
/64 share a lock-out. The table is bounded: at most :data:`MAX_ADDRESSES` addresses, the oldest
window evicted first, expired windows dropped as time passes, so many addresses cannot grow it
without bound. Time is the app's injected monotonic clock.

A wrong credential is remembered only as a keyed fingerprint (BLAKE2b with a per-process random
key), never as itself; the log line of a lock-out names the address and the count, nothing else.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
import secrets
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from app.web.hosts import parse_ip

log = logging.getLogger("spark_control.auth")

MAX_FAILURES = 10
WINDOW_S = 60.0
MAX_ADDRESSES = 4096
# Distinct wrong credentials remembered per address: their repeats are not counted again.
REMEMBERED_WRONG = 8


# The IPv6 prefix one host controls: SLAAC hands every host a whole /64.
IPV6_PREFIX = 64


def counted_as(address: str) -> str:
    """What failures of ``address`` count against: an IPv4 address itself, an IPv6 address's
    /64 network (``2001:db8:1:2::/64``), anything else (no usable peer) as it is."""
    ip = parse_ip(address)
    if ip is None:
        return address
    if ip.version == 4:
        return str(ip)
    return str(ipaddress.ip_network(f"{ip}/{IPV6_PREFIX}", strict=False))


@dataclass
class _Window:
    """One address's failures since ``opened`` (its first failure in this window)."""

    opened: float
    failures: int = 0
    wrong: list[bytes] = field(default_factory=list)


class FailedAttempts:
    """The failures of each client address in its current window, and who is locked out."""

    def __init__(
        self,
        monotonic: Callable[[], float],
        *,
        max_failures: int = MAX_FAILURES,
        window_s: float = WINDOW_S,
        max_addresses: int = MAX_ADDRESSES,
    ) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self.max_addresses = max_addresses
        self._monotonic = monotonic
        self._fingerprint_key = secrets.token_bytes(32)
        # Ordered by when each window opened (a new window moves to the end): the first entry is
        # always the one to expire, or to be evicted, first.
        self._windows: OrderedDict[str, _Window] = OrderedDict()

    def __len__(self) -> int:
        """Addresses tracked now (0 in the usual case: nothing to look up)."""
        return len(self._windows)

    def retry_after(self, address: str) -> int | None:
        """Whole seconds until ``address`` may present a credential again; None when it may
        now."""
        if not self._windows:
            return None
        now = self._monotonic()
        self._drop_expired(now)
        window = self._windows.get(counted_as(address))
        if window is None or window.failures < self.max_failures:
            return None
        return max(1, math.ceil(window.opened + self.window_s - now))

    def failed(self, address: str, credential: str) -> None:
        """``address`` presented ``credential`` and it was wrong."""
        now = self._monotonic()
        self._drop_expired(now)
        address = counted_as(address)
        window = self._windows.get(address)
        if window is None:
            window = self._windows[address] = _Window(opened=now)
            while len(self._windows) > self.max_addresses:
                self._windows.popitem(last=False)
        fingerprint = hashlib.blake2b(
            credential.encode("utf-8", "surrogatepass"), key=self._fingerprint_key, digest_size=16
        ).digest()
        if fingerprint in window.wrong:
            return
        window.wrong.append(fingerprint)
        del window.wrong[:-REMEMBERED_WRONG]
        window.failures += 1
        if window.failures == self.max_failures:
            log.warning(
                "%d failed credential attempts from %s within %.0f s: its credentials are "
                "refused for %d s",
                window.failures,
                address,
                self.window_s,
                max(1, math.ceil(window.opened + self.window_s - now)),
            )

    def _drop_expired(self, now: float) -> None:
        while self._windows:
            oldest = next(iter(self._windows.values()))
            if now < oldest.opened + self.window_s:
                return
            self._windows.popitem(last=False)
