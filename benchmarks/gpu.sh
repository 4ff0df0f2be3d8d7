#!/usr/bin/env bash
# DigitGAN on one CUDA GPU in one command: versions, the CUDA checks, training throughput
# (eager, with the proposed fixes, compiled), the time-to-quality run and its evaluation,
# the shipped weights evaluated the same way, and a 1-process torchrun run.
#
#   benchmarks/gpu.sh [RESULTS_DIR] [MNIST_DIR]     # on the GPU machine
#   CPU_SMOKE=1 benchmarks/gpu.sh [RESULTS_DIR]     # every step, tiny, on the CPU (synthetic MNIST)
#
# RESULTS_DIR: default benchmarks/results/gpu-<UTC date>. MNIST_DIR: the four IDX files,
# default $DIGITGAN_DATA_DIR. PYTHON: the interpreter (default python3). GPU_SH_BUDGET_S: the
# whole script's time limit (default 480 s); each step also has its own timeout, and a step
# that would start with under 20 s left is skipped. Installs nothing and needs no network.
# Each step writes RESULTS_DIR/<step>.log (and its JSON/run folders); a failed step does not
# stop the others. At the end summary.md/summary.json hold the figures and the goals, and the
# runs' checkpoints are deleted (the exported weights stay) unless KEEP_CHECKPOINTS=1.
# Exit status: 0 when every step that ran passed, 1 otherwise.
set -u -o pipefail
cd "$(dirname "$0")/.." || exit 2
RESULTS=${1:-benchmarks/results/gpu-$(date -u +%Y%m%d-%H%M%S)}
DATA=${2:-${DIGITGAN_DATA_DIR:-}}
PY=${PYTHON:-python3}
SMOKE=${CPU_SMOKE:-0}
BUDGET=${GPU_SH_BUDGET_S:-480}
mkdir -p "$RESULTS" && RESULTS=$(cd "$RESULTS" && pwd)
export PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
START=$(date +%s)
FAILED=0
printf 'step\tstatus\tseconds\n' > "$RESULTS/steps.tsv"

# step NAME TIMEOUT_S COMMAND...: run COMMAND under a timeout, output to the screen and NAME.log
step() {
  local name=$1 limit=$2 left
  shift 2
  left=$((BUDGET - ($(date +%s) - START)))
  if [ "$left" -lt 20 ]; then
    echo "=== $name: skipped, ${left}s of the ${BUDGET}s budget left" | tee "$RESULTS/$name.log"
    printf '%s\tskipped\t0\n' "$name" >> "$RESULTS/steps.tsv"
    return
  fi
  [ "$limit" -gt "$left" ] && limit=$left
  echo "=== $name (timeout ${limit}s): $*" | tee "$RESULTS/$name.log"
  local t0 t1 rc
  t0=$(date +%s.%N)
  timeout --kill-after=10 "$limit" "$@" 2>&1 | tee -a "$RESULTS/$name.log"
  rc=${PIPESTATUS[0]}
  t1=$(date +%s.%N)
  printf '%s\t%s\t%s\n' "$name" "$rc" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')" \
    >> "$RESULTS/steps.tsv"
  [ "$rc" = 0 ] || FAILED=$((FAILED + 1))
}

skip() {  # skip NAME REASON
  echo "=== $1: skipped, $2" | tee "$RESULTS/$1.log"
  printf '%s\tskipped\t0\n' "$1" >> "$RESULTS/steps.tsv"
}

# The preset as train.py spells it: --preset gpu once train.py has it, else its flags.
if $PY train.py --preset gpu --help > /dev/null 2>&1; then
  PRESET=(--preset gpu)
else
  read -r -a PRESET <<< "$($PY -m benchmarks.gpu_preset gpu)"
fi

if [ "$SMOKE" = 1 ]; then
  # Tiny everything on the CPU, on synthetic digits written as MNIST IDX files.
  DATA=$RESULTS/smoke_mnist
  $PY - "$DATA" <<'EOF'
import gzip, struct, sys
from pathlib import Path
from gan.data import IDX_FILES, make_synthetic_digits
folder = Path(sys.argv[1]); folder.mkdir(parents=True, exist_ok=True)
for split, n, seed in (("train", 400, 0), ("test", 200, 1)):
    for stem, array in zip(IDX_FILES[split], make_synthetic_digits(n, seed=seed)):
        header = struct.pack(">BBBB", 0, 0, 8, array.dim()) + b"".join(struct.pack(">I", d) for d in array.shape)
        (folder / f"{stem}.gz").write_bytes(gzip.compress(header + array.byte().numpy().tobytes()))
