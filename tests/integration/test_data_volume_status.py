"""``/api/status`` says whether the app can write its files on the data volume."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def config_in(data: Path) -> dict[str, Any]:
    return {
        "ssh": {
            "key_file": str(data / "ssh" / "id_ed25519"),
            "known_hosts": str(data / "ssh" / "known_hosts"),
        },
        "services": {"overrides_file": str(data / "services-overrides.yaml")},
        "models": {"overrides_file": str(data / "models-overrides.yaml")},
    }


async def test_a_writable_data_volume_is_reported_writable(spark_app: Any, tmp_path: Path) -> None:
    async with spark_app(config_in(tmp_path)) as client:
        body = (await client.get("/api/status")).json()
    assert body["data_volume"] == {"writable": True, "problems": []}


async def test_an_unusable_path_is_reported_with_its_reason(spark_app: Any, tmp_path: Path) -> None:
    (tmp_path / "ssh").write_text("a file where the ssh directory should be")
    async with spark_app(config_in(tmp_path)) as client:
        body = (await client.get("/api/status")).json()
    volume = body["data_volume"]
    assert volume["writable"] is False
    # The private key, its .pub and known_hosts all live under the unusable ssh/ path.
    assert len(volume["problems"]) == 3
    assert all("is not a directory" in p for p in volume["problems"])
