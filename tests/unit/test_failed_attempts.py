"""The failed-attempt table (``app.web.attempts``) and the client address it counts by
(``ProxyTrust.client_address``), without a server."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from app.clock import ManualClock
from app.web.attempts import REMEMBERED_WRONG, FailedAttempts, counted_as
from app.web.auth import Auth
from app.web.hosts import ProxyTrust

TRUST = ProxyTrust(["127.0.0.0/8", "::1", "10.0.3.1"])


def scope(peer: str | None, *forwarded: str) -> dict[str, Any]:
    return {
        "type": "http",
        "client": (peer, 50000) if peer is not None else None,
        "headers": [(b"x-forwarded-for", value.encode("latin-1")) for value in forwarded],
    }


@pytest.mark.parametrize(
    ("peer", "forwarded", "client"),
    [
        # An untrusted peer is the client, whatever it claims.
        ("192.168.1.20", ["203.0.113.5"], "192.168.1.20"),
        # StartOS's proxy: the address it saw.
        ("10.0.3.1", ["203.0.113.5"], "203.0.113.5"),
        ("10.0.3.1", [], "10.0.3.1"),
        # The rightmost address a trusted proxy did not add: the leftmost is the client's word.
        ("10.0.3.1", ["198.51.100.1, 203.0.113.5"], "203.0.113.5"),
        ("10.0.3.1", ["198.51.100.1", "203.0.113.5"], "203.0.113.5"),  # two header lines
        # A chain of trusted proxies is walked through.
        ("127.0.0.1", ["203.0.113.5, 10.0.3.1"], "203.0.113.5"),
        ("127.0.0.1", ["10.0.3.1, 127.0.0.1"], "10.0.3.1"),
        # Garbage ends the walk at the last hop that is known.
        ("10.0.3.1", ["203.0.113.5, not-an-ip"], "10.0.3.1"),
        ("10.0.3.1", ["203.0.113.5, 127.0.0.1:8080"], "10.0.3.1"),
        ("10.0.3.1", [""], "10.0.3.1"),
        # Addresses are normalised: IPv6 compressed, IPv4-mapped as IPv4.
        ("::ffff:10.0.3.1", [" 2001:DB8:0:0::1 "], "2001:db8::1"),
        ("::ffff:192.168.1.20", [], "192.168.1.20"),
        # No usable peer.
        (None, ["203.0.113.5"], ""),
        ("unix-socket", ["203.0.113.5"], "unix-socket"),
    ],
)
def test_client_address(peer: str | None, forwarded: list[str], client: str) -> None:
    assert TRUST.client_address(scope(peer, *forwarded)) == client


@pytest.mark.parametrize(
    ("address", "counted"),
    [
        ("192.168.1.20", "192.168.1.20"),
        ("2001:db8:1:2:abcd:ef01:2345:6789", "2001:db8:1:2::/64"),
        ("2001:db8:1:2::1", "2001:db8:1:2::/64"),
        ("fe80::1", "fe80::/64"),
        ("::1", "::/64"),
        ("::ffff:192.168.1.20", "192.168.1.20"),  # IPv4-mapped: the IPv4 host, not one /64
        ("", ""),
        ("unix-socket", "unix-socket"),
    ],
)
def test_failures_count_per_ipv4_address_and_per_ipv6_64(address: str, counted: str) -> None:
    assert counted_as(address) == counted


def test_lockout_after_the_limit_and_only_until_the_window_ends(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = ManualClock()
    attempts = FailedAttempts(clock.monotonic, max_failures=3, window_s=10)
    attempts.failed("a", "k1")
    clock.advance(4)
    attempts.failed("a", "k2")
    assert attempts.retry_after("a") is None
    with caplog.at_level(logging.WARNING, "spark_control.auth"):
        attempts.failed("a", "k3")
    assert [r.getMessage() for r in caplog.records] == [
        "3 failed credential attempts from a within 10 s: its credentials are refused for 6 s"
    ]
    assert attempts.retry_after("a") == 6  # the window opened at the first failure
    assert attempts.retry_after("b") is None
    clock.advance(5.9)
    assert attempts.retry_after("a") == 1
    clock.advance(0.1)
    assert attempts.retry_after("a") is None
    assert len(attempts) == 0


def test_repeats_of_a_wrong_credential_count_once_and_memory_per_address_is_bounded() -> None:
    clock = ManualClock()
    attempts = FailedAttempts(clock.monotonic, max_failures=100, window_s=10)
    for _ in range(5):
        attempts.failed("a", "same")
    window = attempts._windows["a"]
    assert window.failures == 1
    for n in range(50):
        attempts.failed("a", f"k{n}")
    assert window.failures == 51
    assert len(window.wrong) == REMEMBERED_WRONG
    assert all(b"same" not in fingerprint for fingerprint in window.wrong)


def test_the_table_is_capped_and_evicts_the_oldest_window() -> None:
    clock = ManualClock()
    attempts = FailedAttempts(clock.monotonic, max_failures=2, window_s=60, max_addresses=100)
    for n in range(10_000):
        attempts.failed(f"addr-{n}", "x")
        clock.advance(0.001)
    assert len(attempts) == 100
    assert "addr-9999" in attempts._windows and "addr-9899" not in attempts._windows
    # A locked-out address that is evicted starts again (the cap is the price of bounded memory).
    attempts.failed("addr-9999", "y")
    assert attempts.retry_after("addr-9999") == 60


def test_without_failures_no_address_is_resolved() -> None:
    """The usual request costs no address resolution: the table is empty."""

    class Unresolvable(ProxyTrust):
        def client_address(self, scope: Any) -> str:
            raise AssertionError("resolved an address")

    auth = Auth([], Unresolvable([]), ManualClock().monotonic)
    assert auth.lockout(scope("203.0.113.5")) is None
