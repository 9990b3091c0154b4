"""Flax BERT / XLM-R encoders and HF checkpoint import/export."""
