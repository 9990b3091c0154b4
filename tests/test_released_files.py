"""The released XOR-TyDi / DPR files read by their own names: DPR training JSON, question-only
test files, negatives mined when a question has none, and the data directory made from them."""

import json
import os

import pytest

from launch import config_validation
from tests import conftest
from xqg_jax.data import errors
from xqg_jax.data import prepare
from xqg_jax.data import released_files
from xqg_jax.data.formats import corpus as corpus_format
from xqg_jax.data.formats import dpr_train
from xqg_jax.data.formats import json_array
from xqg_jax.data.formats import queries as queries_format
from xqg_jax.data.formats import train_groups

CORPUS = ('id\ttext\ttitle\n'
          'p1\t"Cairo, the capital, has 9,500,000 people."\tCairo\n'
          'p2\tThe Nile flows north through Egypt to the sea.\tNile\n'
          'p3\tCairo University was founded in 1908 in Giza.\tCairo University\n'
          'p4\tHelsinki is the capital of Finland.\tHelsinki\n'
          'p5\tThe U.S. capital Washington lies on the Potomac.\tWashington, D.C.\n')


def _ctx(pid, title, text, **extra):
  return {'title': title, 'text': text, 'passage_id': pid, **extra}


DPR = [
    {'question': 'ما هي عاصمة مصر؟', 'answers': ['Cairo'], 'lang': 'ar',
     'positive_ctxs': [_ctx('p1', 'Cairo', 'Cairo, the capital, has 9,500,000 people.',
                            score=12.5, title_score=1)],
     'negative_ctxs': [], 'hard_negative_ctxs': [_ctx('p4', 'Helsinki',
                                                      'Helsinki is the capital of Finland.')]},
    # No hard negatives: mined. "Cairo University" holds the answer and is never a negative.
    {'question': 'Mikä joki virtaa Egyptin capital Nile?', 'answers': ['Cairo'], 'lang': 'fi',
     'positive_ctxs': [{'title': 'Nile', 'text': 'The Nile flows north through Egypt to the sea.'}],
     'negative_ctxs': [], 'hard_negative_ctxs': []},
]


def _write(path, text):
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_text(text, encoding='utf-8')
  return path


def _jsonl(rows):
  return ''.join(json.dumps(r, ensure_ascii=False) + '\n' for r in rows)


def test_dpr_questions_stream_with_ids_and_passages(tmp_path):
  path = _write(tmp_path / 'xor_train_retrieve_eng_dpr.json', json.dumps(DPR, indent=2))
  first, second = dpr_train.read_dpr_questions(path)
  assert first.query.id == 'dpr-0' and first.query.lang == 'ar'
  assert first.positives[0].id == 'p1' and first.hard_negatives[0].id == 'p4'
  assert second.hard_negatives == () and second.negatives == ()
  # No passage_id: an id from the title and text, the same wherever that passage appears.
  assert second.positives[0].id.startswith('ctx-')
  again = next(iter(dpr_train.read_dpr_questions(
      _write(tmp_path / 'b.json', json.dumps([DPR[1]])))))
  assert again.positives[0].id == second.positives[0].id


def test_dpr_bad_elements_are_named_by_index_and_line(tmp_path):
  bad = [DPR[0], {**DPR[1], 'lang': 'xx'}, {**DPR[0], 'questoin': 'typo'}, DPR[1]]
  path = _write(tmp_path / 'train.json', json.dumps(bad, indent=1))
  with pytest.raises(errors.BadRecordError, match=r'train.json:\d+: element 1: field .lang.'):
    list(dpr_train.read_dpr_questions(path))
  policy = errors.BadRecordPolicy.from_name('skip')
  kept = list(dpr_train.read_dpr_questions(path, policy))
  assert [q.query.id for q in kept] == ['dpr-0', 'dpr-3']
  assert policy.skipped == {'unknown_language': 1, 'extra_field': 1}
  starts = [n for n, line in enumerate(json.dumps(bad, indent=1).splitlines(), 1)
            if line == ' {']
  assert policy.examples[0].startswith(f'{path}:{starts[1]}: element 1: field ')
  assert policy.examples[1].startswith(f'{path}:{starts[2]}: element 2: extra field ')


