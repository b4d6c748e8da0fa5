#!/usr/bin/env bash
# Create .venv beside this repository and install rcl_mm with the exact
# demo / CI stack. Usage: tools/setup_env.sh [EXTRAS], e.g. "tests".
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
EXTRAS="${1:-}"
cd "${ROOT}"
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
# torch first, pinned to the CPU build, so that resolving the other
# packages never pulls a multi-GB CUDA build.
.venv/bin/pip install -q torch==2.13.0
.venv/bin/pip install -q -r requirements/demo.txt \
    -e ".${EXTRAS:+[${EXTRAS}]}"
