"""The KV-cached generation loop: exactness, sampling knobs, early stop and determinism."""

import dataclasses

import flax.linen as nn
import jax
from jax.sharding import PartitionSpec as P
import numpy as np
import pytest

from xqg_jax import common_types
from xqg_jax.configs import common
from xqg_jax.generation import decoding
from xqg_jax.models import t5
from xqg_jax.parallel import mesh as mesh_lib
from xqg_jax.parallel import partitioning

RULES = common.base_config().logical_axis_rules
CONFIG = t5.T5Config(vocab_size=96, d_model=32, d_kv=8, d_ff=64, num_layers=2,
                     num_decoder_layers=2, num_heads=4, dropout_rate=0.0)
NEW_TOKENS = 12
GREEDY = decoding.SamplingConfig(max_new_tokens=NEW_TOKENS)
SAMPLING = decoding.SamplingConfig(max_new_tokens=NEW_TOKENS, num_return_sequences=3,
                                   do_sample=True, temperature=1.5, top_k=40, top_p=0.95)
KEYS = decoding.item_keys([(f'passage-{i}', 'te') for i in range(8)])


def _prompts(batch=8, length=10, seed=0):
  rng = np.random.default_rng(seed)
  lengths = rng.integers(1, length + 1, batch)
  mask = (np.arange(length)[None] < lengths[:, None]).astype(np.int32)
  ids = np.where(mask, rng.integers(2, CONFIG.vocab_size, mask.shape), 0).astype(np.int32)
  return ids, mask


def _init_args():
  ids, mask = _prompts()
  return jax.random.key(0), ids, mask, ids[:, :3]


@pytest.fixture(scope='module')
def params():
  """Random weights; EOS made likelier so that some samples end (and pad) early."""
  params = nn.unbox(jax.jit(t5.T5(CONFIG).init)(*_init_args())['params'])
  kernel = params['lm_head']['kernel']
  params['lm_head']['kernel'] = kernel.at[:, CONFIG.eos_token_id].multiply(1.15)
  return params


@pytest.fixture(scope='module')
def reference(params):
  """Sampled with the batch of 8 on one device."""
  ids, mask = _prompts()
  return decoding.generate(CONFIG, params, ids, mask, KEYS, SAMPLING, seed=7)


def _check_stops(out, config=CONFIG):
  """EOS ends a sequence (and is counted in its length); padding follows it."""
  tokens, lengths = np.asarray(out.tokens), np.asarray(out.lengths)
  for index in np.ndindex(lengths.shape):
    row, length = tokens[index], lengths[index]
    assert config.eos_token_id not in row[:length - 1]
    assert (row[length:] == config.pad_token_id).all()
    assert length == NEW_TOKENS or row[length - 1] == config.eos_token_id
  assert int(out.steps) == lengths.max()


def test_cached_greedy_equals_uncached_argmax_rollout(params):
  ids, mask = _prompts()
  out = decoding.generate(CONFIG, params, ids, mask, KEYS, GREEDY)
  _check_stops(out)
  tokens, lengths = np.asarray(out.tokens[:, 0]), np.asarray(out.lengths[:, 0])
  assert (lengths == NEW_TOKENS).any() and int(out.steps) == NEW_TOKENS
  # Teacher forcing on the generated prefix without a cache picks the same tokens.
  decoder_ids = np.concatenate([np.zeros((len(ids), 1), np.int32), tokens[:, :-1]], axis=1)
  logits = jax.jit(t5.T5(CONFIG).apply)({'params': params}, ids, mask, decoder_ids)
  argmax = np.asarray(logits.argmax(-1))
  for row, length in enumerate(lengths):
    np.testing.assert_array_equal(tokens[row, :length], argmax[row, :length])


def test_top_k_1_and_tiny_top_p_equal_greedy(params):
  ids, mask = _prompts()
  greedy = decoding.generate(CONFIG, params, ids, mask, KEYS, GREEDY)
  for change in (dict(top_k=1), dict(top_p=1e-6)):
    sampled = decoding.generate(CONFIG, params, ids, mask, KEYS,
                                dataclasses.replace(GREEDY, do_sample=True, **change), seed=3)
    np.testing.assert_array_equal(sampled.tokens, greedy.tokens)


def test_samples_are_distinct_and_depend_only_on_seed_item_and_index(params, reference):
  _check_stops(reference)
  tokens, lengths = np.asarray(reference.tokens), np.asarray(reference.lengths)
  assert tokens.shape == (8, 3, NEW_TOKENS)
  assert 0 < (lengths < NEW_TOKENS).sum() < lengths.size  # Some samples stop early.
  distinct = [len({tuple(sample) for sample in row}) for row in tokens]
  assert min(distinct) >= 2 and sum(distinct) >= 3 * len(tokens) - 2  # Samples differ.
  ids, mask = _prompts()
  # Sample r does not depend on how many samples are drawn ...
  single = decoding.generate(CONFIG, params, ids, mask, KEYS,
                             dataclasses.replace(SAMPLING, num_return_sequences=1), seed=7)
  np.testing.assert_array_equal(single.tokens[:, 0], tokens[:, 0])
  # ... but on the seed (traced: no recompilation).
  other = decoding.generate(CONFIG, params, ids, mask, KEYS, SAMPLING, seed=8)
  assert (np.asarray(other.tokens) != tokens).mean() > 0.3


