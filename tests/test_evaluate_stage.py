"""The evaluation end of the pipeline on the small config: index, search, runs, metrics, sweeps."""

import json
import shutil

import numpy as np
import pytest

from launch import stages
from xqg_jax.data.formats import trec_run
from xqg_jax.data.formats import xor_run
from xqg_jax.eval import evaluate_stage
from xqg_jax.eval import xor_retrieve
from xqg_jax.robustness import attack as attack_lib


@pytest.fixture(scope='module')
def evaluated(prepared, tmp_path_factory):
  """(config, workdir, state) after the sweep stage of the small config."""
  config, _, state = prepared
  config = config.copy_and_resolve_references()
  config.augment.languages = ('ja', 'km')
  config.augment.num_queries = 2
  config.eval.sweep_alphas = (0.0, 0.5)
  config.eval.sweep_num_queries = (1, 2)
  config.eval.permutations = 200
  workdir = tmp_path_factory.mktemp('evaluated')
  (workdir / 'stages').mkdir()
  for name in ('data', 'tokenizers', 'datasets'):  # Recorded by `prepared`'s run.
    shutil.copy(prepared[1] / 'stages' / f'{name}.json', workdir / 'stages')
  return config, workdir, stages.run(config, workdir, from_stage='train_xdr')


def test_runs_and_results_agree(evaluated):
  config, workdir, state = evaluated
  queries, texts, _ = evaluate_stage.read_inputs(config, state['data_dir'], 'dev')
  for system in stages.SYSTEMS:
    directory = workdir / 'eval' / system / 'dev'
    results = state['results'][system]['dev']
    run = trec_run.read_run(directory / 'run.trec')
    assert set(run) == {q.id for q in queries}
    assert all(len(hits) == min(config.index.hits, len(texts)) for hits in run.values())
    ranking = {qid: [d for d, _ in hits] for qid, hits in run.items()}
    expected = xor_retrieve.evaluate(ranking, queries, texts)
    for metric in ('R@2kt', 'R@5kt'):
      assert results[metric] == pytest.approx(expected[metric])
    entries = xor_run.read_xor_run(directory / 'xor_run.json')
    assert [e.id for e in entries] == [q.id for q in queries]
    assert entries[0].ctxs == tuple(texts[d] for d in ranking[entries[0].id])
    assert set(results['ir']) >= {'R@100', 'RR@10', 'nDCG@10', 'counted'}
    assert 0.0 <= results['ir']['R@100']['macro'] <= 1.0
    assert results['index_kind'] == 'scann'
    assert 0.95 <= results['ann_recall'][f'recall@{config.index.hits}'] <= 1.0


def test_comparison_pairs_the_same_queries(evaluated):
  _, _, state = evaluated
  comparison = state['comparisons']['dev']
  assert set(comparison) >= {'R@2kt', 'R@5kt', 'R@100', 'RR@10', 'nDCG@10'}
  a, b = (state['results'][s]['dev'] for s in stages.SYSTEMS)
  r2 = comparison['R@2kt']
  for lang, entry in r2['languages'].items():
    assert entry['a'] == pytest.approx(a['R@2kt'][lang])
    assert entry['b'] == pytest.approx(b['R@2kt'][lang])
    assert 0.0 <= entry['permutation_p'] <= 1.0
  assert r2['macro']['delta'] == pytest.approx(b['R@2kt']['macro'] - a['R@2kt']['macro'])


def test_sweep_alpha_zero_is_xdr_alone(evaluated):
  config, workdir, state = evaluated
  sweep = state['sweeps']['dev']
  assert [row['alpha'] for row in sweep['alpha']] == [0.0, 0.5]
  assert [row['num_queries'] for row in sweep['num_queries']] == [1, 2]
  exact = evaluate_stage.exact_config(config)
  found = evaluate_stage.search(exact, state['embeddings']['corpus'],
                                state['embeddings']['corpus'], state['embeddings']['queries-dev'])
  queries, texts, _ = evaluate_stage.read_inputs(config, state['data_dir'], 'dev')
  results, _, _ = evaluate_stage.score(exact, dict(zip(found['qids'], found['docids'])), queries,
                                       texts, None)
  assert sweep['alpha'][0]['R@2kt'] == pytest.approx(results['R@2kt'])
  assert json.loads((workdir / 'sweep' / 'dev' / 'sweep.json').read_text()) == sweep
  assert np.isfinite([row['R@2kt']['macro'] for grid in sweep.values() for row in grid]).all()


