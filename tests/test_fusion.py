"""Fusion of generated-question embeddings into passages: (1 - alpha) E_p(p) + alpha SUM E_q(q)."""

import os
import re

import numpy as np
import pytest

from xqg_jax.augment import fusion
from xqg_jax.data.formats import embedding_shards
from xqg_jax.data.formats import generated_questions
from xqg_jax.io import stage_dir

_LANGS = ('ar', 'ja', 'km')
_DIM = 6


def _write_dir(directory, shards, name='emb'):
  """An embedding directory from [(emb, ids)] per shard, finished like the encode stage."""
  directory.mkdir(parents=True)
  n = len(shards)
  for s, (emb, ids) in enumerate(shards):
    np.save(directory / embedding_shards.shard_name('emb', s, n, 'npy'), emb.astype(np.float32))
    (directory / embedding_shards.shard_name('ids', s, n, 'txt')).write_text(
        ''.join(f'{i}\n' for i in ids))
  embedding_shards.finish(directory, n, stage_name=name, stage_config={}, inputs={}, extra={})
  return directory


def _corpus_and_questions(tmp_path, sizes=(3, 4), num_queries=3, seed=0):
  rng = np.random.default_rng(seed)
  corpus, questions, start = [], [], 0
  for size in sizes:
    ids = [f'doc{start + i}' for i in range(size)]
    start += size
    corpus.append((rng.normal(size=(size, _DIM)), ids))
    qids = [generated_questions.question_id(d, lang, i) for d in ids for lang in _LANGS
            for i in range(num_queries)]
    questions.append((rng.normal(size=(len(qids), _DIM)), qids))
  return (_write_dir(tmp_path / 'corpus', corpus), _write_dir(tmp_path / 'generated', questions),
          corpus, questions)


def _expected(corpus, questions, config: fusion.FusionConfig):
  """The formula computed directly, passage by passage."""
  out = []
  for (p_emb, p_ids), (q_emb, q_ids) in zip(corpus, questions):
    row_of = {qid: r for r, qid in enumerate(q_ids)}
    for p, docid in enumerate(p_ids):
      chosen = [q_emb[row_of[generated_questions.question_id(docid, lang, i)]]
                for lang in config.languages for i in range(config.num_queries)]
      pooled = np.sum(chosen, axis=0)
      if config.reduce == 'mean':
        pooled = pooled / len(chosen)
      out.append((1 - config.alpha) * p_emb[p] + config.alpha * pooled)
  return np.stack(out)


@pytest.mark.parametrize('alpha,reduce,langs,num_queries', [
    (0.01, 'sum', _LANGS, 3), (0.5, 'mean', _LANGS, 3), (0.2, 'sum', ('km', 'ar'), 2),
    (0.0, 'sum', ('ja',), 1), (1.0, 'mean', ('ja',), 2)])
def test_fused_directory_equals_the_formula(tmp_path, alpha, reduce, langs, num_queries):
  corpus_dir, questions_dir, corpus, questions = _corpus_and_questions(tmp_path)
  config = fusion.FusionConfig(alpha, reduce, langs, num_queries)
  out = fusion.fuse_directory(tmp_path / 'fused', corpus_dir=corpus_dir,
                              questions_dir=questions_dir, fusion=config, inputs={'x': '1'})
  fused, ids = embedding_shards.load(out)
  assert ids == [i for _, shard_ids in corpus for i in shard_ids]
  np.testing.assert_allclose(fused, _expected(corpus, questions, config), rtol=1e-6, atol=1e-6)
  assert stage_dir.is_done(out, config={**vars(config), 'num_shards': 2}, inputs={'x': '1'})


