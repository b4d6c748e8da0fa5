#!/usr/bin/env bash
# Install into .venv and run the demo: synthesize the demo features, train
# and test on them, print the metrics, write a timeline plot.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "${ROOT}/tools/setup_env.sh"
cd "${ROOT}"
.venv/bin/python tools/demo.py "$@"
