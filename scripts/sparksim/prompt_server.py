"""A uvicorn server that starts stopping the moment it is asked.

uvicorn's own main loop looks at ``should_exit`` every 0.1 s, so each stop waits up to a tick
before shutdown begins. The simulator and the tests start and stop servers hundreds of times a
run (each app, each fake service, the fake hub); :meth:`PromptServer.exit` wakes the loop at
once. Everything else (the once-a-second date header, the max-requests limit, the graceful
shutdown) is uvicorn's own, through its ``on_tick`` and ``shutdown``.
"""

from __future__ import annotations

import asyncio
import contextlib

import uvicorn

_TICK_S = 0.1  # uvicorn's tick: on_tick refreshes the date header every tenth one


class PromptServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._exit_now = asyncio.Event()

    def exit(self) -> None:
        """Stop serving: shutdown starts now rather than at the next tick."""
        self.should_exit = True
        self._exit_now.set()

    async def main_loop(self) -> None:
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 1) % 864000
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_TICK_S):
                    await self._exit_now.wait()
