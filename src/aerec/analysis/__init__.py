"""Analyses of fitted models (read from saved model directories; no training)."""
