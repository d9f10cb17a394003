#!/usr/bin/env bash
# One lease of a lent GPU: measure aerec's GPU targets in as few device calls as possible.
#
# Run from the repository root on the device machine, one device call per line:
#
#   bash benchmarks/gpu_session.sh                # setup data + epoch grouping tests layers   (one 10-minute call)
#   bash benchmarks/gpu_session.sh fullscale      # setup data + full-swdae full-multvae full-ease (a second call)
#   bash benchmarks/gpu_session.sh epoch tests    # any stages, in the order given (setup and data always run first)
#
# Stages (independent: a failing or timed-out stage is logged and the next one runs):
#   setup        the GPU, the python3 there and the imports aerec needs
#   data         runs/synth20m: `aerec synth` of ML-20M's shape (skipped when runs/synth20m/train.npz exists,
#                e.g. carried: name runs/synth20m in the run's `carry`, 22 MiB, saves ~20 s)
#   grouping     Algorithm 1 at K = 15,000, R = 1,500, F = 50 on runs/synth20m's training users: `aerec groups`
#                end to end in two fresh processes (target: <= 5 s); then bench_grouping.py --ml20m (Algorithms
#                1 and 2, stage by stage, on the generator's whole 136,677-user matrix)
#   epoch        bench_epoch.py on runs/synth20m, batch 500, data on the GPU: Sw-DAE K = 15,000 R = 1,500
#                (target <= 1.5 s/epoch), Mult-VAE (<= 0.5 s), Mult-DAE, as users get them (Sw-DAE's backend
#                auto = dense) with --precision fp32,tf32,bf16: one row per precision, the config field users set
#                (`aerec train MODEL --precision`), 1 warm-up + 2 timed epochs each; then Sw-DAE's csr backend
#                (cuSPARSE) in fp32. A row that fails (e.g. an op without a bf16 kernel) reads FAILED, the rest run
#   layers       bench_layers.py ML-20M-like: one Sw-DAE step per layer representation
#   tests        the CUDA tests: every test whose name or marker holds "cuda" (pytest -k cuda; 3 of the 7
#                carry the cuda marker, the 4 in tests/structure only a skipif)
#   fullscale    = full-swdae full-multvae full-ease: `aerec train` (validation every EVAL_EVERY epochs) then
#                `aerec evaluate --split test` on runs/synth20m, the seconds of each, and what model.json says of
#                the fit (Sw-DAE's grouping stages, seconds per epoch, the rest)
#
# Environment:
#   The device machine has no network, so nothing is installed: its own python3 (/opt/torch/.venv, Python
#   3.12, torch 2.11 with CUDA, numpy, scipy, pandas, pyarrow, safetensors, scikit-learn, tqdm, matplotlib,
#   pytest; /work/.library/device/KINDS.md) runs aerec from the checkout through PYTHONPATH=src, and `aerec`
#   is `python3 -m aerec.cli`. `implicit` (WMF only) is missing there and not needed. The project's .venv
#   cannot be carried (CPU-only torch, Python 3.11). PY=... picks another interpreter.
#   OUT      where the logs go (the device tool's $OUT; default runs/gpu-session)
#   BUDGET   seconds this call may take in all, default 560 (the device tool stops a command at 600); a stage
#            gets at most its own limit and what is left of the budget, and is skipped under 20 s
#   SWDAE_EPOCHS (30), MULTVAE_EPOCHS (50), EVAL_EVERY (5), EASE_ARGS (empty: λ chosen on validation)
#   DATA (runs/synth20m), DEVICE (cuda), GROUPS_K (15000), GROUPS_R (1500): for a smoke test on a CPU, e.g.
#     OMP_NUM_THREADS=1 DATA=runs/ml-1m DEVICE=cpu GROUPS_K=300 GROUPS_R=30 SWDAE_EPOCHS=1 MULTVAE_EPOCHS=1 \
#       EVAL_EVERY=1 EASE_ARGS="--l2 500" PY=python OUT=/tmp/gs bash benchmarks/gpu_session.sh epoch fullscale
#
# Output: $OUT/summary.txt (each stage: exit status and seconds) and $OUT/STAGE.txt per stage (stdout and
# stderr together): 6 or 7 files, under the 8 the device tool brings back. The end of stdout repeats the logs
# (without progress lines and traceback frames, which stay in the files) and the summary, last, since the tool's reply carries the end. The scripts
# synchronise CUDA around their own timings; `>>> label: exit N, S s` lines are whole-process wall times.

