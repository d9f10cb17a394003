"""The numbers the Sw-DAE paper publishes, as data, each with the table it comes from.

Source: Khawar, Poon and Zhang, "Learning the Structure of Auto-Encoding
Recommenders", WWW 2020 (the seed text in ../shared/seeds/sw-dae-paper-www2020.md).
Values are copied digit for digit, inconsistencies included: Fc-Prune-50's
NDCG@100 is 0.431 in Table 3 and 0.430 in Table 4.

The paper's datasets are ML-20M, Netflix and MSD. Ours differ (ML-1M and
others), so a paper number beside one of ours is context, never a target the
same experiment should hit.

Metric keys follow aerec's own (``ndcg@100``, ``recall@20``, ``recall@50``);
row labels keep the paper's spelling, except that Table 3's are spelt as in its
part (a) for all three datasets (the paper writes "SW-DAE" for Netflix and "WMF"
for MSD), and ``TABLE3_MODELS`` maps them to names of ``aerec.models.MODELS``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

METRICS = ("ndcg@100", "recall@20", "recall@50")


@dataclass(frozen=True)
class PaperTable:
    """One published table: where it is from, its dataset and its rows (row label -> column -> value)."""

    name: str  # "Table 3 (a)"
    caption: str
    dataset: str  # the paper's dataset: "ML-20M", "Netflix" or "MSD"
    rows: dict[str, dict[str, float | None]] = field(default_factory=dict)


def _m(recall20: float | None, recall50: float | None, ndcg100: float | None) -> dict[str, float | None]:
    """A Table 3 row, in the paper's column order (Recall@20, Recall@50, NDCG@100)."""
    return {"ndcg@100": ndcg100, "recall@20": recall20, "recall@50": recall50}


def _n(ndcg100: float, recall20: float, recall50: float) -> dict[str, float]:
    """A Table 4/5 row, in those tables' column order (NDCG@100, Recall@20, Recall@50)."""
    return {"ndcg@100": ndcg100, "recall@20": recall20, "recall@50": recall50}


_T3 = "Comparison between Sw-dae with various baselines on the test set."
TABLE3 = {
    "ML-20M": PaperTable("Table 3 (a)", _T3, "ML-20M", {
        "Sw-dae": _m(0.410, 0.549, 0.442),
        "Sw-dae-p": _m(0.406, 0.542, 0.437),
        "Fc-Prune-50": _m(0.399, 0.534, 0.431),
        "Fc-reg": _m(0.399, 0.535, 0.431),
        "Mult-vae": _m(0.395, 0.537, 0.426),
        "Mult-dae": _m(0.387, 0.524, 0.419),
        "Wmf": _m(0.360, 0.498, 0.386),
        "Slim": _m(0.370, 0.495, 0.401),
        "Cdae": _m(0.391, 0.523, 0.418),
    }),
    "Netflix": PaperTable("Table 3 (b)", _T3, "Netflix", {
        "Sw-dae": _m(0.370, 0.458, 0.404),
        "Sw-dae-p": _m(0.364, 0.453, 0.398),
        "Fc-Prune-50": _m(0.355, 0.445, 0.390),
        "Fc-reg": _m(0.355, 0.444, 0.389),
        "Mult-vae": _m(0.351, 0.444, 0.386),
        "Mult-dae": _m(0.344, 0.438, 0.380),
        "Wmf": _m(0.316, 0.404, 0.351),
        "Slim": _m(0.347, 0.428, 0.379),
        "Cdae": _m(0.343, 0.428, 0.376),
    }),
    "MSD": PaperTable("Table 3 (c)", _T3 + " SLIM did not finish within a reasonable amount of time on MSD.", "MSD", {
        "Sw-dae": _m(0.317, 0.416, 0.372),
        "Sw-dae-p": _m(0.313, 0.413, 0.369),
        "Fc-Prune-50": _m(0.304, 0.397, 0.356),
        "Fc-reg": _m(0.300, 0.393, 0.352),
        "Mult-vae": _m(0.266, 0.364, 0.316),
        "Mult-dae": _m(0.266, 0.363, 0.313),
        "Wmf": _m(0.211, 0.312, 0.257),
        "Slim": _m(None, None, None),  # "_" in the paper: did not finish
        "Cdae": _m(0.188, 0.283, 0.237),
    }),
}  # fmt: skip

# Table 3's rows as aerec model names (Sw-dae-p is Sw-DAE at Mult-VAE's parameter count: no model of its own).
TABLE3_MODELS = {
    "swdae": "Sw-dae",
    "swdae-p": "Sw-dae-p",
    "fc-prune": "Fc-Prune-50",
    "fc-reg": "Fc-reg",
    "mult-vae": "Mult-vae",
    "mult-dae": "Mult-dae",
    "wmf": "Wmf",
    "slim": "Slim",
    "cdae": "Cdae",
}

# Table 4: FC-PRUNE on ML-20M; "Fc-Prune-90" removes 90% of the connections (aerec's fc-prune `sparsity` = 0.9).
TABLE4 = PaperTable(
    "Table 4",
    "The best FC architecture was chosen for pruning. The reported results are on the ML20M data. "
    "Prune-90 has the same sparsity level of 10% as Sw-dae but Sw-dae performs much better.",
    "ML-20M",
    {
        "SW-DAE": _n(0.442, 0.410, 0.549),
        "Fc-Prune-90": _n(0.415, 0.385, 0.521),
        "Fc-Prune-80": _n(0.424, 0.392, 0.531),
        "Fc-Prune-70": _n(0.427, 0.395, 0.531),
        "Fc-Prune-60": _n(0.431, 0.399, 0.534),
        "Fc-Prune-50": _n(0.430, 0.399, 0.535),
    },
)
TABLE4_SPARSITY = {0.9: "Fc-Prune-90", 0.8: "Fc-Prune-80", 0.7: "Fc-Prune-70", 0.6: "Fc-Prune-60", 0.5: "Fc-Prune-50"}

