"""Item grouping (Sw-DAE §3.1): overlapping item groups from the Laplacian (Algorithm 1) or the SVD (Algorithm 2)."""

from aerec.structure.groups import GroupingParams, ItemGroups, learn_groups, load_groups, normalize_rows, save_groups
from aerec.structure.spectral import item_laplacian, spectral_embedding
from aerec.structure.svd import svd_embedding

__all__ = ["GroupingParams", "ItemGroups", "item_laplacian", "learn_groups", "load_groups", "normalize_rows", "save_groups", "spectral_embedding", "svd_embedding"]
