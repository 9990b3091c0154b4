"""The evaluation end of the pipeline on the small config: oracle, selection on dev, fused
systems with language routing, exact and ScaNN search, runs, metrics, the n-curve, reports."""

import json
import pathlib
import shutil

import numpy as np
import pytest

from launch import stages
from xqg_jax.augment import fusion
from xqg_jax.data.formats import augmented
from xqg_jax.data.formats import corpus as corpus_format
from xqg_jax.data.formats import embedding_shards
from xqg_jax.data.formats import trec_run
from xqg_jax.data.formats import xor_run
from xqg_jax.data.synthetic import benchmark as benchmark_lib
from xqg_jax.eval import evaluate_stage
from xqg_jax.eval import fusion_grid
from xqg_jax.eval import select_stage
from xqg_jax.eval import systems as systems_lib
from xqg_jax.eval import xor_retrieve
from xqg_jax.index import index_stage
from xqg_jax.io import manifest as manifest_lib
from xqg_jax.io import stage_graph
from xqg_jax.robustness import attacked_set as attack_lib


def results_outcomes(directory):
  return json.loads((directory / evaluate_stage.OUTCOMES_JSON).read_text())


@pytest.fixture(scope='module')
def evaluated(prepared, tmp_path_factory):
  """(config, workdir, state) after every stage of the small config."""
  config, _, state = prepared
  config = config.copy_and_resolve_references()
  config.eval.permutations = 200
  config.eval.bootstrap = 200
  workdir = tmp_path_factory.mktemp('evaluated')
  (workdir / 'stages').mkdir()
  for name in ('data', 'tokenizers', 'datasets'):  # Recorded by `prepared`'s run.
    shutil.copy(prepared[1] / 'stages' / f'{name}.json', workdir / 'stages')
  return config, workdir, stages.run(config, workdir, from_stage='train_xdr')


def test_every_system_is_evaluated_exactly_and_with_scann(evaluated):
  config, workdir, state = evaluated
  queries, _ = evaluate_stage.read_inputs(config, state['data_dir'], 'dev')
  texts = {p.id: p.text for p in corpus_format.read_corpus(
      pathlib.Path(state['data_dir']) / 'corpus.tsv')}
  assert set(state['results']) == {'xdr', 'xqg_all', 'xqg_matched', 'oracle_all',
                                   'oracle_matched'}
  for system in state['results']:
    for search in ('exact', 'scann'):
      directory = workdir / 'eval' / system / 'dev' / search
      results = evaluate_stage.load(directory.parent)[search]
      run = trec_run.read_run(directory / 'run.trec')
      assert set(run) == {q.id for q in queries}
      assert all(len(hits) == min(config.index.hits, len(texts)) for hits in run.values())
      ranking = {qid: [d for d, _ in hits] for qid, hits in run.items()}
      expected = xor_retrieve.evaluate(ranking, queries, texts)
      for metric in ('R@2kt', 'R@5kt'):
        assert results[metric] == pytest.approx(expected[metric])
      assert set(results['ir']) >= {'R@100', 'RR@10', 'nDCG@10', 'counted'}
      if search == 'scann':
        assert not (directory / 'xor_run.json').exists()
        continue
      # The submission holds each query's passages up to the largest budget: scoring it as the
      # official script does (passage texts only) gives the same R@kt.
      entries = xor_run.read_xor_run(directory / 'xor_run.json')
      assert [e.id for e in entries] == [q.id for q in queries]
      for entry in entries:
        depth = len(entry.ctxs)
        assert entry.ctxs == tuple(texts[d] for d in ranking[entry.id][:depth])
        assert depth == len(ranking[entry.id]) or sum(
            len(xor_retrieve.word_tokenizer.word_tokenize(t)) for t in entry.ctxs) >= 5000
      from_json = xor_retrieve.query_outcomes({e.id: e.ctxs for e in entries if e.id in
                                               results_outcomes(directory)}, queries)
      assert from_json == results_outcomes(directory)
    scann = state['results'][system]['dev']['scann']
    assert 0.9 <= scann['ann_recall'][f'recall@{config.index.hits}'] <= 1.0
    assert scann['index']['indexes'] == len(set(state['systems'][system]['corpora'].values()))
    assert scann['index']['bytes'] > 0 and scann['index']['build_seconds'] >= 0


