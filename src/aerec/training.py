"""The generic training loop for every torch model (STYLE.md §Distilled 4).

It knows nothing of any model. It takes a ``torch.nn.Module`` that owns its
loss, ``module.loss(batch, step) -> scalar tensor`` for a
:class:`~aerec.batches.SparseBatch` of training users, and a validation
callback that returns the number to maximise (validation NDCG@100). It
shuffles users with its own seeded generator, batches them from a CSR matrix
held on the device, steps the optimiser, validates every ``eval_every``
epochs, keeps the best weights, and stops after ``patience`` validations
without improvement or when the budget of epochs or steps is spent. A loss
that becomes NaN or infinite stops training at the end of that epoch: the
best validated weights so far are kept (``stopped`` names the epoch), or,
with none yet, the fit is a one-line :class:`~aerec.errors.DataError`.

A ``monitor`` callable, when given, is called after every epoch (after the
validation, with the module in eval mode) and what it returns is stored
under ``"monitor"`` in that epoch's history record (Figure 4's spectral
norms, :mod:`aerec.models.spectra`).

A module may define ``after_step(batch, step, optimizer)``: the loop calls it
after each optimiser step, with the same batch and step number that
``loss`` received, so that the module can make further updates of its own
on that batch (DeepRec's dense re-feeding). Such updates do not count as
steps.

With a ``checkpoint`` path the loop saves its whole state (weights,
optimiser, counters, best weights, the shuffling generator and the module's
own ``generator`` if it has one, e.g. for dropout) after every validation,
atomically, and resumes from it when started again with the same path.
Checkpoints are tensors and plain numbers, loaded with ``weights_only=True``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch
from tqdm.auto import tqdm

from aerec.batches import DeviceCSR
from aerec.checks import at_least, check, one_of
from aerec.errors import ConfigError, DataError
from aerec.fit_options import FitOptions


@dataclass
class TrainConfig:
    """How to train (the same fields for every torch model).

    Attributes:
        batch_size: users per mini-batch.
        lr: the optimiser's learning rate.
        weight_decay: L2 penalty applied by the optimiser.
        optimizer: ``adam`` or ``sgd`` (with ``momentum``).
        momentum: SGD momentum.
        max_epochs: the most passes over the training users.
        max_steps: the most optimiser steps (``0`` for no limit besides epochs).
        patience: stop after this many validations without improvement (``0`` never stops early).
        eval_every: validate every this many epochs.
    """

    batch_size: int = 500
    lr: float = 1e-3
    weight_decay: float = 0.0
    optimizer: str = "adam"
    momentum: float = 0.9
    max_epochs: int = 200
    max_steps: int = 0
    patience: int = 20
    eval_every: int = 1

    def __post_init__(self) -> None:
        check(self, batch_size=at_least(1), lr=at_least(0.0), weight_decay=at_least(0.0), optimizer=one_of("adam", "sgd"),
              max_epochs=at_least(1), max_steps=at_least(0), patience=at_least(0), eval_every=at_least(1))  # fmt: skip


@dataclass
class TrainResult:
    """What the loop did: the best validation score (of ``metric``), when, and the history."""

    best_score: float = -math.inf
    best_epoch: int = 0
    epochs: int = 0
    steps: int = 0
    seconds: float = 0.0
    stopped: str = ""
    history: list[dict] = field(default_factory=list)
    metric: str = "ndcg@100"

    def as_dict(self) -> dict:
        return {
            f"best_validation_{self.metric}": self.best_score,
            "best_epoch": self.best_epoch,
            "epochs": self.epochs,
            "steps": self.steps,
            "seconds": round(self.seconds, 3),
            "stopped": self.stopped,
            "history": self.history,
        }


def make_optimizer(params, cfg: TrainConfig) -> torch.optim.Optimizer:
    """The optimiser of ``cfg`` over ``params`` (a list of tensors).

    Adam runs as torch's fused kernel (one pass over each parameter for the
    whole update) wherever every parameter is a floating tensor on the CPU or
    a CUDA device; the update is Adam's all the same, only the order of the
    floating-point operations differs. An update of ML-1M's Mult-VAE
    (4.56 M parameters) takes 2.7 ms fused against 11.3 ms with torch's
    default multi-tensor kernel on this project's CPU (benchmarks/bench_gemm.py,
    docs/RESULTS.md).
    """
    params = list(params)
    if cfg.optimizer == "adam":
        fused = bool(params) and all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in params)
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=fused or None)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    raise ConfigError(f"optimizer={cfg.optimizer!r}: choose 'adam', 'sgd'")


def train(
    module: torch.nn.Module,
    X: sp.csr_matrix,
    cfg: TrainConfig,
    *,
    device: torch.device,
    options: FitOptions = FitOptions(),
    validate: Callable[[], float] | None = None,
    desc: str = "train",
    monitor: Callable[[], dict] | None = None,
    metric: str = "ndcg@100",
    higher_is_better: bool = True,
) -> TrainResult:
    """Train ``module`` on the rows of ``X``; on return it holds the best weights.

    ``validate()`` returns the validation ``metric`` (its name is only a label: the loop knows no metric),
    maximised unless ``higher_is_better`` is false (``"rmse"`` for rating models). ``options`` give the
    seed of the shuffling, the precision, the checkpoint file and whether to show progress.
    """
    with _precision(options.precision):
        return _train(module, X, cfg, device=device, options=options, validate=validate, desc=desc, monitor=monitor,
                      metric=metric, sign=1.0 if higher_is_better else -1.0)  # fmt: skip



def data_fingerprint(X: sp.csr_matrix) -> str:
    """A hash of a CSR matrix's shape, pattern and values: a checkpoint resumes only on the data it was written on."""
    h = hashlib.sha256(repr((X.shape, X.nnz)).encode())
    for a in (X.indptr, X.indices, X.data):
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:24]


