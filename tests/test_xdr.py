"""xDR: loss, gradient caching, sharded steps, exact resume, encoding shards, search, R@kt."""

import json
import os

import jax
import numpy as np
import optax
import pytest

from xqg_jax.data import tokenizers
from xqg_jax.data.formats import embedding_shards
from xqg_jax.encoders import contrastive
from xqg_jax.encoders import encode_stage
from xqg_jax.encoders import train_xdr
from xqg_jax.encoders import xdr_model
from xqg_jax.encoders import xdr_step
from xqg_jax.index import exact
from xqg_jax.parallel import mesh as mesh_lib
from xqg_jax.parallel import partitioning
from xqg_jax.training import optimizer
from xqg_jax.training import state as state_lib

import conftest


def test_info_nce_matches_numpy():
  rng = np.random.default_rng(0)
  q, p = rng.normal(size=(3, 5)), rng.normal(size=(6, 5))
  loss, metrics = contrastive.info_nce(q, p, group_size=2, temperature=0.5)
  scores = q @ p.T / 0.5
  log_probs = scores - np.log(np.exp(scores).sum(1, keepdims=True))
  assert float(loss) == pytest.approx(-np.mean(log_probs[[0, 1, 2], [0, 2, 4]]), rel=1e-5)
  assert float(metrics['accuracy']) == pytest.approx(np.mean(scores.argmax(1) == [0, 2, 4]))
  with pytest.raises(ValueError, match='expected group_size=3'):
    contrastive.info_nce(q, p, group_size=3, temperature=1.0)


def _setup(config, devices, tokenizer_dir, tx):
  """Model, a state with optimizer `tx` on a mesh over `devices`, and a host batch."""
  tokenizer = tokenizers.load_tokenizer(tokenizer_dir)
  cfg, _ = xdr_model.encoder_config(config, tokenizer)
  model = xdr_model.bi_encoder_model(config, cfg)
  mesh = mesh_lib.create_mesh(config.mesh, devices=devices)
  rules = tuple(config.logical_axis_rules)

  def init_params(rng):
    return model.init(rng, xdr_model.dummy_batch(1, 16), xdr_model.dummy_batch(2, 48))['params']

  state, shardings = state_lib.create(init_params, tx, mesh, rules, jax.random.key(0))
  rng = np.random.default_rng(1)
  batch = {name: {'input_ids': rng.integers(5, cfg.vocab_size, (rows, length), np.int32),
                  'attention_mask': (np.arange(length) < rng.integers(3, length, (rows, 1))
                                     ).astype(np.int32),
                  'token_type_ids': np.zeros((rows, length), np.int32)}
           for name, rows, length in (('query', 8, 16), ('passage', 16, 48))}
  return model, tx, mesh, rules, state, shardings, batch


@pytest.fixture(name='stages')
def _stages(prepared):
  """The prepared stage outputs: data_dir, tfds_dir, encoder_tokenizer, ..."""
  return prepared[2]


def _run_steps(config, devices, chunks, tokenizer_dir, tx=None, steps=2):
  tx = tx or optimizer.make('adamw', 1e-3, 10, 2, 0.01, 1.0)
  model, tx, mesh, rules, state, shardings, batch = _setup(config, devices, tokenizer_dir, tx)
  step = jax.jit(xdr_step.make_train_step(model, tx, group_size=2, chunks=chunks, seed=0),
                 out_shardings=(shardings, None))
  with jax.set_mesh(mesh):
    for _ in range(steps):
      sharded = {k: partitioning.shard_host_batch(v, mesh, rules) for k, v in batch.items()}
      state, metrics = step(state, sharded)
  return jax.device_get(state.params), float(metrics['loss']), state


def test_gradient_cache_equals_full_batch(stages):
  # Adam with a large eps, as in the sharded test below: with eps=1e-8 a near-zero gradient's
  # rounding moves its parameter by a sizeable part of the rate (seen once: 2.6e-5 on another
  # CPU), which would test Adam's sign, not the gradient cache.
  tx = optax.adam(1e-3, eps=1e-2)
  config = conftest.small_config()
  one, tokenizer_dir = jax.devices()[:1], stages['encoder_tokenizer']
  initial = _setup(config, one, tokenizer_dir, tx)[4].params
  full, loss_full, _ = _run_steps(config, one, 1, tokenizer_dir, tx)
  cached, loss_cached, _ = _run_steps(config, one, 4, tokenizer_dir, tx)
  assert loss_cached == pytest.approx(loss_full, rel=1e-5)
  moved = max(float(np.abs(a - b).max())
              for a, b in zip(jax.tree.leaves(full), jax.tree.leaves(initial)))
  assert moved > 1e-4  # the steps moved parameters far beyond the tolerance below
  for a, b in zip(jax.tree.leaves(full), jax.tree.leaves(cached)):
    np.testing.assert_allclose(a, b, atol=1e-5)