def test_matched_fusion_routes_each_query_to_its_language_corpus(evaluated):
  config, workdir, state = evaluated
  system = systems_lib.System.from_dict(state['systems']['xqg_matched'])
  queries, _ = evaluate_stage.read_inputs(config, state['data_dir'], 'dev')
  langs = sorted({q.lang for q in queries})
  assert sorted(system.corpora) == langs
  chosen = state['selection']['chosen']['xqg/matched']
  for lang, corpus in system.corpora.items():
    if lang not in config.augment.languages:  # No questions in its language: plain passages.
      assert corpus == state['embeddings']['corpus']
      continue
    settings = manifest_lib.read(corpus)['config']
    assert settings['languages'] == [lang]
    assert (settings['alpha'], settings['num_queries']) == (chosen['alpha'],
                                                            chosen['num_queries'])
  # A query's exact ranking is the exact search of its own language's fused corpus.
  run = trec_run.read_run(workdir / 'eval' / 'xqg_matched' / 'dev' / 'exact' / 'run.trec')
  emb, qids = embedding_shards.load(state['embeddings']['queries-dev'])
  exact = evaluate_stage.exact_config(config)
  for q in queries[:6]:
    row = qids.index(q.id)
    scores, docids = index_stage.search(exact, system.corpora[q.lang], emb[row:row + 1],
                                        config.index.hits)
    direct = dict(zip(docids[0], scores[0].tolist()))
    ranked = dict(run[q.id])
    assert len(ranked.keys() & direct.keys()) >= 0.95 * len(direct)  # batching moves near ties
    for docid in ranked.keys() & direct.keys():
      assert ranked[docid] == pytest.approx(direct[docid], rel=1e-5, abs=1e-5)
  all_languages = state['systems']['xqg_all']['corpora']
  assert list(all_languages) == [systems_lib.ANY_LANGUAGE]


def test_selection_is_the_best_dev_row_and_reads_dev_only(evaluated, monkeypatch):
  config, workdir, state = evaluated
  selection = json.loads((workdir / 'select' / select_stage.SELECTION_JSON).read_text())
  assert selection['split'] == 'dev'
  rows = selection['rows']
  assert len(rows) == 2 * len(config.augment.fusions) * len(config.eval.sweep_alphas) * len(
      config.eval.sweep_num_queries)
  for source in ('xqg', 'oracle'):
    best = max(r['R@2kt']['macro'] for r in rows if r['source'] == source)
    assert selection['chosen'][source]['R@2kt']['macro'] == best
    for fusion_name in config.augment.fusions:
      assert selection['chosen'][f'{source}/{fusion_name}']['fusion'] == fusion_name
  # Re-running the selection reads the dev queries and nothing else.
  seen = []
  original = select_stage.evaluate_settings
  monkeypatch.setattr(select_stage, 'evaluate_settings',
                      lambda *a, **k: seen.append(k['split']) or original(*a, **k))
  again = select_stage.run(
      config, workdir / 'reselect', corpus_dir=state['embeddings']['corpus'],
      question_dirs={s: state['embeddings'][s] for s in ('xqg', 'oracle')},
      query_embeddings={'dev': state['embeddings']['queries-dev']},
      data_dir=state['data_dir'], inputs={})
  assert seen == ['dev'] and again['chosen'] == selection['chosen']
  with pytest.raises(ValueError, match='chooses settings on dev queries'):
    select_stage.run(config, workdir / 'no-dev', corpus_dir=state['embeddings']['corpus'],
                     question_dirs={'xqg': state['embeddings']['xqg']}, query_embeddings={},
                     data_dir=state['data_dir'], inputs={})


