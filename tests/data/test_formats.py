"""Round trips and exact file text for every data format."""

import json

import pytest

from xqg_jax.data import errors
from xqg_jax.data import records
from xqg_jax.data.formats import augmented
from xqg_jax.data.formats import corpus
from xqg_jax.data.formats import jsonl
from xqg_jax.data.formats import paraphrases
from xqg_jax.data.formats import qrels
from xqg_jax.data.formats import queries
from xqg_jax.data.formats import train_groups
from xqg_jax.data.formats import trec_run

# Text in several scripts: Arabic, Japanese, Khmer, Amharic, Telugu, Russian, Korean, Bengali.
ARABIC = 'ما هي عاصمة مصر؟'
JAPANESE = '日本の首都はどこですか？'
KHMER = 'តើរាជធានីនៃកម្ពុជាគឺជាអ្វី?'
AMHARIC = 'የኢትዮጵያ ዋና ከተማ ማን ናት?'
TELUGU = 'భారతదేశ రాజధాని ఏది?'
PASSAGES = (
    records.Passage('1', 'Cairo is the capital of Egypt. القاهرة', 'Cairo'),
    records.Passage('2', f'Tokyo ({JAPANESE}) has "quoted" words\tand a tab', 'Tōkyō "東京"'),
    records.Passage('3', f'"{KHMER}" starts with a quote', ''),
    records.Passage('4', 'Addis Ababa', AMHARIC),
)


def test_queries_round_trip(tmp_path):
  path = tmp_path / 'dev.jsonl'
  expected = [
      records.Query('q1', ARABIC, ('Cairo',), 'ar'),
      records.Query('q2', JAPANESE, ('Tokyo', 'Edo'), 'ja'),
      records.Query('q3', KHMER, ('Phnom Penh',), 'km'),
      records.Query('q4', TELUGU, ('New Delhi',), 'te'),
  ]
  assert queries.write_queries(path, expected) == 4
  assert list(queries.read_queries(path)) == expected
  # UTF-8 text, not \u escapes; one object per line with a trailing newline.
  first = path.read_text(encoding='utf-8').split('\n')[0]
  assert first == json.dumps({'id': 'q1', 'question': ARABIC, 'answers': ['Cairo'],
                              'lang': 'ar'}, ensure_ascii=False)
  assert path.read_text(encoding='utf-8').endswith('}\n')


def test_queries_language_selection(tmp_path):
  path = tmp_path / 'dev.jsonl'
  queries.write_queries(path, [records.Query('q1', ARABIC, ('Cairo',), 'ar')])
  assert len(list(queries.read_queries(path, languages=['ar', 'ja']))) == 1
  with pytest.raises(ValueError, match="unknown language code 'xx'"):
    queries.read_queries(path, languages=['xx'])


@pytest.mark.parametrize('header', [True, False])
def test_corpus_round_trip(tmp_path, header):
  path = tmp_path / 'psgs.tsv'
  assert corpus.write_corpus(path, PASSAGES, header=header) == 4
  assert list(corpus.read_corpus(path)) == list(PASSAGES)
  assert path.read_text(encoding='utf-8').startswith('id\ttext\ttitle\n1\t' if header else '1\t')


def test_corpus_quoting_is_dpr_style(tmp_path):
  path = tmp_path / 'psgs.tsv'
  corpus.write_corpus(path, PASSAGES[1:3], header=False)
  assert path.read_text(encoding='utf-8') == (
      f'2\t"Tokyo ({JAPANESE}) has ""quoted"" words\tand a tab"\t"Tōkyō ""東京"""\n'
      f'3\t"""{KHMER}"" starts with a quote"\t\n')


