"""The white-box HotFlip attack and its random-edit baseline on the small config's xDR."""

import unicodedata

import numpy as np
import pytest
from scipy import stats

from launch import stages
from xqg_jax import languages
from xqg_jax.data import pipeline
from xqg_jax.data import records
from xqg_jax.data import tokenizers
from xqg_jax.data.formats import embedding_shards
from xqg_jax.data.formats import qrels as qrels_format
from xqg_jax.encoders import encode_stage
from xqg_jax.eval import evaluate_stage
from xqg_jax.robustness import hotflip as hotflip_lib

BUDGET = 3
TOP_K = 40  # of 120 passages: the barely trained model ranks a third of the golds this high


@pytest.fixture(scope='module')
def target(prepared, tmp_path_factory):
  """The trained xDR, its tokenizer, corpus embeddings, gold rows, dev queries, synonyms."""
  config, _, state = prepared
  workdir = tmp_path_factory.mktemp('hotflip')
  state = dict(state)
  state.update(stages.BY_NAME['train_xdr'].fn(config, workdir, state))
  dirs = encode_stage.run(config, workdir, xdr_dir=state['xdr_dir'], data_dir=state['data_dir'],
                          tfds_dir=state['tfds_dir'], tokenizer_dir=state['encoder_tokenizer'],
                          inputs={'test': 'hotflip'})
  corpus, corpus_ids = embedding_shards.load(dirs['corpus'])
  queries, qrels_path = evaluate_stage.read_inputs(config, state['data_dir'], 'dev')
  return dict(
      config=config, encoder=encode_stage.load_encoder(config, state['xdr_dir']),
      tokenizer=tokenizers.load_tokenizer(state['encoder_tokenizer']), corpus=corpus,
      gold=hotflip_lib.gold_rows(qrels_format.read_qrels(qrels_path), corpus_ids),
      queries=queries,
      synonyms=hotflip_lib.load_synonyms(f'{state["data_dir"]}/surface_forms.json'))


def _hotflip(target, **kwargs):
  kwargs = {'budget': BUDGET, 'top_k': TOP_K, 'candidates': 4, 'beam': 1, 'batch_size': 16,
            **kwargs}
  return hotflip_lib.HotFlip(target['encoder'], target['tokenizer'], target['corpus'],
                             target['gold'], max_len=target['config'].data.q_max_len, **kwargs)


def _random(target, **kwargs):
  kwargs = {'budget': BUDGET, 'seed': 0, **kwargs}
  return hotflip_lib.RandomEdits(target['tokenizer'], max_len=target['config'].data.q_max_len,
                                 **kwargs)


@pytest.fixture(scope='module')
def attacked(target):
  """(the HotFlip attack, its dev results, the random baseline's dev results)."""
  attack = _hotflip(target)
  return attack, attack(target['queries']), _random(target)(target['queries'])


def _ids(target, texts):
  tokenize = pipeline.Tokenize(target['tokenizer'], target['config'].data.q_max_len)
  return tokenize(list(texts))[0]


def test_first_order_estimates_track_exact_changes(target, attacked):
  attack = attacked[0]
  correlations = []
  for q in target['queries'][::3]:
    tokens, est = attack.estimates([q], [q.question], count=8)
    position, rank = np.nonzero(np.isfinite(est[0]))
    original = _ids(target, [q.question])
    edited = {k: np.repeat(v, len(position), 0) for k, v in original.items()}
    edited['input_ids'][np.arange(len(position)), position] = tokens[0, position, rank]
    exact = attack.margins(edited, [q.id] * len(position))[0] - attack.margins(original,
                                                                                [q.id])[0]
    correlations.append(stats.spearmanr(est[0, position, rank], exact).statistic)
  print(f'first-order vs exact margin change, Spearman per query: {np.round(correlations, 2)}')
  assert np.mean(correlations) > 0.3
  assert np.mean(np.array(correlations) > 0) >= 0.75


def _check_token_edits(target, results):
  """Every attacked query differs from its original in 1..budget in-script token positions."""
  assert [a.id for a in results] == [q.id for q in target['queries']]
  assert all(a.reason for a in results if a.attacked is None)
  done = [a for a in results if a.attacked is not None]
  before = _ids(target, [a.original for a in done])['input_ids']
  after = _ids(target, [a.attacked for a in done])['input_ids']
  for a, old, new in zip(done, before, after):
    assert a.unit == 'token' and 1 <= a.edits <= a.budget and a.attacked != a.original
    changed = np.flatnonzero(old != new)
    assert len(changed) == a.edits, a
    for token in target['tokenizer'].convert_ids_to_tokens(new[changed].tolist()):
      assert all(languages.in_script(c, a.lang) and unicodedata.category(c)[0] in 'LM'
                 for c in token.removeprefix('##')), token
  return done


