"""Bad input for every format: exact file:line messages under `fail`, exact counts under `skip`."""

import json
import tracemalloc

import pytest

from xqg_jax import languages
from xqg_jax.data import errors
from xqg_jax.data import records
from xqg_jax.data.formats import augmented
from xqg_jax.data.formats import corpus
from xqg_jax.data.formats import jsonl
from xqg_jax.data.formats import qrels
from xqg_jax.data.formats import queries
from xqg_jax.data.formats import train_groups
from xqg_jax.data.formats import trec_run

SUPPORTED = 'supported: ar, bn, fi, ja, ko, ru, te, am, km'
TRUNCATED = '; the last line has no trailing newline: the file looks truncated'


def _query(i, **changes):
  return json.dumps({'id': i, 'question': 'q?', 'answers': ['a'], 'lang': 'ja', **changes},
                    ensure_ascii=False)


def _passage(i, **changes):
  return {'docid': i, 'title': 't', 'text': 'x', **changes}


def _group(i, **changes):
  return json.dumps({'query_id': i, 'query': 'q?', 'positive_passages': [_passage('p')],
                     'negative_passages': [_passage('n1'), _passage('n2')], **changes})


def _augmented(i, **changes):
  return json.dumps({'docid': i, 'title': 't', 'text': 'x',
                     'generated_queries': {'km': ['សំណួរ'], 'ar': []}, **changes},
                    ensure_ascii=False)


# Per format: reader, a good line for an id, the duplicate message for id 'a', a record's id.
FORMATS = {
    'queries': (queries.read_queries, _query, "duplicate id 'a'", lambda r: r.id),
    'corpus': (corpus.read_corpus, lambda i: f'{i}\ttext\ttitle', "duplicate id 'a'",
               lambda r: r.id),
    'train_groups': (train_groups.read_train_groups, _group, "duplicate query_id 'a'",
                     lambda r: r.query_id),
    'augmented': (augmented.read_augmented, _augmented, "duplicate docid 'a'",
                  lambda r: r.docid),
    'qrels': (qrels.read_qrels, lambda i: f'q 0 {i} 1', "duplicate (query id, docid) ('q', 'a')",
              lambda r: r.docid),
    'trec_run': (trec_run.read_run_entries, lambda i: f'q Q0 {i} 1 1.5 tag',
                 "duplicate (query id, docid) ('q', 'a')", lambda r: r.docid),
}


def _file(tmp_path, content, name='data.txt'):
  path = tmp_path / name
  path.write_bytes(content if isinstance(content, bytes) else content.encode('utf-8'))
  return path


def _error(read, path, **kwargs) -> str:
  with pytest.raises(errors.BadRecordError) as info:
    list(read(path, **kwargs))
  return str(info.value)


def _skipping(read, path, **kwargs):
  policy = errors.BadRecordPolicy.from_name('skip')
  return list(read(path, policy, **kwargs)), policy.summary()['skipped']


@pytest.mark.parametrize('fmt', FORMATS)
def test_invalid_utf8_names_byte_offset(tmp_path, fmt):
  read, line, _, record_id = FORMATS[fmt]
  bad = line('b').encode('utf-8')
  bad = bad[:3] + b'\xff' + bad[3:]
  path = _file(tmp_path, line('a').encode() + b'\n' + bad + b'\n' + line('c').encode() + b'\n')
  assert _error(read, path) == f'{path}:2: invalid UTF-8 at byte offset 3 of the line (byte 0xff)'
  got, skipped = _skipping(read, path)
  assert ([record_id(r) for r in got], skipped) == (['a', 'c'], {'invalid_utf8': 1})


@pytest.mark.parametrize('fmt', FORMATS)
def test_duplicate_names_first_line(tmp_path, fmt):
  read, line, message, record_id = FORMATS[fmt]
  path = _file(tmp_path, '\n'.join([line('a'), line('b'), line('a'), line('c'), '']))
  assert _error(read, path) == f'{path}:3: {message} (first on line 1)'
  got, skipped = _skipping(read, path)
  assert ([record_id(r) for r in got], skipped) == (['a', 'b', 'c'], {'duplicate': 1})


@pytest.mark.parametrize('fmt', FORMATS)
def test_ten_megabyte_line(tmp_path, fmt):
  read, line, _, record_id = FORMATS[fmt]
  path = tmp_path / 'big.txt'
  with path.open('w') as f:
    f.write(line('a') + '\n' + 'x' * 10_000_000 + '\n' + line('c') + '\n')
  assert _error(read, path) == (
      f'{path}:2: line is longer than 4194304 bytes (10000001 bytes with its newline)')
  got, skipped = _skipping(read, path)
  assert ([record_id(r) for r in got], skipped) == (['a', 'c'], {'line_too_long': 1})


