"""The dense products of a Mult-VAE step on ML-1M, through every fp32 GEMM this machine offers, side by side.

Why: the issue asks for a Mult-VAE epoch 3x faster than RecPack's on this
CPU. Per batch of 500 users the output layer (600 -> 3,497 items) is three
GEMMs that every exact implementation does (forward, input gradient, weight
gradient); RecPack also multiplies the densified input by the first layer
(forward and weight gradient), which aerec replaces by a sparse product. This
script times those shapes through torch (MKL on x86), torch's oneDNN path
(``mkldnn_linear``) and numpy (OpenBLAS), and turns the best rate into the
fastest epoch any exact implementation could reach if everything but these
GEMMs were free, and into the speed-up that would give over a measured
RecPack epoch (``--recpack-epoch``, from ``bench_multvae.py``). With
``--data``, it also trains aerec's Mult-VAE for a few epochs under
``torch.profiler`` and measures the time per epoch spent outside the dense
GEMMs (self time of every operator but ``aten::mm``/``aten::addmm``), so that
the bound counts what aerec's step really spends besides them.

Run from the repository root, on an otherwise idle machine::

    python benchmarks/bench_gemm.py --threads 1 --recpack-epoch 2.864 --data runs/ml-1m
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

from common import footer, machine_header

#: ML-1M's shapes: batch, the last hidden width, items; training users (batches per epoch).
BATCH, HIDDEN, ITEMS, TRAIN_USERS = 500, 600, 3497, 4834
#: FLOP per batch of the middle layers (600 -> 2 x 200 = [mu, log var], 200 -> 600), forward and both gradients.
MIDDLE_FLOP = 3 * 2.0 * BATCH * (600 * 400 + 200 * 600)


def rate(fn, flop: float, repeat: int) -> float:
    """GFLOP/s of the fastest of ``repeat`` calls, after one warm-up call."""
    fn()
    best = math.inf
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return flop / best / 1e9


#: Mult-VAE's parameters on ML-1M: I-600-[mu, log var]-600-I weights and biases.
MULTVAE_SHAPES = ((ITEMS, 600), (600, 400), (200, 600), (600, ITEMS), (600,), (400,), (600,), (ITEMS,))


def adam_step_ms(kwargs: dict, repeat: int) -> float:
    """Milliseconds of one Adam update of Mult-VAE's parameters (random gradients), fastest of ``repeat``."""
    gen = torch.Generator().manual_seed(0)
    params = [torch.nn.Parameter(torch.randn(s, generator=gen)) for s in MULTVAE_SHAPES]
    for q in params:
        q.grad = torch.randn(q.shape, generator=gen)
    opt = torch.optim.Adam(params, lr=1e-3, **kwargs)
    opt.step()
    best = math.inf
    for _ in range(repeat):
        t = time.perf_counter()
        opt.step()
        best = min(best, time.perf_counter() - t)
    return best * 1e3