def test_resume_redoes_only_missing_shards_and_settings_change_clears(tmp_path):
  corpus_dir, questions_dir, _, _ = _corpus_and_questions(tmp_path)
  config = fusion.FusionConfig(0.1, 'sum', _LANGS, 2)
  kwargs = dict(corpus_dir=corpus_dir, questions_dir=questions_dir, inputs={})
  out = fusion.fuse_directory(tmp_path / 'fused', fusion=config, **kwargs)
  reference = embedding_shards.load(out)[0]
  shard1 = out / embedding_shards.shard_name('emb', 1, 2, 'npy')
  (out / 'manifest.json').unlink()
  # As if killed before shard 1 ended.
  (out / embedding_shards.shard_name('ids', 1, 2, 'txt')).unlink()
  shard0_mtime = os.stat(out / embedding_shards.shard_name('emb', 0, 2, 'npy')).st_mtime_ns
  fusion.fuse_directory(out, fusion=config, **kwargs)
  assert os.stat(out / embedding_shards.shard_name('emb', 0, 2, 'npy')).st_mtime_ns == shard0_mtime
  np.testing.assert_array_equal(embedding_shards.load(out)[0], reference)
  # Leftover shards of other settings are never reused.
  (out / 'manifest.json').unlink()
  shard1.unlink()
  (out / embedding_shards.shard_name('ids', 1, 2, 'txt')).unlink()
  other = fusion.FusionConfig(0.9, 'sum', _LANGS, 2)
  fused = embedding_shards.load(fusion.fuse_directory(out, fusion=other, **kwargs))[0]
  direct = embedding_shards.load(
      fusion.fuse_directory(tmp_path / 'direct', fusion=other, **kwargs))[0]
  np.testing.assert_array_equal(fused, direct)


def _fuse(tmp_path, corpus, questions, config=None):
  config = config or fusion.FusionConfig(0.1, 'sum', _LANGS, 2)
  return fusion.fuse_directory(
      tmp_path / 'fused', corpus_dir=_write_dir(tmp_path / 'c', corpus),
      questions_dir=_write_dir(tmp_path / 'q', questions), fusion=config, inputs={})


def test_misaligned_ids_name_the_first_mismatch(tmp_path):
  _, _, corpus, questions = _corpus_and_questions(tmp_path / 'src')
  emb, ids = corpus[1]
  corpus[1] = (emb, [ids[0], ids[2], ids[1], ids[3]])
  with pytest.raises(ValueError, match="passage 1 is 'doc5' but .* belong to 'doc4'"):
    _fuse(tmp_path, corpus, questions)


def test_missing_passage_questions_and_languages_are_errors(tmp_path):
  _, _, corpus, questions = _corpus_and_questions(tmp_path / 'src')
  emb, ids = corpus[0]
  corpus[0] = (np.concatenate([emb, emb[:1]]), ids + ['doc99'])
  with pytest.raises(ValueError, match="4 passages but questions for 3 .*'doc99'"):
    _fuse(tmp_path / 'a', corpus, questions)
  _, _, corpus, questions = _corpus_and_questions(tmp_path / 'src2')
  with pytest.raises(ValueError, match="'doc0' has no generated question 0 in 'te'"):
    _fuse(tmp_path / 'b', corpus, questions, fusion.FusionConfig(0.1, 'sum', ('ar', 'te'), 1))
  with pytest.raises(ValueError, match="no generated question 3 in 'ar'"):
    _fuse(tmp_path / 'c', corpus, questions, fusion.FusionConfig(0.1, 'sum', ('ar',), 4))


def test_non_finite_embeddings_and_dims_are_errors(tmp_path):
  _, _, corpus, questions = _corpus_and_questions(tmp_path / 'src')
  emb, ids = questions[1]
  emb = emb.copy()
  emb[5, 2] = np.nan
  questions[1] = (emb, ids)
  with pytest.raises(ValueError, match=re.escape(f'{ids[5]!r} (row 5) is not finite')):
    _fuse(tmp_path / 'a', corpus, questions)
  # Any embedding directory (queries too) is checked where it is read, naming the shard file.
  queries = [(np.array([[0.0, 1.0], [np.inf, 0.0]]), ['q1', 'q2'])]
  with pytest.raises(ValueError, match=r"emb-00000-of-00001.npy: embedding of 'q2' \(row 1\) "
                                       'is not finite'):
    embedding_shards.load(_write_dir(tmp_path / 'queries', queries))
  _, _, corpus, questions = _corpus_and_questions(tmp_path / 'src2')
  questions = [(emb[:, :4], ids) for emb, ids in questions]
  with pytest.raises(ValueError, match='passage dim 6 != question dim 4'):
    _fuse(tmp_path / 'b', corpus, questions)
  with pytest.raises(ValueError, match='has 2 shards but .* has 1'):
    _fuse(tmp_path / 'c', corpus, [questions[0]])