def test_corpus_reads_dpr_lines(tmp_path):
  path = tmp_path / 'psgs_w100.tsv'
  path.write_text('id\ttext\ttitle\n'
                  '1\t"Aaron ( or ; ""Ahärôn"") is a prophet"\tAaron\n'
                  '2\tUnquoted "inner" quotes stay\tTitle\n', encoding='utf-8')
  assert list(corpus.read_corpus(path)) == [
      records.Passage('1', 'Aaron ( or ; "Ahärôn") is a prophet', 'Aaron'),
      records.Passage('2', 'Unquoted "inner" quotes stay', 'Title'),
  ]


def test_corpus_writer_refuses_line_breaks_and_leaves_no_file(tmp_path):
  path = tmp_path / 'psgs.tsv'
  with pytest.raises(ValueError, match="passage '9' has a line break"):
    corpus.write_corpus(path, [PASSAGES[0], records.Passage('9', 'two\nlines', 't')])
  assert list(tmp_path.iterdir()) == []


def test_train_groups_round_trip(tmp_path):
  path = tmp_path / 'train.jsonl'
  expected = [
      records.TrainGroup('q1', ARABIC, PASSAGES[:1], PASSAGES[1:]),
      records.TrainGroup('q2', KHMER, PASSAGES[2:3], ()),
  ]
  assert train_groups.write_train_groups(path, expected) == 2
  assert list(train_groups.read_train_groups(path)) == expected
  first = json.loads(path.read_text(encoding='utf-8').split('\n')[0])
  assert first['positive_passages'] == [
      {'docid': '1', 'title': 'Cairo', 'text': 'Cairo is the capital of Egypt. القاهرة'}]


def test_augmented_round_trip(tmp_path):
  path = tmp_path / 'augmented.jsonl'
  expected = [
      records.AugmentedPassage('1', 'Cairo', 'Cairo is ...', {
          'ar': (ARABIC, 'أين القاهرة؟'), 'ja': (JAPANESE,), 'km': (KHMER,), 'am': ()}),
      records.AugmentedPassage('2', '', 'text', {}),
  ]
  assert augmented.write_augmented(path, expected) == 2
  assert list(augmented.read_augmented(path)) == expected


def test_qrels_round_trip(tmp_path):
  path = tmp_path / 'qrels.txt'
  expected = [records.Qrel('q1', 'd1', 1), records.Qrel('q1', 'd2', 0),
              records.Qrel('q2', 'd1', 2)]
  assert qrels.write_qrels(path, expected) == 3
  assert path.read_text() == 'q1 0 d1 1\nq1 0 d2 0\nq2 0 d1 2\n'
  assert list(qrels.read_qrels(path)) == expected
  assert qrels.read_qrels_dict(path) == {'q1': {'d1': 1, 'd2': 0}, 'q2': {'d1': 2}}


def test_qrels_naming_a_passage_the_corpus_lacks(tmp_path):
  path = tmp_path / 'qrels.txt'
  path.write_text('q1 0 d1 1\nq1 0 d404 1\nq2 0 d2 1\n')
  with pytest.raises(errors.BadRecordError,
                     match=r"qrels.txt:2: docid 'd404' is not in the corpus"):
    list(qrels.read_qrels(path, docids={'d1', 'd2'}))
  policy = errors.BadRecordPolicy(errors.OnBadRecord.SKIP)
  kept = list(qrels.read_qrels(path, policy, docids={'d1', 'd2'}))
  assert [q.docid for q in kept] == ['d1', 'd2'] and policy.skipped == {'unknown_docid': 1}


def test_qrels_reads_tabs_and_any_iteration(tmp_path):
  path = tmp_path / 'qrels.txt'
  path.write_text('q1\tQ0\td1\t1\nq1  0  d2  -1\n')
  assert qrels.read_qrels_dict(path) == {'q1': {'d1': 1, 'd2': -1}}


