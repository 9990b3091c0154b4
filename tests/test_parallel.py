"""Mesh, logical sharding, host-batch assembly and multi-process tests (8 CPU devices).

Run as a script (`python tests/test_parallel.py --worker ...`) this file is one process of
the two-process gloo test.
"""

import json
import os
import subprocess
import sys
import time

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax.sharding import NamedSharding, PartitionSpec as P
import ml_collections
import numpy as np
import portpicker
import pytest

from xqg_jax import common_types
from xqg_jax.configs import common
from xqg_jax.parallel import mesh as mesh_lib
from xqg_jax.parallel import multihost
from xqg_jax.parallel import partitioning

RULES = common.base_config().logical_axis_rules


@pytest.mark.parametrize('spec, shape', [
    ((('data', 8), ('model', 1)), (8, 1)),
    ((('data', 4), ('model', 2)), (4, 2)),
    ((('data', -1), ('model', 2)), (4, 2)),
    ((('data', 2), ('model', -1)), (2, 4)),
])
def test_create_mesh(spec, shape):
  mesh = mesh_lib.create_mesh(spec)
  assert mesh.axis_names == ('data', 'model')
  assert mesh.devices.shape == shape
  assert sorted(d.id for d in mesh.devices.flat) == sorted(d.id for d in jax.devices())


def test_create_mesh_on_given_devices():
  mesh = mesh_lib.create_mesh((('data', -1),), devices=jax.devices()[:4])
  assert mesh.devices.shape == (4,)


@pytest.mark.parametrize('spec, message', [
    ((('data', 3), ('model', -1)), 'does not divide'),
    ((('data', 4), ('model', 4)), 'multiply to 16'),
    ((('data', -1), ('model', -1)), 'at most one'),
    ((('data', 0), ('model', -1)), 'positive'),
    ((('data', 4), ('data', 2)), 'repeat'),
])
def test_create_mesh_errors(spec, message):
  with pytest.raises(ValueError, match=message) as error:
    mesh_lib.create_mesh(spec)
  assert '8 devices' in str(error.value) and str(spec) in str(error.value)


def test_common_types_match_config_rules():
  assert set(common_types.LOGICAL_AXES) == {name for name, _ in RULES}


def test_logical_to_mesh_spec():
  spec = partitioning.logical_to_mesh_spec(('batch', 'length', 'heads', None), RULES)
  assert spec == P('data', None, 'model', None)
  assert partitioning.logical_to_mesh_spec(('embed', 'mlp'), RULES) == P(None, 'model')
  with pytest.raises(ValueError, match=r"\['embd'\].*no rule"):
    partitioning.logical_to_mesh_spec(('batch', 'embd'), RULES)


def test_logical_rules_fallback_and_sharding():
  rules = (('batch', 'data'), ('mlp', 'data'), ('mlp', 'model'))
  assert partitioning.logical_to_mesh_spec(('batch', 'mlp'), rules) == P('data', 'model')
  mesh = mesh_lib.create_mesh((('data', 4), ('model', 2)))
  sharding = partitioning.logical_sharding(mesh, ('batch', 'mlp'), rules)
  assert sharding == NamedSharding(mesh, P('data', 'model'))


class _Dense(nn.Module):
  features: int

  @nn.compact
  def __call__(self, x):
    kernel = self.param(
        'kernel', nn.with_logical_partitioning(nn.initializers.lecun_normal(),
                                               (common_types.EMBED, common_types.MLP)),
        (x.shape[-1], self.features))
    bias = self.param(
        'bias', nn.with_logical_partitioning(nn.initializers.normal(1.0), (common_types.MLP,)),
        (self.features,))
    y = x @ kernel + bias
    return nn.with_logical_constraint(y, (common_types.BATCH, common_types.MLP))


