"""The TLS settings of Spark Control's outgoing HTTPS (the Hugging Face hub, webhooks).

Building a context loads the CA bundle, about 25 ms of CPU; a context holds no connection state
and is safe to share, so every client of the process uses the one :func:`client_context`
returns. Built on first use, with httpx's defaults (certifi's bundle, verification on) and
without reading ``SSL_CERT_FILE``/``SSL_CERT_DIR`` (the clients are built ``trust_env=False``).
"""

from __future__ import annotations

import functools
import ssl

import httpx


@functools.cache
def client_context() -> ssl.SSLContext:
    return httpx.create_ssl_context(trust_env=False)
