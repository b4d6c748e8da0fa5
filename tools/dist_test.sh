#!/usr/bin/env bash
# Distributed testing with torchrun.
# Usage: tools/dist_test.sh CONFIG CHECKPOINT GPUS [test.py options...]
# Multi-node: set NNODES, NODE_RANK, MASTER_ADDR and PORT on every node.
# Without GPUs the processes run on the CPU over gloo.
set -euo pipefail
CONFIG="$1"
CHECKPOINT="$2"
GPUS="${3:-${GPUS_PER_NODE:-1}}"
NNODES="${NNODES:-1}"
NODE_RANK="${NODE_RANK:-0}"
PORT="${PORT:-29500}"
MASTER_ADDR="${MASTER_ADDR:-127.0.0.1}"
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# The interpreter: $PYTHON, else python, else python3.
PYTHON="${PYTHON:-$(command -v python || command -v python3)}"
# torchrun and mmengine would each set these to 1 in every process with a
# warning per process; the cores are shared out instead (yours win if set).
THREADS=$(( $(nproc) / GPUS > 0 ? $(nproc) / GPUS : 1 ))
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-${THREADS}}"
export MKL_NUM_THREADS="${MKL_NUM_THREADS:-${OMP_NUM_THREADS}}"

PYTHONPATH="${SCRIPT_DIR}/..${PYTHONPATH:+:${PYTHONPATH}}" \
"${PYTHON}" -m torch.distributed.run \
    --nnodes="${NNODES}" \
    --node_rank="${NODE_RANK}" \
    --master_addr="${MASTER_ADDR}" \
    --nproc_per_node="${GPUS}" \
    --master_port="${PORT}" \
    "${SCRIPT_DIR}/test.py" \
    "${CONFIG}" \
    "${CHECKPOINT}" \
    --launcher pytorch "${@:4}"
