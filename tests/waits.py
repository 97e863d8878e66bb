"""Waiting in tests on a condition that has no event of its own (a process list, a counter on
the server, a remote state), always with a deadline."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import inspect
import time
from collections.abc import Callable, Iterator
from typing import Any

POLL_S = 0.02


async def wait_until(predicate: Callable[[], Any], what: str, timeout: float = 10.0) -> Any:
    """Evaluate ``predicate`` (sync or async) until it returns something truthy, and return
    that; fail the test naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(POLL_S)


@contextlib.contextmanager
def no_cyclic_gc() -> Iterator[None]:
    """Disable the cyclic garbage collector inside the block. A test that checks a resource
    is released when a client goes away uses it: otherwise the collector's finaliser of an
    abandoned generator could release it a few seconds later and hide a missing cleanup."""
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
