"""Recognising a full disk in what the transfer tools print (captured from real runs: rsync
3.5.0 writing into a full tmpfs; huggingface_hub 2.4 ``hf download`` into a full tmpfs)."""

from __future__ import annotations

import pytest

from app.cluster.ssh import CommandResult
from app.downloads import remote

RSYNC_FULL = (
    'rsync: [receiver] write failed on "/tmp/tmp.1EmHtchib5/blob": No space left on device (28)\n'
    "rsync error: error in file IO (code 11) at receiver.c(657) [receiver=3.5.0]\n"
    "rsync: [sender] write error: Broken pipe (32)\n"
)
HF_FULL = "OSError: [Errno 28] No space left on device\n"
DOCKER_FULL = (
    "docker: Error response from daemon: mkdir /var/lib/docker/overlay2/x: "
    "no space left on device.\n"
)


def failed(stderr: str, status: int = 1) -> CommandResult:
    return CommandResult(node="spark1", command="x", exit_status=status, stdout="", stderr=stderr)


@pytest.mark.parametrize("stderr", [RSYNC_FULL, HF_FULL, DOCKER_FULL])
def test_a_full_disk_is_recognised(stderr: str) -> None:
    assert remote.out_of_space(failed(stderr))


@pytest.mark.parametrize(
    "stderr",
    [
        "rsync error: error in file IO (code 11) at receiver.c(657) [receiver=3.5.0]\n",
        "OSError: [Errno 13] Permission denied: '/hf/hub'\n",
        "huggingface_hub.errors.HfHubHTTPError: 500 Server Error\n",
        "",
    ],
)
def test_other_failures_are_not_called_a_full_disk(stderr: str) -> None:
    assert not remote.out_of_space(failed(stderr))


def test_the_sentence_names_the_node_and_what_it_was_doing() -> None:
    err = remote.disk_full("spark2", "copying org/m from spark1")
    assert err.message == (
        "spark2 ran out of disk space while copying org/m from spark1; "
        "free some space and download again."
    )