set -u
cd "$(dirname "$0")/.."
START=$(date +%s)
BUDGET=${BUDGET:-560}
DEADLINE=$((START + BUDGET))
export OUT=${OUT:-runs/gpu-session}
mkdir -p "$OUT"
export PY=${PY:-python3}
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
export DATA=${DATA:-runs/synth20m} DEVICE=${DEVICE:-cuda} GROUPS_K=${GROUPS_K:-15000} GROUPS_R=${GROUPS_R:-1500} MODELS_DIR=runs/gpu-models
export SWDAE_EPOCHS=${SWDAE_EPOCHS:-30} MULTVAE_EPOCHS=${MULTVAE_EPOCHS:-50} EVAL_EVERY=${EVAL_EVERY:-5} EASE_ARGS=${EASE_ARGS:-}
SUMMARY="$OUT/summary.txt"

aerec() { "$PY" -m aerec.cli "$@"; }
since() { awk -v a="$1" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }'; }  # seconds since a `date +%s%N`
# `timed LABEL CMD...`: run it, then one line with its exit status and wall seconds.
timed() {
    local label=$1 t0 rc
    shift
    t0=$(date +%s%N)
    "$@"
    rc=$?
    echo ">>> $label: exit $rc, $(since "$t0") s"
    return $rc
}
# `describe_model DIR`: what a model directory's model.json says of its fit.
describe_model() {
    "$PY" - "$1" <<'EOF'
import json, statistics, sys
from pathlib import Path
f = Path(sys.argv[1]) / "model.json"
if not f.is_file():
    sys.exit(f"{f}: missing")
m = json.loads(f.read_text())
fi, cfg = m.get("fit_info", {}), m.get("config", {})
print(f"-- {m['model']}: fit {m.get('fit_seconds')} s on {cfg.get('device')}; parameters {fi.get('parameters')}")
g = fi.get("groups", {}).get("timings")
if g:
    print("   grouping: " + ", ".join(f"{k} {v:.2f}" for k, v in g.items()))
t = fi.get("training")
if t and t.get("history"):
    ep = [r["train_seconds"] for r in t["history"] if "train_seconds" in r]
    print(f"   training {t['seconds']} s: {t['epochs']} epochs, {t['steps']} steps; train_seconds per epoch median {statistics.median(ep):.3f}, "
          f"min {min(ep):.3f}, first {ep[0]:.3f}; the rest (validation, bookkeeping) {t['seconds'] - sum(ep):.1f} s; "
          f"best validation NDCG@100 {t['best_validation_ndcg@100']:.4f} at epoch {t['best_epoch']}")
rest = {k: v for k, v in fi.items() if k not in ("groups", "training", "parameters")}
if rest:
    print("   fit_info: " + json.dumps(rest, default=str)[:600])
v = m.get("validation", {}).get("summary", {}).get("ndcg@100")
if v:
    print(f"   validation NDCG@100 {v['mean']:.4f} ± {v['se']:.4f}")
EOF
}
export -f aerec since timed describe_model

