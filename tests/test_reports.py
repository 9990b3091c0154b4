"""Report tables, the report files and the generated-question quality measure."""

import json

import ml_collections
import pytest

from xqg_jax.configs import tiny
from xqg_jax.data import records
from xqg_jax.data.synthetic import benchmark as benchmark_lib
from xqg_jax.data.synthetic import generated_quality
from xqg_jax.eval import retrieval_report
from xqg_jax.eval import significance


def test_results_table_rows_and_macro():
  results = {'counted': {'ar': 2, 'km': 3},
             'R@2kt': {'ar': 50.0, 'km': 0.0, 'macro': 25.0},
             'R@5kt': {'ar': 100.0, 'km': 33.3, 'macro': 66.7}}
  table = retrieval_report.results_table({'xdr': results}).splitlines()
  assert table[0] == '| lang | family | resource | n | xdr R@2kt | xdr R@5kt |'
  assert table[2] == '| ar | Afro-Asiatic | high | 2 | 50.0 | 100.0 |'
  assert table[3] == '| km | Austroasiatic | very low | 3 | 0.0 | 33.3 |'
  assert table[4] == '| macro |  |  | 5 | 25.0 | 66.7 |'


def test_generated_quality_recognises_real_questions():
  cfg = tiny.get_config('entities=60').synthetic
  bench = benchmark_lib.SyntheticBenchmark(cfg)
  question = next(q for q in bench.questions('train', 'ru') if q.number is None)
  docid, text, title = bench.world.passage(int(question.positive[3:]))
  other = next(q for q in bench.questions('train', 'ru')
               if q.entity != question.entity and q.number is None)
  row = records.AugmentedPassage(docid, title, text, {
      'ru': (question.query.question,  # the real question: answerable
             other.query.question,  # another entity's question: not about this passage
             'abc def')},  # wrong script, no name
      )
  quality = generated_quality.compute(bench, [row])['train']['ru']
  assert quality['questions'] == 3
  assert quality['answerable'] == 1 / 3
  assert quality['names_entity'] + quality['names_entity_latin'] == 1 / 3
  assert quality['distinct'] == 1.0
  assert 0.3 < quality['own_script'] < 1.0


def test_naming_share_on_hand_made_questions():
  """Spelled names count as naming the entity in the language's spelling; the English name,
  another entity's name, or a near miss do not."""
  bench = benchmark_lib.SyntheticBenchmark(tiny.get_config('entities=60').synthetic)
  entity = next(e for e in range(60) if bench.split_of(e) == 'test'
                and bench.world.kind(e) == 'city')
  other = next(e for e in range(60) if e != entity and bench.world.kind(e) == 'city')
  name, other_name = bench.world.name(entity), bench.world.name(other)
  docid, text, title = bench.world.passage(entity * bench.world.passages_per_entity)
  am = bench.spelling(name, 'am')
  questions = (f'የ{am} ምን ነው፧',  # the Ge'ez spelling, with a prefixed case marker
               f'{am} ምን ነው፧',
               f'{name.bare} ምን ነው፧',  # English: names it, not in the language's spelling
               f'{bench.spelling(other_name, "am")} ምን ነው፧',  # another entity
               f'{am[:-1]} ምን ነው፧',  # a near miss
               f'{am} ምን ነው፧')  # a repeat
  row = records.AugmentedPassage(docid, title, text, {'am': questions})
  quality = generated_quality.compute(bench, [row])
  assert list(quality) == ['test']
  am_quality = quality['test']['am']
  assert am_quality['questions'] == 6
  assert am_quality['names_entity'] == pytest.approx(3 / 6)
  assert am_quality['names_entity_latin'] == pytest.approx(1 / 6)
  assert am_quality['distinct'] == pytest.approx(5 / 6)
  assert am_quality['own_script'] < 1.0  # the English name's letters


def _entry(n, a, b, t_p, perm_p, corrected, significant, **extra):
  return {'n': n, 'a': a, 'b': b, 'delta': b - a, 'ci_low': b - a - 1, 'ci_high': b - a + 1,
          't_p': t_p, 'permutation_p': perm_p, 'permutation_exact': False,
          't_p_corrected': t_p, 'permutation_p_corrected': corrected,
          'significant': significant, **extra}