def test_a_deleted_embedding_shard_is_named(tmp_path):
  shards = [(np.ones((1, 2)), ['q1']), (np.ones((1, 2)), ['q2'])]
  directory = _write_dir(tmp_path / 'queries', shards)
  (directory / embedding_shards.shard_name('emb', 1, 2, 'npy')).unlink()
  with pytest.raises(FileNotFoundError, match=r'emb-00001-of-00002.npy is missing: .* is '
                                              'incomplete; run the stage that wrote it again'):
    embedding_shards.load(directory)


def test_bad_settings_are_errors():
  with pytest.raises(ValueError, match='reduce must be one of'):
    fusion.FusionConfig(0.1, 'max', _LANGS, 1)
  with pytest.raises(ValueError, match='alpha must be in'):
    fusion.FusionConfig(1.5, 'sum', _LANGS, 1)
  with pytest.raises(ValueError, match='num_queries must be >= 1'):
    fusion.FusionConfig(0.1, 'sum', _LANGS, 0)
  with pytest.raises(ValueError, match='xx'):
    fusion.FusionConfig(0.1, 'sum', ('xx',), 1)


def test_question_ids_round_trip_and_reject_garbage():
  qid = generated_questions.question_id('syn12', 'km', 3)
  assert generated_questions.parse_question_id(qid) == ('syn12', 'km', 3)
  with pytest.raises(ValueError, match='not a generated-question id'):
    generated_questions.parse_question_id('syn12-km-3')


def test_generated_questions_encode_per_corpus_shard(prepared, tmp_path):
  """The pipeline's encode of generated questions lines up with the corpus shards, and fuses."""
  from launch import stages  # pylint: disable=g-import-not-at-top
  from xqg_jax.data import records  # pylint: disable=g-import-not-at-top
  from xqg_jax.data.formats import augmented  # pylint: disable=g-import-not-at-top
  from xqg_jax.data.formats import corpus as corpus_format  # pylint: disable=g-import-not-at-top
  from xqg_jax.generation import generate_stage  # pylint: disable=g-import-not-at-top
  config, workdir, state = prepared
  config = config.copy_and_resolve_references()
  config.xdr.num_train_steps = 0
  config.augment.languages = ('ja', 'km')
  config.augment.fusions = ('all',)
  state = dict(state)
  state.update(stages.BY_NAME['train_xdr'].fn(config, tmp_path, state))
  passages = list(corpus_format.read_corpus(f'{state["data_dir"]}/corpus.tsv'))
  ranges = embedding_shards.shard_ranges(len(passages), config.data.num_corpus_shards)
  generated = tmp_path / 'generated'
  generated.mkdir()
  for s, (start, stop) in enumerate(ranges):
    augmented.write_augmented(
        generated / generate_stage.shard_file(s, len(ranges)),
        [records.AugmentedPassage(
            p.id, p.title, p.text, {'ja': (p.title, 'x'), 'km': (p.text[:20], p.title)})
         for p in passages[start:stop]])
  stage_dir.run(generated, stage='generate', config={}, inputs={},
            produce=lambda d: ([f.name for f in d.glob('generated-*')], {}))
  state['generated_dir'] = str(generated)
  state['oracle_dir'] = None
  state.update(stages.BY_NAME['encode'].fn(config, tmp_path, state))
  alpha = 0.25
  state['selection'] = {'chosen': {'xqg/all': {'source': 'xqg', 'fusion': 'all',
                                               'alpha': alpha, 'num_queries': 2}}}
  state.update(stages.BY_NAME['fuse'].fn(config, tmp_path, state))
  q_emb, q_ids = embedding_shards.load(state['embeddings']['xqg'])
  assert len(q_ids) == len(passages) * 4
  for s, (start, stop) in enumerate(ranges):  # Shard s holds corpus shard s's questions.
    _, shard_ids = embedding_shards.load_shard(state['embeddings']['xqg'], s)
    assert {generated_questions.parse_question_id(q)[0] for q in shard_ids} == {
        p.id for p in passages[start:stop]}
  row = {q: i for i, q in enumerate(q_ids)}
  p0 = passages[0]
  # The same text through the same tower gives the same embedding.
  np.testing.assert_allclose(q_emb[row[generated_questions.question_id(p0.id, 'ja', 0)]],
                             q_emb[row[generated_questions.question_id(p0.id, 'km', 1)]],
                             atol=1e-5)
  p_emb, p_ids = embedding_shards.load(state['embeddings']['corpus'])
  assert list(state['systems']) == ['xdr', 'xqg_all']
  fused, fused_ids = embedding_shards.load(state['systems']['xqg_all']['corpora']['*'])
  assert fused_ids == p_ids
  picks = [[row[generated_questions.question_id(d, lang, i)] for lang in ('ja', 'km')
            for i in range(2)] for d in p_ids]
  np.testing.assert_allclose(fused, (1 - alpha) * p_emb + alpha * q_emb[picks].sum(1),
                             rtol=1e-5, atol=1e-6)


