"""Reading interaction logs, preprocessing, the strong-generalization split and synthetic data."""
