"""The service registry: the built-in services + ``services-overrides.yaml`` minus ``services.disabled``.

A disabled service stays in the registry (``/api/endpoints`` lists it with ``disabled: true``)
but has no tile, is skipped by every probe, and its proxy routes answer 404.

Built-ins (CONFIG.md): ``vllm`` (the swapped cluster model on the head at ``vllm.port``),
``parakeet`` (ASR + diarization, spark2:8000), ``kokoro`` (TTS, spark2:8880), ``embeddings``
(spark2:8002), ``qdrant`` (spark2:6333). An override with a built-in key changes that service;
any other key adds one (``kind: vllm`` entries are read-only monitors of another vLLM).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Literal

import msgspec
import yaml

from app.cluster.commands import refuse_control_chars
from app.config import Config
from app.config_rules import SERVICE_KEY, SPARK_NAME

log = logging.getLogger("spark_control.services")

Kind = Literal["vllm", "openai", "http", "qdrant"]


class ServiceOverride(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    key: Annotated[str, msgspec.Meta(pattern=SERVICE_KEY)]
    name: Annotated[str, msgspec.Meta(max_length=100)] | None = None
    kind: Kind | None = None
    node: Annotated[str, msgspec.Meta(pattern=SPARK_NAME)] | None = None
    url: Annotated[str, msgspec.Meta(pattern=r"^https?://[^\s]{1,500}$")] | None = None
    port: Annotated[int, msgspec.Meta(ge=1, le=65535)] | None = None
    health_path: Annotated[str, msgspec.Meta(pattern=r"^/[^\s]{0,200}$")] | None = None
    description: Annotated[str, msgspec.Meta(max_length=300)] | None = None

    def __post_init__(self) -> None:
        refuse_control_chars(self, "key", "node", "url", "health_path")  # not the display text


class OverridesFile(msgspec.Struct, forbid_unknown_fields=True):
    services: tuple[ServiceOverride, ...] = ()


class Service(msgspec.Struct, frozen=True):
    """A resolved service: where it is and how to probe it."""

    key: str
    name: str
    kind: Kind
    url: str | None  # base URL, None when its node is not configured
    node: str | None
    health_path: str
    disabled: bool
    builtin: bool
    description: str = ""


_BUILTINS: tuple[ServiceOverride, ...] = (
    ServiceOverride(
        key="vllm",
        name="vLLM (cluster model)",
        kind="vllm",
        node="@head",
        health_path="/health",
        description="The model Spark Control swaps across the Sparks.",
    ),
    ServiceOverride(
        key="parakeet",
        name="Parakeet ASR",
        kind="openai",
        node="spark2",
        port=8000,
        health_path="/health",
        description="Speech to text with speaker diarization.",
    ),
    ServiceOverride(
        key="kokoro",
        name="Kokoro TTS",
        kind="openai",
        node="spark2",
        port=8880,
        health_path="/health",
        description="Text to speech.",
    ),
    ServiceOverride(
        key="embeddings",
        name="Embeddings",
        kind="openai",
        node="spark2",
        port=8002,
        health_path="/health",
        description="Text embeddings.",
    ),
    ServiceOverride(
        key="qdrant",
        name="Qdrant",
        kind="qdrant",
        node="spark2",
        port=6333,
        health_path="/healthz",
        description="Vector database.",
    ),
)
BUILTIN_KEYS = tuple(s.key for s in _BUILTINS)


def _host_url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def load_overrides(path: str) -> tuple[tuple[ServiceOverride, ...], list[str]]:
    """The overrides in ``path`` and warnings; a missing file is no overrides, a bad file is a
    warning (the built-ins still work)."""
    if not path:
        return (), []
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return (), []
    except OSError as err:
        return (), [f"services overrides: cannot read {path} ({err.strerror or err})."]
    try:
        parsed = msgspec.convert(yaml.safe_load(text) or {}, OverridesFile, strict=True)
    except (yaml.YAMLError, msgspec.ValidationError) as err:
        return (), [
            f"services overrides: {path} is invalid ({str(err).splitlines()[0][:200]}); ignored."
        ]
    return parsed.services, []


def build_services(config: Config, overrides: tuple[ServiceOverride, ...]) -> list[Service]:
    """Resolve built-ins and overrides into services, in a stable order (built-ins first)."""
    merged: dict[str, ServiceOverride] = {s.key: s for s in _BUILTINS}
    for override in overrides:
        base = merged.get(override.key)
        if base is None:
            merged[override.key] = override
        else:
            changes = {
                f: v for f in override.__struct_fields__ if (v := getattr(override, f)) is not None
            }
            merged[override.key] = msgspec.structs.replace(base, **changes)
    disabled = set(config.services.disabled)
    head = config.sparks[0].name if config.sparks else None
    services = []
    for entry in merged.values():
        node = head if entry.node == "@head" else entry.node
        port = config.vllm.port if entry.key == "vllm" and entry.port is None else entry.port
        url = entry.url
        if url is None and node is not None and port is not None:
            spark = config.spark(node)
            url = _host_url(spark.host, port) if spark else None
        services.append(
            Service(
                key=entry.key,
                name=entry.name or entry.key,
                kind=entry.kind or "http",
                url=url.rstrip("/") if url else None,
                node=node if entry.url is None else None,
                health_path=entry.health_path or "/health",
                disabled=entry.key in disabled,
                builtin=entry.key in BUILTIN_KEYS,
                description=entry.description or "",
            )
        )
    return services


class ServiceRegistry:
    """The services of this app, resolved once at startup (the config is read once too)."""

    def __init__(self, config: Config) -> None:
        overrides, self.warnings = load_overrides(config.services.overrides_file)
        self._services = build_services(config, overrides)
        self._by_key = {s.key: s for s in self._services}

    def all(self) -> list[Service]:
        """Every service, disabled ones included."""
        return list(self._services)

    def enabled(self) -> list[Service]:
        return [s for s in self._services if not s.disabled]

    def get(self, key: str) -> Service | None:
        return self._by_key.get(key)
