"""The paper's config (`--config=base`) starts: its full-size models and default optimizers
(AdamW for xDR, Adafactor for xQG) lay out their train state on any mesh, and Adafactor trains
on 1 and 8 devices."""

from flax import linen as nn
import jax
import numpy as np
import pytest

from xqg_jax.configs import base
from xqg_jax.encoders import xdr_model
from xqg_jax.generation import xqg_step
from xqg_jax.models import bert
from xqg_jax.models import t5
from xqg_jax.parallel import mesh as mesh_lib
from xqg_jax.parallel import partitioning
from xqg_jax.training import optimizer
from xqg_jax.training import state as state_lib

MESHES = [((('data', -1), ('model', 1)), 1), ((('data', -1), ('model', 1)), 8),
          ((('data', 4), ('model', 2)), 8)]


def _xqg_init(config):
  model = t5.T5(t5.preset_config(config.xqg.preset, dtype=config.xqg.dtype))
  dummy = np.zeros((1, 8), np.int32)
  return lambda rng: model.init(rng, dummy, np.ones_like(dummy), dummy)['params']


def _xdr_init(config):
  model = xdr_model.bi_encoder_model(config, bert.EncoderConfig(vocab_size=119547, dtype=config.xdr.dtype))
  return lambda rng: model.init(rng, xdr_model.dummy_batch(1, 16),
                                xdr_model.dummy_batch(2, 32))['params']


@pytest.mark.parametrize('tower', ['xdr', 'xqg'])
@pytest.mark.parametrize('mesh_spec, devices', MESHES)
def test_the_paper_models_lay_out_their_train_state_on_any_mesh(tower, mesh_spec, devices):
  config = base.get_config()
  settings = config[tower]
  kind = settings.get('optimizer', 'adamw')  # xDR trains with AdamW
  assert (tower, kind) in (('xdr', 'adamw'), ('xqg', 'adafactor'))
  tx = optimizer.make(kind, settings.learning_rate, 100, 10, settings.weight_decay,
                      settings.max_grad_norm)
  init_params = _xqg_init(config) if tower == 'xqg' else _xdr_init(config)
  mesh = mesh_lib.create_mesh(mesh_spec, devices=jax.devices()[:devices])
  rules = tuple(config.logical_axis_rules)
  rng = jax.random.key(0)
  shardings = state_lib.shardings(init_params, tx, mesh, rules, rng)
  # Lowering checks every output sharding against its array's shape without allocating the
  # full-size state (the failure this guards against: a factored Adafactor moment, rank 1,
  # given its matrix's 2- or 3-axis spec).
  with jax.set_mesh(mesh), nn.logical_axis_rules(rules):
    state_lib.initializer(init_params, tx, shardings).lower(rng)
  specs = [s.spec for s in jax.tree.leaves(shardings.params)]
  if dict(mesh_spec)['model'] == 2:
    assert any('model' in str(s) for s in specs)  # weights really split over 'model'


def _adafactor_steps(devices, mesh_spec, steps=3):
  """Losses of `steps` Adafactor steps of a small T5 (the paper's xQG optimizer settings)."""
  config = base.get_config()
  xqg = config.xqg
  model = t5.T5(t5.preset_config('micro', vocab_size=300, dropout_rate=0.0))
  tx = optimizer.make(xqg.optimizer, xqg.learning_rate, 10, 0, xqg.weight_decay,
                      xqg.max_grad_norm)
  dummy = np.zeros((1, 8), np.int32)
  mesh = mesh_lib.create_mesh(mesh_spec, devices=devices)
  rules = tuple(config.logical_axis_rules)
  state, shardings = state_lib.create(
      lambda rng: model.init(rng, dummy, np.ones_like(dummy), dummy)['params'], tx, mesh,
      rules, jax.random.key(0))
  rng = np.random.default_rng(0)
  batch = {'input_ids': rng.integers(3, 300, (8, 24), np.int32),
           'attention_mask': np.ones((8, 24), np.int32),
           'decoder_input_ids': rng.integers(3, 300, (8, 12), np.int32),
           'labels': rng.integers(3, 300, (8, 12), np.int32),
           'weights': np.ones((8, 12), np.float32)}
  step = jax.jit(xqg_step.make_train_step(model, tx, seed=0), out_shardings=(shardings, None))
  losses = []
  with jax.set_mesh(mesh):
    sharded = partitioning.shard_host_batch(batch, mesh, rules)
    for _ in range(steps):
      state, metrics = step(state, sharded)
      losses.append(float(metrics['loss']))
  return losses


def test_adafactor_trains_on_one_and_eight_devices():
  one = _adafactor_steps(jax.devices()[:1], (('data', 1), ('model', 1)))
  eight = _adafactor_steps(jax.devices(), (('data', 4), ('model', 2)))
  assert all(np.isfinite(one)) and one[-1] < one[0]  # it learns the fixed batch
  assert eight == pytest.approx(one, rel=1e-4)
