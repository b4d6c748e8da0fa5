#!/usr/bin/env bash
# Every CUDA check of rcl_mm in one run on a GPU machine, each step under
# its own time limit, every log and JSON under one folder, so that a run
# cut short still keeps what it measured (docs/benchmark.md, "GPU").
#
# Usage: bash tools/analysis/cuda_check.sh [OUT_DIR] [CPU_REFERENCE_WORK_DIR]
#   OUT_DIR                 default work_dirs/cuda_check
#   CPU_REFERENCE_WORK_DIR  a CPU float32 run of the same training (made
#                           by the train_cpu step when not given), whose
#                           first steps' losses the CUDA run must match:
#     python tools/data/synthesize.py --num-train 64 --num-val 32 --formats csv
#     python tools/train.py configs/demo/rcl_bmn_demo.py --work-dir DIR \
#         --cfg-options train_cfg.max_epochs=1 train_cfg.val_interval=1 \
#         default_hooks.logger.interval=1
# Environment: PYTHON (default python3), STEPS (a comma-separated subset
# of the step names below), CONFIG (default configs/demo/rcl_bmn_demo.py).
#
# Steps, in order (name: what it checks; limit in seconds):
#   env:        GPU, driver, torch, triton, packages
#   data:       the demo features (64 training, 32 validation videos)
#   train_cuda: tools/train.py on the GPU, bf16 AmpOptimWrapper, 1 epoch
#               with validation metrics
#   test_cuda:  tools/test.py of that checkpoint, detections JSON
#   dist:       tools/dist_train.sh CONFIG 1 (torchrun, NCCL)
#   train_cpu:  the CPU float32 reference (when none was given)
#   losses:     the first steps' losses of train_cuda and dist against the
#               CPU reference (tools/analysis/compare_losses.py)
#   tests:      every CUDA case of the test suite (pytest -m cuda)
#   profile:    tools/analysis/profile_step.py: step and prediction times
#               per CARAlign and Soft-NMS impl, syncs, profiler, CUDA graph
#   bench:      tools/analysis/benchmark.py --device cuda --amp bf16 with
#               mmaction2's BMN and RCL-BMN with each RRM, ANet and
#               THUMOS14, and extraction throughput (tiny, TSN R50)
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="$(mkdir -p "${1:-${ROOT}/work_dirs/cuda_check}" && cd "${1:-${ROOT}/work_dirs/cuda_check}" && pwd)"
CPU_REF="${2:-${OUT}/train_cpu}"
PY="${PYTHON:-$(command -v python3 || command -v python)}"
CONFIG="${CONFIG:-configs/demo/rcl_bmn_demo.py}"
export PYTHON="${PY}" PYTHONUNBUFFERED=1
export PYTHONPATH="${ROOT}${PYTHONPATH:+:${PYTHONPATH}}"
cd "${ROOT}"
SUMMARY="${OUT}/summary.txt"
echo "cuda_check $(date -u +%FT%TZ) $(git rev-parse --short HEAD 2>/dev/null)" >> "${SUMMARY}"

# step NAME LIMIT_S COMMAND...: run COMMAND under the limit, its output in
# OUT/NAME.log; one summary line (ok, failed or timeout, seconds).
step() {
    local name=$1 limit=$2
    shift 2
    if [ -n "${STEPS:-}" ] && [[ ",${STEPS}," != *",${name},"* ]]; then
        return 0
    fi
    local start=${SECONDS} verdict=ok
    echo "== ${name} (limit ${limit} s)"
    timeout -k 10 "${limit}" "$@" > "${OUT}/${name}.log" 2>&1
    local rc=$?
    if [ ${rc} -eq 124 ] || [ ${rc} -eq 137 ]; then
        verdict=timeout
    elif [ ${rc} -ne 0 ]; then
        verdict=failed
    fi
    printf '%-11s %-8s exit %-4s %4d s\n' "${name}" "${verdict}" "${rc}" \
        $((SECONDS - start)) | tee -a "${SUMMARY}"
    tail -n 4 "${OUT}/${name}.log"
}

TRAIN_OPTIONS=(train_cfg.max_epochs=1 train_cfg.val_interval=1
               default_hooks.logger.interval=1)
BF16=(optim_wrapper.type=AmpOptimWrapper optim_wrapper.dtype=bfloat16)

step env 60 bash -c "nvidia-smi; \"${PY}\" tools/analysis/profile_step.py \
    --env-only --out '${OUT}/env.json'"
step data 60 "${PY}" tools/data/synthesize.py --num-train 64 --num-val 32 \
    --formats csv
step train_cuda 100 "${PY}" tools/train.py "${CONFIG}" \
    --work-dir "${OUT}/train_cuda" \
    --cfg-options "${TRAIN_OPTIONS[@]}" "${BF16[@]}"
step test_cuda 60 "${PY}" tools/test.py "${CONFIG}" \
    "${OUT}/train_cuda/epoch_1.pth" --work-dir "${OUT}/test_cuda" \
    --out "${OUT}/test_cuda/detections.json"
step dist 100 env PORT=29517 bash tools/dist_train.sh "${CONFIG}" 1 \
    --work-dir "${OUT}/dist" \
    --cfg-options "${TRAIN_OPTIONS[@]}" "${BF16[@]}"
if [ ! -d "${CPU_REF}" ] || [ "${CPU_REF}" = "${OUT}/train_cpu" ]; then
    step train_cpu 200 env CUDA_VISIBLE_DEVICES= "${PY}" tools/train.py \
        "${CONFIG}" --work-dir "${OUT}/train_cpu" \
        --cfg-options "${TRAIN_OPTIONS[@]}"
fi
step losses 30 bash -c "
\"${PY}\" tools/analysis/compare_losses.py '${CPU_REF}' \
    '${OUT}/train_cuda' --out '${OUT}/losses_train_cuda.json'; a=\$?
\"${PY}\" tools/analysis/compare_losses.py '${CPU_REF}' '${OUT}/dist' \
    --out '${OUT}/losses_dist.json'; b=\$?
exit \$((a | b))"
step tests 150 "${PY}" -m pytest tests -m cuda -q -rs -p no:cacheprovider \
    --junitxml="${OUT}/tests_cuda.xml"
step profile 150 "${PY}" tools/analysis/profile_step.py \
    --out "${OUT}/profile.json"
step bench 300 "${PY}" tools/analysis/benchmark.py --device cuda --amp bf16 \
    --parts train,pair,infer,post,extract \
    --models mmaction2,bmn,rcl_bmn,rcl_bmn_light \
    --settings anet,thumos --steps 10 --warmup 3 --mmaction2-steps 5 \
    --pair-rounds 11 --out "${OUT}/benchmark.json"
echo "cuda_check done $(date -u +%FT%TZ)" >> "${SUMMARY}"
cat "${SUMMARY}"
