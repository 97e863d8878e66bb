"""Where the reliability tests write their reports (the fault matrix, the soak, the fuzzing).

A test run leaves the tree clean: reports go to a temporary directory unless
``SPARK_REPORTS_DIR`` names another one (``make docs`` points it at ``docs/`` to refresh the
committed copies).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

REPORTS_ENV = "SPARK_REPORTS_DIR"


def report_path(name: str) -> Path:
    """The file to write report ``name`` (e.g. ``SOAK.md``) to; its directory exists."""
    configured = os.environ.get(REPORTS_ENV)
    folder = Path(configured) if configured else Path(tempfile.gettempdir()) / "spark-reports"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name
