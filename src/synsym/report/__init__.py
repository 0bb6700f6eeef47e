"""Self-contained HTML reports of a dataset and its quality figures."""