def test_long_line_is_never_held_in_memory(tmp_path):
  path = tmp_path / 'big.jsonl'
  with path.open('w') as f:
    f.write('{"a": 1}\n"' + 'x' * 10_000_000 + '"\n{"c": 3}\n')
  policy = errors.BadRecordPolicy.from_name('skip')
  tracemalloc.start()
  try:
    got = list(jsonl.iter_json_lines(path, policy, max_line_bytes=1 << 20))
    peak = tracemalloc.get_traced_memory()[1]
  finally:
    tracemalloc.stop()
  assert got == [(1, {'a': 1}), (3, {'c': 3})]
  assert policy.skipped == {'line_too_long': 1}
  assert peak < 5 << 20  # A few read buffers of 1 MiB, far below the 10 MB line.


@pytest.mark.parametrize('fmt', FORMATS)
def test_truncated_last_line(tmp_path, fmt):
  read, line, _, record_id = FORMATS[fmt]
  cut = line('c')[:len(line('c')) // 2]
  path = _file(tmp_path, f'{line("a")}\n{line("b")}\n{cut}')
  assert _error(read, path).startswith(f'{path}:3: ')
  assert _error(read, path).endswith(TRUNCATED)
  got, skipped = _skipping(read, path)
  assert ([record_id(r) for r in got], skipped) == (['a', 'b'], {'truncated': 1})


@pytest.mark.parametrize('fmt', FORMATS)
def test_blank_lines_bad_inside_ignored_at_end(tmp_path, fmt):
  read, line, _, record_id = FORMATS[fmt]
  path = _file(tmp_path, f'{line("a")}\n\n \n{line("b")}\n\n\r\n')
  assert _error(read, path) == f'{path}:2: blank line'
  got, skipped = _skipping(read, path)
  assert ([record_id(r) for r in got], skipped) == (['a', 'b'], {'blank_line': 2})


def test_truncated_utf8_sequence_at_end(tmp_path):
  path = _file(tmp_path, _query('a').encode() + b'\n' + '{"id": "日'.encode()[:-1])
  assert _error(queries.read_queries, path) == (
      f'{path}:2: invalid UTF-8 at byte offset 8 of the line (byte 0xe6){TRUNCATED}')


@pytest.mark.parametrize('content, problem', [
    ('[1, 2]', 'expected a JSON object, got array'),
    ('"text"', 'expected a JSON object, got string'),
    ('{"id": 1,}', 'invalid JSON: Expecting property name enclosed in double quotes (column 10)'),
    ('{"a": 1} {"b": 2}', 'invalid JSON: Extra data (column 10)'),
])
def test_json_lines_not_an_object(tmp_path, content, problem):
  path = _file(tmp_path, f'{{"ok": 1}}\n{content}\n')
  assert _error(jsonl.iter_json_lines, path) == f'{path}:2: {problem}'


@pytest.mark.parametrize('changes, problem, kind', [
    ({'lang': None}, "missing field 'lang'", 'missing_field'),
    ({'language': 'ja'}, "extra field 'language'", 'extra_field'),
    ({'lang': None, 'id': None, 'language': 'ja', 'x': 1},
     "missing fields 'id', 'lang'; extra fields 'language', 'x'", 'missing_field'),
    ({'question': '  '}, "field 'question' is empty", 'empty_question'),
    ({'id': ''}, "field 'id' is empty", 'empty_id'),
    ({'answers': []}, "field 'answers' is empty", 'empty_answers'),
    ({'answers': 'Tokyo'}, "field 'answers' must be an array, got string", 'wrong_type'),
    ({'answers': ['Tokyo', 3]}, "field 'answers[1]' must be a string, got number", 'wrong_type'),
    ({'lang': 'xx'}, f"field 'lang': unknown language code 'xx'; {SUPPORTED}",
     'unknown_language'),
])
def test_query_fields(tmp_path, changes, problem, kind):
  obj = json.loads(_query('b', **changes))
  for key in [k for k, v in changes.items() if v is None]:
    del obj[key]
  path = _file(tmp_path, '\n'.join([_query('a'), json.dumps(obj), _query('c'), '']), 'dev.jsonl')
  assert _error(queries.read_queries, path) == f'{path}:2: {problem}'
  got, skipped = _skipping(queries.read_queries, path)
  assert ([q.id for q in got], skipped) == (['a', 'c'], {kind: 1})


def test_supported_codes_come_from_the_language_table():
  assert SUPPORTED == 'supported: ' + ', '.join(languages.LANGUAGES)


def test_query_outside_selected_languages(tmp_path):
  path = _file(tmp_path, f'{_query("a")}\n{_query("b", lang="km")}\n', 'dev.jsonl')
  assert _error(queries.read_queries, path, languages=['ja', 'ar']) == (
      f"{path}:2: field 'lang': language 'km' is not one of the selected languages ja, ar")
  got, skipped = _skipping(queries.read_queries, path, languages=['ja'])
  assert ([q.id for q in got], skipped) == (['a'], {'unselected_language': 1})


@pytest.mark.parametrize('content, problem, kind', [
    ('b\ttext', 'expected 3 tab-separated columns (id, text, title), got 2', 'wrong_column_count'),
    ('b\ttext\ttitle\textra', 'expected 3 tab-separated columns (id, text, title), got 4',
     'wrong_column_count'),
    ('b\t\ttitle', "field 'text' is empty", 'empty_text'),
    ('\ttext\ttitle', "field 'id' is empty", 'empty_id'),
    ('b\t"open quote\ttitle', 'bad TSV quoting: unexpected end of data', 'bad_quoting'),
    ('b\t"closed"junk\ttitle', "bad TSV quoting: '\\t' expected after '\"'", 'bad_quoting'),
])
def test_corpus_rows(tmp_path, content, problem, kind):
  path = _file(tmp_path, f'id\ttext\ttitle\na\tx\tt\n{content}\nc\tx\tt\n', 'psgs.tsv')
  assert _error(corpus.read_corpus, path) == f'{path}:3: {problem}'
  got, skipped = _skipping(corpus.read_corpus, path)
  assert ([p.id for p in got], skipped) == (['a', 'c'], {kind: 1})


def test_corpus_unterminated_quote_at_end_is_truncation(tmp_path):
  path = _file(tmp_path, 'a\tx\tt\nb\t"Aaron ( or ; ""Ahär', 'psgs.tsv')
  assert _error(corpus.read_corpus, path) == (
      f'{path}:2: bad TSV quoting: unexpected end of data{TRUNCATED}')


def test_corpus_header_only_on_first_line(tmp_path):
  path = _file(tmp_path, 'a\tx\tt\nid\ttext\ttitle\n', 'psgs.tsv')
  assert list(corpus.read_corpus(path)) == [records.Passage('a', 'x', 't'),
                                            records.Passage('id', 'text', 'title')]


def test_corpus_duplicates_can_be_left_unchecked(tmp_path):
  path = _file(tmp_path, 'a\tx\tt\na\ty\tt\n', 'psgs.tsv')
  assert len(list(corpus.read_corpus(path, check_duplicates=False))) == 2


@pytest.mark.parametrize('changes, problem, kind', [
    ({'positive_passages': []}, "field 'positive_passages' is empty", 'empty_positive_passages'),
    ({'query': ''}, "field 'query' is empty", 'empty_query'),
    ({'negative_passages': [_passage('n'), {'docid': 'm', 'text': 'x', 'body': 'y'}]},
     "missing field 'negative_passages[1].title'; extra field 'negative_passages[1].body'",
     'missing_field'),
    ({'positive_passages': [_passage('p', text=' ')]},
     "field 'positive_passages[0].text' is empty", 'empty_text'),
    ({'positive_passages': ['p1']},
     "field 'positive_passages[0]' must be an object, got string", 'wrong_type'),
    ({'hard_negatives': []}, "extra field 'hard_negatives'", 'extra_field'),
])
def test_train_group_fields(tmp_path, changes, problem, kind):
  path = _file(tmp_path, '\n'.join([_group('a'), _group('b', **changes), _group('c'), '']))
  assert _error(train_groups.read_train_groups, path) == f'{path}:2: {problem}'
  got, skipped = _skipping(train_groups.read_train_groups, path)
  assert ([g.query_id for g in got], skipped) == (['a', 'c'], {kind: 1})


@pytest.mark.parametrize('changes, problem, kind', [
    ({'generated_queries': {'xx': ['q']}},
     f"field 'generated_queries': unknown language code 'xx'; {SUPPORTED}", 'unknown_language'),
    ({'generated_queries': {'ja': 'q'}},
     "field 'generated_queries.ja' must be an array, got string", 'wrong_type'),
    ({'generated_queries': {'ja': ['q', None]}},
     "field 'generated_queries.ja[1]' must be a string, got null", 'wrong_type'),
    ({'generated_queries': ['q']}, "field 'generated_queries' must be an object, got array",
     'wrong_type'),
    ({'text': ''}, "field 'text' is empty", 'empty_text'),
    ({'queries': {}}, "extra field 'queries'", 'extra_field'),
])
def test_augmented_fields(tmp_path, changes, problem, kind):
  path = _file(tmp_path, '\n'.join([_augmented('a'), _augmented('b', **changes), '']))
  assert _error(augmented.read_augmented, path) == f'{path}:2: {problem}'
  got, skipped = _skipping(augmented.read_augmented, path)
  assert ([p.docid for p in got], skipped) == (['a'], {kind: 1})


@pytest.mark.parametrize('content, problem, kind', [
    ('q 0 d', 'expected 4 whitespace-separated columns (query_id, iteration, docid, relevance), '
     'got 3', 'wrong_column_count'),
    ('q 0 d 1.0', "field 'relevance' must be an integer, got '1.0'", 'not_an_integer'),
    ('q 0 d yes', "field 'relevance' must be an integer, got 'yes'", 'not_an_integer'),
])
def test_qrels_rows(tmp_path, content, problem, kind):
  path = _file(tmp_path, f'q 0 a 1\n{content}\n')
  assert _error(qrels.read_qrels_dict, path) == f'{path}:2: {problem}'
  policy = errors.BadRecordPolicy.from_name('skip')
  assert qrels.read_qrels_dict(path, policy) == {'q': {'a': 1}}
  assert policy.summary()['skipped'] == {kind: 1}


@pytest.mark.parametrize('content, problem, kind', [
    ('q Q0 d 2 1.0', 'expected 6 whitespace-separated columns '
     '(query_id, q0, docid, rank, score, tag), got 5', 'wrong_column_count'),
    ('q 0 d 2 1.0 t', "field 'q0' must be 'Q0', got '0'", 'unexpected_value'),
    ('q Q0 d two 1.0 t', "field 'rank' must be an integer, got 'two'", 'not_an_integer'),
    ('q Q0 d 2 high t', "field 'score' must be a finite number, got 'high'", 'not_a_number'),
    ('q Q0 d 2 nan t', "field 'score' must be a finite number, got 'nan'", 'not_a_number'),
])
def test_trec_run_rows(tmp_path, content, problem, kind):
  path = _file(tmp_path, f'q Q0 a 1 2.0 t\n{content}\n')
  assert _error(trec_run.read_run, path) == f'{path}:2: {problem}'
  policy = errors.BadRecordPolicy.from_name('skip')
  assert trec_run.read_run(path, policy) == {'q': [('a', 2.0)]}
  assert policy.summary()['skipped'] == {kind: 1}


def test_skip_counts_every_kind_in_one_file(tmp_path):
  lines = [
      _query('a'),                       # 1 good
      _query('b', lang='xx'),            # 2 unknown_language
      '',                                # 3 blank_line
      _query('a'),                       # 4 duplicate
      _query('c', question=''),          # 5 empty_question
      '{"id": "d"',                      # 6 invalid_json
      _query('e'),                       # 7 good
      '[]',                              # 8 not_an_object
      _query('f'),                       # 9 good
  ]
  content = '\n'.join(lines).encode() + b'\n' + b'\xc3\x28\n' + b'{"id": "g", "qu'
  path = _file(tmp_path, content, 'dev.jsonl')
  policy = errors.BadRecordPolicy.from_name('skip')
  assert [q.id for q in queries.read_queries(path, policy)] == ['a', 'e', 'f']
  assert policy.summary() == {
      'skipped': {'unknown_language': 1, 'blank_line': 1, 'duplicate': 1, 'empty_question': 1,
                  'invalid_json': 1, 'not_an_object': 1, 'invalid_utf8': 1, 'truncated': 1},
      'num_skipped': 8,
      'examples': [
          f"{path}:2: field 'lang': unknown language code 'xx'; {SUPPORTED}",
          f'{path}:3: blank line',
          f"{path}:4: duplicate id 'a' (first on line 1)",
          f"{path}:5: field 'question' is empty",
          f'{path}:6: invalid JSON: Expecting \',\' delimiter (column 11)',
          f'{path}:8: expected a JSON object, got array',
          f'{path}:10: invalid UTF-8 at byte offset 0 of the line (byte 0xc3)',
          f'{path}:11: invalid JSON: Unterminated string starting at (column 13){TRUNCATED}',
      ]}
