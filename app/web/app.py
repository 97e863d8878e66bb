"""``create_app``: the Litestar application around a :class:`~app.runtime.Runtime`.

The runtime is the one place external systems are handed in (``Runtime(config, clock=…,
ssh=…, …)``) so tests can substitute them; nothing is read from the environment or the network
at import time.
"""

from __future__ import annotations

from litestar import Litestar
from litestar.di import Provide
from litestar.enums import ScopeType
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.types import ASGIApp, Receive, Scope, Send

from app import __version__
from app.logs import install_redaction
from app.runtime import Runtime
from app.web.auth import Auth, auth_guard
from app.web.body import ApiRequest
from app.web.errors import exception_handlers
from app.web.guards import same_origin_guard
from app.web.hosts import HostPolicy, ProxyTrust, host_guard
from app.web.routes import route_handlers
from app.web.routes.proxy import is_proxied, proxy_endpoint

JSON_BODY_LIMIT = 1024 * 1024


class SparkControlApp(Litestar):
    """Litestar, except that the OpenAI-compatible proxy's paths go straight to
    ``proxy_chain`` (the guards, then the proxy: ``app.web.routes.proxy``)."""

    proxy_chain: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:  # type: ignore[override]
        chain = self.proxy_chain
        if chain is not None and scope["type"] == ScopeType.HTTP and is_proxied(scope["path"]):
            scope["app"] = scope["litestar_app"] = self
            await chain(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def create_app(runtime: Runtime) -> Litestar:
    """The HTTP application serving ``runtime`` (built with its external systems, real or
    substituted). The app starts the runtime at startup and stops it at shutdown."""
    install_redaction()  # a lock token in ?token= must never reach an access log
    rt = runtime
    config = rt.config

    def provide_runtime() -> Runtime:
        return rt

    hosts = HostPolicy(config.server.allowed_hosts)
    trust = ProxyTrust(config.server.trusted_proxies)
    auth = Auth(config.server.api_keys, trust, rt.clock.monotonic)
    # Outermost first: a refused Host (421) before a missing key (401) before a cross-site
    # write (403), so a rebinding page learns nothing about the keys.
    guards = [host_guard(hosts, trust), auth_guard(auth), same_origin_guard(trust)]
    app = SparkControlApp(
        route_handlers=route_handlers(),
        dependencies={"rt": Provide(provide_runtime, sync_to_thread=False)},
        exception_handlers=exception_handlers(),
        middleware=guards,
        request_max_body_size=JSON_BODY_LIMIT,
        request_class=ApiRequest,
        openapi_config=OpenAPIConfig(
            title="Spark Control",
            version=__version__,
            path="/schema",
            render_plugins=[JsonRenderPlugin(path="/openapi.json")],
            use_handler_docstrings=True,
        ),
        on_startup=[rt.start],
        on_shutdown=[rt.stop],
        debug=False,
        logging_config=None,  # logging is configured once, by app.logs
    )
    app.state.runtime = rt
    app.state.auth = auth
    app.state.proxy_trust = trust
    chain = proxy_endpoint(rt, trust)
    for guard in reversed(guards):
        chain = guard(chain)
    app.proxy_chain = chain
    return app