@pytest.mark.parametrize('mesh_spec', [(('data', 4), ('model', 2)), (('data', 8), ('model', 1))])
def test_sharded_step_equals_one_device(mesh_spec, stages):
  # Adam with a large eps: its update stays linear in the gradient, so the sharded program's
  # other float summation order moves parameters by rounding only. With the usual eps=1e-8,
  # m/sqrt(v) is about sign(g) for a near-zero gradient, and a rounding-level change of such
  # a gradient moves its parameter by a sizeable part of the learning rate (seen once: 1.1e-4).
  # Here the steps move parameters by up to 2e-3 and the two programs differ by about 1e-6.
  tx = optax.adam(1e-3, eps=1e-2)
  config = conftest.small_config()
  tokenizer_dir = stages['encoder_tokenizer']
  initial = _setup(config, jax.devices()[:1], tokenizer_dir, tx)[4].params
  single, loss_single, _ = _run_steps(config, jax.devices()[:1], 1, tokenizer_dir, tx)
  config.mesh = mesh_spec
  sharded, loss_sharded, state = _run_steps(config, jax.devices(), 1, tokenizer_dir, tx)
  assert loss_sharded == pytest.approx(loss_single, rel=1e-4)
  moved = max(float(np.abs(a - b).max())
              for a, b in zip(jax.tree.leaves(single), jax.tree.leaves(initial)))
  assert moved > 1e-4  # the steps moved parameters far beyond the tolerance below
  for a, b in zip(jax.tree.leaves(single), jax.tree.leaves(sharded)):
    np.testing.assert_allclose(a, b, atol=1e-5)
  if mesh_spec[1][1] == 2:  # heads really split over 'model'
    kernel = state.params['encoder']['layer_0']['attention']['query']['kernel']
    assert 'model' in str(kernel.sharding.spec)


def _train(config, workdir, state, stop_at=None):
  return train_xdr.train(config, workdir, data_dir=state['data_dir'],
                         tfds_dir=state['tfds_dir'], tokenizer_dir=state['encoder_tokenizer'],
                         inputs={'test': '1'}, stop_at=stop_at)


def test_training_resumes_exactly(tmp_path, stages):
  config = conftest.small_config(dropout=0.1)
  whole = _train(config, tmp_path / 'whole', stages)
  _train(config, tmp_path / 'split', stages, stop_at=2)  # "killed" after the step-2 checkpoint
  assert not (tmp_path / 'split/xdr/manifest.json').exists()
  resumed = _train(config, tmp_path / 'split', stages)
  for name in ('encoder',):
    a = (whole / 'hf' / name / 'model.safetensors').read_bytes()
    b = (resumed / 'hf' / name / 'model.safetensors').read_bytes()
    assert a == b
  rows = [json.loads(line) for line in (resumed / 'metrics.jsonl').read_text().splitlines()]
  assert [r['step'] for r in rows] == [1, 2, 3, 4]
  whole_rows = [json.loads(line) for line in (whole / 'metrics.jsonl').read_text().splitlines()]
  assert [r['loss'] for r in rows] == pytest.approx([r['loss'] for r in whole_rows], rel=1e-6)
  # The export loads in transformers, tokenizer included.
  import transformers  # pylint: disable=g-import-not-at-top
  exported = transformers.AutoTokenizer.from_pretrained(whole / 'hf' / 'encoder')
  ours = tokenizers.load_tokenizer(stages['encoder_tokenizer'])
  text = 'Where is the Nepinven River?'
  assert exported(text)['input_ids'] == ours(text)['input_ids']
  assert transformers.AutoModel.from_pretrained(whole / 'hf' / 'encoder').config.vocab_size == (
      len(ours))
  # A finished run is skipped.
  before = os.stat(whole / 'manifest.json').st_mtime_ns
  _train(config, tmp_path / 'whole', stages)
  assert os.stat(whole / 'manifest.json').st_mtime_ns == before