def test_trec_run_exact_text(tmp_path):
  path = tmp_path / 'run.trec'
  run = {'q2': [('d1', 0.5)],
         'q10': [('d9', 1.0), ('d3', 2.25), ('d2', 1.0), ('d7', -0.1234567)]}
  assert trec_run.write_run(path, run, 'xqg') == 5
  # Queries sorted as strings, hits by (-score, docid): d2 before d9 on the tie.
  # Scores with 9 significant digits: every float32 score survives the round trip.
  assert path.read_text() == ('q10 Q0 d3 1 2.25 xqg\n'
                              'q10 Q0 d2 2 1 xqg\n'
                              'q10 Q0 d9 3 1 xqg\n'
                              'q10 Q0 d7 4 -0.1234567 xqg\n'
                              'q2 Q0 d1 1 0.5 xqg\n')
  assert trec_run.read_run(path) == {
      'q10': [('d3', 2.25), ('d2', 1.0), ('d9', 1.0), ('d7', -0.1234567)], 'q2': [('d1', 0.5)]}
  assert [e.rank for e in trec_run.read_run_entries(path)] == [1, 2, 3, 4, 1]


def test_trec_run_hits_and_score_order_on_read(tmp_path):
  path = tmp_path / 'run.trec'
  assert trec_run.write_run(path, {'q': [('a', 1.0), ('b', 3.0), ('c', 2.0)]}, 't', hits=2) == 2
  assert path.read_text() == 'q Q0 b 1 3 t\nq Q0 c 2 2 t\n'
  shuffled = tmp_path / 'shuffled.trec'
  shuffled.write_text('q Q0 c 2 2.0 t\nq Q0 b 1 3.0 t\n')
  assert trec_run.read_run(shuffled) == {'q': [('b', 3.0), ('c', 2.0)]}


def test_trec_run_writer_refuses_whitespace_in_ids(tmp_path):
  with pytest.raises(ValueError, match="'d 1' is not a single non-empty token"):
    trec_run.write_run(tmp_path / 'run.trec', {'q': [('d 1', 1.0)]}, 't')
  assert list(tmp_path.iterdir()) == []


def test_json_lines_exact_text_and_tolerated_layout(tmp_path):
  path = tmp_path / 'x.jsonl'
  assert jsonl.write_json_lines(path, [{'a': KHMER}, {'b': [1, None]}]) == 2
  assert path.read_text(encoding='utf-8') == f'{{"a": "{KHMER}"}}\n{{"b": [1, null]}}\n'
  # A byte order mark, CRLF line ends, blank lines at the end and no final newline are fine.
  path.write_bytes(b'\xef\xbb\xbf{"a": 1}\r\n{"b": 2}\r\n\n  \n')
  assert list(jsonl.iter_json_lines(path)) == [(1, {'a': 1}), (2, {'b': 2})]
  path.write_bytes(b'{"a": 1}\n{"b": 2}')
  assert list(jsonl.iter_json_lines(path)) == [(1, {'a': 1}), (2, {'b': 2})]


def test_readers_stream(tmp_path):
  path = tmp_path / 'psgs.tsv'
  path.write_text('1\ta\tt\n2\tb\tt\nbroken line\n')
  passages = corpus.read_corpus(path)
  assert next(passages) == records.Passage('1', 'a', 't')  # Read before the bad line is seen.
  assert next(passages) == records.Passage('2', 'b', 't')
  with pytest.raises(ValueError, match=r'psgs.tsv:3: expected 3 tab-separated columns'):
    next(passages)


def test_paraphrases_round_trip_and_bad_lang(tmp_path):
  path = tmp_path / 'paraphrases.jsonl'
  rows = [paraphrases.Paraphrases('q1', 'ja', (JAPANESE, '首都は？')),
          paraphrases.Paraphrases('q2', 'km', ())]
  assert paraphrases.write_paraphrases(path, rows) == 2
  assert list(paraphrases.read_paraphrases(path)) == rows
  path.write_text('{"id": "q1", "lang": "zz", "paraphrases": []}\n', encoding='utf-8')
  with pytest.raises(ValueError, match=r"paraphrases.jsonl:1: .*unknown language code 'zz'"):
    list(paraphrases.read_paraphrases(path))
