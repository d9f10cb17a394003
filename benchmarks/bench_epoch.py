"""Seconds per training epoch of the torch autoencoders, through the library's own training loop, and the rate they reach.

For the prepared directory ``--data`` and each model of ``--models``
(``swdae``, ``fc-dae``, ``mult-vae``, ``mult-dae``), the model is built as
``fit`` builds it (its config class, then its own ``_build``; for Sw-DAE the
item groups are learned first by :func:`aerec.structure.learn_groups` with
the arguments ``SwDAE.fit`` passes, and that is timed on its own, stage by
stage as :attr:`ItemGroups.timings` reports them, ``--group-repeat`` times:
the CUDA context is created before, but the first run still pays for the
libraries' lazy loading, so a second run shows the warm figure), and its
module is trained by :func:`aerec.training.train`, the generic loop every
``fit`` uses, with ``validate=None`` for ``--warmup + --epochs`` epochs on
every training user. The loop's ``monitor`` hook, called after each epoch,
synchronises CUDA and reads the clock, so an epoch is everything the loop
does between two epoch ends: shuffling, gathering each batch from the CSR
matrix held on the device, forward, loss, backward, the Adam step, the
loop's own bookkeeping. The first epoch also holds the upload of the
training matrix (``DeviceCSR``) and the creation of the optimiser; the
first ``--warmup`` epochs are left out of the median and minimum.

Columns:

* ``steps``: optimiser steps per epoch (``ceil(users / batch)``).
* ``med s``, ``min s``: seconds per epoch over the ``--epochs`` timed ones;
  ``1st s``: the first epoch (with the upload); ``loop s``: the median of the
  loop's own ``train_seconds`` of the timed epochs (the clock inside
  ``train``, without an explicit synchronisation).
* ``dense-eq``: FLOPs per epoch of the *dense* network of the same widths,
  :mod:`aerec.cost`'s convention (one multiply and one add per weight, dense
  input, biases and activations not counted): ``flops_per_user x training
  users x 3``, the 3 being the forward product plus the two backward
  products (input gradient and weight gradient) of every layer, the first
  layer's input gradient included although nobody needs it. For ``swdae``
  and ``fc-dae`` this is :func:`aerec.cost.fcdae_cost` ``(items, K)``: the
  dense formulation of Sw-DAE, 4.2e14 at ML-20M's shape with K = 15,000.
  ``TF/s`` is dense-eq over the median epoch; ``%peak`` is that over the
  dense bf16 peak (below), for every row whatever its precision.
* ``needed``: FLOPs per epoch the sparse formulation cannot avoid. The
  first layer touches only the non-zeros left by the input dropout
  (``(1 - p) x nnz`` in expectation): ``2 x nnz_kept x width`` forward plus as
  much for its weight gradient (its input needs none); every other layer is
  dense in its input, ``3 x 2 x users x fan_in x fan_out``, except Sw-DAE's
  decoder whose weights exist on the structure only: ``3 x 2 x users x
  items x R``. (Sw-DAE's ``dense`` backend executes the decoder as a full
  ``items x K`` GEMM, i.e. ``K / R`` times the decoder's needed FLOPs, and its
  ``gemm`` backend, the default on CUDA, both layers.) ``TF/s`` beside it is
  needed over the median epoch.
* ``dtype``: the row's precision (below).
* ``peak MiB``: ``torch.cuda.max_memory_allocated`` over the timed run
  (model, optimiser state, data, activations); ``n/a`` on the CPU.

A row that raises (an operation without a kernel for its dtype, memory
running out) prints ``FAILED`` with the error, its traceback goes to stderr,
the other rows still run, and the script exits 1.

Precision: ``--precision`` (comma-separated, one row per value per model
and backend) sets the fit option ``precision`` (aerec.fit_options), the option
every torch model inherits from :class:`aerec.training.TrainConfig` (``aerec
train MODEL --precision ...``), so the timed loop is exactly what a user
gets with it: ``fp32`` (the default) computes in float32 throughout;
``tf32`` lets float32 matrix products use TF32 tensor cores
(``torch.backends.cuda.matmul.allow_tf32``, set by ``train`` for the
duration of training and restored after; on the CPU it changes nothing,
the row is fp32's); ``bf16`` runs each step's forward pass and loss under
``torch.autocast`` bfloat16 (what autocast leaves alone stays float32; the
weights, the optimiser state and the gradients they receive stay float32).
The benchmark sets no precision of its own; the FLOP counts are the same
in every precision.

The peak is ``--peak-tflops``, or looked up from ``torch.cuda.get_device_name``
(datasheet dense bf16 tensor-core rates, without sparsity: H100 SXM 989,
H100 PCIe 756, H100 NVL 835, H200 989); another GPU needs the flag; on the
CPU it is n/a. It is the ceiling of the ``bf16`` rows. The ``fp32`` and
``tf32`` rows run against lower ceilings (H100 SXM datasheet, dense: about
67 TFLOP/s for float32 on the CUDA cores, about 495 for TF32 on the tensor
cores, i.e. 1/15 and 1/2 of the bf16 figure), yet their ``%peak`` is still
taken against the dense bf16 peak, as for every row, so the rows compare
with one another and with the target; it understates how close an fp32 or
tf32 row comes to its own ceiling. ``--measure-peak`` times an 8192^3 GEMM
in bf16, fp32 and tf32 on the GPU and prints those rates as well: the
measured ceilings of the three precisions.

Run from the repository root, in the project's virtual environment::

    OMP_NUM_THREADS=1 python benchmarks/bench_epoch.py --data runs/ml-1m --models swdae,mult-vae --groups 1000 --overlap 100 --epochs 2 --warmup 1 --device cpu --precision fp32,bf16
    python benchmarks/bench_epoch.py --data runs/synth20m --models swdae,mult-vae --groups 15000 --overlap 1500 --device cuda --precision fp32,tf32,bf16 --measure-peak
    python benchmarks/bench_epoch.py --data runs/synth20m --models swdae --groups 15000 --overlap 1500 --device cuda --random-groups --backend dense,csr --precision fp32,bf16
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import statistics
import sys
import time
import traceback
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch

from common import footer, machine_header, say

from aerec.cost import fcdae_cost, multdae_cost, multvae_cost
from aerec.data.prepared import PreparedDataset
from aerec.device import resolve_device
from aerec.errors import ConfigError
from aerec.models import FCDAE, MultDAE, MultVAE, SwDAE
from aerec.models.layers import BACKENDS
from aerec.structure import learn_groups
from aerec.structure.groups import STAGES
from aerec.fit_options import PRECISIONS, FitOptions
from aerec.training import train

MODELS = ("swdae", "fc-dae", "mult-vae", "mult-dae")
# Datasheet dense (no 2:4 sparsity) bf16 tensor-core TFLOP/s; the first name contained in the device's name wins.
PEAKS = (("H100 PCIe", 756.0), ("H100 NVL", 835.0), ("GH200", 989.0), ("H200", 989.0), ("H100", 989.0))

HEAD = (f"{'model':<9} {'backend':<10} {'device':<6} {'dtype':<9} {'steps':>5} {'med s':>8} {'min s':>8} {'1st s':>8} {'loop s':>8}"
        f" {'dense-eq':>9} {'TF/s':>7} {'%peak':>6} {'needed':>9} {'TF/s':>7} {'peak MiB':>9}")  # fmt: skip


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, type=Path, help="a prepared directory (aerec prepare / aerec synth)")
    p.add_argument("--models", default="swdae,mult-vae", help=f"comma-separated, of {', '.join(MODELS)} (default swdae,mult-vae)")
    p.add_argument("--groups", type=int, default=1000, help="swdae: K (default 1000)")
    p.add_argument("--overlap", type=int, default=0, help="swdae: R (default 0: round(K/10), as SwDAE does)")
    p.add_argument("--components", type=int, default=50, help="swdae: F of the grouping (default 50)")
    p.add_argument("--grouping", choices=("laplacian", "svd"), default="laplacian", help="swdae: Algorithm 1 or 2 (default laplacian)")
    p.add_argument("--group-repeat", type=int, default=1, help="swdae: learn the groups this many times, print each, keep the last (default 1; 2 shows a warm second run)")
    p.add_argument("--random-groups", action="store_true", help="swdae: R random groups per item instead of learning them (epoch time only)")
    p.add_argument("--backend", default="auto", help="swdae: backend(s), comma-separated of auto, csr, dense, gemm (default auto: gemm on CUDA, csr on the CPU)")
    p.add_argument("--hidden", type=int, default=1000, help="fc-dae: K, the width (default 1000)")
    p.add_argument("--device", default="auto", help="cpu, cuda or auto (default auto)")
    p.add_argument("--epochs", type=int, default=3, help="timed epochs (default 3)")
    p.add_argument("--warmup", type=int, default=1, help="untimed epochs first (default 1)")
    p.add_argument("--batch-size", type=int, default=500, help="users per batch (default 500)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--peak-tflops", type=float, help="the peak for %%peak (default: looked up by GPU name; n/a on the CPU)")
    p.add_argument("--precision", default="fp32", help=f"comma-separated of {', '.join(PRECISIONS)}: the model config's precision, one row each (default fp32)")
    p.add_argument("--measure-peak", action="store_true", help="also time an 8192^3 GEMM in bf16, fp32 and tf32 (CUDA only)")
    p.add_argument("--profile", action="store_true", help="after each row, one more epoch under torch's profiler: its top kernels by self time")
    args = p.parse_args()

    models = [m.strip() for m in args.models.split(",") if m.strip()]
    backends = [b.strip() for b in args.backend.split(",") if b.strip()]
    precisions = [q.strip() for q in args.precision.split(",") if q.strip()]
    for name, values, allowed in (("--models", models, MODELS), ("--backend", backends, ("auto", *BACKENDS)), ("--precision", precisions, PRECISIONS)):
        bad = [v for v in values if v not in allowed]
        if bad or not values:
            p.error(f"{name}: {', '.join(bad) or 'empty'}; choose from {', '.join(allowed)}")
    if args.epochs < 1 or args.warmup < 0 or args.batch_size < 1 or args.group_repeat < 1:
        p.error("--epochs, --batch-size and --group-repeat must be at least 1, --warmup at least 0")
    try:
        device = resolve_device(args.device)
    except ConfigError as e:
        p.error(str(e))
    if device.type == "cuda":
        torch.zeros(1, device=device)  # create the context here, not inside the first timing
    peak, peak_what = peak_tflops(args.peak_tflops, device)
    if peak is None and device.type == "cuda":
        p.error(f"--peak-tflops: no datasheet peak known for {torch.cuda.get_device_name(device)!r}; give one")

    print(machine_header("bench_epoch: seconds per training epoch through aerec.training.train"))
    gpu = f"; {torch.cuda.get_device_name(device)}, {torch.cuda.get_device_properties(device).total_memory / 2**30:.0f} GiB" if device.type == "cuda" else ""
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads; device {device}{gpu}")
    print(f"peak for %peak: {peak_what}")
    if args.measure_peak:
        measure_peaks(device)

    X = PreparedDataset.load(args.data).train
    X = sp.csr_matrix(X, dtype=np.float32)
    n, m = X.shape
    print(f"\n-- {args.data}: {n:,} training users x {m:,} items, {X.nnz:,} interactions ({X.nnz / n:.1f} per user); "
          f"batch {args.batch_size}, {args.warmup} warm-up + {args.epochs} timed epochs")  # fmt: skip

    groups = None
    if "swdae" in models:
        groups = swdae_groups(X, args, device)

    print(f"\n{HEAD}")
    rows = [(model, backend if model == "swdae" else "", q) for model in models for backend in (backends if model == "swdae" else [""]) for q in precisions]
    failed = 0
    for model, backend, precision in rows:
        say(f"{model} {backend} {precision}: building and training {args.warmup + args.epochs} epochs")
        try:
            print(time_model(model, backend, precision, X, groups, args, device, peak), flush=True)
        except Exception as e:  # one row failing (an op without a kernel for the dtype, out of memory) does not lose the others
            failed += 1
            traceback.print_exc()
            first = (str(e).splitlines() or [""])[0][:160]
            print(f"{model:<9} {backend:<10} {device.type:<6} {precision:<9} FAILED: {type(e).__name__}: {first}", flush=True)
        finally:
            if device.type == "cuda":
                torch.cuda.empty_cache()
    print(footer())
    return 1 if failed else 0


# -- the peak -----------------------------------------------------------------


def peak_tflops(flag: float | None, device: torch.device) -> tuple[float | None, str]:
    if flag is not None:
        return flag, f"{flag:g} TFLOP/s (--peak-tflops)"
    if device.type != "cuda":
        return None, "n/a on the CPU (give --peak-tflops for one)"
    name = torch.cuda.get_device_name(device)
    for key, value in PEAKS:
        if key in name:
            return value, f"{value:g} TFLOP/s, the {key} datasheet's dense bf16 tensor-core rate ({name})"
    return None, f"unknown for {name}"


def measure_peaks(device: torch.device) -> None:
    """Rates of one 8192^3 GEMM on random data (median of 10 after 3 warm-ups), as METHOD.md suggests measuring the ceiling."""
    if device.type != "cuda":
        print("--measure-peak: CUDA only; skipped")
        return
    size = 8192
    gen = torch.Generator(device=device).manual_seed(0)
    print(f"measured GEMM ceilings ({size}^3, random data, median of 10):", end="")
    for label, dtype, precision in (("bf16", torch.bfloat16, "highest"), ("fp32", torch.float32, "highest"), ("tf32", torch.float32, "high")):
        torch.set_float32_matmul_precision(precision)
        a = torch.randn(size, size, device=device, generator=gen).to(dtype)
        b = torch.randn(size, size, device=device, generator=gen).to(dtype)
        for _ in range(3):
            a @ b
        times = []
        for _ in range(10):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            a @ b
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end) / 1e3)
        print(f" {label} {2 * size**3 / statistics.median(times) / 1e12:.0f} TFLOP/s;", end="")
        del a, b
    torch.set_float32_matmul_precision("highest")
    torch.cuda.empty_cache()
    print()


# -- Sw-DAE's groups ----------------------------------------------------------


def swdae_groups(X: sp.csr_matrix, args, device: torch.device) -> np.ndarray:
    """The items x R group array, learned with the arguments ``SwDAE.fit`` passes (or random); timed."""
    model = SwDAE(n_groups=args.groups, overlap=args.overlap, n_components=args.components, grouping=args.grouping)
    K, R, F = args.groups, model.overlap, args.components
    m = X.shape[1]
    if args.random_groups:
        rng = np.random.default_rng(args.seed)
        print(f"\n-- swdae groups: random, K = {K:,}, R = {R:,} (--random-groups; not timed)")
        return np.stack([rng.choice(K, R, replace=False) for _ in range(m)])
    cfg = model.config
    print(f"\n-- swdae groups ({cfg.grouping}, K = {K:,}, R = {R:,}, F = {F}) on {device}: learn_groups, seconds per stage (synchronised)")
    print(f"{'run':>3} " + " ".join(f"{s:>9}" for s in STAGES) + f" {'total s':>8} {'iters':>5}")
    for run in range(1, args.group_repeat + 1):
        say(f"swdae: learning K={K} R={R} groups ({cfg.grouping}) on {device}, run {run}")
        g = learn_groups(X, n_groups=K, overlap=R, n_components=F, algorithm=cfg.grouping, normalize=cfg.normalize, seed=args.seed, device=str(device))
        print(f"{run:>3} " + " ".join(f"{g.timings[s]:>9.2f}" for s in STAGES) + f" {g.timings['total']:>8.2f} {g.diagnostics['kmeans_iterations']:>5}", flush=True)
    return np.asarray(g.item_groups)


# -- one row ------------------------------------------------------------------


def build(model: str, backend: str, precision: str, X: sp.csr_matrix, groups: np.ndarray | None, args, device: torch.device):
    """The recommender with ``module_`` built as its ``fit`` builds it (under the fit options of ``args`` and
    ``precision``), and the FLOPs its epoch needs."""
    n, m = X.shape
    options = FitOptions(seed=args.seed, device=str(device), precision=precision)
    common = dict(batch_size=args.batch_size)
    if model == "swdae":
        rec = SwDAE(n_groups=args.groups, overlap=args.overlap, n_components=args.components, grouping=args.grouping, backend=backend, **common)
        rec.options_ = options
        rec.n_items_ = m
        rec._build(groups, device)
        K, R, p = args.groups, groups.shape[1], rec.config.input_dropout
        dense = fcdae_cost(m, K)["flops_per_user"]
        needed = 4 * (1 - p) * X.nnz * R + 3 * 2 * n * m * R  # encoder on the kept non-zeros (forward + weight gradient); decoder on the structure
        label = rec.config.backend if rec.config.backend != "auto" else f"auto:{rec.module_.backend}"
    elif model == "fc-dae":
        rec = FCDAE(n_hidden=args.hidden, **common)
        rec.options_ = options
        rec.n_items_ = m
        rec._build(device)
        H, p = args.hidden, rec.config.input_dropout
        dense = fcdae_cost(m, H)["flops_per_user"]
        needed = 4 * (1 - p) * X.nnz * H + 3 * 2 * n * H * m
        label = "dense"
    elif model == "mult-vae":
        rec = MultVAE(**common)
        rec.options_ = options
        rec.n_items_ = m
        rec._build(device)
        H, L, p = rec.config.hidden, rec.config.latent, rec.config.input_dropout
        dense = multvae_cost(m, H, L)["flops_per_user"]
        needed = 4 * (1 - p) * X.nnz * H + 3 * 2 * n * (H * 2 * L + L * H + H * m)
        label = ""
    else:  # mult-dae
        rec = MultDAE(**common)
        rec.options_ = options
        rec.n_items_ = m
        rec._build(device)
        H, p = rec.config.hidden, rec.config.input_dropout
        dense = multdae_cost(m, H)["flops_per_user"]
        needed = 4 * (1 - p) * X.nnz * H + 3 * 2 * n * H * m
        label = ""
    return rec, 3 * dense * n, needed, label


def time_model(model: str, backend: str, precision: str, X: sp.csr_matrix, groups, args, device: torch.device, peak: float | None) -> str:
    cuda = device.type == "cuda"
    sync = (lambda: torch.cuda.synchronize(device)) if cuda else (lambda: None)
    rec, dense_flop, needed_flop, label = build(model, backend, precision, X, groups, args, device)
    module = rec.module_
    cfg = dataclasses.replace(rec.config, max_epochs=args.warmup + args.epochs, max_steps=0, patience=0)
    marks: list[float] = []

    def monitor() -> dict:  # called by the loop after every epoch
        sync()
        marks.append(time.perf_counter())
        return {}

    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    sync()
    start = time.perf_counter()
    result = train(module, X, cfg, device=device, options=rec.options_, validate=None, monitor=monitor)
    epochs = np.diff([start, *marks])
    timed = epochs[args.warmup :]
    loop = [r["train_seconds"] for r in result.history[args.warmup :]]
    med = statistics.median(timed)
    dtype = rec.options_.precision  # what train() ran with: the fit option
    steps = math.ceil(X.shape[0] / args.batch_size)
    if args.profile:
        profile_epoch(module, X, cfg, rec.options_, device)
    pct = f"{100 * dense_flop / med / 1e12 / peak:>6.2f}" if peak else f"{'n/a':>6}"
    mem = f"{torch.cuda.max_memory_allocated(device) / 2**20:>9,.0f}" if cuda else f"{'n/a':>9}"
    return (f"{model:<9} {label:<10} {device.type:<6} {dtype:<9} {steps:>5} {med:>8.3f} {min(timed):>8.3f} {epochs[0]:>8.3f} {statistics.median(loop):>8.3f}"
            f" {dense_flop:>9.3g} {dense_flop / med / 1e12:>7.2f} {pct} {needed_flop:>9.3g} {needed_flop / med / 1e12:>7.2f} {mem}")  # fmt: skip


def profile_epoch(module, X: sp.csr_matrix, cfg, options: FitOptions, device: torch.device) -> None:
    """One epoch of the same loop under torch's profiler; its top 15 operators by self device time, to stderr."""
    cuda = device.type == "cuda"
    activities = [torch.profiler.ProfilerActivity.CPU] + ([torch.profiler.ProfilerActivity.CUDA] if cuda else [])
    with torch.profiler.profile(activities=activities) as prof:
        train(module, X, dataclasses.replace(cfg, max_epochs=1), device=device, options=options, validate=None)
        if cuda:
            torch.cuda.synchronize(device)
    key = "self_cuda_time_total" if cuda else "self_cpu_time_total"
    print(prof.key_averages().table(sort_by=key, row_limit=15, max_name_column_width=50), file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