COMPARISON = {
    'metric': 'R@2kt', 'correction': 'holm', 'significance_level': 0.05, 'permutations': 1000,
    'bootstrap': 500, 'confidence': 0.95,
    'languages': {'ar': _entry(10, 40.0, 45.0, 0.01, 0.02, 0.04, True),
                  'am': _entry(4, 25.0, 25.0, None, 1.0, 1.0, False)},
    'families': {'Afro-Asiatic': _entry(14, 32.5, 35.0, 0.2, 0.0004, 0.0004, True,
                                        languages=['ar', 'am'])},
    'macro': _entry(14, 32.5, 35.0, 0.2, 0.0004, 0.0004, True, languages=['ar', 'am']),
}


def test_comparison_table_rows():
  lines = retrieval_report.comparison_table(COMPARISON, ('xDR', 'xQG')).splitlines()
  assert lines[0] == ('|  | family | resource | n | xDR | xQG | delta | 95% CI | p t | p t (holm) '
                      '| p perm | p perm (holm) | sig |')
  assert lines[2] == ('| ar | Afro-Asiatic | high | 10 | 40.0 | 45.0 | +5.0 | [+4.0, +6.0] | '
                      '0.010 | 0.010 | 0.020 | 0.040 | * |')
  assert lines[3] == ('| am | Afro-Asiatic | very low | 4 | 25.0 | 25.0 | +0.0 | [-1.0, +1.0] | '
                      'n/a | n/a | 1.000 | 1.000 |  |')
  assert lines[4] == ('| family: Afro-Asiatic | ar, am |  | 14 | 32.5 | 35.0 | +2.5 | '
                      '[+1.5, +3.5] | 0.200 | 0.200 | <0.001 | <0.001 | * |')
  assert lines[5].startswith('| macro |  |  | 14 |')
  assert 'holm-corrected across languages' in lines[7]
  ir = {**COMPARISON, 'metric': 'nDCG@10', 'correction': 'none',
        'languages': {'ar': _entry(10, 0.4, 0.425, 0.5, 0.5, 0.5, False)}}
  assert retrieval_report.comparison_table(ir).splitlines()[2] == (
      '| ar | Afro-Asiatic | high | 10 | 0.400 | 0.425 | +0.025 | [-0.975, +1.025] | 0.500 | '
      '0.500 |  |')


def test_results_table_formats_ir_metrics_as_fractions():
  results = {'counted': {'te': 3}, 'nDCG@10': {'te': 0.41234, 'macro': 0.41234}}
  assert retrieval_report.results_table({'x': results}, ('nDCG@10',)).splitlines()[2] == (
      '| te | Dravidian | low | 3 | 0.412 |')


def _sweep(key, values):
  return [{'alpha': v if key == 'alpha' else 0.01, 'num_queries': v if key != 'alpha' else 5,
           'R@2kt': {'bn': 20.0 + i, 'te': 10.0 + i, 'macro': 15.0 + i},
           'R@5kt': {'bn': 30.0 + i, 'te': 20.0 + i, 'macro': 25.0 + i}}
          for i, v in enumerate(values)]


def test_sweep_table():
  lines = retrieval_report.sweep_table(_sweep('alpha', (0.01, 0.0)), 'alpha', 'R@5kt').splitlines()
  assert lines == ['| alpha | bn | te | macro |', '|---|---|---|---|',
                   '| 0 | 31.0 | 21.0 | 26.0 |', '| 0.01 | 30.0 | 20.0 | 25.0 |']


