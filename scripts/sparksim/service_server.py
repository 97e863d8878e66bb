"""One fake service served over HTTP by uvicorn in the calling event loop.

:class:`ServiceServer` binds its socket in :meth:`ServiceServer.start` (port 0 = a free port);
``stop()`` / ``start()`` again (same port) simulate a backend going down and coming back. It
serves the apps of ``fake_services`` and the fake Hugging Face hub (``hfhub``).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any

from scripts.sparksim.fake_services import FakeService
from scripts.sparksim.prompt_server import PromptServer


class ServiceServer:
    """One fake service served by uvicorn in the current event loop."""

    def __init__(self, app: FakeService, host: str, port: int = 0) -> None:
        self.app, self.host, self.port = app, host, port
        self._server: Any = None
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self, timeout: float = 10.0) -> None:
        """Bind (the same port as before after a ``stop``) and serve. Raises OSError when the
        address cannot be bound. Returns once the server accepts connections."""
        import uvicorn

        if self.running:
            return
        # IPPROTO_TCP so asyncio sets TCP_NODELAY (else Nagle delays small bodies by ~40 ms).
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.port))
            sock.listen(128)
        except OSError:
            sock.close()
            raise
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            lifespan="off",
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=1,
        )
        self._server = PromptServer(config)
        self._task = asyncio.create_task(self._serve(sock), name=f"fake-{self.app.name}")
        async with asyncio.timeout(timeout):
            while not self._server.started:
                if self._task.done():
                    self._task.result()
                    raise OSError(f"fake {self.app.name} stopped while starting")
                await asyncio.sleep(0.005)

    async def _serve(self, sock: socket.socket) -> None:
        try:
            await self._server.serve(sockets=[sock])
        finally:
            sock.close()

    async def stop(self, timeout: float = 10.0) -> None:
        """Stop serving (open connections get one second); the port is released. Idempotent."""
        if self._task is None:
            return
        self.app.release()  # held requests must not keep the server from stopping
        self._server.exit()
        task, self._task = self._task, None
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, timeout)
