"""Loading the catalog: the bundled (or configured) catalog file plus the overrides file, into
an immutable :class:`Catalog` snapshot. Readers hold a snapshot; nothing mutates one."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Literal

import msgspec
import yaml

from app.catalog.models import ModelDef
from app.catalog.overrides import Overrides

Source = Literal["catalog", "user"]


class CatalogError(Exception):
    """A catalog file cannot be read or has a wrong structure."""


class CatalogFile(msgspec.Struct, forbid_unknown_fields=True):
    models: tuple[ModelDef, ...] = ()


class Catalog(msgspec.Struct, frozen=True):
    """One immutable view of every model and where it came from."""

    models: tuple[ModelDef, ...]
    sources: dict[str, Source]

    def get(self, key: str) -> ModelDef | None:
        return next((m for m in self.models if m.key == key), None)

    def by_served_name(self, served: str) -> ModelDef | None:
        return next((m for m in self.models if m.served_name == served), None)

    def source(self, key: str) -> Source:
        return self.sources.get(key, "catalog")


def bundled_catalog_text() -> str:
    return resources.files("app.catalog").joinpath("models.yaml").read_text(encoding="utf-8")


def parse_catalog(text: str, origin: str) -> tuple[ModelDef, ...]:
    try:
        data = yaml.safe_load(text) or {}
        parsed = msgspec.convert(data, CatalogFile, strict=True)
    except yaml.YAMLError:
        raise CatalogError(f"{origin}: not valid YAML") from None
    except msgspec.ValidationError as err:
        raise CatalogError(f"{origin}: {err}") from None
    keys = [m.key for m in parsed.models]
    duplicates = sorted({k for k in keys if keys.count(k) > 1})
    if duplicates:
        raise CatalogError(f"{origin}: duplicate model keys {', '.join(duplicates)}")
    return parsed.models


def load_base_catalog(catalog_file: str) -> tuple[ModelDef, ...]:
    """The configured catalog file, or the one bundled with the app when ``catalog_file`` is
    empty. Raises :class:`CatalogError`."""
    if not catalog_file:
        return parse_catalog(bundled_catalog_text(), "bundled models.yaml")
    try:
        text = Path(catalog_file).read_text(encoding="utf-8")
    except OSError as err:
        raise CatalogError(f"{catalog_file}: cannot read ({err.strerror or err})") from None
    return parse_catalog(text, catalog_file)


def make_catalog(base: tuple[ModelDef, ...], user: tuple[ModelDef, ...] = ()) -> Catalog:
    """Merge: a user entry with a catalog key replaces it (knob edits); others are added."""
    merged: dict[str, ModelDef] = {m.key: m for m in base}
    sources: dict[str, Source] = dict.fromkeys(merged, "catalog")
    for model in user:
        if model.key not in merged:
            sources[model.key] = "user"
        merged[model.key] = model
    return Catalog(models=tuple(merged.values()), sources=sources)


def apply_overrides(base: tuple[ModelDef, ...], overrides: Overrides) -> Catalog:
    """The catalog: base models with their knob edits applied, plus the user's models."""
    edited = tuple(
        msgspec.structs.replace(m, knobs=overrides.knobs[m.key]) if m.key in overrides.knobs else m
        for m in base
    )
    return make_catalog(
        edited, tuple(m for m in overrides.models if m.key not in {b.key for b in base})
    )
