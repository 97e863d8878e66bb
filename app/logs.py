"""Logging for the whole process, configured explicitly once at startup.

Third-party chatter (httpx, asyncssh) is held at WARNING. Access-log lines are scrubbed of
query-string secrets (``?token=…``): a lock token must never reach a log file.
"""

from __future__ import annotations

import logging
import logging.config
import re

_SECRET_QUERY = re.compile(r"((?:^|[?&])(?:token|secret|key|api_key)=)[^&\s\"]*", re.I)


def redact(text: str) -> str:
    """Replace the value of secret-looking query parameters with ``***``."""
    if "=" not in text:  # most arguments (addresses, methods, plain paths): no regex run
        return text
    return _SECRET_QUERY.sub(r"\1***", text)


class RedactQuerySecrets(logging.Filter):
    """Scrubs the request line uvicorn's access logger passes as an argument."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        return True


class RedactSshEnv(logging.Filter):
    """asyncssh logs the environment sent with a command at debug level (``Env: K=V``); the
    HF token travels there, so its values are replaced whatever level is configured."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "Env:" in message:
            record.msg = re.sub(r"(Env:\s*[A-Za-z_][A-Za-z0-9_]*=).*", r"\1***", message)
            record.args = ()
        return True


_REDACTOR = RedactQuerySecrets()
_SSH_ENV_REDACTOR = RedactSshEnv()


def install_redaction() -> None:
    """Scrub query-string secrets from uvicorn's access log lines and environment values from
    asyncssh's debug lines, however logging is set up (a logger-level filter runs before any
    handler). Idempotent."""
    access = logging.getLogger("uvicorn.access")
    if _REDACTOR not in access.filters:
        access.addFilter(_REDACTOR)
    ssh = logging.getLogger("asyncssh")
    if _SSH_ENV_REDACTOR not in ssh.filters:
        ssh.addFilter(_SSH_ENV_REDACTOR)


def configure_logging(level: str = "INFO") -> None:
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "filters": {"redact": {"()": RedactQuerySecrets}},
            "formatters": {
                "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
            },
            "handlers": {
                "stderr": {
                    "class": "logging.StreamHandler",
                    "formatter": "plain",
                    "filters": ["redact"],
                },
            },
            "root": {"handlers": ["stderr"], "level": level},
            "loggers": {
                "httpx": {"level": "WARNING"},
                "httpcore": {"level": "WARNING"},
                "asyncssh": {"level": "WARNING"},
                "uvicorn": {"level": level, "handlers": [], "propagate": True},
                "uvicorn.error": {"level": level, "handlers": [], "propagate": True},
                "uvicorn.access": {"level": level, "handlers": [], "propagate": True},
            },
        }
    )
    install_redaction()
