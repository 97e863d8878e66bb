"""Soft settings: values that fall back to their default with a warning instead of stopping
startup (vLLM port, container, image, directories, hub URL, load timeout, upload cap, the
disabled services, webhook event names), and the environment variables that override the file.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Mapping
from typing import Any

from app.config_rules import (
    CONTAINER_NAME,
    DEFAULT_CONTAINER,
    DEFAULT_HF_ENDPOINT,
    DEFAULT_HF_HOME,
    DEFAULT_IMAGE,
    DEFAULT_LAUNCH_DIR,
    DEFAULT_LOAD_TIMEOUT_S,
    DEFAULT_MAX_UPLOAD_MB,
    DEFAULT_VLLM_PORT,
    HF_ENDPOINT,
    IMAGE_REF,
    REMOTE_DIR,
    ConfigError,
    WebhookEvent,
)


def soft_int(value: Any, *, default: int, lo: int, hi: int, field: str, warnings: list[str]) -> int:
    """An int in [lo, hi]; blank or anything else falls back to ``default`` with a warning."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if value is not None:
            warnings.append(f"{field} is blank; using {default}.")
        return default
    if isinstance(value, bool):
        parsed = None
    elif isinstance(value, int):
        parsed = value
    elif isinstance(value, str) and re.fullmatch(r"\s*\d{1,9}\s*", value):
        parsed = int(value)
    else:
        parsed = None
    if parsed is None or not lo <= parsed <= hi:
        warnings.append(
            f"{field} {str(value)[:40]!r} is not a number in {lo}-{hi}; using {default}."
        )
        return default
    return parsed


def soft_name(
    value: Any, *, default: str, pattern: re.Pattern[str], field: str, warnings: list[str]
) -> str:
    """A string matching ``pattern``; blank or invalid falls back to ``default`` with a warning."""
    if value is None:
        return default
    if not isinstance(value, str) or not value.strip():
        warnings.append(f"{field} is blank; using {default!r}.")
        return default
    stripped = value.strip()
    if not pattern.fullmatch(stripped):
        warnings.append(f"{field} {stripped[:40]!r} is not a valid name; using {default!r}.")
        return default
    return stripped


def parse_service_list(raw: str) -> tuple[str, ...]:
    """``"parakeet, kokoro,,"`` -> ``("parakeet", "kokoro")``: trimmed, lower-cased, de-duplicated."""
    seen: dict[str, None] = {}
    for part in raw.split(","):
        key = part.strip().lower()
        if key:
            seen[key] = None
    return tuple(seen)


def apply_soft_settings(data: dict[str, Any], env: Mapping[str, str], warnings: list[str]) -> None:
    """Replace soft settings in ``data`` in place with validated values (env wins over file)."""
    vllm = _section(data, "vllm")
    port = env.get("VLLM_PORT", vllm.get("port"))
    field = "VLLM_PORT" if "VLLM_PORT" in env else "vllm.port"
    vllm["port"] = soft_int(
        port, default=DEFAULT_VLLM_PORT, lo=1, hi=65535, field=field, warnings=warnings
    )
    container = env.get("VLLM_CONTAINER", vllm.get("container"))
    field = "VLLM_CONTAINER" if "VLLM_CONTAINER" in env else "vllm.container"
    vllm["container"] = soft_name(
        container, default=DEFAULT_CONTAINER, pattern=CONTAINER_NAME, field=field, warnings=warnings
    )
    vllm["image"] = soft_name(
        vllm.get("image"),
        default=DEFAULT_IMAGE,
        pattern=IMAGE_REF,
        field="vllm.image",
        warnings=warnings,
    )
    for key, default in (("launch_dir", DEFAULT_LAUNCH_DIR), ("hf_home", DEFAULT_HF_HOME)):
        vllm[key] = soft_name(
            vllm.get(key),
            default=default,
            pattern=REMOTE_DIR,
            field=f"vllm.{key}",
            warnings=warnings,
        )
    vllm["hf_endpoint"] = soft_name(
        vllm.get("hf_endpoint"),
        default=DEFAULT_HF_ENDPOINT,
        pattern=HF_ENDPOINT,
        field="vllm.hf_endpoint",
        warnings=warnings,
    ).rstrip("/")
    vllm["load_timeout_s"] = soft_int(
        vllm.get("load_timeout_s"),
        default=DEFAULT_LOAD_TIMEOUT_S,
        lo=10,
        hi=86400,
        field="vllm.load_timeout_s",
        warnings=warnings,
    )

    limits = _section(data, "limits")
    limits["max_upload_mb"] = soft_int(
        limits.get("max_upload_mb"),
        default=DEFAULT_MAX_UPLOAD_MB,
        lo=1,
        hi=10240,
        field="limits.max_upload_mb",
        warnings=warnings,
    )

    services = _section(data, "services")
    if "DISABLED_SERVICES" in env:
        services["disabled"] = list(parse_service_list(env["DISABLED_SERVICES"]))
    elif isinstance(services.get("disabled"), str):
        services["disabled"] = list(parse_service_list(services["disabled"]))
    elif services.get("disabled") is None:
        services.pop("disabled", None)

    webhook = data.get("webhook")
    if isinstance(webhook, dict) and isinstance(webhook.get("events"), list):
        known = typing.get_args(WebhookEvent)
        chosen = [e for e in webhook["events"] if isinstance(e, str) and e in known]
        unknown = [str(e)[:40] for e in webhook["events"] if e not in chosen]
        if unknown:
            warnings.append(
                f"webhook.events: {', '.join(repr(e) for e in unknown)} not known; ignored "
                f"(known: {', '.join(known)})."
            )
        webhook["events"] = list(dict.fromkeys(chosen))

    if env.get("HF_TOKEN"):
        vllm["hf_token"] = env["HF_TOKEN"]

    if env.get("MODELS_OVERRIDES"):
        _section(data, "models")["overrides_file"] = env["MODELS_OVERRIDES"]


def _section(data: dict[str, Any], name: str) -> dict[str, Any]:
    """The top-level object ``name`` of ``data`` (created empty when absent)."""
    section = data.get(name)
    if section is None:
        section = data[name] = {}
    if not isinstance(section, dict):
        raise ConfigError(f"config: $.{name}: expected object, got {type_name(section)}")
    return section


def type_name(value: Any) -> str:
    return {
        dict: "object",
        list: "array",
        str: "str",
        int: "int",
        float: "float",
        bool: "bool",
    }.get(type(value), "null" if value is None else type(value).__name__)
