"""R@100, RR@10 and nDCG@10 on hand-worked rankings; run validation; bad qrels lines."""

import math

import pytest

from xqg_jax.data import errors
from xqg_jax.data import records
from xqg_jax.data.formats import qrels as qrels_format
from xqg_jax.eval import ir_metrics

QRELS = [
    records.Qrel('q1', 'd1', 1), records.Qrel('q1', 'd3', 2), records.Qrel('q1', 'd5', 1),
    records.Qrel('q2', 'd2', 1),
    records.Qrel('q3', 'd1', 0),  # no relevant passage: not counted
    records.Qrel('q4', 'd9', 1),  # not in the run: scores 0
    records.Qrel('q8', 'd1', 1),  # not one of the queries: ignored
]
LANG_OF = {'q1': 'ja', 'q2': 'ko', 'q3': 'ko', 'q4': 'ja'}
RUN = {
    # Tied scores: the list order is the ranking (d2 first, then d1).
    'q1': [('d2', 1.0), ('d1', 1.0), ('d4', 0.5), ('d3', 0.5)],
    # The only relevant passage at rank 11: outside RR@10 and nDCG@10, inside R@100.
    'q2': [(f'x{i}', 1.0 - i / 100) for i in range(10)] + [('d2', 0.1)],
    'q3': [('d1', 1.0)],
}


def test_hand_worked_values():
  values = ir_metrics.per_query(QRELS, RUN, LANG_OF)
  dcg = 1 / math.log2(3) + 2 / math.log2(5)  # d1 (gain 1) at rank 2, d3 (gain 2) at rank 4
  ideal = 2 + 1 / math.log2(3) + 1 / math.log2(4)  # gains 2, 1, 1
  assert values['R@100'] == pytest.approx({'q1': 2 / 3, 'q2': 1.0, 'q4': 0.0})
  assert values['RR@10'] == pytest.approx({'q1': 0.5, 'q2': 0.0, 'q4': 0.0})
  assert values['nDCG@10'] == pytest.approx({'q1': dcg / ideal, 'q2': 0.0, 'q4': 0.0})
  results = ir_metrics.aggregate(values, LANG_OF)
  assert results['counted'] == {'ja': 2, 'ko': 1}
  assert results['R@100'] == pytest.approx({'ja': 1 / 3, 'ko': 1.0, 'macro': 2 / 3})
  assert results['RR@10'] == pytest.approx({'ja': 0.25, 'ko': 0.0, 'macro': 0.125})
  assert ir_metrics.evaluate(QRELS, RUN, LANG_OF) == results


def test_unknown_query_and_docid_are_named():
  with pytest.raises(ValueError, match="1 queries that are not in the queries, e.g. 'qX'"):
    ir_metrics.per_query(QRELS, {**RUN, 'qX': [('d1', 1.0)]}, LANG_OF)
  with pytest.raises(ValueError, match=r"docid 'd4' \(query 'q1'\), which is not in the corpus "
                     r'\(1 unknown docids'):
    ir_metrics.validate_run(RUN, LANG_OF,
                            docids={'d1', 'd2', 'd3'} | {f'x{i}' for i in range(10)})
  with pytest.raises(ValueError, match="ranks docid 'd1' twice for query 'q3'"):
    ir_metrics.validate_run({'q3': [('d1', 2.0), ('d1', 1.0)]}, LANG_OF)


def test_bad_qrels_line_is_named(tmp_path):
  path = tmp_path / 'dev.txt'
  path.write_text('q1 0 d1 1\nq1 0 d3 relevant\n')
  with pytest.raises(errors.BadRecordError,
                     match=r"dev\.txt:2: field 'relevance' must be an integer, got 'relevant'"):
    ir_metrics.evaluate(qrels_format.read_qrels(path), RUN, LANG_OF)
  path.write_text('q1 0 d1 1\nq1 0 d1 2\n')
  with pytest.raises(errors.BadRecordError, match=r'dev\.txt:2: duplicate \(query id, docid\)'):
    ir_metrics.evaluate(qrels_format.read_qrels(path), RUN, LANG_OF)