EOF
  TESTS=("$PY" -m tests.support.cuda_checks --device cpu)
  TINY=(--g-width 8 --d-width 8 --device cpu --threads 1)
  BENCH=(--device cpu --width 8 --data-size 640 --steps 2 --repeats 1 --warmup 1)
  SIZES=(8 16)
  DDP_RUN=(--steps 4 --batch-size 8 --log-every 2 --sample-every 4 --ckpt-every 2 "${TINY[@]}")
  QUALITY=(--steps 6 --batch-size 8 --log-every 2 --sample-every 3 --ckpt-every 3 --metrics-every 3
           --metrics-samples 20 "${TINY[@]}")
  EVAL=(--samples-per-digit 6 --device cpu)
else
  if $PY -c "import pytest" 2>/dev/null; then
    TESTS=("$PY" -m pytest -m cuda tests/training/test_cuda.py tests/training/test_cuda_sync.py -p no:cacheprovider -rA)
  else
    TESTS=("$PY" -m tests.support.cuda_checks --device cuda)  # no pytest here: the checks' own runner
  fi
  BENCH=(--device cuda)
  SIZES=(256 512 1024 2048)
  DDP_RUN=(--steps 200 --log-every 50 --sample-every 200 --ckpt-every 100 --device cuda)
  QUALITY=()
  EVAL=(--device cuda)
fi
COMMON=(--data-dir "$DATA" --no-download --no-evaluate --no-progress)

step env 60 $PY -m benchmarks.gpu_env "$RESULTS/env.json"
command -v nvidia-smi > /dev/null && step nvidia_smi 30 nvidia-smi
step cuda_tests 180 "${TESTS[@]}"
step bench_eager 120 $PY -m benchmarks.training "${BENCH[@]}" --preset gpu --batch-size "${SIZES[@]}" \
  --out "$RESULTS/bench_eager.json"
if [ -n "$DATA" ] && [ -d "$DATA" ]; then
  # wall time of this step = from `python train.py` to exported weights (no evaluation)
  step quality_train 150 $PY train.py "${PRESET[@]}" "${COMMON[@]}" ${QUALITY[@]+"${QUALITY[@]}"} \
    --run-dir "$RESULTS/quality_run" --export-dir "$RESULTS/quality_weights"
  step quality_eval 150 $PY -m gan.evaluate --weights "$RESULTS/quality_weights" --data-dir "$DATA" "${EVAL[@]}"
else
  skip quality_train "no MNIST folder (give it as \$2 or DIGITGAN_DATA_DIR)"
fi
step bench_tuned 120 $PY -m benchmarks.training "${BENCH[@]}" --preset gpu --batch-size "${SIZES[@]}" \
  --batches pinned --fused-adam --cudnn-benchmark --out "$RESULTS/bench_tuned.json"
if [ -n "$DATA" ] && [ -d "$DATA" ]; then
  rm -rf "$RESULTS/shipped_weights" && cp -r weights "$RESULTS/shipped_weights"  # evaluate writes beside it
  step shipped_eval 150 $PY -m gan.evaluate --weights "$RESULTS/shipped_weights" --data-dir "$DATA" "${EVAL[@]}"
  step ddp_smoke 120 $PY -m torch.distributed.run --standalone --nnodes=1 --nproc_per_node=1 train.py \
    "${PRESET[@]}" "${COMMON[@]}" "${DDP_RUN[@]}" --metrics-every 0 \
    --run-dir "$RESULTS/ddp_run" --export-dir "$RESULTS/ddp_weights"
else
  skip shipped_eval "no MNIST folder"
  skip ddp_smoke "no MNIST folder"
fi
step bench_compile 240 $PY -m benchmarks.training "${BENCH[@]}" --preset gpu --compile \
  --batch-size "${SIZES[1]}" --out "$RESULTS/bench_compile.json"

$PY -m benchmarks.gpu_summary "$RESULTS" | tee "$RESULTS/summary.log"
[ "${KEEP_CHECKPOINTS:-0}" = 1 ] || find "$RESULTS" -name checkpoint.pt -delete
ELAPSED=$(( $(date +%s) - START ))
echo "results in $RESULTS: $FAILED failed steps, $ELAPSED s"
[ "$FAILED" = 0 ]
