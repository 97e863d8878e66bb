"""The plan of every model downloaded and verified: revision, files, sizes, sha256.

Kept so that a swap's pre-flight can check the weights on every Spark (size level) without
asking the hub, and so that the dashboard can say "partial" rather than only "absent". One JSON
file per model key in ``directory`` (written atomically); with no directory they live in memory
only. A file that cannot be read is ignored (the model is then checked as before: by its
snapshot directory).
"""

from __future__ import annotations

import logging
from pathlib import Path

import msgspec

from app.atomic import write_atomic
from app.downloads.plan import DownloadPlan

log = logging.getLogger("spark_control.downloads")


class ManifestStore:
    def __init__(self, directory: str | None) -> None:
        self._dir = Path(directory) if directory else None
        self._plans: dict[str, DownloadPlan] = {}

    def get(self, key: str) -> DownloadPlan | None:
        if key in self._plans:
            return self._plans[key]
        if self._dir is None:
            return None
        try:
            plan = msgspec.json.decode((self._dir / f"{key}.json").read_bytes(), type=DownloadPlan)
        except FileNotFoundError:
            return None
        except (OSError, msgspec.DecodeError) as err:
            log.warning("ignoring the unreadable download manifest of %s: %s", key, err)
            return None
        self._plans[key] = plan
        return plan

    def save(self, key: str, plan: DownloadPlan) -> None:
        """Remember ``plan`` for ``key``; a write failure is logged, never raised (the
        manifest is a convenience, the weights are what matter)."""
        self._plans[key] = plan
        if self._dir is None:
            return
        try:
            self._dir.mkdir(parents=True, exist_ok=True)
            write_atomic(self._dir / f"{key}.json", msgspec.json.encode(plan))
        except OSError as err:
            log.warning("could not save the download manifest of %s: %s", key, err.strerror)