@pytest.fixture(scope='module')
def trained(tmp_path_factory, prepared):
  workdir = tmp_path_factory.mktemp('xdr')
  return workdir, _train(conftest.small_config(), workdir, prepared[2])


def test_encoding_matches_direct_apply_and_resumes(trained, stages):
  workdir, xdr_dir = trained
  state = stages
  config = conftest.small_config()
  dirs = encode_stage.run(config, workdir, xdr_dir=xdr_dir, data_dir=state['data_dir'],
                          tfds_dir=state['tfds_dir'], tokenizer_dir=state['encoder_tokenizer'],
                          inputs={'t': '1'})
  emb, ids = embedding_shards.load(dirs['corpus'])
  assert len(ids) == len(set(ids)) == 120 and emb.shape == (120, 128)
  encoder = encode_stage.load_encoder(config, xdr_dir)
  tokenizer = tokenizers.load_tokenizer(state['encoder_tokenizer'])
  from xqg_jax.data.formats import corpus as corpus_format  # pylint: disable=g-import-not-at-top
  passages = {p.id: p for p in corpus_format.read_corpus(f'{state["data_dir"]}/corpus.tsv')}
  picks = [0, 41, 119]
  texts = [f'{passages[ids[i]].title} {passages[ids[i]].text}' for i in picks]
  batch = dict(tokenizer(texts, truncation=True, max_length=48, padding='max_length',
                         return_tensors='np'))
  direct = encoder.model.apply({'params': encoder.params}, batch, method='encode_passage')
  np.testing.assert_allclose(emb[picks], np.asarray(direct), atol=1e-4)
  # Resume: remove one shard; only it is redone, and the result is identical.
  corpus_dir = workdir / 'embeddings/corpus'
  shard = corpus_dir / embedding_shards.shard_name('emb', 1, 3, 'npy')
  original = shard.read_bytes()
  untouched = (corpus_dir / embedding_shards.shard_name('emb', 0, 3, 'npy')).stat().st_mtime_ns
  shard.unlink()
  (corpus_dir / embedding_shards.shard_name('ids', 1, 3, 'txt')).unlink()
  encode_stage.run(config, workdir, xdr_dir=xdr_dir, data_dir=state['data_dir'],
                   tfds_dir=state['tfds_dir'], tokenizer_dir=state['encoder_tokenizer'],
                   inputs={'t': '1'})
  assert shard.read_bytes() == original
  first = corpus_dir / embedding_shards.shard_name('emb', 0, 3, 'npy')
  assert first.stat().st_mtime_ns == untouched
  queries, qids = embedding_shards.load(dirs['queries-dev'])
  assert queries.shape == (36, 128) and qids[0] == 'dev-ar-0'


def test_encoding_on_8_devices_equals_1(trained, tmp_path, stages):
  _, xdr_dir = trained
  outputs = {}
  for name, spec, devices in (('one', (('data', 1), ('model', 1)), jax.devices()[:1]),
                              ('eight', (('data', 4), ('model', 2)), jax.devices())):
    config = conftest.small_config()
    config.mesh = spec
    dirs = encode_stage.run(config, tmp_path / name, xdr_dir=xdr_dir,
                            data_dir=stages['data_dir'], tfds_dir=stages['tfds_dir'],
                            tokenizer_dir=stages['encoder_tokenizer'], inputs={'t': name},
                            devices=devices)
    outputs[name] = embedding_shards.load(dirs['corpus'])
  assert outputs['one'][1] == outputs['eight'][1]
  np.testing.assert_allclose(outputs['one'][0], outputs['eight'][0], atol=1e-4)


def test_exact_search_equals_brute_force():
  rng = np.random.default_rng(0)
  corpus, queries = rng.normal(size=(1000, 16)), rng.normal(size=(7, 16))
  scores, index = exact.search(queries, corpus, k=10, chunk_size=128)
  brute = queries @ corpus.T
  expected = np.argsort(-brute, axis=1)[:, :10]
  np.testing.assert_array_equal(index, expected)
  np.testing.assert_allclose(scores, np.take_along_axis(brute, expected, 1), rtol=1e-5)
  with pytest.raises(ValueError, match='query dim 8'):
    exact.search(queries[:, :8], corpus, k=3)
