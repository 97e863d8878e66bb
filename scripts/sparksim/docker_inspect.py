"""``docker inspect``, ``docker image inspect`` and ``docker images`` for the fake docker.

Every image is present (a plausible arm64 ``vllm-node``) unless the ``image_missing`` fault
hides it; containers are the records in ``containers``. Stdlib only (``python -S``).
"""

from __future__ import annotations

import hashlib
import json
import sys
from datetime import UTC, datetime

from scripts.sparksim import containers
from scripts.sparksim.cliparse import format_rows, parse, render
from scripts.sparksim.layout import NodePaths

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing slows every fake command
if TYPE_CHECKING:
    from typing import Any


def _err(message: str) -> None:
    sys.stderr.write(message.rstrip("\n") + "\n")


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


def image_record(image: str) -> dict[str, Any]:
    repo, _, tag = image.partition(":")
    digest = hashlib.sha256(image.encode()).hexdigest()
    return {
        "Id": f"sha256:{digest}",
        "RepoTags": [f"{repo}:{tag or 'latest'}"],
        "Repository": repo,
        "Tag": tag or "latest",
        "ID": digest[:12],
        "Created": "2026-05-01T00:00:00Z",
        "CreatedSince": "6 weeks ago",
        "Size": "21.4GB",
        "Architecture": "arm64",
        "Os": "linux",
    }


def cmd_image_inspect(node: NodePaths, args: list[str]) -> int:
    opts, images = parse(args, valued={"-f": "format", "--format": "format"})
    found, status = [], 0
    for image in images:
        if containers.image_missing(node, image):
            _err(f"Error response from daemon: No such image: {image}")
            status = 1
        else:
            found.append(image_record(image))
    _print_inspect(found, opts)
    return status


def cmd_images(node: NodePaths, args: list[str]) -> int:
    opts, repos = parse(
        args,
        valued={"--format": "format", "-f": "filter", "--filter": "filter"},
        boolean={"-q": "quiet", "--quiet": "quiet", "-a": "all", "--all": "all"},
    )
    candidates = repos or ["vllm-node"]
    rows = [image_record(i) for i in candidates if not containers.image_missing(node, i)]
    if opts.get("quiet"):
        lines = [row["ID"] for row in rows]
    else:
        fmt = opts.get(
            "format", ["table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"]
        )[-1]
        lines = format_rows(
            fmt, rows, lambda f: {"ID": "IMAGE ID", "CreatedSince": "CREATED"}.get(f, f.upper())
        )
    for line in lines:
        print(line)
    return 0


def container_inspect(record: dict[str, Any]) -> dict[str, Any]:
    running = containers.is_running(record)
    return {
        "Id": record["id"] * 5 + record["id"][:4],
        "Name": "/" + record["name"],
        "Created": _iso(record["created"]),
        "State": {
            "Status": record["status"],
            "Running": running,
            "Pid": (record.get("vllm") or {}).get("pid", 0) if running else 0,
            "ExitCode": record.get("exit_code", 0),
            "StartedAt": _iso(record["created"]),
        },
        "Config": {
            "Image": record["image"],
            "Cmd": record["command"],
            "Env": [f"{k}={v}" for k, v in record["env"].items()],
        },
        "Image": image_record(record["image"])["Id"],
        "Mounts": [
            {"Type": "bind", "Source": m["source"], "Destination": m["target"], "RW": not m["ro"]}
            for m in record.get("mounts", [])
        ],
        "HostConfig": {"NetworkMode": "host", "AutoRemove": record.get("auto_remove", False)},
    }


def cmd_inspect(node: NodePaths, args: list[str]) -> int:
    opts, names = parse(
        args,
        valued={"-f": "format", "--format": "format", "--type": "type"},
        boolean={"-s": "size", "--size": "size"},
    )
    kind = opts.get("type", [""])[-1]
    found, status = [], 0
    for name in names:
        record = None if kind == "image" else containers.load(node, name)
        if record is not None:
            found.append(container_inspect(record))
        elif (
            kind != "container"
            and _looks_like_image(name)
            and not containers.image_missing(node, name)
        ):
            found.append(image_record(name))
        else:
            _err(f"Error: No such object: {name}")
            status = 1
    _print_inspect(found, opts)
    return status


def _looks_like_image(name: str) -> bool:
    """Container names never contain ':' or '/'; the launch script's default image has neither
    but is an image."""
    return ":" in name or "/" in name or name == "vllm-node"


def _print_inspect(objects: list[dict[str, Any]], opts: dict[str, Any]) -> None:
    if "format" in opts:
        fmt = opts["format"][-1].replace("\\t", "\t").replace("\\n", "\n")
        for obj in objects:
            print(render(fmt, obj))
    else:
        print(json.dumps(objects, indent=4))