@contextlib.contextmanager
def _precision(precision: str):
    """TF32 matrix products switched on for the duration of training (and restored after), where asked."""
    if precision != "tf32":
        yield
        return
    before = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before


def _train(module, X, cfg, *, device, options, validate, desc, monitor, metric, sign) -> TrainResult:
    checkpoint, progress = options.checkpoint, options.progress
    data = DeviceCSR(X, device)
    optimizer = make_optimizer([p for p in module.parameters() if p.requires_grad], cfg)
    generator = torch.Generator().manual_seed(options.seed)
    result = TrainResult(best_score=-sign * math.inf, metric=metric)
    best_state = None
    bad = 0
    start_epoch = 0
    # What a checkpoint must agree on to be resumed: every field but the budget (which a resumed run may extend),
    # the seed and precision, and the training data itself (not the device: a run may resume on another).
    # Hashed only when checkpointing: the data's hash reads the whole matrix.
    data_hash = data_fingerprint(X) if checkpoint is not None else None
    fingerprint = json.dumps({**{k: v for k, v in dataclasses.asdict(cfg).items() if k not in ("max_epochs", "max_steps", "patience")},
                              "seed": options.seed, "precision": options.precision, "data": data_hash},
                             sort_keys=True, default=str)  # fmt: skip
    if checkpoint is not None and Path(checkpoint).is_file():
        try:
            state = torch.load(checkpoint, map_location=device, weights_only=True)
        except Exception as e:  # a truncated or foreign file
            raise ConfigError(f"{checkpoint}: not a readable aerec checkpoint ({type(e).__name__}); delete it to start afresh") from None
        if not isinstance(state, dict):
            raise ConfigError(f"{checkpoint}: holds a {type(state).__name__}, not an aerec checkpoint; delete it to start afresh")
        if state.get("config") != fingerprint:
            saved = json.loads(state["config"]) if isinstance(state.get("config"), str) and state["config"].startswith("{") else {}
            what = "other training data" if isinstance(saved, dict) and saved and saved.get("data") != data_hash else "another configuration"
            raise ConfigError(f"{checkpoint}: written by a run with {what}; delete it or choose another checkpoint path")
        best_state, start_epoch, bad, result = _resume(checkpoint, state, module, optimizer, generator, metric)
    t0 = time.perf_counter() - result.seconds
    after_step = getattr(module, "after_step", None)
    bar = tqdm(total=cfg.max_epochs, initial=start_epoch, desc=desc, disable=not progress, unit="epoch")
    for epoch in range(start_epoch + 1, cfg.max_epochs + 1):
        module.train()
        total, n = torch.zeros((), device=device), 0  # summed on the device: no host sync per step
        t_epoch = time.perf_counter()
        for batch in data.batches(cfg.batch_size, generator=generator):
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=options.precision == "bf16"):
                loss = module.loss(batch, result.steps)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if after_step is not None:
                after_step(batch, result.steps, optimizer)
            result.steps += 1
            total += loss.detach().float()
            n += 1
            if cfg.max_steps and result.steps >= cfg.max_steps:
                break
        result.epochs = epoch
        train_seconds = time.perf_counter() - t_epoch
        record = {"epoch": epoch, "steps": result.steps, "loss": float(total) / max(n, 1), "train_seconds": round(train_seconds, 4), "seconds": round(time.perf_counter() - t0, 3)}
        if math.isfinite(record["loss"]) and not bool(torch.stack([p.detach().isfinite().all() for p in module.parameters()]).all()):
            record["loss"] = math.nan  # the last step made the weights non-finite: diverged all the same
        if not math.isfinite(record["loss"]):  # diverged: the weights are no longer numbers
            result.stopped = f"the loss became {record['loss']} in epoch {epoch}"
            if best_state is None:
                bar.close()
                raise DataError(f"{desc}: training diverged: the loss became {record['loss']} in epoch {epoch}, before any validated weights to keep (lower lr?)")
            result.history.append(record)
            break
        out_of_steps = bool(cfg.max_steps) and result.steps >= cfg.max_steps
        if validate is not None and (epoch % cfg.eval_every == 0 or epoch == cfg.max_epochs or out_of_steps):
            module.eval()
            with torch.no_grad():
                score = float(validate())
            record["validation"] = score
            if sign * score > sign * result.best_score:
                result.best_score, result.best_epoch, bad = score, epoch, 0
                best_state = {k: v.detach().clone() for k, v in module.state_dict().items()}
            else:
                bad += 1
        if monitor is not None:
            module.eval()
            with torch.no_grad():
                record["monitor"] = monitor()
        result.history.append(record)
        result.seconds = time.perf_counter() - t0
        bar.update(1)
        bar.set_postfix(loss=f"{record['loss']:.4g}", val=f"{record.get('validation', float('nan')):.4f}")
        if checkpoint is not None and "validation" in record:
            _save_checkpoint(checkpoint, module, optimizer, generator, best_state, epoch, bad, result, fingerprint)
        if cfg.patience and bad >= cfg.patience:
            result.stopped = f"no improvement in {cfg.patience} validations"
            break
        if out_of_steps:
            result.stopped = f"step budget {cfg.max_steps} spent"
            break
    else:
        result.stopped = f"epoch budget {cfg.max_epochs} spent"
    bar.close()
    if best_state is not None:
        module.load_state_dict(best_state)
    module.eval()
    result.seconds = time.perf_counter() - t0
    return result


