"""``make demo``: Spark Control on http://127.0.0.1:8080 with a sample config.

(The Spark simulator replaces the sample config as soon as it lands.)
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from app.__main__ import main as serve

SAMPLE = """
sparks:
  - {name: spark1, host: 192.0.2.10}
  - {name: spark2, host: 192.0.2.11}
ssh: {key_file: DIR/id_ed25519, known_hosts: DIR/known_hosts}
"""


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="spark-demo-") as tmp:
        config = Path(tmp) / "config.yaml"
        config.write_text(SAMPLE.replace("DIR", tmp))
        print("Spark Control demo: http://127.0.0.1:8080  (Ctrl-C to stop)")
        print("Try: curl -s http://127.0.0.1:8080/api/status")
        return serve(["--config", str(config), "--host", "127.0.0.1", "--port", "8080"])


if __name__ == "__main__":
    sys.exit(main())