# Table 5: FC-REG on ML-20M, an l1 penalty lambda_1 on the hidden activations (aerec's fc-reg `activation_l1`).
TABLE5 = PaperTable(
    "Table 5",
    "The best FC architecture on ML20M dataset was chosen for regularization. "
    "Sw-dae outperforms the sparsely activated regularized versions of DAE.",
    "ML-20M",
    {
        "SW-DAE": _n(0.442, 0.410, 0.549),
        "Fc-reg λ1 = 1e-5": _n(0.429, 0.396, 0.533),
        "Fc-reg λ1 = 1e-4": _n(0.430, 0.398, 0.534),
        "Fc-reg λ1 = 1e-3": _n(0.431, 0.399, 0.535),
        "Fc-reg λ1 = 1e-2": _n(0.425, 0.395, 0.533),
        "Fc-reg λ1 = 1e-1": _n(0.376, 0.343, 0.476),
    },
)
TABLE5_L1 = {1e-5: "Fc-reg λ1 = 1e-5", 1e-4: "Fc-reg λ1 = 1e-4", 1e-3: "Fc-reg λ1 = 1e-3", 1e-2: "Fc-reg λ1 = 1e-2", 1e-1: "Fc-reg λ1 = 1e-1"}

# Table 7: cold start on ML-20M, test users chosen by the size of their fold-in (the paper gives no threshold),
# in the paper's column order (Recall@20, Recall@50, NDCG@100).
TABLE7 = PaperTable(
    "Table 7",
    "Sw-dae outperforms the state-of-the-art Multdae/vae in the cold-start scenario on the ML20M dataset.",
    "ML-20M",
    {
        "SW-DAE": _m(0.460, 0.619, 0.343),
        "Mult-vae": _m(0.456, 0.617, 0.337),
        "Mult-dae": _m(0.448, 0.614, 0.328),
    },
)
TABLE7_MODELS = {"swdae": "SW-DAE", "mult-vae": "Mult-vae", "mult-dae": "Mult-dae"}

# Table 2: parameters and FLOPs in millions, NDCG@100 and its % improvement over Mult-vae (None: "-").
_T2 = "The number of flops and parameters in millions. Even with the same number of parameters/flops Sw-DAE-P provides considerable improvement in performance."
TABLE2 = {
    "ML-20M": PaperTable("Table 2", _T2, "ML-20M", {
        "SW-DAE": {"parameters_m": 60.324, "flops_m": 120.645, "ndcg@100": 0.442, "improvement_pct": 3.76},
        "SW-DAE-P": {"parameters_m": 24.129, "flops_m": 48.258, "ndcg@100": 0.437, "improvement_pct": 2.58},
        "Mult-vae": {"parameters_m": 24.193, "flops_m": 48.738, "ndcg@100": 0.426, "improvement_pct": None},
    }),
    "Netflix": PaperTable("Table 2", _T2, "Netflix", {
        "SW-DAE": {"parameters_m": 46.199, "flops_m": 92.3962, "ndcg@100": 0.404, "improvement_pct": 4.66},
        "SW-dae-p": {"parameters_m": 21.322, "flops_m": 42.644, "ndcg@100": 0.398, "improvement_pct": 3.11},
        "Mult-vae": {"parameters_m": 21.386, "flops_m": 43.124, "ndcg@100": 0.386, "improvement_pct": None},
    }),
    "MSD": PaperTable("Table 2", _T2, "MSD", {
        "SW-DAE": {"parameters_m": 74.052, "flops_m": 148.102, "ndcg@100": 0.372, "improvement_pct": 17.72},
        "SW-DAE-P": {"parameters_m": 49.368, "flops_m": 98.734, "ndcg@100": 0.367, "improvement_pct": 16.77},
        "Mult-vae": {"parameters_m": 49.432, "flops_m": 99.214, "ndcg@100": 0.316, "improvement_pct": None},
    }),
}  # fmt: skip

# Sweeps the paper reports level by level: (model, swept field) -> (table, swept value -> row label).
SWEEPS = {
    ("fc-prune", "sparsity"): (TABLE4, TABLE4_SPARSITY),
    ("fc-reg", "activation_l1"): (TABLE5, TABLE5_L1),
}


def table3_row(model: str, dataset: str = "ML-20M") -> dict[str, float | None] | None:
    """The paper's Table 3 numbers for an aerec model name on one of its datasets, or None."""
    label = TABLE3_MODELS.get(model)
    return None if label is None else TABLE3[dataset].rows.get(label)


def table7_row(model: str) -> dict[str, float | None] | None:
    """The paper's Table 7 (cold start, ML-20M) numbers for an aerec model name, or None."""
    label = TABLE7_MODELS.get(model)
    return None if label is None else TABLE7.rows[label]


def sweep_rows(model: str, field_name: str) -> tuple[PaperTable, dict[float, dict[str, float | None]]] | None:
    """The paper's table for a sweep of ``field_name`` in ``model`` and its rows keyed by the swept value, or None."""
    found = SWEEPS.get((model, field_name))
    if found is None:
        return None
    table, labels = found
    return table, {value: table.rows[label] for value, label in labels.items()}