stage_setup() {
    date -u
    nvidia-smi --query-gpu=name,memory.total,memory.used,driver_version,clocks.sm,clocks.max.sm,temperature.gpu,utilization.gpu --format=csv
    nproc
    free -g
    uname -r
    "$PY" - <<'EOF'
import importlib, sys
print("python", sys.version.split()[0], sys.executable)
for name in ("torch", "numpy", "scipy", "pandas", "pyarrow", "safetensors", "sklearn", "tqdm", "matplotlib", "pytest", "implicit"):
    try:
        print(f"{name:<12} {importlib.import_module(name).__version__}")
    except Exception as e:
        print(f"{name:<12} MISSING ({type(e).__name__})")
import torch
print("cuda available", torch.cuda.is_available(), "| torch cuda", torch.version.cuda)
if torch.cuda.is_available():
    p = torch.cuda.get_device_properties(0)
    print(torch.cuda.get_device_name(0), f"{p.total_memory / 2**30:.1f} GiB, {p.multi_processor_count} SMs")
import aerec, aerec.models, aerec.training
print("aerec", aerec.__version__, "from", aerec.__file__)
EOF
}

stage_data() {
    if [ -f "$DATA/train.npz" ]; then
        echo "$DATA exists (carried, or made earlier on this machine): not regenerated"
        "$PY" -c "import json; m = json.load(open('$DATA/manifest.json')); print(m.get('read'), m.get('seconds'))"
        return 0
    fi
    timed "aerec synth" aerec synth --users 116677 --items 20108 --interactions 10000000 --out "$DATA" --force
}

stage_grouping() {
    local run
    for run in 1 2; do  # a fresh process each, as users run it: each pays the CUDA context, the first also reads the libraries from disk
        timed "aerec groups -k $GROUPS_K -r $GROUPS_R -f 50 on $DATA, process $run (learn_groups' own seconds in \"timings\")" \
            aerec groups --data "$DATA" -k "$GROUPS_K" -r "$GROUPS_R" -f 50 --device "$DEVICE" --show 0 --json -q
    done
    timed "bench_grouping --ml20m (laplacian and svd; K = 50 and 15,000)" \
        "$PY" benchmarks/bench_grouping.py --skip-ml1m --ml20m --device "$DEVICE"
}

stage_epoch() {
    local common=(--data "$DATA" --groups "$GROUPS_K" --overlap "$GROUPS_R" --device "$DEVICE" --batch-size 500)
    # 9 epochs per model (3 precisions x (1 + 2)), of which only 3 in fp32: no more Sw-DAE work than the former
    # fp32 + TF32 pair of runs (4 + 4 epochs), in one process.
    timed "bench_epoch: --precision fp32,tf32,bf16 (the config field; Sw-DAE backend auto = dense)" \
        "$PY" benchmarks/bench_epoch.py "${common[@]}" --models swdae,mult-vae,mult-dae --precision fp32,tf32,bf16 --epochs 2 --warmup 1 --group-repeat 2 --measure-peak
    timed "bench_epoch: Sw-DAE csr backend (cuSPARSE)" \
        "$PY" benchmarks/bench_epoch.py "${common[@]}" --models swdae --backend csr --epochs 1 --warmup 1 --random-groups
}

stage_layers() {
    timed "bench_layers ML-20M-like" \
        "$PY" benchmarks/bench_layers.py --items 20108 --groups "$GROUPS_K" --overlap "$GROUPS_R" --nnz 85 --device "$DEVICE" --repeat 5
}

stage_tests() {
    timed "pytest -k cuda" "$PY" -m pytest -q -p no:cacheprovider -k cuda tests
}

stage_full_swdae() {
    timed "train swdae K=$GROUPS_K R=$GROUPS_R ($SWDAE_EPOCHS epochs, validation every $EVAL_EVERY)" \
        aerec train swdae --data "$DATA" --out "$MODELS_DIR/swdae" --force -q --device "$DEVICE" \
        --n-groups "$GROUPS_K" --overlap "$GROUPS_R" --max-epochs "$SWDAE_EPOCHS" --eval-every "$EVAL_EVERY" --patience 0
    describe_model "$MODELS_DIR/swdae"
    timed "evaluate swdae (test)" aerec evaluate "$MODELS_DIR/swdae" --data "$DATA" --split test --ks 20,50,100
}

