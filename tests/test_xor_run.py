"""The XOR-Retrieve submission JSON: round trip, the official layout, errors naming the item."""

import json

import pytest

from xqg_jax.data import errors
from xqg_jax.data import records
from xqg_jax.data.formats import xor_run
from xqg_jax.eval import xor_retrieve

TEXTS = {'d1': 'Addis Ababa is the capital.', 'd2': 'Phnom Penh lies on the Mekong.',
         'd3': 'ፊደል and ខ្មែរ text.'}
QUERIES = [records.Query('q1', 'x', ('Phnom Penh',), 'km'),
           records.Query('q2', 'x', ('Addis Ababa',), 'am')]


def test_round_trip_in_the_official_layout(tmp_path):
  path = tmp_path / 'sub' / 'xor_retrieve.json'
  entries = list(xor_run.from_ranking({'q1': ['d2', 'd3', 'd1'], 'q2': ['d3', 'd1']}, QUERIES,
                                      TEXTS, depth=2))
  assert xor_run.write_xor_run(path, entries) == 2
  # What the official script reads: a list of {"id", "lang", "ctxs": [passage text, ...]}.
  assert json.loads(path.read_text(encoding='utf-8')) == [
      {'id': 'q1', 'lang': 'km', 'ctxs': [TEXTS['d2'], TEXTS['d3']]},
      {'id': 'q2', 'lang': 'am', 'ctxs': [TEXTS['d3'], TEXTS['d1']]},
  ]
  assert 'ខ្មែរ' in path.read_text(encoding='utf-8')  # UTF-8, not \u escapes
  read = xor_run.read_xor_run(path)
  assert read == entries
  outcomes = xor_retrieve.query_outcomes({e.id: e.ctxs for e in read}, QUERIES, (2,))
  assert outcomes == {'q1': {'lang': 'km', 'R@2kt': 1}, 'q2': {'lang': 'am', 'R@2kt': 1}}
  assert xor_run.write_xor_run(tmp_path / 'empty.json', []) == 0
  assert xor_run.read_xor_run(tmp_path / 'empty.json') == []


def test_missing_ranking_is_an_error():
  with pytest.raises(KeyError, match="no ranking for query 'q2'"):
    list(xor_run.from_ranking({'q1': ['d1']}, QUERIES, TEXTS))


def test_extra_keys_are_ignored(tmp_path):
  path = tmp_path / 'run.json'
  path.write_text(json.dumps([{'id': 'q1', 'lang': 'ja', 'question': 'x', 'ctxs': ['a b']}]))
  assert xor_run.read_xor_run(path) == [xor_run.XorRunEntry('q1', 'ja', ('a b',))]


@pytest.mark.parametrize('content, message', [
    ('[{"id": "q1", "lang": "ja", "ctxs": []},\n{"id": "q2", "lang": "ja", "ctxs": [}]',
     r'run\.json:2: invalid JSON: Expecting value'),
    ('{"id": "q1"}', r'run\.json: expected a JSON array of objects, got object'),
    ('[{"id": "q1", "lang": "ja", "ctxs": "a b"}]',
     r"run\.json: item 1: field 'ctxs' must be an array, got string"),
    ('[{"id": "q1", "lang": "ja", "ctxs": [{"text": "a"}]}]',
     r"run\.json: item 1: field 'ctxs\[0\]' must be a string, got object"),
    ('[{"id": "q1", "ctxs": []}]', r"run\.json: item 1: missing field 'lang'"),
    ('[{"id": "q1", "lang": "xx", "ctxs": []}]', r"item 1: field 'lang': unknown language code"),
    ('[{"id": "q1", "lang": "ja", "ctxs": []}, 3]', r'item 2: expected a JSON object, got number'),
    ('[{"id": "q1", "lang": "ja", "ctxs": []}, {"id": "q1", "lang": "ko", "ctxs": []}]',
     r"item 2: duplicate id 'q1' \(first in item 1\)"),
])
def test_bad_files_name_the_problem(tmp_path, content, message):
  path = tmp_path / 'run.json'
  path.write_text(content)
  with pytest.raises(errors.BadRecordError, match=message):
    xor_run.read_xor_run(path)


def test_skip_policy_keeps_good_items(tmp_path):
  path = tmp_path / 'run.json'
  path.write_text('[{"id": "q1", "lang": "ja", "ctxs": ["a"]}, {"id": "", "lang": "ja", '
                  '"ctxs": []}, {"id": "q3", "lang": "ko", "ctxs": []}]')
  policy = errors.BadRecordPolicy.from_name('skip')
  assert [e.id for e in xor_run.read_xor_run(path, policy)] == ['q1', 'q3']
  assert policy.skipped == {'empty_id': 1}
