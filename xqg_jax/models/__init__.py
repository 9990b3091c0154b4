"""Model definitions (BERT / XLM-R encoders, T5 / mT5) and their HF checkpoint import and export."""