def test_a_dimension_the_mesh_does_not_divide_is_replicated():
  mesh = mesh_lib.create_mesh((('data', 4), ('model', 2)))
  specs = {'odd': P('mlp', 'embed'), 'even': P('mlp', 'embed')}
  shapes = {'odd': jax.ShapeDtypeStruct((7, 4), np.float32),
            'even': jax.ShapeDtypeStruct((8, 4), np.float32)}
  fitted = partitioning.tree_shardings(specs, mesh, RULES, shapes=shapes)
  assert fitted['even'].spec == partitioning.tree_shardings(specs, mesh, RULES)['even'].spec
  assert fitted['even'].spec[0] == 'model' and fitted['odd'].spec[0] is None
  jax.device_put(np.zeros((7, 4), np.float32), fitted['odd'])  # a layout JAX accepts


def test_sharded_init_and_apply_match_one_device():
  mesh = mesh_lib.create_mesh((('data', 4), ('model', 2)))
  model = _Dense(features=16)
  x = np.random.default_rng(0).normal(size=(8, 12)).astype(np.float32)
  rng = jax.random.key(0)

  abstract = jax.eval_shape(model.init, rng, x)
  param_shardings = partitioning.tree_shardings(nn.get_partition_spec(abstract), mesh, RULES)
  x_sharding = partitioning.logical_sharding(mesh, ('batch', 'embed'), RULES)
  y_sharding = partitioning.logical_sharding(mesh, ('batch', 'mlp'), RULES)
  with jax.set_mesh(mesh), nn.logical_axis_rules(RULES):
    params = jax.jit(model.init, out_shardings=param_shardings)(rng, x)
    y = jax.jit(model.apply, in_shardings=(param_shardings, x_sharding),
                out_shardings=y_sharding)(params, jax.device_put(x, x_sharding))
  assert params['params']['kernel'].value.sharding.spec == P(None, 'model')
  assert y.sharding.spec == P('data', 'model')

  device = jax.devices()[0]
  params_1 = jax.device_put(model.init(rng, x), device)
  y_1 = model.apply(params_1, jax.device_put(x, device))
  np.testing.assert_array_equal(nn.unbox(params)['params']['kernel'],
                                nn.unbox(params_1)['params']['kernel'])
  np.testing.assert_allclose(y, y_1, atol=1e-6, rtol=0)


def test_shard_host_batch():
  mesh = mesh_lib.create_mesh((('data', 4), ('model', 2)))
  batch = {'ids': np.arange(8 * 5).reshape(8, 5), 'emb': np.ones((8, 3, 6), np.float32)}
  out = partitioning.shard_host_batch(batch, mesh, RULES,
                                      logical_axes={'emb': ('batch', 'length', 'mlp')})
  assert out['ids'].sharding == NamedSharding(mesh, P('data', None))
  assert out['emb'].sharding == NamedSharding(mesh, P('data', None, 'model'))
  np.testing.assert_array_equal(out['ids'], batch['ids'])
  for shard in out['ids'].addressable_shards:
    np.testing.assert_array_equal(shard.data, batch['ids'][shard.index])
  assert out['emb'].addressable_shards[0].data.shape == (2, 3, 3)


def test_shard_host_batch_errors():
  mesh = mesh_lib.create_mesh((('data', 4), ('model', 2)))
  with pytest.raises(ValueError, match=r"'ids'.*6 rows.*4 local devices"):
    partitioning.shard_host_batch({'ids': np.zeros((6, 2))}, mesh, RULES)
  with pytest.raises(ValueError, match='logical axes'):
    partitioning.shard_host_batch({'ids': np.zeros((8, 2))}, mesh, RULES,
                                  logical_axes={'ids': ('batch',)})


@pytest.mark.parametrize('count', [1, 2, 3, 4, 5])
@pytest.mark.parametrize('num_items', [0, 1, 7, 16, 23])
def test_process_split_covers_every_item_once(count, num_items):
  shards = [multihost.process_shards(num_items, i, count) for i in range(count)]
  assert sorted(sum(shards, [])) == list(range(num_items))
  assert all(s % count == i for i, ids in enumerate(shards) for s in ids)
  slices = [multihost.process_slice(num_items, i, count) for i in range(count)]
  assert slices[0][0] == 0 and slices[-1][1] == num_items
  assert all(a[1] == b[0] for a, b in zip(slices, slices[1:]))
  sizes = [stop - start for start, stop in slices]
  assert max(sizes) - min(sizes) <= 1


