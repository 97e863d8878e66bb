"""The refusals a client can cause, by kind, and the sentences shared across packages.

Domain code raises a subclass of one of these kinds; ``app/web/errors.py`` maps each kind to
one HTTP status in one table (the domain knows nothing about HTTP). ``message`` is a complete,
client-safe sentence; ``extra()`` adds fields to the error body (e.g. the lock's status).
"""

from __future__ import annotations

from typing import Any


class UserError(Exception):
    """Base of every refusal a client can cause."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def extra(self) -> dict[str, Any]:
        """Fields the error body carries besides ``detail``."""
        return {}


class Invalid(UserError):
    """The request cannot be honoured as asked (HTTP 400)."""


class Unauthorized(UserError):
    """A credential (an API key) was needed and missing or wrong (HTTP 401)."""


class Forbidden(UserError):
    """A credential was needed and missing or wrong (HTTP 403)."""


class NotFound(UserError):
    """The thing named does not exist (HTTP 404)."""


class Conflict(UserError):
    """The request conflicts with the current state (HTTP 409)."""


class LockedOut(UserError):
    """The swap lock forbids this now (HTTP 423)."""


class Unavailable(UserError):
    """A Spark or service the answer depends on could not be reached (HTTP 502)."""


class Throttled(UserError):
    """Too many attempts: the client must wait ``retry_after_s`` whole seconds (HTTP 429 with
    ``Retry-After``)."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


# --- shared refusals (one sentence each) -----------------------------------------------------

NO_SPARKS = "No Sparks are configured — run the Configure Sparks action first."
NO_SPARKS_WARNING = "no Sparks configured — run the Configure Sparks action"  # /api/status


class NotConfigured(Conflict):
    """No Spark is configured yet."""

    def __init__(self) -> None:
        super().__init__(NO_SPARKS)


class UnknownModel(NotFound):
    """No such model in the catalog."""

    def __init__(self, key: str) -> None:
        super().__init__(f"No model with key {key!r} in the catalog.")
        self.key = key
