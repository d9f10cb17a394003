"""How a fit runs, apart from what it learns: :class:`FitOptions`.

A model's config holds the paper's hyperparameters only (what a results table
varies). How a fit is *run* is separate: the device, the seed, the numeric
precision, a checkpoint to resume from, progress bars, and monitoring such as
Figure 4's spectral norms. The same options serve every model::

    model = aerec.MODELS["swdae"](n_groups=1000).fit(X, options=FitOptions(device="cpu", seed=3))

on the command line they are ``aerec train MODEL --device cpu --seed 3``
(generated from this class, like the hyperparameters from the config), and in
a search's or experiment's TOML file the ``options`` table
(``options = { device = "cpu" }``). The three are built by the one typed
constructor :func:`aerec.options.build_config`.

A model honours the options that apply to it (:attr:`aerec.models.base.Model.honours`);
asking a model for one it cannot honour (``--precision bf16`` for EASE, a
checkpoint for a closed form) is an error, not silently ignored.
``model.json`` records the options that shape the result
(:meth:`FitOptions.recorded`) beside the config.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

from aerec.checks import at_least, check, one_of

PRECISIONS = ("fp32", "tf32", "bf16")
#: The largest seed: torch's generators take signed 64-bit seeds, and a model adds small offsets (``seed + 1``, ``seed + layer``).
MAX_SEED = 2**63 - 2**16


def _device_name(v: Any) -> bool:
    return isinstance(v, str) and (v in ("auto", "cpu", "cuda") or (v.startswith("cuda:") and v[5:].isdigit()))


@dataclass(frozen=True)
class FitOptions:
    """How to run a fit (the same fields for every model; a model refuses those it cannot honour).

    Attributes:
        device: ``auto`` (CUDA where present), ``cpu``, ``cuda`` or ``cuda:N``.
        seed: seeds the initialisation, the shuffling, the dropout masks and the grouping's k-means.
        precision: ``fp32`` (float32 throughout); ``tf32`` (float32 matrix products on TF32
            tensor cores, CUDA only); ``bf16`` (the forward pass and loss under bfloat16 autocast;
            weights, optimiser state and scoring stay float32).
        checkpoint: a file where the training loop saves its state after every validation and
            resumes from when fitting again (none: no checkpoint).
        progress: show progress bars.
        track_spectra: record, after every epoch, each weight matrix's spectral norm and stable
            rank and the generalization bound of Sec. 5.5 (Figure 4; costs an ARPACK solve per matrix).
    """

    WIDE_FIELDS: ClassVar[tuple[str, ...]] = ("seed",)  # seeds up to MAX_SEED (aerec.options.build_config)

    device: str = "auto"
    seed: int = 0
    precision: str = "fp32"
    checkpoint: str | None = None
    progress: bool = False
    track_spectra: bool = False

    def __post_init__(self) -> None:
        check(self, device=(_device_name, "choose 'auto', 'cpu', 'cuda' or 'cuda:N'"), seed=at_least(0, MAX_SEED), precision=one_of(*PRECISIONS))

    def recorded(self) -> dict[str, Any]:
        """The options that shape the fitted model, for ``model.json``: all but ``checkpoint`` and ``progress``."""
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in ("checkpoint", "progress")}

    def differs(self) -> list[str]:
        """The fields set to something other than their default."""
        default = FitOptions()
        return [f.name for f in dataclasses.fields(self) if getattr(self, f.name) != getattr(default, f.name)]


#: The option names, which a model config must not reuse.
OPTION_FIELDS = tuple(f.name for f in dataclasses.fields(FitOptions))
