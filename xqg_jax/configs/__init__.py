"""Configs as Python files; `--config=tiny` resolves to this package's `tiny.py`."""
