"""The rules every config value is checked against: name and path patterns, the defaults,
the webhook's event names and :class:`ConfigError`. Shared by the config's Structs
(``app.config``) and its soft settings (``app.config_soft``); imported through ``app.config``.
"""

from __future__ import annotations

import re
from typing import Literal

CONFIG_ENV = "SPARK_CONTROL_CONFIG"

SPARK_NAME = r"^[a-z0-9][a-z0-9-]{0,31}$"
SERVICE_KEY = r"^[a-z0-9][a-z0-9_-]{0,31}$"
# A Docker container name (Docker's own rule), bounded.
CONTAINER_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$")
# A Docker image reference: repository[:tag][@digest], no shell metacharacters.
IMAGE_REF = re.compile(r"^[a-z0-9][a-z0-9._/:@-]{0,254}$")
# A hostname or an IPv4/IPv6 literal; nothing a shell or ssh would interpret.
HOST = r"^[A-Za-z0-9]([A-Za-z0-9.:-]{0,252}[A-Za-z0-9])?$"
SSH_USER = r"^[a-z_][a-z0-9_.-]{0,31}$"
# A remote directory: absolute or ~/relative, no control characters (NUL and newlines included).
REMOTE_DIR = re.compile(r"^(~|~/[^\x00-\x1f\x7f]*|/[^\x00-\x1f\x7f]*)$")
# The Hugging Face hub's base URL: http(s), a host, an optional port and path; nothing else.
HF_ENDPOINT = re.compile(r"^https?://[A-Za-z0-9.:\[\]-]{1,253}(/[A-Za-z0-9._~/-]{0,200})?$")

DEFAULT_VLLM_PORT = 8888
DEFAULT_CONTAINER = "vllm_node"
DEFAULT_IMAGE = "vllm-node"
DEFAULT_LAUNCH_DIR = "~/spark-vllm-docker"
DEFAULT_HF_HOME = "~/.cache/huggingface"
DEFAULT_LOAD_TIMEOUT_S = 1800
DEFAULT_MAX_UPLOAD_MB = 200
# Read when a config is parsed (not at import), so a test session can point it at a temporary
# directory; ":memory:" keeps the history in memory.
DEFAULT_DATABASE = "/data/spark-control.db"
DEFAULT_HF_ENDPOINT = "https://huggingface.co"

BUILTIN_SERVICES = ("vllm", "parakeet", "kokoro", "embeddings", "qdrant")


class ConfigError(Exception):
    """The config file cannot be used; ``str(err)`` is the one line to print before exit 2."""


WebhookEvent = Literal[
    "swap_complete",
    "swap_failed",
    "model_crashed",
    "model_restarted",
    "spark_unreachable",
    "spark_recovered",
    "lock_acquired",
    "lock_released",
    "lock_expired",
    "download_complete",
    "download_failed",
]
