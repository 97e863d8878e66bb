"""Model weights onto every Spark: plan from the hub's listing, download once on the head with
the real ``hf`` CLI, copy to the workers with rsync, verify sizes and sha256 on every node.

No HTTP server here (``app.web.routes.downloads`` serves it); SSH only through
``app.cluster``'s transport, every remote command built in ``app.cluster.commands``.
"""

from app.downloads.errors import (
    DownloadFinished,
    DownloadInProgress,
    DownloadNotFound,
    LocalModel,
    NotDownloadable,
    WeightsDownloading,
)
from app.downloads.job import Download, DownloadPhase, DownloadState, NodeProgress
from app.downloads.manifests import ManifestStore
from app.downloads.runner import DownloadManager, ModelVerification

__all__ = [
    "Download",
    "DownloadFinished",
    "DownloadInProgress",
    "DownloadManager",
    "DownloadNotFound",
    "DownloadPhase",
    "DownloadState",
    "LocalModel",
    "ManifestStore",
    "ModelVerification",
    "NodeProgress",
    "NotDownloadable",
    "WeightsDownloading",
]
