"""The user's overrides file: models they added and knob edits to catalog models.

Format (YAML)::

    models:            # user-added models (full definitions)
      - {key: ten31-v2, local_path: /home/nvidia/models/ten31-v2, knobs: {...}}
    knobs:             # knob edits of bundled-catalog models, by key
      gemma-3-27b: {max_model_len: 16384}

Written only through :func:`save_overrides` (atomic: temp + fsync + rename). A file that cannot
be parsed at startup is moved aside to ``<name>.corrupt-<timestamp>`` so nothing is lost and the
app starts with the bundled catalog.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import msgspec
import yaml

from app.atomic import write_atomic
from app.catalog.models import Knobs, ModelDef


class Overrides(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    models: tuple[ModelDef, ...] = ()
    knobs: dict[str, Knobs] = msgspec.field(default_factory=dict)


class OverridesCorrupt(Exception):
    """The overrides file exists but cannot be used; ``moved_to`` is where it was kept."""

    def __init__(self, message: str, moved_to: Path | None) -> None:
        super().__init__(message)
        self.moved_to = moved_to


def load_overrides(path: str, now: datetime) -> Overrides:
    """The overrides at ``path`` (empty when the path is blank or the file absent).

    Raises :class:`OverridesCorrupt` after moving an unreadable file aside."""
    if not path:
        return Overrides()
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Overrides()
    except OSError as err:
        raise OverridesCorrupt(f"cannot read {file}: {err.strerror or err}", None) from None
    try:
        data = yaml.safe_load(text)
        overrides = msgspec.convert(data or {}, Overrides, strict=True)
        keys = [m.key for m in overrides.models]
        if len(keys) != len(set(keys)):
            raise ValueError("duplicate model keys")
        return overrides
    except (yaml.YAMLError, msgspec.ValidationError, ValueError) as err:
        reason = str(err).splitlines()[0][:200] if str(err) else type(err).__name__
        target = file.with_name(f"{file.name}.corrupt-{now.strftime('%Y%m%dT%H%M%S')}")
        aside: Path | None = target
        try:
            os.replace(file, target)
        except OSError:
            aside = None
        raise OverridesCorrupt(f"{file} is not a valid overrides file ({reason})", aside) from None


def dump_overrides(overrides: Overrides) -> bytes:
    data = msgspec.to_builtins(overrides)
    header = (
        "# Spark Control model overrides: written by the app; edits here are read at startup.\n"
    )
    return (header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)).encode()


def save_overrides(path: str, overrides: Overrides) -> None:
    """Atomically replace the overrides file; raises OSError (the old file stays intact)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(target, dump_overrides(overrides), mode=0o644)
