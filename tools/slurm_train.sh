#!/usr/bin/env bash
# Train on a Slurm cluster.
# Usage: GPUS=16 tools/slurm_train.sh PARTITION JOB_NAME CONFIG [WORK_DIR]
#        [train.py options...]
# Environment: GPUS (total, default 8), GPUS_PER_NODE (default 8),
# CPUS_PER_TASK (default 5), SRUN_ARGS (extra srun arguments).
set -euo pipefail
PARTITION="$1"
JOB_NAME="$2"
CONFIG="$3"
WORK_DIR="${4:-}"
GPUS="${GPUS:-8}"
GPUS_PER_NODE="${GPUS_PER_NODE:-8}"
CPUS_PER_TASK="${CPUS_PER_TASK:-5}"
SRUN_ARGS="${SRUN_ARGS:-}"
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
EXTRA=("${@:5}")
if [ -n "${WORK_DIR}" ]; then
    EXTRA=(--work-dir "${WORK_DIR}" "${EXTRA[@]}")
fi

# shellcheck disable=SC2086
PYTHONPATH="${SCRIPT_DIR}/..${PYTHONPATH:+:${PYTHONPATH}}" \
srun -p "${PARTITION}" \
    --job-name="${JOB_NAME}" \
    --gres="gpu:${GPUS_PER_NODE}" \
    --ntasks="${GPUS}" \
    --ntasks-per-node="${GPUS_PER_NODE}" \
    --cpus-per-task="${CPUS_PER_TASK}" \
    --kill-on-bad-exit=1 \
    ${SRUN_ARGS} \
    python -u "${SCRIPT_DIR}/train.py" "${CONFIG}" --launcher slurm \
    "${EXTRA[@]}"