def _split_report_inputs():
  a = {f'q{i}': 100.0 * (i % 3 == 0) for i in range(24)}
  b = {qid: 100.0 * (i % 2 == 0) for i, qid in enumerate(a)}
  lang_of = {qid: ('bn', 'te', 'km')[i % 3] for i, qid in enumerate(a)}
  eval_config = ml_collections.ConfigDict({'permutations': 200, 'correction': 'holm',
                                           'significance_level': 0.05, 'bootstrap': 100,
                                           'confidence': 0.95})
  comparison = significance.compare(a, b, lang_of, 'R@2kt', eval_config)
  xor = {'counted': {'bn': 8, 'te': 8, 'km': 8},
         'R@2kt': {'bn': 50.0, 'te': 25.0, 'km': 0.0, 'macro': 25.0}}
  scann = {**xor, 'ann_recall': {'recall@10': 0.99, 'recall@100': 0.987},
           'index': {'indexes': 3, 'rows': 300, 'bytes': 2 ** 20, 'build_seconds': 0.5}}
  results = {'xdr': {'test': {'exact': xor, 'scann': scann}},
             'xqg_matched': {'test': {'exact': xor, 'scann': scann}}}
  setting = {'source': 'xqg', 'fusion': 'matched', 'alpha': 0.3, 'num_queries': 5}
  selection = {'split': 'dev', 'baseline': {'R@2kt': {'macro': 20.0}},
               'chosen': {'xqg': setting, 'xqg/matched': setting}}
  rows = [{**setting, 'alpha': alpha, 'num_queries': n, 'R@2kt': {'macro': 20.0 + n + alpha}}
          for alpha in (0.1, 0.3) for n in (1, 5)]
  sweep = {'split': 'test', 'baseline': {'R@2kt': {'macro': 25.0}}, 'num_queries': [
      {**setting, 'num_queries': n, 'R@2kt': {'bn': 30.0, 'te': 30.0, 'macro': 30.0 + n},
       'comparison': {'R@2kt': comparison['macro']}} for n in (1, 5)]}
  config = tiny.get_config()
  config.eval.kilo_tokens = (2,)
  return dict(config=config, split='test', results=results,
              comparisons={'xqg_matched': {'R@2kt': comparison}},
              headline='xqg_matched', selection=selection, selection_rows=rows, sweep=sweep,
              quality={'xqg': None}, title='t',
              generation={'questions': 400, 'empty': 2, 'degenerate': 6, 'truncated_prompts': 1})


def test_write_split_report(tmp_path):
  inputs = _split_report_inputs()
  names = retrieval_report.write_split_report(tmp_path / 'report', **inputs)
  assert names == ['comparison_R@2kt.png', 'n_curve_xqg.png', 'report.md', 'report.json']
  assert sorted(p.name for p in (tmp_path / 'report').iterdir()) == sorted(names)
  markdown = (tmp_path / 'report' / 'report.md').read_text()
  for text in ('headline xDR+xQG system is xDR+xQG (query language) (query language, alpha 0.3, '
               'n 5), chosen on dev',
               '## xDR+xQG (query language) vs xDR: R@2kt', '| km | Austroasiatic |',
               '| xDR+xQG (query language) | 25.0 | 25.0 | recall@10 0.990, recall@100 0.987 | '
               '3 | 300 | 1.00 | 0.50 |',
               'Dev macro R@2kt, xQG, query language (rows alpha, columns n)',
               '| 0.3 | 21.3 | 25.3 |', '![n_curve_xqg.png](n_curve_xqg.png)',
               'xQG wrote 400 questions: 2 (0.5%) empty, 6 (1.5%) degenerate',
               '1 prompts were truncated'):
    assert text in markdown
  document = json.loads((tmp_path / 'report' / 'report.json').read_text())
  assert document['headline'] == 'xqg_matched'
  assert document['generation'] == inputs['generation']
  assert document['comparisons']['xqg_matched']['R@2kt'] == inputs['comparisons'][
      'xqg_matched']['R@2kt']


def test_bad_report_input_writes_nothing(tmp_path):
  inputs = _split_report_inputs()
  inputs['results']['xdr']['test']['exact']['R@2kt']['macro'] = float('nan')
  with pytest.raises(ValueError, match='Out of range float values'):
    retrieval_report.write_split_report(tmp_path / 'report', **inputs)
  assert not (tmp_path / 'report').exists()