def test_report_has_both_systems_significance_and_sweeps(evaluated):
  _, workdir, state = evaluated
  for split in ('dev', 'test'):
    directory = workdir / 'reports' / split
    assert state['reports'][split] == str(directory / 'report.md')
    text = (directory / 'report.md').read_text()
    for needle in ('xDR+xQG vs xDR: R@2kt', 'nDCG@10', 'against alpha', 'Generated questions'):
      assert needle in text, needle
    document = json.loads((directory / 'report.json').read_text())
    assert document['comparisons']['R@2kt'] == state['comparisons'][split]['R@2kt']
    for name in document['plots']:
      assert (directory / name).read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'


def test_adhoc_query_embedding_equals_the_encoded_split(evaluated):
  """`launch/search.py`'s path (embed_texts) agrees with the encode stage on dev queries."""
  from xqg_jax.data import tokenizers  # pylint: disable=g-import-not-at-top
  from xqg_jax.encoders import encode  # pylint: disable=g-import-not-at-top
  from xqg_jax.encoders import encode_stage  # pylint: disable=g-import-not-at-top
  config, _, state = evaluated
  queries, _, _ = evaluate_stage.read_inputs(config, state['data_dir'], 'dev')
  stored, qids = encode.load(state['embeddings']['queries-dev'])
  row = {qid: i for i, qid in enumerate(qids)}
  encoder = encode_stage.load_encoder(config, state['xdr_dir'])
  tokenizer = tokenizers.load_tokenizer(state['encoder_tokenizer'])
  picked = queries[:5]
  emb = encoder.embed_texts(tokenizer, [q.question for q in picked],
                            max_len=config.data.q_max_len, batch_size=4)
  np.testing.assert_allclose(emb, stored[[row[q.id] for q in picked]], atol=1e-5)


def test_robustness_clean_side_is_the_evaluation_and_report_is_written(evaluated):
  config, workdir, state = evaluated
  split = config.robustness.split
  assert set(state['robustness']) == set(config.robustness.attacks)
  for name, result in state['robustness'].items():
    for system in stages.SYSTEMS:
      clean = state['results'][system][split]['R@2kt']
      summaries = result['results'][system]
      for lang, summary in summaries['languages'].items():
        assert summary['R@2kt']['clean'] == pytest.approx(clean[lang]), (name, system, lang)
        assert summary['R@2kt']['drop'] == pytest.approx(
            summary['R@2kt']['clean'] - summary['R@2kt']['attacked'])
    rows = list(attack_lib.read_attacked(workdir / 'attacks' / name / f'{split}.jsonl'))
    assert all(r.attacked != r.original and r.edits <= r.budget for r in rows)
    assert sum(r.attacked is not None for r in rows) > 0, name  # No attack is a no-op.
  text = (workdir / 'reports' / 'robustness' / 'robustness.md').read_text()
  assert 'R@2kt by language family' in text and 'hotflip' in text


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


def test_readme_results_are_rendered_from_the_reports(evaluated, tmp_path):
  from launch import readme_results  # pylint: disable=g-import-not-at-top
  from xqg_jax.eval import report  # pylint: disable=g-import-not-at-top
  _, workdir, state = evaluated
  (workdir / 'reports' / report.TIMINGS_NAME).write_text(json.dumps(
      {'stages': state['timings'], 'machine': 'test machine'}))
  section = readme_results.render(workdir)
  for needle in ('xDR+xQG vs xDR on test: R@2kt', 'Robustness (test)', 'test machine',
                 'against alpha'):
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
  import pathlib  # pylint: disable=g-import-not-at-top
  text = (pathlib.Path(__file__).parent.parent / 'README.md').read_text()
  assert text.count(readme_results.BEGIN) == text.count(readme_results.END) == 1
