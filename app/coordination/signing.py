"""Webhook signatures: the seed's ``X-Spark-Signature`` and the Standard Webhooks headers.

* ``X-Spark-Signature: sha256=<hex>`` — HMAC-SHA256 of the raw body keyed with the secret's
  UTF-8 bytes (coordination seed §2; unchanged).
* ``webhook-id``, ``webhook-timestamp`` (unix seconds) and ``webhook-signature: v1,<base64>`` —
  HMAC-SHA256 of ``<id>.<timestamp>.<body>`` (standardwebhooks.com). The key: a secret written
  ``whsec_<base64>`` (the Standard Webhooks form) is the decoded base64; any other secret is its
  UTF-8 bytes, so a receiver using a Standard Webhooks library passes
  ``"whsec_" + base64(secret)``. The seed's header keeps using the secret string as written.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

WHSEC_PREFIX = "whsec_"


def sign(secret: str, body: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 of ``body`` keyed with ``secret``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def standard_key(secret: str) -> bytes:
    """The Standard Webhooks signing key for ``secret`` (see the module docstring)."""
    if secret.startswith(WHSEC_PREFIX):
        try:
            key = base64.b64decode(secret[len(WHSEC_PREFIX) :], validate=True)
        except (binascii.Error, ValueError):
            key = b""
        if key:
            return key
    return secret.encode()


def standard_signature(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256 of id.timestamp.body>``."""
    signed = message_id.encode() + b"." + str(timestamp).encode() + b"." + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def headers(
    secret: str, event: str, message_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """Every header of one delivery. Without a secret nothing is signed (as the seed says),
    but the id and timestamp still let a receiver de-duplicate."""
    out = {
        "Content-Type": "application/json",
        "X-Spark-Event": event,
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
    }
    if secret:
        out["X-Spark-Signature"] = sign(secret, body)
        out["webhook-signature"] = standard_signature(
            standard_key(secret), message_id, timestamp, body
        )
    return out