def test_choose_breaks_ties_by_the_second_metric_then_the_simpler_setting():
  from xqg_jax.configs import tiny  # pylint: disable=g-import-not-at-top
  config = tiny.get_config()
  row = lambda fusion, alpha, n, r2, r5: {'source': 'xqg', 'fusion': fusion, 'alpha': alpha,
                                          'num_queries': n, 'R@2kt': {'macro': r2},
                                          'R@5kt': {'macro': r5}}
  rows = [row('matched', 0.3, 5, 30.0, 40.0), row('matched', 0.1, 5, 30.0, 41.0),
          row('all', 0.1, 2, 30.0, 41.0), row('all', 0.01, 1, 29.0, 50.0)]
  chosen = select_stage.choose(config, rows, ['xqg'])
  assert chosen['xqg'] == rows[2]  # ties on both metrics: the fusion listed first
  assert chosen['xqg/matched'] == rows[1]
  assert chosen['xqg/all'] == rows[2]


def test_grid_rankings_equal_fused_corpora_searched_exactly(evaluated, tmp_path):
  config, _, state = evaluated
  embeddings = state['embeddings']
  emb, qids = embedding_shards.load(embeddings['queries-dev'])
  queries, _ = evaluate_stage.read_inputs(config, state['data_dir'], 'dev')
  langs = [{q.id: q.lang for q in queries}[qid] for qid in qids]
  settings = [fusion_grid.Setting('xqg', 'all', 0.5, 2), fusion_grid.Setting('xqg', 'matched',
                                                                               0.3, 1)]
  found = fusion_grid.rankings(
      corpus_dir=embeddings['corpus'], question_dirs={'xqg': embeddings['xqg']},
      settings=settings, query_emb=emb, query_langs=langs,
      augment_languages=config.augment.languages, reduce='sum', k=config.index.hits)
  exact = evaluate_stage.exact_config(config)
  for s in settings:
    routing = fusion.fuse_routing(
        tmp_path / s.name, fusion=s.fusion, alpha=s.alpha, num_queries=s.num_queries,
        reduce='sum', languages=config.augment.languages, query_languages=sorted(set(langs)),
        corpus_dir=embeddings['corpus'], questions_dir=embeddings['xqg'], inputs={})
    system = systems_lib.System(s.name, routing)
    run = evaluate_stage.search(exact, system, routing, qids, emb, langs)
    fused = {key: dict(zip(ids, vectors))
             for key, (vectors, ids) in ((k, embedding_shards.load(d)) for k, d in routing.items())}
    for i, qid in enumerate(qids):
      vectors = fused[langs[i] if s.fusion == 'matched' else systems_lib.ANY_LANGUAGE]
      grid_scores = sorted((float(emb[i] @ vectors[d]) for d in found[s.name][i]), reverse=True)
      # The same top-k up to near ties: equal score lists (the order of tied ids may differ).
      np.testing.assert_allclose(grid_scores[:10], [v for _, v in run[qid]][:10], rtol=1e-4,
                                 atol=1e-4)
  scores, _ = index_stage.search(exact, embeddings['corpus'], emb, config.index.hits)
  corpus = dict(zip(*reversed(embedding_shards.load(embeddings['corpus']))))
  for i, docids in enumerate(found[fusion_grid.BASELINE]):
    np.testing.assert_allclose(sorted((float(emb[i] @ corpus[d]) for d in docids),
                                      reverse=True), scores[i], rtol=1e-4, atol=1e-4)


