#!/usr/bin/env bash
# One lease of a lent GPU: every GPU path of aerec run and measured in ONE device call of at most 540 s.
#
# On the device machine, from the repository root (runs/synth20m carried, or made here in ~20 s):
#
#   BUDGET=520 OUT=$OUT bash benchmarks/gpu_session.sh
#
# The stages, in this order (issue 14); each has its own time cap, and what is left of BUDGET caps it further
# (a stage is skipped when under 15 s remain). A failing or timed-out stage is logged and the next one runs.
#
#   setup      GPU name, driver, torch and CUDA versions, free memory; then the data: runs/synth20m, ML-20M's
#              shape (116,677 x 20,108, ~8.5 M interactions after the protocol; `aerec synth`), unless carried
#   tests      correctness before speed: every CUDA test (pytest -k cuda)
#   swdae      one Sw-DAE epoch at K = 15,000, R = 1,500, batch 500 through the real training loop
#              (bench_epoch.py: 1 warm-up + 2 timed epochs), backends gemm (the CUDA default) and dense, bf16 and fp32
#   multvae    one Mult-VAE epoch at the same shape (bf16 and fp32)
#   grouping   Algorithm 1 end to end at K = 15,000, F = 50, R = 1,500: `aerec groups`, twice, fresh processes
#   ease       EASE fit at 20,108 items, fixed λ: the Gram matrix and the solve timed apart, three fits
#   layers     the layer representations side by side (bench_layers.py: gather+csr, gather+dense, gemm, masked
#              dense; fp32 and bf16), then the profiler's top kernels of the gemm/bf16 step
#   train      with what is left: `aerec train swdae` (grouping + SWDAE_EPOCHS epochs, bf16, validation every
#              EVAL_EVERY) then `aerec evaluate --split test`, the seconds of each and what model.json says
#
# Logs: $OUT (default runs/gpu-session) gets exactly 8 files: setup.txt tests.txt epoch.txt (swdae and multvae)
# grouping.txt ease.txt layers.txt train.txt summary.txt. The end of stdout is each log's last lines (progress
# lines and traceback frames left out) and the summary, last: the device tool's reply carries the end.
#
# Environment (defaults are the GPU run's; a smoke run on the CPU shrinks them, as tests/test_gpu_session.py does):
#   PY (python3)  DEVICE (cuda)  DATA (runs/synth20m)  SYNTH ("--users 116677 --items 20108 --interactions 10000000")
#   GROUPS_K (15000)  GROUPS_R (1500)  BATCH (500)  EPOCHS (2 timed, after 1 warm-up)  SWDAE_EPOCHS (30)
#   EVAL_EVERY (5)  PRECISION (bf16, of the train stage)  EASE_L2 (500)  TEST_ARGS (-k cuda)  BUDGET (520 s)
#   SWDAE_ROWS ("--backend gemm,dense --precision bf16,fp32 --measure-peak"), MULTVAE_ROWS ("--precision bf16,fp32"):
#   bench_epoch.py's options for the two epoch stages (add --profile for the profiler's top kernels of an epoch)
# Stages can be named on the command line to run only those, in the order given: `bash gpu_session.sh setup train`.
#
# The device machine has no network: its own python3 (Python 3.12, torch with CUDA, numpy, scipy, pandas,
# pyarrow, safetensors, pytest) runs aerec from the checkout through PYTHONPATH=src; `aerec` is `python3 -m aerec.cli`.

