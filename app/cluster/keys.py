"""The appliance's SSH identity and its pinned host keys.

* ``ensure_client_key(path)``: generate an ed25519 key pair at first start when missing (private
  key mode 0600, written atomically) and return the public key line for ``authorized_keys``.
* :class:`KnownHosts`: trust on first use. The first key a Spark presents is pinned in an
  OpenSSH-format ``known_hosts`` file; afterwards only that key is accepted.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import asyncssh

from app.atomic import write_atomic

log = logging.getLogger("spark_control.ssh")


def ensure_client_key(path: str | os.PathLike[str]) -> str:
    """Create the key pair at ``path`` (+ ``.pub``) if missing; return the public key line."""
    key_path = Path(path)
    pub_path = key_path.with_name(key_path.name + ".pub")
    if not key_path.exists():
        key_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = asyncssh.generate_private_key("ssh-ed25519", comment="spark-control")
        write_atomic(key_path, key.export_private_key(), mode=0o600)
        write_atomic(pub_path, key.export_public_key(), mode=0o644)
        log.info("generated the appliance SSH key %s", key_path)
    elif not pub_path.exists():
        key = asyncssh.read_private_key(str(key_path))
        write_atomic(pub_path, key.export_public_key(), mode=0o644)
    return pub_path.read_text().strip()


def host_pattern(host: str, port: int) -> str:
    """How OpenSSH names a host in known_hosts: ``host`` on port 22, else ``[host]:port``."""
    return host if port == 22 else f"[{host}]:{port}"


class KnownHosts:
    """Pinned host keys in an OpenSSH ``known_hosts`` file (plain, unhashed entries)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def _lines(self) -> list[str]:
        try:
            return self.path.read_text().splitlines()
        except FileNotFoundError:
            return []

    def keys_for(self, host: str, port: int) -> list[asyncssh.SSHKey]:
        pattern = host_pattern(host, port)
        keys = []
        for line in self._lines():
            fields = line.split()
            if len(fields) >= 3 and pattern in fields[0].split(","):
                try:
                    keys.append(asyncssh.import_public_key(f"{fields[1]} {fields[2]}"))
                except (asyncssh.KeyImportError, ValueError):
                    log.warning("ignoring an unreadable known_hosts line for %s", pattern)
        return keys

    def pin(self, host: str, port: int, key: asyncssh.SSHKey) -> None:
        line = f"{host_pattern(host, port)} {key.export_public_key('openssh').decode().strip()}"
        lines = [*self._lines(), line]
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_atomic(self.path, ("\n".join(lines) + "\n").encode(), mode=0o600)

    def forget(self, host: str, port: int) -> int:
        """Remove every entry for ``host:port``; returns how many were removed."""
        pattern = host_pattern(host, port)
        lines = self._lines()
        kept = [line for line in lines if pattern not in (line.split() or [""])[0].split(",")]
        if len(kept) != len(lines):
            write_atomic(self.path, ("\n".join(kept) + "\n" if kept else "").encode(), mode=0o600)
        return len(lines) - len(kept)
