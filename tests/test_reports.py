"""Report tables and the generated-question quality measure on hand-made inputs."""

from xqg_jax.configs import tiny
from xqg_jax.data import records
from xqg_jax.data.synthetic import benchmark as benchmark_lib
from xqg_jax.data.synthetic import generated_quality
from xqg_jax.eval import report


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
