"""Report tables, the report files and the generated-question quality measure."""

import json

import ml_collections
import pytest

from xqg_jax.configs import tiny
from xqg_jax.data import records
from xqg_jax.data.synthetic import benchmark as benchmark_lib
from xqg_jax.data.synthetic import generated_quality
from xqg_jax.eval import report
from xqg_jax.eval import significance


def test_results_table_rows_and_macro():
  results = {'counted': {'ar': 2, 'km': 3},
             'R@2kt': {'ar': 50.0, 'km': 0.0, 'macro': 25.0},
             'R@5kt': {'ar': 100.0, 'km': 33.3, 'macro': 66.7}}
  table = report.results_table({'xdr': results}).splitlines()
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
  quality = generated_quality.compute(bench, [row])['ru']
  assert quality['questions'] == 3
  assert quality['answerable'] == 1 / 3
  assert quality['names_entity'] == 1 / 3
  assert 0.3 < quality['own_script_letter_share'] < 1.0


def _entry(n, a, b, t_p, perm_p, corrected, significant, **extra):
  return {'n': n, 'a': a, 'b': b, 'delta': b - a, 't_p': t_p, 'permutation_p': perm_p,
          'permutation_exact': False, 't_p_corrected': t_p, 'permutation_p_corrected': corrected,
          'significant': significant, **extra}


COMPARISON = {
    'metric': 'R@2kt', 'correction': 'holm', 'significance_level': 0.05, 'permutations': 1000,
    'languages': {'ar': _entry(10, 40.0, 45.0, 0.01, 0.02, 0.04, True),
                  'am': _entry(4, 25.0, 25.0, None, 1.0, 1.0, False)},
    'families': {'Afro-Asiatic': _entry(14, 32.5, 35.0, 0.2, 0.0004, 0.0004, True,
                                        languages=['ar', 'am'])},
    'macro': _entry(14, 32.5, 35.0, 0.2, 0.0004, 0.0004, True, languages=['ar', 'am']),
}


def test_comparison_table_rows():
  lines = report.comparison_table(COMPARISON, ('xDR', 'xQG')).splitlines()
  assert lines[0] == ('|  | family | resource | n | xDR | xQG | delta | p t | p t (holm) | p perm '
                      '| p perm (holm) | sig |')
  assert lines[2] == ('| ar | Afro-Asiatic | high | 10 | 40.0 | 45.0 | +5.0 | 0.010 | 0.010 | '
                      '0.020 | 0.040 | * |')
  assert lines[3] == ('| am | Afro-Asiatic | very low | 4 | 25.0 | 25.0 | +0.0 | n/a | n/a | '
                      '1.000 | 1.000 |  |')
  assert lines[4] == ('| family: Afro-Asiatic | ar, am |  | 14 | 32.5 | 35.0 | +2.5 | 0.200 | '
                      '0.200 | <0.001 | <0.001 | * |')
  assert lines[5].startswith('| macro |  |  | 14 |')
  assert 'holm-corrected across languages' in lines[7]
  ir = {**COMPARISON, 'metric': 'nDCG@10', 'correction': 'none',
        'languages': {'ar': _entry(10, 0.4, 0.425, 0.5, 0.5, 0.5, False)}}
  assert report.comparison_table(ir).splitlines()[2] == (
      '| ar | Afro-Asiatic | high | 10 | 0.400 | 0.425 | +0.025 | 0.500 | 0.500 |  |')


def test_results_table_formats_ir_metrics_as_fractions():
  results = {'counted': {'te': 3}, 'nDCG@10': {'te': 0.41234, 'macro': 0.41234}}
  assert report.results_table({'x': results}, ('nDCG@10',)).splitlines()[2] == (
      '| te | Dravidian | low | 3 | 0.412 |')


def _sweep(key, values):
  return [{'alpha': v if key == 'alpha' else 0.01, 'num_queries': v if key != 'alpha' else 5,
           'R@2kt': {'bn': 20.0 + i, 'te': 10.0 + i, 'macro': 15.0 + i},
           'R@5kt': {'bn': 30.0 + i, 'te': 20.0 + i, 'macro': 25.0 + i}}
          for i, v in enumerate(values)]


def test_sweep_table():
  lines = report.sweep_table(_sweep('alpha', (0.01, 0.0)), 'alpha', 'R@5kt').splitlines()
  assert lines == ['| alpha | bn | te | macro |', '|---|---|---|---|',
                   '| 0 | 31.0 | 21.0 | 26.0 |', '| 0.01 | 30.0 | 20.0 | 25.0 |']


def test_write_report(tmp_path):
  a = {f'q{i}': 100.0 * (i % 3 == 0) for i in range(24)}
  b = {qid: 100.0 * (i % 2 == 0) for i, qid in enumerate(a)}
  lang_of = {qid: ('bn', 'te', 'km')[i % 3] for i, qid in enumerate(a)}
  config = ml_collections.ConfigDict({'permutations': 200, 'correction': 'holm',
                                      'significance_level': 0.05})
  comparison = significance.compare(a, b, lang_of, 'R@2kt', config)
  xor_results = {'counted': {'bn': 8, 'te': 8, 'km': 8},
                 'R@2kt': {'bn': 50.0, 'te': 25.0, 'km': 0.0, 'macro': 25.0}}
  names = report.write_report(
      tmp_path / 'report', names=('xDR', 'xDR+xQG'),
      results={'XOR-Retrieve (dev)': {'xDR': xor_results}},
      comparisons={'R@2kt': comparison},
      sweeps={'alpha': _sweep('alpha', (0.0, 0.001, 0.01)),
              'num_queries': _sweep('num_queries', (1, 2, 5))},
      ann_recall={'recall@100': 0.987, 'index': 'scann', 'leaves': [100, 10]},
      extra_sections={'Robustness': report.Section('To come.', {'attacks': []})})
  assert names == ['comparison_R@2kt.png', 'sweep_alpha_R@2kt.png', 'sweep_alpha_R@5kt.png',
                   'sweep_num_queries_R@2kt.png', 'sweep_num_queries_R@5kt.png', 'report.md',
                   'report.json']
  assert sorted(p.name for p in (tmp_path / 'report').iterdir()) == sorted(names)
  markdown = (tmp_path / 'report' / 'report.md').read_text()
  assert '| family: Indo-European |' not in markdown  # one language: the language's row
  for text in ('## XOR-Retrieve (dev)', '## xDR+xQG vs xDR: R@2kt', '| km | Austroasiatic |',
               '## R@5kt against generated queries per language', '![R@2kt](sweep_alpha_R@2kt.png)',
               '| recall@100 | 0.987 |', '| leaves | [100, 10] |', '## Robustness\n\nTo come.'):
    assert text in markdown
  document = json.loads((tmp_path / 'report' / 'report.json').read_text())
  assert document['comparisons']['R@2kt'] == comparison
  assert document['extra'] == {'Robustness': {'attacks': []}}
  assert document['plots'] == names[:-2]


@pytest.mark.parametrize('kwargs, message', [
    ({'sweeps': {'alpha': _sweep('alpha', (0.0, 0.0))}}, 'repeats a value of alpha'),
    ({'sweeps': {'beta': _sweep('alpha', (0.0,))}}, 'unknown sweeps'),
    ({'ann_recall': {'recall@100': float('nan')}}, 'Out of range float values'),
])
def test_bad_report_input_writes_nothing(tmp_path, kwargs, message):
  with pytest.raises(ValueError, match=message):
    report.write_report(tmp_path / 'report', comparisons={'R@2kt': COMPARISON}, **kwargs)
  assert not (tmp_path / 'report').exists()
