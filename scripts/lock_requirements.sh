#!/usr/bin/env bash
# Regenerates requirements.lock: the hash-pinned runtime dependencies of pyproject.toml that the
# StartOS image (Dockerfile) installs with `pip install --require-hashes`.
#
# The lock is universal: one resolution valid on every platform, with the hashes of every wheel
# and sdist of each pinned version, so the same file serves the x86_64 and the aarch64 image.
# uv runs from a throwaway venv, so nothing is added to the project's own .venv.
#
#   scripts/lock_requirements.sh            # re-resolve within pyproject.toml's ranges
#   scripts/lock_requirements.sh --upgrade  # also move pins to the newest allowed versions
set -euo pipefail
cd "$(dirname "$0")/.."

UV_VERSION=0.13.9
PYTHON=${PYTHON:-python3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$PYTHON" -m venv "$tmp/venv"
"$tmp/venv/bin/pip" install --quiet --disable-pip-version-check "uv==$UV_VERSION"

# The image's interpreter is Python 3.11 (python:3.11-slim); resolve for exactly that.
"$tmp/venv/bin/uv" pip compile pyproject.toml \
  --universal \
  --python-version 3.11 \
  --generate-hashes \
  --no-header \
  --quiet \
  --output-file requirements.lock \
  "$@"

# uv leaves the pyproject path in "# via" comments; nothing else in the file depends on the host.
echo "wrote requirements.lock ($(grep -c '==' requirements.lock) pinned packages)"