set -u
cd "$(dirname "$0")/.."
START=$(date +%s)
BUDGET=${BUDGET:-520}
DEADLINE=$((START + BUDGET))
export OUT=${OUT:-runs/gpu-session}
mkdir -p "$OUT"
export PY=${PY:-python3}
export PYTHONPATH="$PWD/src:$PWD/benchmarks${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
export DEVICE=${DEVICE:-cuda} DATA=${DATA:-runs/synth20m} GROUPS_K=${GROUPS_K:-15000} GROUPS_R=${GROUPS_R:-1500}
export SYNTH=${SYNTH:---users 116677 --items 20108 --interactions 10000000}
export BATCH=${BATCH:-500} EPOCHS=${EPOCHS:-2} SWDAE_EPOCHS=${SWDAE_EPOCHS:-30} EVAL_EVERY=${EVAL_EVERY:-5}
export PRECISION=${PRECISION:-bf16} EASE_L2=${EASE_L2:-500} TEST_ARGS=${TEST_ARGS:--k cuda}
export MODEL_DIR=${MODEL_DIR:-runs/gpu-swdae}
export SWDAE_ROWS=${SWDAE_ROWS:---backend gemm,dense --precision bf16,fp32 --measure-peak} MULTVAE_ROWS=${MULTVAE_ROWS:---precision bf16,fp32}
SUMMARY="$OUT/summary.txt"

aerec() { "$PY" -m aerec.cli "$@"; }
since() { awk -v a="$1" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }'; }  # seconds since a `date +%s%N`
# `timed LABEL CMD...`: run it, then one line with its exit status and wall seconds (the whole process).
timed() {
    local label=$1 t0 rc
    shift
    t0=$(date +%s%N)
    "$@"
    rc=$?
    echo ">>> $label: exit $rc, $(since "$t0") s"
    return $rc
}
export -f aerec since timed

stage_setup() {
    date -u
    command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,memory.used,driver_version,clocks.sm,clocks.max.sm,temperature.gpu,utilization.gpu --format=csv
    echo "cpus $(nproc); load $(cut -d' ' -f1-3 /proc/loadavg)"
    "$PY" - <<'EOF'
import importlib, sys
print("python", sys.version.split()[0], sys.executable)
for name in ("torch", "numpy", "scipy", "pandas", "pyarrow", "safetensors", "pytest", "triton"):
    try:
        print(f"{name:<12} {importlib.import_module(name).__version__}")
    except Exception as e:
        print(f"{name:<12} MISSING ({type(e).__name__})")
import torch
print("cuda available", torch.cuda.is_available(), "| torch cuda", torch.version.cuda)
if torch.cuda.is_available():
    p = torch.cuda.get_device_properties(0)
    free, total = torch.cuda.mem_get_info()
    print(f"{torch.cuda.get_device_name(0)}: {p.multi_processor_count} SMs, {free / 2**30:.1f} of {total / 2**30:.1f} GiB free")
import aerec.models
print("aerec", aerec.__version__, "from", aerec.__file__)
EOF
    if [ -f "$DATA/train.npz" ]; then
        echo "$DATA: carried (not regenerated)"
    else
        # shellcheck disable=SC2086  # SYNTH is a list of options
        timed "aerec synth $SYNTH" aerec synth $SYNTH --out "$DATA" --force -q
    fi
}

stage_tests() {
    # shellcheck disable=SC2086
    timed "pytest $TEST_ARGS" "$PY" -m pytest -q -p no:cacheprovider -rs --continue-on-collection-errors $TEST_ARGS tests
}

stage_swdae() {
    # shellcheck disable=SC2086  # SWDAE_ROWS is a list of options
    timed "bench_epoch swdae K=$GROUPS_K R=$GROUPS_R: $SWDAE_ROWS" \
        "$PY" benchmarks/bench_epoch.py --data "$DATA" --models swdae --groups "$GROUPS_K" --overlap "$GROUPS_R" --random-groups \
        --device "$DEVICE" --batch-size "$BATCH" --epochs "$EPOCHS" --warmup 1 $SWDAE_ROWS
}

stage_multvae() {
    # shellcheck disable=SC2086  # MULTVAE_ROWS is a list of options
    timed "bench_epoch mult-vae: $MULTVAE_ROWS" \
        "$PY" benchmarks/bench_epoch.py --data "$DATA" --models mult-vae --device "$DEVICE" --batch-size "$BATCH" \
        --epochs "$EPOCHS" --warmup 1 $MULTVAE_ROWS
}

