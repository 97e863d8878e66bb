"""nvidia-smi parsing and the appliance's SSH identity files."""

from __future__ import annotations

import stat
from pathlib import Path

import asyncssh

from app.cluster.gpu import parse_gpu_csv
from app.cluster.keys import KnownHosts, ensure_client_key


def test_parse_gb10_line_with_not_supported_fields() -> None:
    out = "NVIDIA GB10, 87, 91234, [N/A], 45, 35.20\nNVIDIA GB10, 3, [Not Supported], 122880, 38, 12.0\n"
    first, second = parse_gpu_csv(out)
    assert first.utilization_pct == 87 and first.memory_used_mib == 91234
    assert first.memory_total_mib is None and first.power_w == 35.2
    assert second.memory_used_mib is None and second.memory_total_mib == 122880


def test_malformed_lines_are_skipped() -> None:
    assert parse_gpu_csv("garbage\n\nNVIDIA GB10, x, 1, 2, 3\n") == []


def test_client_key_generated_once_with_0600(tmp_path: Path) -> None:
    key = tmp_path / "ssh" / "id_ed25519"
    public = ensure_client_key(key)
    assert public.startswith("ssh-ed25519 ")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert ensure_client_key(key) == public  # not regenerated
    assert asyncssh.read_private_key(str(key)).export_public_key().decode().strip() == public


def test_known_hosts_pin_lookup_forget(tmp_path: Path) -> None:
    hosts = KnownHosts(tmp_path / "known_hosts")
    key_a = asyncssh.generate_private_key("ssh-ed25519")
    key_b = asyncssh.generate_private_key("ssh-ed25519")
    hosts.pin("10.0.0.1", 22, key_a)
    hosts.pin("10.0.0.1", 2222, key_b)
    assert (
        (tmp_path / "known_hosts").read_text().splitlines()[0].startswith("10.0.0.1 ssh-ed25519 ")
    )
    assert [k.export_public_key() for k in hosts.keys_for("10.0.0.1", 22)] == [
        key_a.export_public_key()
    ]
    assert [k.export_public_key() for k in hosts.keys_for("10.0.0.1", 2222)] == [
        key_b.export_public_key()
    ]
    assert hosts.keys_for("10.0.0.2", 22) == []
    assert hosts.forget("10.0.0.1", 22) == 1
    assert hosts.keys_for("10.0.0.1", 22) == []
    assert len(hosts.keys_for("10.0.0.1", 2222)) == 1
