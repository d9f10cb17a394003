"""README.md's library example runs as written."""

import re
import warnings
from pathlib import Path

import numpy as np
import scipy.sparse as sp

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_the_short_library_example_runs_and_recommends_unseen_items():
    block = next(b for b in python_blocks() if "aerec.MODELS[\"ease\"](l2=500).fit(X)" in b)
    rng = np.random.default_rng(0)
    X = sp.csr_matrix((rng.random((200, 60)) < 0.1).astype(np.float32))
    X_new = sp.csr_matrix((rng.random((5, 60)) < 0.1).astype(np.float32))
    namespace = {"X": X, "X_new": X_new}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the example itself must not warn
        exec(compile(block, str(README), "exec"), namespace)
    items, scores = namespace["items"], namespace["scores"]
    assert items.shape == scores.shape == (5, 10)
    assert not np.take_along_axis(X_new.toarray() != 0, items, axis=1).any()
    assert (np.diff(scores, axis=1) <= 0).all()


def test_import_aerec_is_light_and_the_api_is_lazy():
    import subprocess
    import sys

    code = "import sys, aerec; assert 'torch' not in sys.modules; aerec.MODELS; assert 'torch' in sys.modules; print(sorted(aerec.__all__))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    for name in ("MODELS", "load_model", "PreparedDataset", "FitOptions", "evaluate"):
        assert name in out