def test_duplicate_questions_are_errors(tmp_path):
  _, _, corpus, questions = _corpus_and_questions(tmp_path / 'src')
  emb, ids = questions[0]
  questions[0] = (emb, ids[:1] + ids[:-1])  # The first question twice, the last one gone.
  with pytest.raises(ValueError, match="'doc0' has 2 copies of generated question 0 in 'ar'"):
    _fuse(tmp_path, corpus, questions)


def test_empty_shards_are_errors(tmp_path):
  _, _, corpus, questions = _corpus_and_questions(tmp_path / 'src')
  corpus[1] = (np.zeros((0, _DIM)), [])
  questions[1] = (np.zeros((0, _DIM)), [])
  with pytest.raises(ValueError, match='emb-00001-of-00002.npy: empty shard'):
    _fuse(tmp_path, corpus, questions)


@pytest.mark.parametrize('layout', ['generate stage order', 'one passage reordered'])
def test_picks_name_the_chosen_questions_of_each_passage(layout):
  passages = ['a', 'b', 'c']
  order = [(lang, i) for lang in ('ja', 'ar', 'km') for i in range(3)]
  per_passage = {d: list(order) for d in passages}
  if layout == 'one passage reordered':
    per_passage['b'].reverse()
  qids = [generated_questions.question_id(d, lang, i) for d in passages
          for lang, i in per_passage[d]]
  config = fusion.FusionConfig(0.1, 'sum', ('km', 'ar'), 2)
  picks = fusion.question_picks(passages, qids, config, 'test')
  for d, rows in zip(passages, picks):
    assert [qids[r] for r in rows] == [generated_questions.question_id(d, lang, i)
                                       for lang in ('km', 'ar') for i in range(2)]
  duplicated = qids[:9] + qids[:9] + qids[18:]  # Passage 'b' holds passage 'a's questions.
  with pytest.raises(ValueError, match="passage 1 is 'b' but .* belong to 'c'"):
    fusion.question_picks(passages, duplicated, config, 'test')


@pytest.mark.parametrize('row', [0, 4095, 4096, 9999])
def test_first_non_finite_row_across_chunks(row):
  emb = np.zeros((10_000, 3), np.float32)
  assert embedding_shards.first_non_finite_row(emb) is None
  emb[row, 1] = np.inf
  emb[-1, 0] = np.nan
  assert embedding_shards.first_non_finite_row(emb) == row
