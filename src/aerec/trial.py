"""One trial: a model's configuration fitted on a prepared dataset, validated, and saved. Every fit goes through here.

``aerec train``, ``aerec search`` (and so ``aerec experiment`` and ``aerec
demo``, whose cells are searches) fit a model the same way:

1. the inputs the model takes besides the data are loaded
   (:func:`aerec.artifacts.fit_inputs`: FC-Prune's base model, files such as
   ``aerec train swdae --groups FILE``), and Sw-DAE's item groups come from a
   :class:`GroupsCache` when one is given, learned once per grouping setting;
2. the model is fitted on the training users (the time-ordered matrices for a
   sequential model) under the fit options (device, seed, a checkpoint to
   resume from, ...);
3. it is validated: NDCG@100 and the rest at 20, 50 and 100 for a ranking
   model, RMSE and MAE of the held-out ratings for a rating model;
4. :func:`save_trial` writes the model directory with what the fit and the
   validation said.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aerec.evaluate as evaluation
from aerec.artifacts import fit_inputs, save_model
from aerec.errors import ConfigError
from aerec.fit_options import FitOptions

VALIDATION_KS = (20, 50, 100)


@dataclass
class Trial:
    """A fitted and validated model: its validation (an ``Evaluation`` or ``RatingEvaluation``), the fit's
    seconds, and how its item groups were come by (``learned``/``reused``/``loaded``/``given``; ``None``)."""

    model: Any
    validation: Any
    fit_seconds: float
    groups: str | None = None


def run_trial(
    model,
    data,
    *,
    options: FitOptions | None = None,
    files: dict[str, str | Path] | None = None,
    groups_cache: GroupsCache | None = None,
    say: Callable[[str], None] = lambda msg: None,
    where: str = "",
) -> Trial:
    """Fit ``model`` (a configured, unfitted ranking or rating model) on ``data`` and validate it.

    ``data`` is a :class:`~aerec.data.prepared.PreparedDataset` for a ranking
    model and a :class:`~aerec.data.ratings.RatingsDataset` for a rating one.
    ``options.checkpoint``: a file the training loop saves to and resumes from
    (:func:`clear_checkpoint` removes it once the model is saved).
    """
    options = options or FitOptions()
    if options.checkpoint is not None:
        checkpoint = Path(options.checkpoint)
        if checkpoint.is_dir():
            raise ConfigError(f"--checkpoint {checkpoint}: is a directory; give a file path")
        if checkpoint.is_file():
            say(f"resuming from {checkpoint}")
    if model.task == "rating":
        t0 = time.perf_counter()
        model.fit(data.train, validation=data.validation, options=options)
        fit_seconds = time.perf_counter() - t0
        return Trial(model, evaluation.evaluate_ratings(model.predict, data.validation), fit_seconds)

    from aerec.data.sequential import inputs_for

    train, validation, _ = inputs_for(model, data, where=where)  # order matrices for a sequential model
    inputs = fit_inputs(model, files, device=options.device)
    how = "given" if "groups" in inputs else None
    if groups_cache is not None and how is None and hasattr(model, "grouping"):
        inputs["groups"], how = groups_cache.get(train, model.grouping(train.shape[1], options), options.progress)
    t0 = time.perf_counter()
    model.fit(train, validation=validation, options=options, **inputs)
    fit_seconds = time.perf_counter() - t0
    return Trial(model, evaluation.evaluate(model.score, validation, ks=VALIDATION_KS), fit_seconds, groups=how)


def save_trial(trial: Trial, out: str | Path, data, *, where: str, overwrite: bool = False, extra: dict | None = None) -> Path:
    """Write the trial's model directory: the model, and beside its config the data it was fitted on (``where``),
    the data's manifest, the fit's seconds, the validation, and ``extra``."""
    record = {
        "data": where,
        "data_manifest": {k: data.manifest.get(k) for k in ("dataset", "protocol", "counts")},
        "fit_seconds": round(trial.fit_seconds, 3),
        "validation": trial.validation.to_json(),
        **(extra or {}),
    }
    return save_model(trial.model, out, data.items, overwrite=overwrite, extra=record)


def clear_checkpoint(checkpoint: str | Path | None) -> None:
    """Remove a finished fit's checkpoint (and FC-Prune's checkpoint of its base)."""
    if checkpoint is not None:
        for path in (Path(checkpoint), Path(f"{checkpoint}.base")):
            path.unlink(missing_ok=True)


class GroupsCache:
    """Item groups learned once per grouping setting and reused by every trial that asks for the same.

    A search over Sw-DAE's ``lr`` or dropout would otherwise relearn identical
    groups in every trial. Groups live in memory for the run and in
    ``directory/<key>.safetensors`` for a resumed run; the key hashes the
    grouping arguments and the data's identity (its path and the sources'
    checksums in its manifest), so another dataset never reuses them.
    """

    def __init__(self, directory: str | Path, data_id: dict) -> None:
        self.directory, self.data_id = Path(directory), data_id
        self.memory: dict[str, Any] = {}

    def get(self, X, grouping: dict, progress: bool = False) -> tuple[Any, str]:
        """``(groups, how)`` for the training matrix ``X``: ``how`` is ``"learned"``, ``"reused"`` (this run)
        or ``"loaded"`` (a file of an earlier run)."""
        from aerec.structure import learn_groups, load_groups, save_groups

        key = hashlib.sha256(json.dumps({**grouping, **self.data_id, "shape": list(X.shape), "nnz": int(X.nnz)}, sort_keys=True, default=str).encode()).hexdigest()[:20]
        if key in self.memory:
            return self.memory[key], "reused"
        path = self.directory / f"{key}.safetensors"
        if path.is_file():
            self.memory[key] = load_groups(path)
            return self.memory[key], "loaded"
        groups = learn_groups(X, **grouping, progress=progress)
        self.directory.mkdir(parents=True, exist_ok=True)
        save_groups(groups, path)
        self.memory[key] = groups
        return groups, "learned"
