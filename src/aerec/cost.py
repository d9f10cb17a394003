"""Parameters and FLOPs per user of the autoencoders (Khawar et al. 2020, Table 2), and Sw-DAE-P's width.

FLOPs count one multiply and one add per weight used by a forward pass of
one user with a dense input (the convention of the paper's Table 2, which
compares architectures, not kernels); biases and activations are not counted.
"""

from __future__ import annotations

from aerec.errors import ConfigError


def mlp_cost(sizes: list[int]) -> dict[str, int]:
    """A chain of fully-connected layers ``sizes[0] -> sizes[1] -> ...`` (weights and biases)."""
    weights = sum(a * b for a, b in zip(sizes, sizes[1:]))
    biases = sum(sizes[1:])
    return {"parameters": weights + biases, "flops_per_user": 2 * weights}


def multvae_cost(n_items: int, hidden: int = 600, latent: int = 200) -> dict[str, int]:
    """Mult-VAE I-600-200-600-I (Liang et al. 2018): the encoder outputs mean and log-variance (2 x latent)."""
    enc = mlp_cost([n_items, hidden, 2 * latent])
    dec = mlp_cost([latent, hidden, n_items])
    return {k: enc[k] + dec[k] for k in enc}


def multdae_cost(n_items: int, hidden: int = 200) -> dict[str, int]:
    """Mult-DAE I-200-I."""
    return mlp_cost([n_items, hidden, n_items])


def swdae_cost(n_items: int, n_groups: int, overlap: int) -> dict[str, int]:
    """Sw-DAE: ``items x R`` weights in each of encoder and decoder, plus K + items biases."""
    weights = 2 * n_items * overlap
    return {"parameters": weights + n_groups + n_items, "flops_per_user": 2 * weights}


def fcdae_cost(n_items: int, n_hidden: int) -> dict[str, int]:
    """FC-DAE of width K."""
    return mlp_cost([n_items, n_hidden, n_items])


def swdae_p_groups(target_parameters: int, n_items: int, overlap_ratio: float = 0.1) -> int:
    """Sw-DAE-P: the largest K whose Sw-DAE (R = round(ratio K)) has at most ``target_parameters``."""
    if target_parameters <= n_items:
        raise ConfigError(f"a parameter budget of {target_parameters:,} cannot hold the {n_items:,} output biases")
    k = int((target_parameters - n_items) / (2 * n_items * overlap_ratio + 1))
    while k > 2 and swdae_cost(n_items, k, max(1, round(overlap_ratio * k)))["parameters"] > target_parameters:
        k -= 1
    while swdae_cost(n_items, k + 1, max(1, round(overlap_ratio * (k + 1))))["parameters"] <= target_parameters:
        k += 1
    return k
