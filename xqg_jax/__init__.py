"""xqg-jax: cross-lingual query generation augmentation for dense retrieval, in JAX/Flax."""

__version__ = '0.1.0'