@pytest.mark.parametrize('text, problem', [
    ('', 'expected a JSON array of objects, found an empty file'),
    ('{"question": "q"}', "expected a JSON array of objects, found '{'"),
    ('[\n {"a": 1},\n {"b": \n', 'train.json:3: the file ends inside element 1'),
    ('[\n {"a": 1},\n {"b": x}]', 'train.json:3: invalid JSON in element 1: Expecting value'),
    ('[{"a": 1} {"b": 2}]', "expected ',' or ']' after element 0, found '{'"),
    ('[{"a": 1}] x', 'expected nothing after the closing bracket'),
])
def test_json_array_syntax_errors_name_the_line(tmp_path, text, problem):
  path = _write(tmp_path / 'train.json', text)
  with pytest.raises(errors.BadRecordError) as e:
    list(json_array.iter_elements(path, errors.BadRecordPolicy.from_name('skip')))
  assert problem in str(e.value)


def test_json_array_elements_across_chunks(tmp_path, monkeypatch):
  monkeypatch.setattr(json_array, '_CHUNK', 7)  # every element spans several reads
  rows = [{'i': i, 'text': 'x' * i, 'nested': {'line': '\n' * (i % 2)}} for i in range(20)]
  path = _write(tmp_path / 'a.json', json.dumps(rows, indent=2))
  got = list(json_array.iter_elements(path))
  assert [obj for _, _, obj in got] == rows
  lines = json.dumps(rows, indent=2).splitlines()
  assert all(lines[line - 1].strip() == '{' for _, line, _ in got)


def _released(tmp_path, test_rows=None):
  """A directory of files with their released names (small, same formats)."""
  d = tmp_path / 'xor'
  _write(d / 'psgs_w100.tsv', CORPUS)
  _write(d / 'xor_train_retrieve_eng_dpr.json', json.dumps(DPR))
  _write(d / 'xor_dev_retrieve_eng_span_v1_1.jsonl', _jsonl([
      {'id': 'd1', 'lang': 'fi', 'question': 'Mikä on Suomen pääkaupunki?',
       'answers': ['Helsinki']}]))
  _write(d / 'xor_test_retrieve_eng_span_q_only_v1_1.jsonl', _jsonl(test_rows or [
      {'id': 't1', 'lang': 'ja', 'question': 'ナイル川はどこを流れますか？'},
      {'id': 't2', 'lang': 'ko', 'question': '핀란드의 수도는?'}]))
  return d


def _config(d, **overrides):
  config = conftest.small_config()
  config.data.source = 'files'
  config.data.files.corpus = str(d / 'psgs_w100.tsv')
  config.data.files.train_dpr = str(d / 'xor_train_retrieve_eng_dpr.json')
  config.data.files.dev = str(d / 'xor_dev_retrieve_eng_span_v1_1.jsonl')
  config.data.files.test = str(d / 'xor_test_retrieve_eng_span_q_only_v1_1.jsonl')
  config.data.mined_negatives = 2
  for key, value in overrides.items():
    config.data[key] = value
  return config


def test_data_dir_from_released_names(tmp_path):
  d = _released(tmp_path)
  data = prepare.data_dir(_config(d), tmp_path / 'work')
  assert os.path.realpath(data / 'corpus.tsv') == str(d / 'psgs_w100.tsv')  # linked, not copied
  assert os.path.islink(data / 'queries/test.jsonl')
  listing = json.loads((data / released_files.FILES_JSON).read_text())
  assert listing['splits'] == {'train': {'queries': 2, 'labeled': True},
                               'dev': {'queries': 1, 'labeled': True},
                               'test': {'queries': 2, 'labeled': False}}
  assert released_files.splits(data)['test']['labeled'] is False
  assert [q.id for q in queries_format.read_queries(data / 'queries/train.jsonl')] == [
      'dpr-0', 'dpr-1']
  groups = {g.query_id: g for g in train_groups.read_train_groups(data / 'train_groups.jsonl')}
  assert [p.id for p in groups['dpr-0'].negative_passages] == ['p4']  # the file's own
  mined = [p.id for p in groups['dpr-1'].negative_passages]
  # BM25 for "... capital Nile?" hits p2 (the positive, without its id in the DPR file), p1
  # (holds the answer "Cairo"), then p4 and p5.
  assert sorted(mined) == ['p4', 'p5']
  digest = prepare.data_digest(data)
  assert prepare.data_digest(prepare.data_dir(_config(d), tmp_path / 'work')) == digest
  (d / 'psgs_w100.tsv').write_text(CORPUS.replace('Finland', 'Suomi'))
  assert prepare.data_digest(prepare.data_dir(_config(d), tmp_path / 'work')) != digest