def test_n_curve_tests_every_n_against_xdr_on_test(evaluated):
  config, workdir, state = evaluated
  sweep = state['sweeps']['test']
  assert json.loads((workdir / 'sweep' / 'test' / 'sweep.json').read_text()) == sweep
  xdr = state['results']['xdr']['test']['exact']['R@2kt']
  assert sweep['baseline']['R@2kt'] == pytest.approx(xdr)
  for source in ('xqg', 'oracle'):
    chosen = state['selection']['chosen'][source]
    rows = [r for r in sweep['num_queries'] if r['source'] == source]
    assert [r['num_queries'] for r in rows] == list(config.eval.sweep_num_queries)
    assert {(r['fusion'], r['alpha']) for r in rows} == {(chosen['fusion'], chosen['alpha'])}
    for r in rows:
      assert r['comparison']['R@2kt']['delta'] == pytest.approx(
          r['R@2kt']['macro'] - xdr['macro'])
      assert r['comparison']['R@2kt']['ci_low'] <= r['comparison']['R@2kt']['delta']


def test_comparisons_pair_the_same_queries_on_exact_search(evaluated):
  _, _, state = evaluated
  for name, comparison in state['comparisons']['dev'].items():
    assert set(comparison) >= {'R@2kt', 'R@5kt', 'R@100', 'RR@10', 'nDCG@10'}
    a = state['results']['xdr']['dev']['exact']
    b = state['results'][name]['dev']['exact']
    r2 = comparison['R@2kt']
    for lang, entry in r2['languages'].items():
      assert entry['a'] == pytest.approx(a['R@2kt'][lang])
      assert entry['b'] == pytest.approx(b['R@2kt'][lang])
      assert entry['ci_low'] <= entry['delta'] <= entry['ci_high']
    assert r2['macro']['delta'] == pytest.approx(b['R@2kt']['macro'] - a['R@2kt']['macro'])


def test_oracle_questions_are_about_their_passage_and_never_evaluation_queries(evaluated):
  config, _, state = evaluated
  bench = benchmark_lib.SyntheticBenchmark(config.synthetic)
  evaluation = {(q.query.lang, q.query.question) for split in ('dev', 'test')
                for lang in config.synthetic.languages for q in bench.questions(split, lang)}
  rows = [row for path in sorted(pathlib.Path(state['oracle_dir']).glob('generated-*.jsonl'))
          for row in augmented.read_augmented(path)]
  assert len(rows) == bench.world.num_passages
  for row in rows:
    for lang, questions in row.generated_queries.items():
      assert len(questions) == config.generate.num_queries
      assert not {(lang, q) for q in questions} & evaluation
  quality = state['oracle_quality']['test']
  assert all(q['names_entity'] + q['names_entity_latin'] == 1.0 for q in quality.values())
  assert all(q['answerable'] == 1.0 for q in quality.values())


def test_report_has_every_system_the_selection_and_the_n_curve(evaluated):
  _, workdir, state = evaluated
  for split in ('dev', 'test'):
    directory = workdir / 'reports' / split
    assert state['reports'][split] == str(directory / 'report.md')
    text = (directory / 'report.md').read_text()
    for needle in ('Every system against xDR', 'xDR+oracle (query language) vs xDR', 'nDCG@10',
                   'Selection of alpha, fusion and n', 'Generated questions',
                   'Approximate search (ScaNN) beside exact search'):
      assert needle in text, needle
    document = json.loads((directory / 'report.json').read_text())
    assert document['comparisons'] == state['comparisons'][split]
    assert document['headline'] == stages.headline(state)
    counts = manifest_lib.read(state['generated_dir'])['extra']['counts']
    assert document['generation'] == counts and counts['questions'] > 0
    assert f"xQG wrote {counts['questions']} questions" in text
    for name in document['plots']:
      assert (directory / name).read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
  assert 'against generated questions per language' in (
      workdir / 'reports' / 'test' / 'report.md').read_text()


