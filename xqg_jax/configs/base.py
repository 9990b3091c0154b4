"""The paper's setting: `--config=base` (mBERT xDR, mT5-base xQG, XOR-TyDi sizes)."""

from xqg_jax.configs import common


def get_config(arg=None):
  del arg  # No variants yet.
  return common.base_config()
