"""Configs check their fields where they are made, and the error names the field and its value."""

import pytest

from aerec.errors import ConfigError
from aerec.models import MODELS


@pytest.mark.parametrize(
    "name,field,value,expected",
    [
        ("swdae", "loss", "hinge", "loss='hinge': choose 'multinomial', 'logistic'"),
        ("swdae", "backend", "sparse", "backend='sparse': choose 'auto', 'csr', 'dense', 'gemm'"),
        ("swdae", "overlap_ratio", 1.5, "overlap_ratio=1.5: must lie in \\(0, 1\\)"),
        ("swdae", "batch_size", 0, "batch_size=0: must be at least 1"),
        ("fc-dae", "hidden_dropout", 1.0, "hidden_dropout=1.0: must lie in \\[0, 1\\)"),
        ("fc-prune", "sparsity", 1.0, "sparsity=1.0"),
        ("mult-vae", "latent", 0, "latent=0: must be at least 1"),
        ("cdae", "foldin_lr", 0.0, "foldin_lr=0.0: must be above 0"),
        ("mult-dae", "hidden", 0, "hidden=0: must be at least 1"),
        ("itemknn", "neighbours", 0, "neighbours=0"),
        ("i-autorec", "hidden", 0, "hidden=0: must be at least 1"),
        ("deeprec", "dropout", 1.0, "dropout=1.0: must lie in \\[0, 1\\)"),
        ("denoising-autorec", "latent", 0, "latent=0: must be at least 1"),
        ("slim", "l1", -1.0, "slim: l1 and l2 must be nonnegative"),
        ("deep-swdae", "n_groups", (4, 8), "n_groups=\\(4, 8\\): needs at least one width"),
    ],
)
def test_a_bad_field_is_refused_at_construction_naming_it(name, field, value, expected):
    cls = MODELS[name]
    with pytest.raises(ConfigError, match=expected):
        cls(**{field: value})  # no data, no fit: the config itself refuses
    with pytest.raises(ConfigError, match=expected):
        cls.Config(**{field: value})


def test_the_cli_reports_the_field_for_a_bad_option(tmp_path, capsys):
    from aerec.cli import main

    code = main(["train", "swdae", "--data", str(tmp_path), "--out", str(tmp_path / "m"), "--loss", "hinge"])
    err = capsys.readouterr().err
    assert code != 0 and "loss='hinge': choose 'multinomial', 'logistic'" in err and "Traceback" not in err