def test_adhoc_query_embedding_equals_the_encoded_split(evaluated):
  """`launch/search.py`'s path (embed_texts) agrees with the encode stage on dev queries."""
  from xqg_jax.data import tokenizers  # pylint: disable=g-import-not-at-top
  from xqg_jax.encoders import encode_stage  # pylint: disable=g-import-not-at-top
  config, _, state = evaluated
  queries, _ = evaluate_stage.read_inputs(config, state['data_dir'], 'dev')
  stored, qids = embedding_shards.load(state['embeddings']['queries-dev'])
  row = {qid: i for i, qid in enumerate(qids)}
  encoder = encode_stage.load_encoder(config, state['xdr_dir'])
  tokenizer = tokenizers.load_tokenizer(state['encoder_tokenizer'])
  picked = queries[:5]
  emb = encoder.embed_texts(tokenizer, [q.question for q in picked],
                            max_len=config.data.q_max_len, batch_size=4)
  np.testing.assert_allclose(emb, stored[[row[q.id] for q in picked]], atol=1e-5)


def test_robustness_clean_side_is_the_exact_evaluation_and_report_is_written(evaluated):
  config, workdir, state = evaluated
  split = config.robustness.split
  assert set(state['robustness']) == set(config.robustness.attacks)
  for name, result in state['robustness'].items():
    assert set(result['results']) == {'xdr', stages.headline(state)}
    for system, summaries in result['results'].items():
      clean = state['results'][system][split]['exact']['R@2kt']
      for lang, summary in summaries['languages'].items():
        assert summary['R@2kt']['clean'] == pytest.approx(clean[lang]), (name, system, lang)
        assert summary['R@2kt']['drop'] == pytest.approx(
            summary['R@2kt']['clean'] - summary['R@2kt']['attacked'])
    rows = list(attack_lib.read_attacked(workdir / 'attacks' / name / f'{split}.jsonl'))
    assert all(r.attacked != r.original and r.edits <= r.budget for r in rows)
    assert sum(r.attacked is not None for r in rows) > 0, name  # No attack is a no-op.
  text = (workdir / 'reports' / 'robustness' / 'robustness.md').read_text()
  assert 'R@2kt by language family' in text and 'hotflip' in text and '95% CI' in text


def test_stage_selection_reuses_recorded_results(evaluated):
  config, workdir, state = evaluated
  again = stages.run(config, workdir, only=['report'])
  assert list(again['timings']) == ['report']
  assert again['reports'] == state['reports']
  assert stages.selection(from_stage='fuse', until='sweep') == ['fuse', 'evaluate', 'sweep']
  with pytest.raises(ValueError, match="unknown stage 'evaluat'"):
    stages.selection(only=['evaluat'])
  with pytest.raises(ValueError, match='comes after'):
    stages.selection(from_stage='sweep', until='fuse')
  with pytest.raises(FileNotFoundError, match="stage 'data' has not run"):
    stages.run(config, workdir / 'fresh', only=['report'])
  changed = config.copy_and_resolve_references()
  changed.augment.alpha = 0.3  # The fused corpora were selected and built under another grid.
  with pytest.raises(stage_graph.StaleStageError,
                     match=rf"stage 'select' .*augment\.alpha was {config.augment.alpha} when "
                           r'it ran, is 0\.3 now'):
    stages.run(changed, workdir, from_stage='evaluate')


def test_the_run_ends_with_a_short_summary(evaluated):
  _, _, state = evaluated
  text = stages.summary(state)
  assert text.startswith(f'Ran {len(state["timings"])} stages in ')
  assert 'test: every system against xDR' in text and 'xDR+xQG (query language)' in text
  assert state['robustness_report'] in text and len(text.splitlines()) < 40


