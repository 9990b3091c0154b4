"""Orbax checkpoints: relative work dirs, keep K, latest-step restore."""

import jax.numpy as jnp
import numpy as np

from xqg_jax.training import checkpoints


def test_relative_directory_save_restore_and_keep(tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)
  ckpt = checkpoints.Checkpoints('work/ckpt', keep=2)  # relative, as `--workdir=work`
  for step in (1, 2, 3):
    ckpt.save(step, {'w': jnp.full((2,), float(step))})
  assert ckpt.latest_step() == 3
  restored = ckpt.restore({'w': jnp.zeros((2,))})
  np.testing.assert_array_equal(restored['w'], [3.0, 3.0])
  assert sorted(p.name for p in (tmp_path / 'work/ckpt').iterdir()) == ['2', '3']
  ckpt.close()