def profile_multvae(data: Path, epochs: int) -> tuple[float, float, float]:
    """Seconds per epoch of aerec's Mult-VAE training (validation off): all, in dense GEMMs, and outside them."""
    from torch.profiler import ProfilerActivity, profile

    from aerec.data.prepared import PreparedDataset
    from aerec.fit_options import FitOptions
    from aerec.models import MultVAE

    train = PreparedDataset.load(data).train
    MultVAE(max_epochs=1, patience=0, eval_every=10**6).fit(train, options=FitOptions(device="cpu"))  # warm-up
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        t = time.perf_counter()
        MultVAE(max_epochs=epochs, patience=0, eval_every=10**6).fit(train, options=FitOptions(device="cpu"))
        wall = time.perf_counter() - t
    events = prof.key_averages()
    gemm = sum(e.self_cpu_time_total for e in events if e.key in ("aten::mm", "aten::addmm")) / 1e6
    total = sum(e.self_cpu_time_total for e in events) / 1e6
    scale = wall / total if total else 1.0  # the profiler's own time, spread evenly
    return wall / epochs, gemm * scale / epochs, (total - gemm) * scale / epochs


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=1, help="threads of every library (default 1)")
    p.add_argument("--repeat", type=int, default=20, help="timed calls per case; the fastest counts (default 20)")
    p.add_argument("--recpack-epoch", type=float, default=0.0, help="RecPack's measured seconds per epoch (bench_multvae.py) for the bound")
    p.add_argument("--data", type=Path, help="a prepared ML-1M directory: also profile aerec's Mult-VAE epoch (time outside the GEMMs)")
    p.add_argument("--epochs", type=int, default=3, help="profiled epochs with --data, after one unprofiled (default 3)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.threads)
    except ImportError:
        print("threadpoolctl not installed: numpy's BLAS keeps its own thread count (set OPENBLAS_NUM_THREADS)", file=sys.stderr)
    print(machine_header("bench_gemm: the dense GEMMs of a Mult-VAE step (ML-1M shapes), per library"))
    print(f"shapes: batch {BATCH}, hidden {HIDDEN}, items {ITEMS}; {TRAIN_USERS} training users = {math.ceil(TRAIN_USERS / BATCH)} batches per epoch")

    rng = np.random.default_rng(0)
    h = rng.standard_normal((BATCH, HIDDEN), dtype=np.float32)  # (batch, hidden)
    w = rng.standard_normal((HIDDEN, ITEMS), dtype=np.float32)  # (hidden, items)
    g = rng.standard_normal((BATCH, ITEMS), dtype=np.float32)  # (batch, items), the logits' gradient
    th, tw, tg = (torch.from_numpy(a) for a in (h, w, g))
    tw_t = tw.T.contiguous()  # (items, hidden): nn.Linear's orientation
    flop = 2.0 * BATCH * HIDDEN * ITEMS
    out = np.empty((BATCH, ITEMS), np.float32)
    cases = {
        "forward  h W": {
            "torch (MKL)": lambda: th @ tw,
            "torch, W stored transposed": lambda: torch.nn.functional.linear(th, tw_t),
            "numpy (OpenBLAS)": lambda: np.matmul(h, w, out=out),
        },
        "input gradient  G Wᵀ": {
            "torch (MKL)": lambda: tg @ tw.T,
            "numpy (OpenBLAS)": lambda: g @ w.T,
        },
        "weight gradient  hᵀ G": {
            "torch (MKL)": lambda: th.T @ tg,
            "numpy (OpenBLAS)": lambda: h.T @ g,
        },
    }
    try:
        hm, wm = th.to_mkldnn(), tw_t.to_mkldnn()
        cases["forward  h W"]["torch oneDNN (mkldnn_linear)"] = lambda: torch._C._nn.mkldnn_linear(hm, wm, None)
    except (RuntimeError, AttributeError) as e:  # a build without oneDNN
        print(f"oneDNN: not available ({e})")

    print(f"\n| product (2·{BATCH}·{HIDDEN}·{ITEMS} = {flop / 1e9:.2f} GFLOP) | library | GFLOP/s (best of {args.repeat}) |")
    print("|---|---|---|")
    best = {}
    for product, libs in cases.items():
        for lib, fn in libs.items():
            r = rate(fn, flop, args.repeat)
            best[product] = max(best.get(product, 0.0), r)
            print(f"| {product} | {lib} | {r:.1f} |")

    print(f"\n| Adam update of Mult-VAE's {sum(math.prod(s) for s in MULTVAE_SHAPES) / 1e6:.2f} M parameters | ms (best of {args.repeat}) |")
    print("|---|---|")
    for name, kwargs in (("multi-tensor (torch's default)", {"foreach": True}), ("fused (aerec)", {"fused": True})):
        print(f"| {name} | {adam_step_ms(kwargs, args.repeat):.1f} |")

    batches = math.ceil(TRAIN_USERS / BATCH)
    floor = batches * sum(flop / (r * 1e9) for r in best.values())
    print(f"\nthe output layer's three GEMMs at the best rate of each: {floor:.3f} s per epoch ({batches} batches), "
          f"everything else free")  # fmt: skip
    if args.recpack_epoch > 0:
        print(f"RecPack epoch {args.recpack_epoch:.3f} s: the fastest exact epoch would be {args.recpack_epoch / floor:.2f}x faster; "
              f"3x needs {args.recpack_epoch / 3:.3f} s per epoch")  # fmt: skip
    if args.data is not None:
        epoch, gemm, rest = profile_multvae(args.data, args.epochs)
        print(f"\naerec Mult-VAE under the profiler ({args.epochs} epochs): {epoch:.3f} s per epoch, of which dense GEMMs "
              f"{gemm:.3f} s and everything else {rest:.3f} s")  # fmt: skip
        middle = batches * MIDDLE_FLOP / (max(best.values()) * 1e9)
        bound = floor + middle + rest
        print(f"with every dense GEMM at the best output-layer rate above (output {floor:.3f} s, middle layers {middle:.3f} s) "
              f"and everything else as measured: {bound:.3f} s per epoch")  # fmt: skip
        if args.recpack_epoch > 0:
            print(f"= {args.recpack_epoch / bound:.2f}x RecPack's epoch")
    print(footer())
    return 0


if __name__ == "__main__":
    sys.exit(main())