def test_readme_results_are_rendered_from_the_reports(evaluated, tmp_path):
  from launch import readme_results  # pylint: disable=g-import-not-at-top
  from xqg_jax.eval import retrieval_report  # pylint: disable=g-import-not-at-top
  _, workdir, state = evaluated
  (workdir / 'reports' / retrieval_report.TIMINGS_NAME).write_text(json.dumps(
      {'stages': state['timings'], 'machine': 'test machine'}))
  section = readme_results.render(workdir)
  for needle in ('vs xDR on test: R@2kt', 'Robustness (test)', 'test machine',
                 'The oracle ceiling on test', 'Selection on dev', 'chosen on dev only'):
    assert needle in section, needle
  readme = tmp_path / 'README.md'
  readme.write_text(f'intro\n{readme_results.BEGIN}\nSTALE-SECTION\n{readme_results.END}\noutro\n')
  updated = readme_results.replace_section(readme.read_text(), section)
  assert updated.startswith('intro\n') and updated.endswith(f'{readme_results.END}\noutro\n')
  assert 'STALE-SECTION' not in updated and section.rstrip() in updated
  with pytest.raises(ValueError, match='needs exactly one'):
    readme_results.replace_section('no markers', section)


def test_the_readme_has_one_results_section():
  from launch import readme_results  # pylint: disable=g-import-not-at-top
  text = (pathlib.Path(__file__).parent.parent / 'README.md').read_text()
  assert text.count(readme_results.BEGIN) == text.count(readme_results.END) == 1


def _readme_examples() -> str:
  """The Python blocks of the README's library section, in order."""
  text = (pathlib.Path(__file__).resolve().parents[1] / 'README.md').read_text()
  section = text.split('\n## Using the library\n', 1)[1].split('\n## ', 1)[0]
  blocks = [block.split('```', 1)[0] for block in section.split('```python\n')[1:]]
  assert len(blocks) == 3, 'the README library section changed: update this test'
  return '\n'.join(blocks)


def test_the_readme_library_examples_run_on_a_finished_run(evaluated):
  config, workdir, state = evaluated
  code = _readme_examples()
  tokenizer = "'workdir/tiny/tokenizers/encoder/hf'"
  for line in ("run_config = tiny.get_config()\n", tokenizer, "'workdir/tiny/"):
    assert line in code, line
  code = code.replace("run_config = tiny.get_config()\n", 'run_config = CONFIG\n')
  code = code.replace(tokenizer, repr(state['encoder_tokenizer']))  # The fixture's is shared.
  code = code.replace("'workdir/tiny/", f"'{workdir}/")
  namespace = {'CONFIG': config}
  exec(compile(code, 'README.md', 'exec'), namespace)  # pylint: disable=exec-used
  assert namespace['hidden'].shape[:2] == (1, 4)
  corpus, questions = namespace['corpus'], namespace['questions']
  assert questions.shape == (1, corpus.shape[1]) and np.isfinite(questions).all()
  want = np.argsort(-(questions @ corpus.T)[0], kind='stable')[:5]
  np.testing.assert_array_equal(np.sort(namespace['rows'][0]), np.sort(want))
  assert len(set(namespace['ann_rows'][0]) & set(want)) >= 3


def test_passage_texts_hold_only_what_was_retrieved_or_judged(evaluated, tmp_path):
  config, _, state = evaluated
  data_dir = pathlib.Path(state['data_dir'])
  corpus = {p.id: p.text for p in corpus_format.read_corpus(data_dir / 'corpus.tsv')}
  docids = sorted(corpus)
  qrels = tmp_path / 'qrels.txt'
  qrels.write_text(f'q1 0 {docids[5]} 1\nq1 0 not-a-passage 1\n')
  texts = evaluate_stage.passage_texts(config, data_dir, [{'q1': docids[:2]},
                                                          {'q2': [docids[1], docids[3]]}], qrels)
  assert texts == {d: corpus[d] for d in (docids[0], docids[1], docids[3], docids[5])}
  with pytest.raises(ValueError, match=r"corpus.tsv: 1 retrieved passages are not in the "
                                       r"corpus, e.g. 'stale-docid'"):
    evaluate_stage.passage_texts(config, data_dir, [{'q1': [docids[0], 'stale-docid']}])
