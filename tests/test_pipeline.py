"""grain pipelines: exactly-once encoding, static shapes, determinism, process-count invariance."""

import grain
import numpy as np
import pytest
import tokenizers
from tokenizers import models
from tokenizers import normalizers
from tokenizers import pre_tokenizers
from tokenizers import processors
from tokenizers import trainers
import transformers

from xqg_jax.data import pipeline
from xqg_jax.data import records
from xqg_jax.data import tfds_builders
from xqg_jax.data.formats import corpus
from xqg_jax.data.formats import train_groups

_WORDS = ('the capital of Egypt is Cairo river city ancient history القاهرة عاصمة مصر '
          'النيل 東京 日本 首都 です ភ្នំពេញ រាជធានី កម្ពុជា').split()
_SPECIALS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]']


@pytest.fixture(scope='module')
def tokenizer():
  tok = tokenizers.Tokenizer(models.WordPiece(unk_token='[UNK]'))
  tok.normalizer = normalizers.BertNormalizer(lowercase=False)
  tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
  tok.train_from_iterator([' '.join(_WORDS)] * 4,
                          trainers.WordPieceTrainer(vocab_size=300, special_tokens=_SPECIALS))
  tok.post_processor = processors.TemplateProcessing(
      single='[CLS] $A [SEP]', pair='[CLS] $A [SEP] $B [SEP]',
      special_tokens=[('[CLS]', tok.token_to_id('[CLS]')), ('[SEP]', tok.token_to_id('[SEP]'))])
  return transformers.BertTokenizerFast(tokenizer_object=tok, pad_token='[PAD]')


def _passages(n, seed=0):
  rng = np.random.default_rng(seed)
  return [records.Passage(id=f'p{i}', title=str(rng.choice(_WORDS)),
                          text=' '.join(rng.choice(_WORDS, size=rng.integers(1, 30))))
          for i in range(n)]


def _groups(n, seed=0):
  rng = np.random.default_rng(seed)
  passages = _passages(60, seed)
  groups = []
  for i in range(n):
    picks = rng.choice(len(passages), size=12, replace=False)
    negatives = [passages[j] for j in picks[1:1 + (2 if i % 5 == 0 else 10)]]
    negatives.append(passages[picks[0]])  # A negative repeating the positive's id.
    groups.append(records.TrainGroup(query_id=f'q{i}', query=f'عاصمة {i}',
                                     positive_passages=(passages[picks[0]],),
                                     negative_passages=tuple(negatives)))
  return groups


def _encode(source, tokenizer, **kwargs):
  kwargs = {'text_fn': pipeline.passage_text, 'id_fn': lambda p: p.id, 'max_len': 24,
            'batch_size': 8, 'buckets': (8, 16, 32), **kwargs}
  return list(pipeline.encode_batches(source, tokenizer, **kwargs))


def _concat(per_process):
  """Joins the i-th batch of every process into the i-th global batch."""
  return [{k: np.concatenate([b[k] for b in batches]) for k in batches[0]
           if not isinstance(batches[0][k], dict)} for batches in zip(*per_process)]


def _assert_same(a, b):
  assert len(a) == len(b)
  for x, y in zip(a, b):
    assert x.keys() == y.keys()
    for k in x:
      np.testing.assert_array_equal(x[k], y[k])


def test_tokenize_matches_hf(tokenizer):
  texts = [pipeline.passage_text(p) for p in _passages(20)]
  arrays, truncated = pipeline.Tokenize(tokenizer, 12)(texts, 16)
  expected = tokenizer(texts, truncation=True, max_length=12)
  full = tokenizer(texts)['input_ids']
  for i, ids in enumerate(expected['input_ids']):
    np.testing.assert_array_equal(arrays['input_ids'][i, :len(ids)], ids)
    assert (arrays['input_ids'][i, len(ids):] == tokenizer.pad_token_id).all()
    assert arrays['attention_mask'][i].sum() == len(ids)
  np.testing.assert_array_equal(truncated, [len(ids) > 12 for ids in full])
  assert truncated.any() and not truncated.all()
  assert {k: v.dtype for k, v in arrays.items()} == {
      'input_ids': np.int32, 'attention_mask': np.int32, 'token_type_ids': np.int32}