stage_full_multvae() {
    timed "train mult-vae ($MULTVAE_EPOCHS epochs, validation every $EVAL_EVERY)" \
        aerec train mult-vae --data "$DATA" --out "$MODELS_DIR/mult-vae" --force -q --device "$DEVICE" \
        --max-epochs "$MULTVAE_EPOCHS" --eval-every "$EVAL_EVERY" --patience 0
    describe_model "$MODELS_DIR/mult-vae"
    timed "evaluate mult-vae (test)" aerec evaluate "$MODELS_DIR/mult-vae" --data "$DATA" --split test --ks 20,50,100
}

stage_full_ease() {
    # shellcheck disable=SC2086  # EASE_ARGS is a list of options
    timed "train ease ${EASE_ARGS:-(λ chosen on validation)}" \
        aerec train ease --data "$DATA" --out "$MODELS_DIR/ease" --force -q --device "$DEVICE" $EASE_ARGS
    describe_model "$MODELS_DIR/ease"
    timed "evaluate ease (test)" aerec evaluate "$MODELS_DIR/ease" --data "$DATA" --split test --ks 20,50,100
}
export -f stage_setup stage_data stage_grouping stage_epoch stage_layers stage_tests stage_full_swdae stage_full_multvae stage_full_ease

# Each stage's own limit in seconds; what is left of the budget caps it further.
declare -A LIMIT=([setup]=60 [data]=120 [grouping]=150 [epoch]=240 [layers]=120 [tests]=150 [full-swdae]=300 [full-multvae]=180 [full-ease]=150)

run_stage() {
    local name=$1 left limit t0 rc what
    left=$((DEADLINE - $(date +%s)))
    if [ "$left" -lt 20 ]; then
        printf '%-13s skipped: %d s of the budget left\n' "$name" "$left" | tee -a "$SUMMARY"
        return
    fi
    limit=${LIMIT[$name]}
    [ "$limit" -gt "$left" ] && limit=$left
    echo "[$(date +%T)] stage $name (at most $limit s)"
    t0=$(date +%s%N)
    { echo "### stage $name, $(date -u), limit $limit s"; timeout -k 10 "$limit" bash -c "stage_${name//-/_}"; } >"$OUT/$name.txt" 2>&1
    rc=$?
    what="exit $rc"
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then what="TIMED OUT at $limit s"; fi
    printf '%-13s %-20s %7s s\n' "$name" "$what" "$(since "$t0")" | tee -a "$SUMMARY"
}

STAGES=(setup data)
[ $# -eq 0 ] && set -- epoch grouping tests layers
for s in "$@"; do
    case $s in
        setup | data) ;;
        fullscale) STAGES+=(full-swdae full-multvae full-ease) ;;
        *)
            if [ -z "${LIMIT[$s]+x}" ]; then echo "unknown stage $s; known: fullscale ${!LIMIT[*]}" >&2; exit 2; fi
            STAGES+=("$s")
            ;;
    esac
done
echo "gpu_session: stages ${STAGES[*]}; budget $BUDGET s; logs in $OUT" | tee "$SUMMARY"
for s in "${STAGES[@]}"; do
    run_stage "$s"
done
echo "total $(($(date +%s) - START)) s" | tee -a "$SUMMARY"

# The end of stdout is what the device tool's reply carries: each log without progress lines or traceback frames
# (a traceback keeps its first and last lines), the summary last.
for s in "${STAGES[@]}"; do
    [ -f "$OUT/$s.txt" ] || continue
    echo
    echo "==================== $s"
    grep -Ev '^\[[0-9:]{8}\]|it/s\]|s/it\]|^  File "|^    ' "$OUT/$s.txt" | tail -n 45  # no progress lines, no traceback frames
done
echo
cat "$SUMMARY"