def test_process_split_defaults_and_errors():
  assert multihost.process_shards(3) == [0, 1, 2]
  assert multihost.process_slice(5) == (0, 5)
  with pytest.raises(ValueError, match='outside'):
    multihost.process_slice(5, process_index=2, process_count=2)


def test_initialize_single_process_is_a_no_op():
  config = common.base_config().distributed
  multihost.initialize(config)
  multihost.initialize(config)
  assert jax.process_count() == 1
  config.num_processes = 2
  with pytest.raises(ValueError, match='coordinator_address'):
    multihost.initialize(config)


_GLOBAL_ROWS = 8


def _global_batch() -> np.ndarray:
  return np.arange(_GLOBAL_ROWS * 3, dtype=np.float32).reshape(_GLOBAL_ROWS, 3) / 7


def _worker(address: str, num_processes: int, process_id: int, out_path: str) -> None:
  """One process of the multi-process test: global sum and mean of per-process rows."""
  config = ml_collections.ConfigDict(dict(
      coordinator_address=address, num_processes=num_processes, process_id=process_id))
  multihost.initialize(config)
  multihost.initialize(config)  # Idempotent.
  mesh = mesh_lib.create_mesh((('data', -1),))
  rules = (('batch', 'data'),)
  start, stop = multihost.process_slice(_GLOBAL_ROWS)
  x = partitioning.shard_host_batch({'x': _global_batch()[start:stop]}, mesh, rules)['x']
  replicated = NamedSharding(mesh, P())
  total, mean = jax.jit(lambda x: (jnp.sum(x), jnp.mean(x, axis=0)),
                        out_shardings=replicated)(x)
  local_rows = sorted(x.addressable_shards, key=lambda shard: shard.index[0].start)
  with open(out_path, 'w') as f:
    json.dump({'process_index': jax.process_index(), 'process_count': jax.process_count(),
               'devices': jax.device_count(), 'shape': list(x.shape),
               'rows': [start, stop],
               'local': np.concatenate([np.asarray(s.data) for s in local_rows]).tolist(),
               'sum': float(total), 'mean': np.asarray(mean).tolist()}, f)


def test_two_processes_gloo(tmp_path):
  address = f'127.0.0.1:{portpicker.pick_unused_port()}'
  env = dict(os.environ, XLA_FLAGS='--xla_force_host_platform_device_count=2',
             JAX_PLATFORMS='cpu')
  outs = [tmp_path / f'out{i}.json' for i in range(2)]
  procs = [subprocess.Popen(
      [sys.executable, __file__, '--worker', address, '2', str(i), str(outs[i])],
      env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
           for i in range(2)]
  logs = []
  deadline = time.monotonic() + 60
  try:
    for proc in procs:
      logs.append(proc.communicate(timeout=max(deadline - time.monotonic(), 1))[0])
  except subprocess.TimeoutExpired:
    pytest.fail('multi-process workers did not finish within 60 s')
  finally:
    for proc in procs:
      if proc.poll() is None:
        proc.kill()
        proc.wait()
  assert [p.returncode for p in procs] == [0, 0], '\n'.join(logs)
  results = [json.loads(out.read_text()) for out in outs]
  assert [r['process_index'] for r in results] == [0, 1]
  data = _global_batch()
  for r in results:
    assert r['process_count'] == 2 and r['devices'] == 4
    assert r['shape'] == [_GLOBAL_ROWS, 3]
    np.testing.assert_array_equal(r['local'], data[slice(*r['rows'])])
    np.testing.assert_allclose(r['sum'], data.sum(), rtol=1e-6)
    np.testing.assert_allclose(r['mean'], data.mean(axis=0), rtol=1e-6)
  assert results[0]['sum'] == results[1]['sum'] and results[0]['mean'] == results[1]['mean']


if __name__ == '__main__' and sys.argv[1:2] == ['--worker']:
  _worker(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
