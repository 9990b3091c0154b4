"""The encoder under ('data', 'model') meshes of 8 CPU devices equals the 1-device run."""

import flax.linen as nn
import jax
from jax.sharding import PartitionSpec as P
import numpy as np
import pytest

from xqg_jax.configs import common
from xqg_jax.models import bert
from xqg_jax.parallel import mesh as mesh_lib
from xqg_jax.parallel import partitioning

RULES = common.base_config().logical_axis_rules
CONFIG = bert.EncoderConfig(vocab_size=300, hidden_size=64, num_hidden_layers=2,
                            num_attention_heads=4, intermediate_size=128,
                            max_position_embeddings=64, add_pooler=True)
# Parameter -> its mesh PartitionSpec under RULES (heads, mlp and vocab over 'model').
EXPECTED_SPECS = {
    ('embeddings', 'word_embeddings', 'embedding'): P('model', None),
    ('embeddings', 'position_embeddings', 'embedding'): P(None, None),
    ('layer_0', 'attention', 'query', 'kernel'): P(None, 'model', None),
    ('layer_0', 'attention', 'value', 'bias'): P('model', None),
    ('layer_1', 'attention', 'out', 'kernel'): P('model', None, None),
    ('layer_1', 'intermediate', 'kernel'): P(None, 'model'),
    ('layer_1', 'output', 'kernel'): P('model', None),
    ('layer_1', 'output_layer_norm', 'scale'): P(None),
}


def _inputs():
  rng = np.random.default_rng(0)
  lengths = np.array([12, 3, 7, 1, 12, 9, 5, 2])
  mask = (np.arange(12)[None] < lengths[:, None]).astype(np.int32)
  ids = np.where(mask, rng.integers(3, CONFIG.vocab_size, mask.shape), 0).astype(np.int32)
  return ids, mask, (rng.integers(0, 2, mask.shape) * mask).astype(np.int32)


@pytest.fixture(scope='module')
def one_device():
  """Variables and eval / training outputs on one device."""
  model = bert.Encoder(CONFIG)
  inputs = jax.device_put(_inputs(), jax.devices()[0])
  variables = jax.jit(model.init)(jax.random.key(0), *inputs)
  return variables, _forward(model, variables, inputs)


def _forward(model, variables, inputs):
  def run(variables, ids, mask, token_types):
    eval_out = model.apply(variables, ids, mask, token_types)
    train_out = model.apply(variables, ids, mask, token_types, deterministic=False,
                            rngs={'dropout': jax.random.key(1)})
    return eval_out, train_out
  return jax.jit(run)(variables, *inputs)


@pytest.mark.parametrize('shape', [(4, 2), (8, 1)])
def test_sharded_encoder_matches_one_device(shape, one_device):
  mesh = mesh_lib.create_mesh((('data', shape[0]), ('model', shape[1])))
  model = bert.Encoder(CONFIG)
  inputs = _inputs()
  abstract = jax.eval_shape(model.init, jax.random.key(0), *inputs)
  shardings = partitioning.tree_shardings(nn.get_partition_spec(abstract), mesh, RULES)
  batch_sharding = partitioning.logical_sharding(mesh, ('batch', 'length'), RULES)
  with jax.set_mesh(mesh), nn.logical_axis_rules(RULES):
    variables = jax.jit(model.init, out_shardings=shardings)(jax.random.key(0), *inputs)
    sharded_inputs = jax.device_put(inputs, batch_sharding)
    outputs = _forward(model, variables, sharded_inputs)

  params = nn.unbox(variables)['params']
  for path, spec in EXPECTED_SPECS.items():
    leaf = params
    for key in path:
      leaf = leaf[key]
    assert leaf.sharding.spec == spec, path
  query = params['layer_0']['attention']['query']['kernel']
  assert query.addressable_shards[0].data.shape == (64, 4 // shape[1], 16)
  assert outputs[0].last_hidden_state.sharding.spec[0] == 'data'

  variables_1, outputs_1 = one_device
  for a, b in zip(jax.tree.leaves(nn.unbox(variables)), jax.tree.leaves(nn.unbox(variables_1))):
    np.testing.assert_array_equal(a, b)
  for a, b in zip(jax.tree.leaves(outputs), jax.tree.leaves(outputs_1)):
    np.testing.assert_allclose(a, b, atol=1e-5, rtol=0)