stage_grouping() {
    local run
    for run in 1 2; do  # a fresh process each, as users run it; the first also reads the CUDA libraries from disk
        timed "aerec groups -k $GROUPS_K -r $GROUPS_R -f 50, process $run (\"timings\": learn_groups' own seconds)" \
            aerec groups --data "$DATA" -k "$GROUPS_K" -r "$GROUPS_R" -f 50 --device "$DEVICE" --show 0 --json -q
    done
}

stage_ease() {
    "$PY" - <<'EOF'
import os, time
import numpy as np, scipy.sparse as sp, torch
from aerec.data.prepared import PreparedDataset
from aerec.device import resolve_device
from aerec.fit_options import FitOptions
from aerec.models import EASE
from aerec.models.ease import ease_weights, gram

device = resolve_device(os.environ["DEVICE"])
X = sp.csr_matrix(PreparedDataset.load(os.environ["DATA"]).train, dtype=np.float32)
l2 = float(os.environ["EASE_L2"])
sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
print(f"EASE at l2={l2} on {device}: {X.shape[0]:,} users x {X.shape[1]:,} items, {X.nnz:,} interactions")
for run in range(1, 4):
    sync(); t0 = time.perf_counter()
    G = gram(X, device, torch.float32); sync(); t1 = time.perf_counter()
    B = ease_weights(G, l2); sync(); t2 = time.perf_counter()
    del G, B
    print(f"run {run}: gram {t1 - t0:.3f} s + solve {t2 - t1:.3f} s = {t2 - t0:.3f} s")
sync(); t0 = time.perf_counter()
model = EASE(l2=l2).fit(X, options=FitOptions(device=str(device))); sync()
print(f"EASE(l2={l2}).fit end to end: {time.perf_counter() - t0:.3f} s")
if device.type == "cuda":
    G64 = gram(X, device, torch.float64, method="dense")
    G32 = gram(X, device, torch.float32)
    print(f"float32 (TF32) Gram vs float64 Gram: max |diff| {float((G32.double() - G64).abs().max()):.3g} (0: exact counts)")
EOF
}

stage_layers() {
    timed "bench_layers ML-20M-like" \
        "$PY" benchmarks/bench_layers.py --items "$(cut -d' ' -f4 <<<"$SYNTH")" --groups "$GROUPS_K" --overlap "$GROUPS_R" \
        --nnz 85 --batch "$BATCH" --device "$DEVICE" --repeat 5 --profile gemm/bf16
}

stage_train() {
    # The epoch time the swdae stage measured for the default backend (gemm) in $PRECISION sizes the run to the
    # time this stage has (TRAIN_LIMIT, less TRAIN_OVERHEAD s for grouping, validations, saving and the test);
    # where that row failed or is missing, the dense backend trains instead.
    local row backend=auto epochs=$SWDAE_EPOCHS per fit
    row=$(grep -E "^swdae +gemm +$DEVICE +$PRECISION " "$OUT/epoch.txt" 2>/dev/null | head -1)
    per=$(awk '{print $6}' <<<"$row")
    if [ -z "$row" ] || grep -q FAILED <<<"$row"; then
        backend=dense
        echo "the gemm/$PRECISION epoch row failed or is missing: training with --backend dense"
    elif [[ $per =~ ^[0-9.]+$ ]]; then
        fit=$(awk -v t="$TRAIN_LIMIT" -v o="${TRAIN_OVERHEAD:-90}" -v p="$per" -v e="$SWDAE_EPOCHS" 'BEGIN { n = int((t - o) / (1.15 * p)); if (n > e) n = e; if (n < 1) n = 1; print n }')
        [ "$fit" -lt "$epochs" ] && echo "$per s per epoch and $TRAIN_LIMIT s for the stage: $fit epochs instead of $epochs" && epochs=$fit
    fi
    timed "aerec train swdae K=$GROUPS_K R=$GROUPS_R, $epochs epochs, $PRECISION, backend $backend, validation every $EVAL_EVERY" \
        aerec train swdae --data "$DATA" --out "$MODEL_DIR" --force -q --device "$DEVICE" --precision "$PRECISION" --backend "$backend" \
        --n-groups "$GROUPS_K" --overlap "$GROUPS_R" --batch-size "$BATCH" --max-epochs "$epochs" --eval-every "$EVAL_EVERY" --patience 0
    "$PY" - "$MODEL_DIR" <<'EOF'
import json, statistics, sys
from pathlib import Path
m = json.loads((Path(sys.argv[1]) / "model.json").read_text())
fi = m.get("fit_info", {})
print(f"-- {m['model']}: fit {m.get('fit_seconds')} s; parameters {fi.get('parameters')}")
g = fi.get("groups", {}).get("timings")
if g:
    print("   grouping: " + ", ".join(f"{k} {v:.2f}" for k, v in g.items()))
t = fi.get("training", {})
ep = [r["train_seconds"] for r in t.get("history", [])]
if ep:
    print(f"   training {t['seconds']} s: {t['epochs']} epochs; train_seconds per epoch median {statistics.median(ep):.3f}, "
          f"first {ep[0]:.3f}; validation and the rest {t['seconds'] - sum(ep):.1f} s; "
          f"best validation NDCG@100 {t['best_validation_ndcg@100']:.4f} at epoch {t['best_epoch']}")
    print("   validation: " + ", ".join(f"{r['epoch']}: {r['validation']:.4f}" for r in t["history"] if "validation" in r))
EOF
    timed "aerec evaluate (test)" aerec evaluate "$MODEL_DIR" --data "$DATA" --split test --ks 20,50,100
}
export -f stage_setup stage_tests stage_swdae stage_multvae stage_grouping stage_ease stage_layers stage_train

