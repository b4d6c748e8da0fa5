#!/usr/bin/env bash
# Install into .venv with the test dependencies and run the test suite.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "${ROOT}/tools/setup_env.sh" tests
cd "${ROOT}"
.venv/bin/python -m pytest tests -q "$@"
