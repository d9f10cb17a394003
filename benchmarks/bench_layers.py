"""Choose the sparse-and-wide layer's representation by measuring it.

One Sw-DAE training step (encoder + sigmoid + decoder + multinomial loss,
forward and backward) on a random structure with every item in exactly R of
K groups, for each representation:

* ``gather+csr``  (aerec's default on CPU): encoder touches only the input's
  non-zeros (index_add over nnz x R); decoder is a CSR sparse-dense product,
  its weight gradient a sampled dense-dense product on the structure;
* ``gather+dense``: the same encoder; the decoder's weights scattered into a
  dense items x K matrix, then one GEMM (aerec's default on CUDA);
* ``masked dense``: the textbook formulation: dense input, dense weight
  matrices multiplied by a 0/1 mask, two GEMMs.

Also printed: the FLOPs of the dense formulation and the achieved rate.

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
    args = ap.parse_args()
    device = torch.device(args.device)
    gen = np.random.default_rng(0)
    m, K, R, B = args.items, args.groups, args.overlap, args.batch
    groups = np.argsort(gen.random((m, K)), axis=1)[:, :R] if m * K <= 4e8 else np.stack([gen.choice(K, R, replace=False) for _ in range(m)])
    s = Structure(groups, K, device)
    x = random_batch(B, m, args.nnz, 0.4, gen, device)
    target = torch.zeros(B, m, device=device)
    target[x.rows, x.cols] = 1.0
    init = torch.Generator().manual_seed(0)
    enc = StructuredLayer(s, bias_size=K, generator=init)
    dec = StructuredLayer(s, bias_size=m, generator=init)

    def step(backend):
        def run():
            enc.zero_grad(set_to_none=True)
            dec.zero_grad(set_to_none=True)
            h = torch.sigmoid(enc.encode(x))
            y = dec.decode(h, backend)
            loss = -(F.log_softmax(y, 1) * target).sum(1).mean()
            loss.backward()

        return run

    rows = [("gather+csr", step("csr")), ("gather+dense", step("dense"))]
    if not args.skip_masked:
        mask = s.mask()  # (K, items)
        We = torch.nn.Parameter(enc.dense_weight().clone())
        Wd = torch.nn.Parameter(dec.dense_weight().clone())
        xd = x.dense()

        def masked():
            We.grad = Wd.grad = None
            h = torch.sigmoid(xd @ (We * mask).T)
            y = h @ (Wd * mask)
            loss = -(F.log_softmax(y, 1) * target).sum(1).mean()
            loss.backward()

        rows.append(("masked dense", masked))
    dense_flop = 3 * 2 * (2 * B * m * K)  # forward + 2x backward, two GEMMs of B x m x K
    print(f"device {device}; torch threads {torch.get_num_threads()}; load {os.getloadavg()[0]:.2f}")
    print(f"items {m:,}, K {K:,}, R {R:,} (density {R / K:.3f}), batch {B}, input nnz after dropout {len(x.vals):,}")
    print(f"dense formulation: {dense_flop:.3g} FLOP per step")
    print(f"{'representation':<16} {'s/step':>9} {'dense-equivalent TFLOP/s':>26}")
    for name, fn in rows:
        t = timed(fn, device, args.repeat)
        print(f"{name:<16} {t:>9.4f} {dense_flop / t / 1e12:>26.3f}")


if __name__ == "__main__":
    main()