def test_attacked_queries_are_in_script_token_edits_within_budget(target, attacked):
  _, hot, rnd = attacked
  for results in (hot, rnd):
    assert len(_check_token_edits(target, results)) >= len(results) // 4
  assert any('outside the top 40' in a.reason for a in hot)


def _effects(target, attack, results):
  """(margin drop, gold score drop, gold rank after, success) of the queries the gold of which
  starts in the top k."""
  qids = [q.id for q in target['queries']]
  m0, g0 = attack.score_texts([q.question for q in target['queries']], qids)
  m1, g1 = attack.score_texts([a.text for a in results], qids)
  emb = target['encoder'].embed_texts(target['tokenizer'], [a.text for a in results],
                                      max_len=target['config'].data.q_max_len)
  scores = emb @ target['corpus'].T
  rank = np.array([1 + (row > row[list(target['gold'][qid])].max()).sum()
                   for row, qid in zip(scores, qids)])
  inside = m0 >= 0
  return (np.mean((m0 - m1)[inside]), np.mean((g0 - g1)[inside]), np.mean(rank[inside]),
          np.mean(m1[inside] < 0))


def test_hotflip_beats_random_edits_of_the_same_budget(target, attacked):
  attack, hot, rnd = attacked
  hot_margin, hot_gold, hot_rank, hot_success = _effects(target, attack, hot)
  rnd_margin, rnd_gold, rnd_rank, rnd_success = _effects(target, attack, rnd)
  print(f'hotflip: margin drop {hot_margin:.5f}, gold score drop {hot_gold:.5f}, gold rank '
        f'{hot_rank:.1f}, success {hot_success:.2f}, edits {np.mean([a.edits for a in hot]):.2f}')
  print(f'random:  margin drop {rnd_margin:.5f}, gold score drop {rnd_gold:.5f}, gold rank '
        f'{rnd_rank:.1f}, success {rnd_success:.2f}, edits {np.mean([a.edits for a in rnd]):.2f}')
  assert hot_margin > 0 and hot_margin > 2 * rnd_margin
  assert hot_success >= rnd_success + 0.3
  assert hot_rank > rnd_rank
  assert np.mean([a.edits for a in hot]) < np.mean([a.edits for a in rnd])  # and fewer edits


def test_deterministic_across_calls_orders_and_query_batches(target, attacked):
  attack, hot, rnd = attacked
  queries = target['queries']
  assert attack(queries[::-1])[::-1] == hot
  assert [a for start in range(0, len(queries), 5) for a in attack(queries[start:start + 5])
          ] == hot
  assert _random(target)(queries[::-1])[::-1] == rnd
  beam = _hotflip(target, beam=3)
  results = beam(queries)
  _check_token_edits(target, results)
  assert beam(queries[::-1])[::-1] == results


def test_nothing_to_substitute_is_unattacked_with_a_reason(target, attacked):
  attack = attacked[0]
  known = target['queries'][0]
  cases = [records.Query(known.id, '١٧٤٢ ؟', (), 'ar'),  # Arabic digits and question mark
           records.Query(known.id, 'Konmanvil 1742?', (), 'ru'),  # no Cyrillic token
           records.Query('unjudged', 'мангир валтолфу?', (), 'ru')]
  hot = attack(cases)
  assert [a.attacked for a in hot] == [None] * 3
  assert [a.reason for a in hot] == ["no token of the query's script to substitute"] * 2 + [
      'no gold passage of this query in the corpus']
  assert [a.reason for a in _random(target)(cases[:2])] == [hot[0].reason] * 2
  synonyms = _hotflip(target, synonyms=target['synonyms'])(cases[1:2])
  assert synonyms[0].reason == 'no word with a known synonym' and synonyms[0].unit == 'word'


def _strip_punctuation(word):
  return ''.join(c for c in word if not unicodedata.category(c).startswith('P'))


def test_synonym_mode_swaps_words_for_known_synonyms(target, attacked):
  attack = _hotflip(target, synonyms=target['synonyms'], budget=2)
  hot = attack(target['queries'])
  rnd = _random(target, synonyms=target['synonyms'], budget=2)(target['queries'])
  for results in (hot, rnd):
    assert any(a.attacked is not None for a in results)
    for a in results:
      if a.attacked is None:
        continue
      old, new = a.original.split(), a.attacked.split()
      swapped = [(x, y) for x, y in zip(old, new) if x != y]
      assert len(old) == len(new) and 1 <= len(swapped) == a.edits <= a.budget == 2
      table = target['synonyms'][a.lang]
      for x, y in swapped:
        x, y = _strip_punctuation(x), _strip_punctuation(y)
        assert y in table[x], (a, x, y)
  hot_margin = _effects(target, attacked[0], hot)[0]
  rnd_margin = _effects(target, attacked[0], rnd)[0]
  print(f'synonym swaps: margin drop hotflip {hot_margin:.5f}, random {rnd_margin:.5f}')
  assert hot_margin > max(rnd_margin, 0)
