"""Choose the sparse-and-wide layer's representation by measuring it.

One Sw-DAE training step (encoder + sigmoid + decoder + multinomial loss,
forward and backward) on a random structure with every item in exactly R of
K groups, for each representation:

* ``gather+csr``  (aerec's default on CPU): encoder touches only the input's
  non-zeros (index_add over nnz x R); decoder is a CSR sparse-dense product,
  its weight gradient a sampled dense-dense product on the structure;
* ``gather+dense``: the same encoder; the decoder's weights scattered into a
  dense items x K matrix, then one GEMM;
* ``gemm`` (aerec's default on CUDA): both layers as GEMMs on a dense
  ``items x K`` copy of the weights kept between steps (only the structured
  entries rewritten), weight gradients gathered from one GEMM each;
* ``masked dense``: the textbook formulation: dense input, dense weight
  matrices multiplied by a 0/1 mask, two GEMMs.

Each runs in every precision of ``--precisions``: ``fp32``, and ``bf16``
(the step under ``torch.autocast`` bfloat16, as ``precision = "bf16"``
trains; ``gather+csr`` has no bfloat16 kernels and is left out there).

Also printed: the FLOPs of the dense formulation and the achieved rate;
with ``--profile NAME`` (e.g. ``gemm/bf16``), torch's profiler's top kernels
of that row's step.

    python benchmarks/bench_layers.py                       # ML-1M-like: m=3,500, K=3,000, R=300
    python benchmarks/bench_layers.py --items 20108 --groups 15000 --overlap 1500 --nnz 85   # ML-20M-like
    python benchmarks/bench_layers.py --device cuda ...
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch
import torch.nn.functional as F

from aerec.batches import SparseBatch
from aerec.models.layers import Structure, StructuredLayer


def random_batch(users: int, items: int, nnz_per_user: int, keep: float, gen: np.random.Generator, device) -> SparseBatch:
    rows, cols = [], []
    for u in range(users):
        c = gen.choice(items, nnz_per_user, replace=False)
        c = c[gen.random(nnz_per_user) < keep]
        rows.append(np.full(len(c), u))
        cols.append(c)
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    t = lambda a: torch.from_numpy(a.astype(np.int64)).to(device)  # noqa: E731
    return SparseBatch(t(rows), t(cols), torch.full((len(rows),), 1 / keep, device=device), users, items)


def timed(fn, device, repeat: int) -> float:
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=3500)
    ap.add_argument("--groups", type=int, default=3000)
    ap.add_argument("--overlap", type=int, default=300)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--nnz", type=int, default=95, help="interactions per user before the input dropout")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--skip-masked", action="store_true", help="skip the masked dense formulation (memory)")
    ap.add_argument("--precisions", default="fp32,bf16", help="comma-separated of fp32, bf16 (default fp32,bf16)")
    ap.add_argument("--profile", default="", help="a row (e.g. gemm/bf16) whose step's top kernels to print")
    args = ap.parse_args()
    device = torch.device(args.device)
    gen = np.random.default_rng(0)
    m, K, R, B = args.items, args.groups, args.overlap, args.batch
    draw = torch.Generator(device=device).manual_seed(0)
    groups = torch.rand((m, K), generator=draw, device=device).topk(R, dim=1).indices  # R distinct random groups per item
    s = Structure(groups.cpu().numpy(), K, device)
    x = random_batch(B, m, args.nnz, 0.4, gen, device)
    target = torch.zeros(B, m, device=device)
    target[x.rows, x.cols] = 1.0
    init = torch.Generator().manual_seed(0)
    enc = StructuredLayer(s, bias_size=K, generator=init)
    dec = StructuredLayer(s, bias_size=m, generator=init)

    def step(backend, bf16):
        def run():
            enc.zero_grad(set_to_none=True)
            dec.zero_grad(set_to_none=True)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                h = torch.sigmoid(enc.encode(x, backend))
                y = dec.decode(h, backend)
                loss = -(F.log_softmax(y.float(), 1) * target).sum(1).mean()
            loss.backward()

        return run

    precisions = [q.strip() for q in args.precisions.split(",") if q.strip()]
    rows = []
    for q in precisions:
        bf16 = q == "bf16"
        for backend, label in (("csr", "gather+csr"), ("dense", "gather+dense"), ("gemm", "gemm")):
            if not (bf16 and backend == "csr"):
                rows.append((f"{label}/{q}", step(backend, bf16)))
        if not args.skip_masked:
            rows.append((f"masked dense/{q}", masked_step(s, enc, dec, x, target, device, bf16)))
    dense_flop = 3 * 2 * (2 * B * m * K)  # forward + 2x backward, two GEMMs of B x m x K
    print(f"device {device}; torch {torch.__version__}; threads {torch.get_num_threads()}; load {os.getloadavg()[0]:.2f}")
    if device.type == "cuda":
        print(torch.cuda.get_device_name(device))
    print(f"items {m:,}, K {K:,}, R {R:,} (density {R / K:.3f}), batch {B}, input nnz after dropout {len(x.vals):,}")
    print(f"dense formulation: {dense_flop:.3g} FLOP per step")
    print(f"{'representation':<22} {'s/step':>9} {'dense-equivalent TFLOP/s':>26}")
    for name, fn in rows:
        try:
            t = timed(fn, device, args.repeat)
            print(f"{name:<22} {t:>9.4f} {dense_flop / t / 1e12:>26.3f}", flush=True)
        except Exception as e:  # out of memory, a missing kernel: the other rows still run
            print(f"{name:<22} FAILED: {type(e).__name__}: {(str(e).splitlines() or [''])[0][:120]}", flush=True)
        if device.type == "cuda":
            torch.cuda.empty_cache()
    if args.profile:
        fn = dict(rows)[args.profile]
        fn()
        activities = [torch.profiler.ProfilerActivity.CPU] + ([torch.profiler.ProfilerActivity.CUDA] if device.type == "cuda" else [])
        with torch.profiler.profile(activities=activities) as prof:
            fn()
            if device.type == "cuda":
                torch.cuda.synchronize()
        key = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
        print(f"\nprofile of one {args.profile} step (top kernels by self time):")
        print(prof.key_averages().table(sort_by=key, row_limit=12, max_name_column_width=60))


def masked_step(s, enc, dec, x, target, device, bf16: bool):
    mask = s.mask()  # (K, items)
    We = torch.nn.Parameter(enc.dense_weight().clone())
    Wd = torch.nn.Parameter(dec.dense_weight().clone())
    xd = x.dense()

    def masked():
        We.grad = Wd.grad = None
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            h = torch.sigmoid(xd @ (We * mask).T)
            y = h @ (Wd * mask)
            loss = -(F.log_softmax(y.float(), 1) * target).sum(1).mean()
        loss.backward()

    return masked


if __name__ == "__main__":
    main()