def test_compiler_options_reach_xla_and_keep_the_tokens(params, reference):
  ids, mask = _prompts()
  options = common.base_config().generate.compiler_options.cpu.to_dict()  # Eigen, not YNNPACK
  out = decoding.generate(CONFIG, params, ids, mask, KEYS, SAMPLING, seed=7,
                          compiler_options=options)
  np.testing.assert_array_equal(out.tokens, reference.tokens)
  np.testing.assert_array_equal(out.lengths, reference.lengths)
  with pytest.raises(Exception, match='no_such_option'):  # The options are XLA's, checked there.
    decoding.generate(CONFIG, params, ids, mask, KEYS, SAMPLING, compiler_options={
        'xla_cpu_no_such_option': True})


def test_sampling_is_identical_across_batch_sizes_and_padding_rows(params, reference):
  ids, mask = _prompts()
  junk_ids, junk_mask = _prompts(batch=1, seed=5)
  for batch in (1, 3):
    for start in range(0, 8, batch):
      rows = slice(start, min(start + batch, 8))
      pad = batch - len(ids[rows])  # Padding rows fill the last batch.
      out = decoding.generate(
          CONFIG, params, np.concatenate([ids[rows]] + [junk_ids] * pad),
          np.concatenate([mask[rows]] + [junk_mask] * pad),
          np.concatenate([KEYS[rows], np.zeros((pad, 2), np.uint32)]), SAMPLING, seed=7)
      np.testing.assert_array_equal(out.tokens[:batch - pad], reference.tokens[rows])
      np.testing.assert_array_equal(out.lengths[:batch - pad], reference.lengths[rows])


@pytest.mark.parametrize('shape', [(8, 1), (4, 2)])
def test_sharded_sampling_equals_one_device(shape, params, reference):
  mesh = mesh_lib.create_mesh((('data', shape[0]), ('model', shape[1])))
  abstract = jax.eval_shape(t5.T5(CONFIG).init, *_init_args())
  shardings = partitioning.tree_shardings(nn.get_partition_spec(abstract), mesh, RULES)
  ids, mask = _prompts()
  with jax.set_mesh(mesh), nn.logical_axis_rules(RULES):
    sharded_params = jax.device_put(params, shardings['params'])
    batch = partitioning.logical_sharding(mesh, ('batch', None), RULES)
    out = decoding.generate(CONFIG, sharded_params, *jax.device_put((ids, mask, KEYS), batch),
                            SAMPLING, seed=7)
  assert sharded_params['lm_head']['kernel'].sharding.spec == P(None, 'model')
  np.testing.assert_array_equal(out.tokens, reference.tokens)
  np.testing.assert_array_equal(out.lengths, reference.lengths)

  # The cache is laid out by its cache_* axes: batch over 'data', heads over 'model'.
  encoded = np.zeros((24, 10, CONFIG.d_model), np.float32)
  cache = jax.eval_shape(lambda: t5.T5(CONFIG).apply(
      {'params': params}, np.zeros((24, 1), np.int32), encoded, np.repeat(mask, 3, axis=0),
      mode=common_types.MODE_PREFILL, cache_length=NEW_TOKENS, method='decode',
      mutable=['cache'])[1])
  specs = partitioning.tree_shardings(nn.get_partition_spec(cache), mesh, RULES)
  layer = specs['cache']['decoder']['layer_1']
  assert layer['self_key'].spec == layer['cross_value'].spec == P('data', None, 'model', None)
  assert specs['cache']['decoder']['positions'].spec == P('data', None)


def test_loop_stops_early_once_every_sequence_emitted_eos(params):
  ids, mask = _prompts(batch=2)
  ids[1], mask[1] = ids[0], mask[0]  # Same prompt: same greedy tokens.
  tokens = np.asarray(decoding.generate(CONFIG, params, ids, mask, KEYS[:2], GREEDY).tokens)
  step = next(t for t in range(1, NEW_TOKENS) if tokens[0, 0, t] not in tokens[0, 0, :t])
  config = dataclasses.replace(CONFIG, eos_token_id=int(tokens[0, 0, step]))
  out = decoding.generate(config, params, ids, mask, KEYS[:2], GREEDY)
  assert int(out.steps) == step + 1 < NEW_TOKENS
  np.testing.assert_array_equal(out.lengths, [[step + 1]] * 2)
  np.testing.assert_array_equal(out.tokens[:, :, :step + 1], tokens[:, :, :step + 1])
  _check_stops(out, config)


def test_bad_arguments(params):
  ids, mask = _prompts(batch=2)
  for keys, message in ((np.array([-1, 2]), r'integers in \[0, 2\*\*32\)'),
                        (np.array([1.5, 2.0]), 'integers'),
                        (KEYS, 'with B=2')):
    with pytest.raises(ValueError, match=message):
      decoding.generate(CONFIG, params, ids, mask, keys, GREEDY)
  with pytest.raises(ValueError, match='top_p=0'):
    decoding.SamplingConfig(top_p=0)
  with pytest.raises(ValueError, match='run prefill first'):
    t5.T5(CONFIG).apply({'params': params}, ids[:, :1], None, None,
                        mode=common_types.MODE_DECODE, method='decode', mutable=['cache'])


def test_bfloat16_generation_runs_close_to_float32(params):
  ids, mask = _prompts()
  config = dataclasses.replace(CONFIG, dtype='bfloat16')
  low = decoding.generate(config, params, ids, mask, KEYS, GREEDY)
  high = decoding.generate(CONFIG, params, ids, mask, KEYS, GREEDY)
  _check_stops(low, config)
  assert (np.asarray(low.tokens[:, 0, 0]) == np.asarray(high.tokens[:, 0, 0])).mean() >= 0.75