def test_encode_every_record_once_with_static_shapes(tokenizer):
  source = _passages(53)
  batches = _encode(source, tokenizer)
  ids = [i for b in batches for i, v in zip(b['ids'], b['valid']) if v]
  assert sorted(ids) == sorted(p.id for p in source)
  assert len(batches) == 7  # ceil(53 / 8)
  for b in batches:
    length = b['input_ids'].shape[1]
    assert length in (8, 16, 32) and b['input_ids'].shape == (8, length)
    used = b['attention_mask'].sum(axis=1).max()
    assert used <= length and not (length > 8 and used <= length // 2)  # Smallest bucket.
  padding = [(i, v) for b in batches for i, v in zip(b['ids'], b['valid']) if not v]
  assert padding == [('', False)] * 3
  expected = sum(len(ids) > 24 for ids in
                 tokenizer([pipeline.passage_text(p) for p in source])['input_ids'])
  assert sum(b['truncated'].sum() for b in batches) == expected > 0
  by_id = {p.id: p for p in source}
  row = batches[2]
  np.testing.assert_array_equal(
      row['input_ids'][0, :row['attention_mask'][0].sum()],
      tokenizer(pipeline.passage_text(by_id[row['ids'][0]]), truncation=True,
                max_length=24)['input_ids'])


def test_encode_without_buckets_pads_to_max_len(tokenizer):
  batches = _encode(_passages(10), tokenizer, buckets=None)
  assert [b['input_ids'].shape for b in batches] == [(8, 24), (8, 24)]
  assert [p for b in batches for p in b['ids']][:10] == [f'p{i}' for i in range(10)]


@pytest.mark.parametrize('count', [2, 4])
def test_encode_global_batches_independent_of_process_count(tokenizer, count):
  source = _passages(45)
  single = _encode(source, tokenizer)
  per_process = [_encode(source, tokenizer, process_index=p, process_count=count)
                 for p in range(count)]
  assert all(b['input_ids'].shape[0] == 8 // count for b in per_process[-1])
  _assert_same(_concat(per_process), single)


def test_threads_keep_the_order(tokenizer):
  ds = pipeline.encode_batches(_passages(40), tokenizer, text_fn=pipeline.passage_text,
                               id_fn=lambda p: p.id, max_len=24, batch_size=4,
                               buckets=(8, 16, 32))
  threaded = list(ds.to_iter_dataset(grain.ReadOptions(num_threads=4, prefetch_buffer_size=8)))
  _assert_same(threaded, list(ds))


def test_global_plan_properties():
  keys = np.random.default_rng(0).integers(1, 30, size=101)
  plan = pipeline.global_plan(101, 10, seed=3, epoch=1, shuffle=True, length_keys=keys,
                              buckets=(8, 16, 32), window=3)
  real = plan.rows[plan.rows != pipeline.PAD_ROW]
  assert sorted(real) == list(range(101)) and plan.rows.shape == (11, 10)
  assert (plan.rows == pipeline.PAD_ROW).sum() == 9
  for rows, length in zip(plan.rows, plan.lengths):
    longest = keys[rows[rows != pipeline.PAD_ROW]].max()
    assert length == min(b for b in (8, 16, 32) if b >= longest)
  again = pipeline.global_plan(101, 10, seed=3, epoch=1, shuffle=True, length_keys=keys,
                               buckets=(8, 16, 32), window=3)
  np.testing.assert_array_equal(plan.rows, again.rows)
  dropped = pipeline.global_plan(101, 10, seed=3, epoch=1, shuffle=True, drop_remainder=True)
  assert dropped.rows.shape == (10, 10) and (dropped.rows >= 0).all()
  with pytest.raises(ValueError, match='equal slice'):
    plan.process_rows(0, 3)


def _train(groups, tokenizer, **kwargs):
  kwargs = {'group_size': 4, 'q_max_len': 8, 'p_max_len': 16, 'batch_size': 8, 'seed': 7,
            'epoch': 0, **kwargs}
  return list(pipeline.train_batches(groups, tokenizer, **kwargs))


def test_train_batch_layout(tokenizer):
  groups = _groups(21)
  by_id = {g.query_id: g for g in groups}
  batches = _train(groups, tokenizer)
  assert len(batches) == 2  # The partial batch is dropped.
  for b in batches:
    assert b['query']['input_ids'].shape == (8, 8)
    assert b['passage']['input_ids'].shape == (32, 16)
    assert b['valid'].all()
    for i, qid in enumerate(b['query_id']):
      group = by_id[qid]
      ids = list(b['passage_id'][4 * i:4 * (i + 1)])
      assert ids[0] == group.positive_passages[0].id
      assert ids[0] not in ids[1:]
      assert b['negatives_resampled'][i] == (int(qid[1:]) % 5 == 0)
      if not b['negatives_resampled'][i]:
        assert len(set(ids[1:])) == 3
  assert b['passage_truncated'].any() and b['query_truncated'].dtype == bool


def test_train_keeps_padded_last_batch_on_request(tokenizer):
  batches = _train(_groups(21), tokenizer, drop_remainder=False)
  assert len(batches) == 3 and batches[-1]['valid'].sum() == 5
  assert not batches[-1]['passage_truncated'][4 * 5:].any()
  assert all(b['passage']['input_ids'].shape == (32, 16) for b in batches)


def _query_order(batches):
  return [q for b in batches for q in b['query_id']]


def test_train_determinism_and_epochs(tokenizer):
  groups = _groups(40)
  first = _train(groups, tokenizer)
  _assert_same(_concat([first]), _concat([_train(groups, tokenizer)]))
  other = _train(groups, tokenizer, epoch=1)
  assert _query_order(first) != _query_order(other)
  assert sorted(_query_order(first)) == sorted(_query_order(other))


def test_negatives_depend_on_query_only(tokenizer):
  groups = _groups(32)

  def sampled(batch_size):
    out = {}
    for b in _train(groups, tokenizer, batch_size=batch_size):
      for i, qid in enumerate(b['query_id']):
        out[qid] = list(b['passage_id'][4 * i:4 * (i + 1)])
    return out

  assert sampled(4) == sampled(16)
  changed = pipeline.sample_group(groups[1], 4, seed=8, epoch=0)[0]
  assert [p.id for p in changed] != sampled(4)['q1']


@pytest.mark.parametrize('count', [2, 4])
def test_train_global_batches_independent_of_process_count(tokenizer, count):
  groups = _groups(37)
  single = _train(groups, tokenizer, drop_remainder=False)
  per_process = [_train(groups, tokenizer, drop_remainder=False, process_index=p,
                        process_count=count) for p in range(count)]
  _assert_same(_concat(per_process), _concat([single]))
  for key in ('query', 'passage'):
    _assert_same([{k: np.concatenate([b[key][k] for b in bs]) for k in bs[0][key]}
                  for bs in zip(*per_process)], [b[key] for b in single])


def test_sample_group_counts_resampling():
  passages = _passages(5)
  group = records.TrainGroup(query_id='q', query='x', positive_passages=tuple(passages[:1]),
                             negative_passages=tuple(passages[1:3]))
  sampled, resampled = pipeline.sample_group(group, 6, seed=0, epoch=0)
  assert resampled and len(sampled) == 6
  assert {p.id for p in sampled[1:]} <= {'p1', 'p2'}
  with pytest.raises(ValueError, match="'q'"):
    pipeline.sample_group(records.TrainGroup('q', 'x', tuple(passages[:1]), ()), 2, 0, 0)


def test_tfds_sources_feed_the_pipelines(tokenizer, tmp_path):
  passages, groups = _passages(30), _groups(12)
  corpus.write_corpus(tmp_path / 'manual' / 'corpus.tsv', passages)
  train_groups.write_train_groups(tmp_path / 'manual' / 'train_groups.jsonl', groups)

  def load(name, split):
    return tfds_builders.build_and_load(name, tmp_path / 'manual', tmp_path / 'data', split)

  encoded = _encode(load('xor_corpus', 'corpus'), tokenizer,
                    text_fn=lambda r: pipeline.passage_text(tfds_builders.decode_passage(r)),
                    id_fn=lambda r: r['id'].decode())
  _assert_same(_concat([encoded]), _concat([_encode(passages, tokenizer)]))
  source = grain.MapDataset.source(load('xor_train_groups', 'train'))
  trained = _train(source.map(tfds_builders.decode_train_group), tokenizer)
  _assert_same(_concat([trained]), _concat([_train(groups, tokenizer)]))