STAGES=(setup tests swdae multvae grouping ease layers train)
declare -A LIMIT=([setup]=45 [tests]=100 [swdae]=110 [multvae]=45 [grouping]=60 [ease]=45 [layers]=70 [train]=400)
declare -A LOG=([setup]=setup [tests]=tests [swdae]=epoch [multvae]=epoch [grouping]=grouping [ease]=ease [layers]=layers [train]=train)
[ $# -gt 0 ] && STAGES=("$@")
for s in "${STAGES[@]}"; do
    [ -n "${LIMIT[$s]+x}" ] || { echo "unknown stage $s; known: ${!LIMIT[*]}" >&2; exit 2; }
done

run_stage() {
    local name=$1 left limit t0 rc what log="$OUT/${LOG[$1]}.txt"
    left=$((DEADLINE - $(date +%s)))
    if [ "$left" -lt 15 ]; then
        printf '%-9s skipped: %d s of the budget left\n' "$name" "$left" | tee -a "$SUMMARY"
        return
    fi
    limit=${LIMIT[$name]}
    [ "$limit" -gt "$left" ] && limit=$left
    echo "[$(date +%T)] stage $name (at most $limit s)"
    t0=$(date +%s%N)
    { echo "### stage $name, $(date -u), limit $limit s"; TRAIN_LIMIT=$limit timeout -k 5 "$limit" bash -c "stage_$name"; } >>"$log" 2>&1
    rc=$?
    what="exit $rc"
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then what="TIMED OUT at $limit s"; fi
    printf '%-9s %-20s %7s s\n' "$name" "$what" "$(since "$t0")" | tee -a "$SUMMARY"
}

echo "gpu_session: stages ${STAGES[*]}; budget $BUDGET s; device $DEVICE; logs in $OUT" | tee "$SUMMARY"
for s in "${STAGES[@]}"; do
    run_stage "$s"
done
echo "total $(($(date +%s) - START)) s" | tee -a "$SUMMARY"

# The end of stdout is what the device tool's reply carries: each log without progress lines or traceback
# frames (a traceback keeps its first and last lines), the summary last.
for f in setup tests epoch grouping ease layers train; do
    [ -f "$OUT/$f.txt" ] || continue
    echo
    echo "==================== $f"
    n=12
    [ "$f" = layers ] && n=32
    grep -Ev '^\[[0-9:]{8}\]|it/s\]|s/it\]|^  File "|USDT|^-{20}' "$OUT/$f.txt" | cut -c1-160 | tail -n "$n"
done
echo
cat "$SUMMARY"
