"""TFDS builders: ArrayRecord from a manual dir, random access in file order, no TensorFlow."""

import json
import sys

import pytest

from xqg_jax.data import errors
from xqg_jax.data import records
from xqg_jax.data import tfds_builders

PASSAGES = [
    records.Passage(id='p0', text='Cairo is the capital of Egypt.', title='Cairo'),
    records.Passage(id='p1', text='القاهرة هي عاصمة مصر', title='القاهرة'),
    records.Passage(id='p2', text='東京は日本の首都です。', title='東京'),
    records.Passage(id='p3', text='ភ្នំពេញ គឺជារាជធានីនៃប្រទេសកម្ពុជា', title=''),
    records.Passage(id='p4', text='A "quoted" passage', title='Quotes'),
]
QUERIES = {
    'train': [records.Query(id='t0', question='ما هي عاصمة مصر؟', answers=('Cairo',), lang='ar'),
              records.Query(id='t1', question='日本の首都は？', answers=('Tokyo', '東京'), lang='ja')],
    'dev': [records.Query(id='d0', question='Mikä on Kambodžan pääkaupunki?',
                          answers=('Phnom Penh',), lang='fi')],
}
GROUPS = [
    records.TrainGroup(query_id='t0', query='ما هي عاصمة مصر؟',
                       positive_passages=tuple(PASSAGES[:2]),
                       negative_passages=tuple(PASSAGES[2:])),
    records.TrainGroup(query_id='t1', query='日本の首都は？',
                       positive_passages=tuple(PASSAGES[2:3]), negative_passages=()),
]


def _passage_json(p):
  return {'docid': p.id, 'title': p.title, 'text': p.text}


def _write_jsonl(path, objects):
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_text(''.join(json.dumps(o, ensure_ascii=False) + '\n' for o in objects),
                  encoding='utf-8')


def _write_corpus(path, passages, extra_lines=()):
  lines = ['id\ttext\ttitle']
  lines += [f'{p.id}\t"{p.text.replace(chr(34), 2 * chr(34))}"\t{p.title}' for p in passages]
  lines += list(extra_lines)
  path.write_text('\n'.join(lines) + '\n', encoding='utf-8')


@pytest.fixture
def manual_dir(tmp_path):
  root = tmp_path / 'manual'
  root.mkdir()
  _write_corpus(root / 'corpus.tsv', PASSAGES)
  for split, queries in QUERIES.items():
    _write_jsonl(root / 'queries' / f'{split}.jsonl',
                 [{'id': q.id, 'question': q.question, 'answers': list(q.answers),
                   'lang': q.lang} for q in queries])
  _write_jsonl(root / 'train_groups.jsonl', [
      {'query_id': g.query_id, 'query': g.query,
       'positive_passages': [_passage_json(p) for p in g.positive_passages],
       'negative_passages': [_passage_json(p) for p in g.negative_passages]} for g in GROUPS])
  return root


def test_tensorflow_is_not_installed():
  with pytest.raises(ImportError):
    import tensorflow  # pylint: disable=import-outside-toplevel,unused-import  # noqa: F401


def test_corpus_records_in_file_order(manual_dir, tmp_path):
  ds = tfds_builders.build_and_load('xor_corpus', manual_dir, tmp_path / 'data', 'corpus')
  assert len(ds) == len(PASSAGES)
  for i in reversed(range(len(PASSAGES))):
    assert tfds_builders.decode_passage(ds[i]) == PASSAGES[i]
  assert 'tensorflow' not in sys.modules


def test_queries_splits_present(manual_dir, tmp_path):
  builder = tfds_builders.build('xor_queries', manual_dir, tmp_path / 'data')
  assert set(builder.info.splits) == {'train', 'dev'}
  for split, queries in QUERIES.items():
    ds = builder.as_data_source(split)
    assert [tfds_builders.decode_query(ds[i]) for i in range(len(ds))] == queries


def test_train_groups_round_trip(manual_dir, tmp_path):
  ds = tfds_builders.build_and_load('xor_train_groups', manual_dir, tmp_path / 'data', 'train')
  assert [tfds_builders.decode_train_group(ds[i]) for i in range(len(ds))] == GROUPS


def test_prepared_dataset_is_reused(manual_dir, tmp_path):
  data_dir = tmp_path / 'data'
  tfds_builders.build_and_load('xor_corpus', manual_dir, data_dir, 'corpus')
  _write_corpus(manual_dir / 'corpus.tsv', PASSAGES[:1])
  assert len(tfds_builders.build_and_load('xor_corpus', manual_dir, data_dir, 'corpus')) == 5


def test_bad_record_fails_with_file_and_line(manual_dir, tmp_path):
  _write_corpus(manual_dir / 'corpus.tsv', PASSAGES[:2], ['p9\tonly two columns'])
  with pytest.raises(errors.BadRecordError, match=r'corpus\.tsv:4: '):
    tfds_builders.build_and_load('xor_corpus', manual_dir, tmp_path / 'data', 'corpus')


def test_bad_record_skipped_and_counted(manual_dir, tmp_path):
  _write_corpus(manual_dir / 'corpus.tsv', PASSAGES[:2], ['p9\tonly two columns', 'p5\tok\tt'])
  policy = errors.BadRecordPolicy.from_name('skip')
  ds = tfds_builders.build_and_load('xor_corpus', manual_dir, tmp_path / 'data', 'corpus',
                                    policy=policy)
  assert [tfds_builders.decode_passage(ds[i]).id for i in range(len(ds))] == ['p0', 'p1', 'p5']
  assert policy.num_skipped == 1
  assert 'corpus.tsv:4' in policy.examples[0]


def test_ten_thousand_passages(tmp_path):
  manual = tmp_path / 'manual'
  manual.mkdir()
  passages = [records.Passage(id=f'p{i}', text=f'نص {i} テキスト ខ្មែរ', title=f'T{i}')
              for i in range(12_000)]
  _write_corpus(manual / 'corpus.tsv', passages)
  ds = tfds_builders.build_and_load('xor_corpus', manual, tmp_path / 'data', 'corpus')
  assert len(ds) == len(passages)
  for i in (0, 1, 6_543, 11_999):
    assert tfds_builders.decode_passage(ds[i]) == passages[i]


def test_unknown_dataset(tmp_path):
  with pytest.raises(ValueError, match='xor_corpus'):
    tfds_builders.build_and_load('nope', tmp_path, tmp_path, 'train')


def test_missing_and_empty_files_are_named(tmp_path):
  manual = tmp_path / 'manual'
  manual.mkdir()
  with pytest.raises(FileNotFoundError, match=r'train_groups\.jsonl is missing: Place the '
                                              'Tevatron-format training file'):
    tfds_builders.build_and_load('xor_train_groups', manual, tmp_path / 'data', 'train')
  _write_corpus(manual / 'corpus.tsv', [])
  with pytest.raises(ValueError, match=r'corpus\.tsv: no records \(an empty file'):
    tfds_builders.build_and_load('xor_corpus', manual, tmp_path / 'data', 'corpus')
  _write_corpus(manual / 'corpus.tsv', [], ['p9\tonly two columns'])
  with pytest.raises(ValueError, match='or every record skipped as bad'):
    tfds_builders.build_and_load('xor_corpus', manual, tmp_path / 'data2', 'corpus',
                                 policy=errors.BadRecordPolicy.from_name('skip'))
