"""``python -m app [--config PATH] [--host H] [--port P]``: serve Spark Control with uvicorn.

Exit code 2 with one line on stderr when the config file cannot be used.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from types import FrameType

import uvicorn

from app.config import ConfigError, load_config
from app.config_rules import CONFIG_ENV
from app.logs import configure_logging

GRACEFUL_SHUTDOWN_S = 5


class _Server(uvicorn.Server):
    """uvicorn's server, telling the app the moment a stop signal arrives: uvicorn then waits
    up to ``GRACEFUL_SHUTDOWN_S`` for open connections, and the app's event streams must end
    in that time rather than be cancelled (logged as an error)."""

    def __init__(self, config: uvicorn.Config, *, on_exit: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_exit = on_exit

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self._on_exit()
        super().handle_exit(sig, frame)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m app", description="Serve Spark Control.")
    parser.add_argument("--config", help=f"config file (default: ${CONFIG_ENV})")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=9999, help="port to bind (default 9999)")
    parser.add_argument(
        "--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"]
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging(args.log_level)
    path = args.config or os.environ.get(CONFIG_ENV)
    try:
        config = load_config(path)
    except ConfigError as err:
        print(err, file=sys.stderr)
        return 2

    from app.runtime import Runtime
    from app.web import create_app
    from app.web.lane import LaneProtocol

    runtime = Runtime(config)
    server = _Server(
        uvicorn.Config(
            create_app(runtime),
            host=args.host,
            port=args.port,
            log_config=None,
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
            server_header=False,
            http=LaneProtocol,  # uvicorn's, with a lean path for the proxied requests
            # The app decides itself whose X-Forwarded-* count (server.trusted_proxies); the
            # client address it sees must stay the TCP peer's.
            proxy_headers=False,
        ),
        on_exit=runtime.begin_shutdown,
    )
    server.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