def test_without_mining_negative_ctxs_or_a_counted_skip(tmp_path):
  d = _released(tmp_path)
  with pytest.raises(errors.BadRecordError, match='1 questions have no negative passage'):
    prepare.data_dir(_config(d, mine_negatives='none'), tmp_path / 'work')
  config = _config(d, mine_negatives='none')
  config.on_bad_record = 'skip'
  data = prepare.data_dir(config, tmp_path / 'work2')
  assert [g.query_id for g in train_groups.read_train_groups(data / 'train_groups.jsonl')] == [
      'dpr-0']


def test_mining_refuses_a_corpus_over_its_limit(tmp_path):
  d = _released(tmp_path)
  with pytest.raises(ValueError, match='more than data.mining_max_passages=3 passages'):
    prepare.data_dir(_config(d, mining_max_passages=3), tmp_path / 'work')


def test_a_query_file_with_and_without_answers_is_refused(tmp_path):
  d = _released(tmp_path, test_rows=[
      {'id': 't1', 'lang': 'ja', 'question': 'ナイル川は？', 'answers': ['Egypt']},
      {'id': 't2', 'lang': 'ko', 'question': '핀란드의 수도는?'}])
  with pytest.raises(ValueError, match=r"1 queries have no answers \(e.g. 't2'\) but 1 have"):
    prepare.data_dir(_config(d), tmp_path / 'work')


def test_the_config_names_missing_and_unreadable_files(tmp_path):
  d = _released(tmp_path)
  config = _config(d)
  config.data.files.dev = str(d / 'xor_dev_retrieve_eng_span.jsonl')  # not the v1_1 name
  config.data.files.qrels_test = str(d)
  config.data.files.train_groups = str(d / 'psgs_w100.tsv')
  with pytest.raises(ValueError) as e:
    released_files.check(config.data)
  message = str(e.value)
  assert f'data.files.dev: {d}/xor_dev_retrieve_eng_span.jsonl does not exist' in message
  assert f'data.files.qrels_test: {d} is a directory, not a file' in message
  assert 'give data.files.train_groups or data.files.train_dpr, not both' in message


def test_a_bad_record_in_a_linked_file_names_the_users_file(tmp_path):
  d = _released(tmp_path)
  _write(d / 'psgs_w100.tsv', CORPUS + 'p6\tonly two columns\n')
  config = _config(d)
  config.data.files.train_dpr = ''
  data = prepare.data_dir(config, tmp_path / 'work')
  with pytest.raises(errors.BadRecordError) as e:
    list(corpus_format.read_corpus(data / 'corpus.tsv'))
  assert str(e.value).startswith(f'{d}/psgs_w100.tsv:7: expected 3 tab-separated columns')


def test_training_without_training_files_is_refused_before_any_stage(tmp_path):
  d = _released(tmp_path)
  config = _config(d)
  config.data.files.train_dpr = ''
  with pytest.raises(config_validation.ConfigError, match=(
      r'training \(xdr, xqg\) needs data.files.train_dpr \(DPR training JSON\) or '
      r'data.files.train_groups')):
    config_validation.validate(config)
  config.data.files.train_groups = str(d / 'psgs_w100.tsv')
  with pytest.raises(config_validation.ConfigError, match='needs data.files.train: the '):
    config_validation.validate(config)
  config.data.files.train = str(d / 'xor_dev_retrieve_eng_span_v1_1.jsonl')
  config_validation.validate(config)
