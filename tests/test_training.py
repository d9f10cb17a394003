"""The generic loop: early stopping keeps the best weights; an interrupted run resumes exactly."""

import numpy as np
import pytest
import torch

from aerec.fit_options import FitOptions
from aerec.errors import ConfigError
from aerec.models.layers import DenseLayer
from aerec.models.torch_base import DAEModule
from aerec.training import TrainConfig, train
from tests.conftest import block_data


def make_module(n_items, seed=0):
    g = torch.Generator().manual_seed(seed)
    enc = DenseLayer(n_items, 6, bias_size=6, fan_in=n_items, generator=g)
    dec = DenseLayer(n_items, 6, bias_size=n_items, fan_in=6, generator=g)
    return DAEModule(enc, dec, input_dropout=0.5, hidden_dropout=0.2, loss="multinomial", backend="dense", seed=seed, device=torch.device("cpu"))


def test_resume_after_interruption_gives_the_same_weights(tmp_path):
    X, _, _ = block_data(n_users=60, n_items=20, n_blocks=2, per_user=4)
    counter = iter(range(1000))
    score = lambda: float(next(counter))  # noqa: E731  (always improving: every epoch is the best)
    full = make_module(20)
    train(full, X, TrainConfig(batch_size=16, max_epochs=4, lr=1e-2), device=torch.device("cpu"), validate=score)

    counter = iter(range(1000))
    ckpt = tmp_path / "ckpt.pt"
    part = make_module(20)
    train(part, X, TrainConfig(batch_size=16, max_epochs=2, lr=1e-2), device=torch.device("cpu"), validate=score, options=FitOptions(checkpoint=str(ckpt)))
    resumed = make_module(20, seed=0)
    result = train(resumed, X, TrainConfig(batch_size=16, max_epochs=4, lr=1e-2), device=torch.device("cpu"), validate=score, options=FitOptions(checkpoint=str(ckpt)))
    assert result.epochs == 4 and len(result.history) == 4
    for (k, a), b in zip(full.state_dict().items(), resumed.state_dict().values()):
        torch.testing.assert_close(a, b, msg=k)


def test_early_stopping_restores_the_best_weights():
    X, _, _ = block_data(n_users=60, n_items=20, n_blocks=2, per_user=4)
    module = make_module(20)
    scores = iter([0.1, 0.5, 0.3, 0.2, 0.1, 0.0])
    snapshots = []

    def validate():
        snapshots.append({k: v.clone() for k, v in module.state_dict().items()})
        return next(scores)

    result = train(module, X, TrainConfig(batch_size=16, max_epochs=6, patience=3, lr=1e-2), device=torch.device("cpu"), validate=validate)
    assert result.best_epoch == 2 and result.epochs == 5
    assert "no improvement" in result.stopped
    for k, v in module.state_dict().items():
        torch.testing.assert_close(v, snapshots[1][k])
    assert not np.isnan(result.history[-1]["loss"])


def test_a_modules_after_step_hook_runs_once_per_step_with_the_same_batch():
    """``after_step`` sees each batch right after its update and may update again; steps count the loop's only."""
    X, _, _ = block_data(n_users=60, n_items=20, n_blocks=2, per_user=4)

    class Refeeding(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(20))
            self.seen = []

        def loss(self, batch, step):
            self.last = (step, batch.ids.clone())
            return ((batch.dense() - self.w) ** 2).mean()

        def after_step(self, batch, step, optimizer):
            assert (step, batch.ids.tolist()) == (self.last[0], self.last[1].tolist())
            before = self.w.detach().clone()
            optimizer.zero_grad(set_to_none=True)
            (self.w**2).sum().backward()
            optimizer.step()
            assert not torch.equal(before, self.w.detach())
            self.seen.append(step)

    module = Refeeding()
    result = train(module, X, TrainConfig(batch_size=16, max_epochs=2, lr=1e-2, optimizer="sgd"), device=torch.device("cpu"))
    assert module.seen == list(range(result.steps)) and result.steps == 8  # 4 batches of 60 users, 2 epochs


def test_precision_bf16_trains_under_autocast_and_tf32_restores_the_flag(blocks):
    from aerec.models.swdae import SwDAE, SwDAEConfig

    train_X, fold, _, _ = blocks
    fits = {}
    for precision in ("fp32", "bf16", "tf32"):
        before = torch.backends.cuda.matmul.allow_tf32
        m = SwDAE(SwDAEConfig(n_groups=8, overlap=2, n_components=4, max_epochs=15, patience=0, lr=1e-2, backend="dense"))
        fits[precision] = m.fit(train_X, options=FitOptions(precision=precision))
        assert torch.backends.cuda.matmul.allow_tf32 == before  # set for training only
        assert all(np.isfinite(r["loss"]) for r in m.fit_info_["training"]["history"])
    s32, s16 = fits["fp32"].score(fold.X_in), fits["bf16"].score(fold.X_in)
    assert not np.array_equal(s32, s16)  # the bf16 forward pass really ran in bfloat16
    assert np.array_equal(s32, fits["tf32"].score(fold.X_in))  # TF32 has no effect on the CPU
    assert np.corrcoef(s32.ravel(), s16.ravel())[0, 1] > 0.98  # the same model, trained at lower precision


def test_an_unknown_precision_is_a_config_error():
    with pytest.raises(ConfigError, match="precision='.*': choose 'fp32', 'tf32', 'bf16'"):
        FitOptions(precision="fp8")