#: What a checkpoint holds besides ``config``, and ``module_generator`` for a module with its own ``generator``.
CHECKPOINT_KEYS = ("module", "optimizer", "generator", "best_module", "epoch", "bad", "result")


def _resume(path, state: dict, module, optimizer, generator, metric: str) -> tuple[dict, int, int, TrainResult]:
    """Restore the loop from a checkpoint written by this run's setting: the best weights, epoch, bad validations and
    result so far. A damaged one (arrays missing or of other shapes, NaN weights, foreign entries) is a one-line
    :class:`ConfigError` naming the file, never a traceback from torch."""
    def damaged(what: str) -> ConfigError:
        return ConfigError(f"{path}: a damaged aerec checkpoint ({what}); delete it to start afresh")

    has_generator = isinstance(getattr(module, "generator", None), torch.Generator)  # then its state was saved too
    missing = [k for k in (*CHECKPOINT_KEYS, *(["module_generator"] if has_generator else [])) if k not in state]
    if missing:
        raise damaged(f"no {missing[0]!r}")
    expected = module.state_dict()
    for key in ("module", "best_module"):
        weights = state[key]
        if not isinstance(weights, dict) or set(weights) != set(expected):
            raise damaged(f"{key} does not hold this network's arrays")
        for name, t in expected.items():
            w = weights[name]
            if not isinstance(w, torch.Tensor) or w.shape != t.shape or w.is_floating_point() != t.is_floating_point():
                got = tuple(w.shape) if isinstance(w, torch.Tensor) else type(w).__name__
                raise damaged(f"{key} {name}: {got}, expected {'float' if t.is_floating_point() else str(t.dtype)} {tuple(t.shape)}")
            if w.is_floating_point() and not bool(torch.isfinite(w).all()):
                raise damaged(f"{key} {name}: NaN or infinite values")
    try:
        module.load_state_dict(state["module"])
        optimizer.load_state_dict(state["optimizer"])
        generator.set_state(state["generator"].cpu())
        if has_generator:
            module.generator.set_state(state["module_generator"].cpu())
        start_epoch, bad = int(state["epoch"]), int(state["bad"])
        result = TrainResult(**{**state["result"], "history": list(state["result"]["history"]), "metric": metric})
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as e:
        raise damaged(f"{type(e).__name__}: {' '.join(str(e).split())[:200]}") from None
    for group in optimizer.param_groups:  # the optimiser's moments must fit the parameters they step
        for p in group["params"]:
            for name, v in optimizer.state.get(p, {}).items():
                if isinstance(v, torch.Tensor) and v.ndim and v.shape != p.shape:
                    raise damaged(f"optimizer state {name}: {tuple(v.shape)}, expected {tuple(p.shape)}")
    return state["best_module"], start_epoch, bad, result


def _save_checkpoint(path, module, optimizer, generator, best_state, epoch, bad, result, fingerprint: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    summary = result.as_dict()
    state = {
        "config": fingerprint,
        "module": module.state_dict(),
        **({"module_generator": module.generator.get_state()} if isinstance(getattr(module, "generator", None), torch.Generator) else {}),
        "optimizer": optimizer.state_dict(),
        "generator": generator.get_state(),
        "best_module": best_state if best_state is not None else module.state_dict(),
        "epoch": epoch,
        "bad": bad,
        "result": {
            "best_score": result.best_score,
            "best_epoch": result.best_epoch,
            "epochs": result.epochs,
            "steps": result.steps,
            "seconds": result.seconds,
            "stopped": result.stopped,
            "history": summary["history"],
        },
    }
    torch.save(state, tmp)
    os.replace(tmp, path)
