"""Refusals of the download API, each of a kind from ``app.errors`` (the web layer maps kinds
to statuses) with one sentence."""

from __future__ import annotations

from typing import Any

from app.errors import Conflict, Invalid, NotFound


class DownloadInProgress(Conflict):
    """A download of this model is already running (the body names it)."""

    def __init__(self, key: str, download_id: str) -> None:
        super().__init__(f"A download of {key!r} is already running (download {download_id}).")
        self.download_id = download_id

    def extra(self) -> dict[str, Any]:
        return {"download_id": self.download_id}


class WeightsDownloading(Conflict):
    """The weights cannot be deleted while a download of them runs."""

    def __init__(self, key: str, download_id: str) -> None:
        super().__init__(
            f"A download of {key!r} is running (download {download_id}); cancel it first."
        )
        self.download_id = download_id

    def extra(self) -> dict[str, Any]:
        return {"download_id": self.download_id}


class DownloadNotFound(NotFound):
    def __init__(self, download_id: str) -> None:
        super().__init__(f"No download with id {download_id!r}.")


class DownloadFinished(Conflict):
    def __init__(self, download_id: str, state: str) -> None:
        super().__init__(f"Download {download_id} has already finished ({state}).")


class LocalModel(Invalid):
    """A ``local_path`` model has no repo to download."""

    def __init__(self, key: str) -> None:
        super().__init__(
            f"{key!r} is a local model; its directory is managed outside Spark Control."
        )


class NotDownloadable(Invalid):
    def __init__(self) -> None:
        super().__init__("download: only a model with a Hugging Face repo can be downloaded.")
