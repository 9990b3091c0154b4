"""TFDS builders for the XOR-TyDi files: ArrayRecord datasets with random access, no TensorFlow.

Each builder reads files a user places in a manual directory:

  corpus.tsv                    DPR passages       -> `xor_corpus`, split 'corpus'
  queries/{train,dev,test}.jsonl XOR-TyDi queries   -> `xor_queries`, one split per file present
  train_groups.jsonl            Tevatron groups    -> `xor_train_groups`, split 'train'

They write ArrayRecord shards (TFDS picks the count from the size: one shard up to 128 MiB, then
2 to 1024 shards of 64 MiB to 1 GiB) and are read through `builder.as_data_source(split)`.
Shuffling is disabled and examples are keyed by their position, so record `i` of a data source
is the `i`-th good record of its file. Text comes back as UTF-8 bytes; the `decode_*` helpers
turn a record back into `records.*`.

Preparing is not safe from several processes at once: let one process build, then load.
"""

import os
import shutil
import tempfile
from typing import Any, Iterator

from etils import epath
import tensorflow_datasets as tfds

from xqg_jax.data import errors
from xqg_jax.data import records
from xqg_jax.data.formats import corpus
from xqg_jax.data.formats import queries
from xqg_jax.data.formats import train_groups
from xqg_jax.io import atomic
from xqg_jax.io import console

QUERY_SPLITS = ('train', 'dev', 'test')

_Text = tfds.features.Text
_PASSAGES = tfds.features.Sequence({'docid': _Text(), 'title': _Text(), 'text': _Text()})


class _ManualBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """Reads the manual directory's files with the format readers under a bad-record policy."""

  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'Initial release.'}
  FEATURES: dict[str, tfds.features.FeatureConnector]
  # No download checksums to look up next to the code. TFDS 4.9.10 finds that path with
  # `importlib_resources`, which it requires only on Python < 3.9, so it fails without it.
  code_path = None

  def __init__(self, *, policy: errors.BadRecordPolicy | None = None, **kwargs):
    self.policy = errors.BadRecordPolicy() if policy is None else policy
    super().__init__(file_format='array_record', **kwargs)

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(builder=self, description=self.__doc__,
                                 features=tfds.features.FeaturesDict(self.FEATURES),
                                 disable_shuffling=True)

  def _split_files(self, manual_dir: epath.Path) -> dict[str, epath.Path]:
    raise NotImplementedError

  def _read(self, path: epath.Path) -> Iterator[Any]:
    raise NotImplementedError

  def _example(self, record: Any) -> dict[str, Any]:
    raise NotImplementedError

  def check_files(self, manual_dir) -> None:
    """Raises FileNotFoundError naming a file the dataset needs that `manual_dir` lacks."""
    for path in self._split_files(epath.Path(manual_dir)).values():
      if not path.exists():
        raise FileNotFoundError(f'{path} is missing: {self.MANUAL_DOWNLOAD_INSTRUCTIONS}')

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    return {split: self._generate_examples(path)
            for split, path in self._split_files(epath.Path(dl_manager.manual_dir)).items()}

  def _generate_examples(self, path: epath.Path):
    count = 0
    for count, record in enumerate(self._read(path), 1):
      yield count - 1, self._example(record)
    if not count:
      raise ValueError(f'{path}: no records (an empty file, or every record skipped as bad)')


def _passage_example(passage: records.Passage) -> dict[str, str]:
  return {'docid': passage.id, 'title': passage.title, 'text': passage.text}


class XorCorpus(_ManualBuilder):
  """English passages (`id, text, title`) from the DPR corpus TSV."""

  MANUAL_DOWNLOAD_INSTRUCTIONS = (
      'Place the DPR passage file (psgs_w100.tsv: id<TAB>text<TAB>title) in the manual directory '
      'as `corpus.tsv`.')
  FEATURES = {'id': _Text(), 'text': _Text(), 'title': _Text()}

  def _split_files(self, manual_dir):
    return {'corpus': manual_dir / 'corpus.tsv'}

  def _read(self, path):
    return corpus.read_corpus(path, self.policy)

  def _example(self, record):
    return {'id': record.id, 'text': record.text, 'title': record.title}


class XorQueries(_ManualBuilder):
  """XOR-TyDi questions (`id, question, answers, lang`), one split per file present."""

  MANUAL_DOWNLOAD_INSTRUCTIONS = (
      'Place XOR-Retrieve query files (JSON lines with id, question, answers, lang) in the manual '
      'directory as `queries/train.jsonl`, `queries/dev.jsonl` and/or `queries/test.jsonl`.')
  FEATURES = {'id': _Text(), 'question': _Text(), 'answers': tfds.features.Sequence(_Text()),
              'lang': _Text()}

  def _split_files(self, manual_dir):
    files = {split: manual_dir / 'queries' / f'{split}.jsonl' for split in QUERY_SPLITS}
    present = {split: path for split, path in files.items() if path.exists()}
    if not present:
      raise FileNotFoundError(f'no query file: expected one of {sorted(map(str, files.values()))}')
    return present

  def _read(self, path):
    return queries.read_queries(path, self.policy)

  def _example(self, record):
    return {'id': record.id, 'question': record.question, 'answers': list(record.answers),
            'lang': record.lang}


class XorTrainGroups(_ManualBuilder):
  """Tevatron training groups: a query with its positive and hard-negative passages."""

  MANUAL_DOWNLOAD_INSTRUCTIONS = (
      'Place the Tevatron-format training file (JSON lines with query_id, query, '
      'positive_passages, negative_passages) in the manual directory as `train_groups.jsonl`.')
  FEATURES = {'query_id': _Text(), 'query': _Text(), 'positive_passages': _PASSAGES,
              'negative_passages': _PASSAGES}

  def _split_files(self, manual_dir):
    return {'train': manual_dir / 'train_groups.jsonl'}

  def _read(self, path):
    return train_groups.read_train_groups(path, self.policy)

  def _example(self, record):
    return {'query_id': record.query_id, 'query': record.query,
            'positive_passages': [_passage_example(p) for p in record.positive_passages],
            'negative_passages': [_passage_example(p) for p in record.negative_passages]}


BUILDERS = {builder.name: builder for builder in (XorCorpus, XorQueries, XorTrainGroups)}


def build(name: str, manual_dir, data_dir, *,
          policy: errors.BadRecordPolicy | None = None) -> _ManualBuilder:
  """Prepares dataset `name` under `data_dir` from `manual_dir`; a prepared one is reused.

  ArrayRecord reads `gs://` but writes local files only, so for a remote `data_dir` the
  dataset is prepared in a local temporary directory and copied up.
  """
  if name not in BUILDERS:
    raise ValueError(f'unknown dataset {name!r}; known: {sorted(BUILDERS)}')
  builder = BUILDERS[name](data_dir=os.fspath(data_dir), policy=policy)
  if '://' in os.fspath(data_dir) and not builder.is_prepared():
    with tempfile.TemporaryDirectory() as local:
      build(name, manual_dir, local, policy=policy)
      with atomic.atomic_directory(epath.Path(data_dir) / name) as tmp:
        _copy_tree(epath.Path(local) / name, tmp)
    builder = BUILDERS[name](data_dir=os.fspath(data_dir), policy=policy)
  if not builder.is_prepared():
    builder.check_files(manual_dir)
  tfds.display_progress_bar(False)  # Stages log their own progress; bars flood the logs.
  with console.library_prints():
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=os.fspath(manual_dir)))
  return builder


def _copy_tree(src: epath.Path, dst: epath.Path) -> None:
  for path in src.iterdir():
    if path.is_dir():
      _copy_tree(path, dst / path.name)
    else:
      dst.mkdir(parents=True, exist_ok=True)
      with path.open('rb') as f, (dst / path.name).open('wb') as g:
        shutil.copyfileobj(f, g)


def build_and_load(name: str, manual_dir, data_dir, split: str, *,
                   policy: errors.BadRecordPolicy | None = None):
  """Prepares dataset `name` if needed and returns the random-access data source of `split`."""
  return build(name, manual_dir, data_dir, policy=policy).as_data_source(split)


def _text(value: bytes) -> str:
  return value.decode('utf-8')


def _passages(value: dict[str, Any]) -> tuple[records.Passage, ...]:
  return tuple(records.Passage(id=_text(docid), text=_text(text), title=_text(title))
               for docid, title, text in zip(value['docid'], value['title'], value['text']))


def decode_passage(example: dict[str, Any]) -> records.Passage:
  """A `xor_corpus` record as a `records.Passage`."""
  return records.Passage(id=_text(example['id']), text=_text(example['text']),
                         title=_text(example['title']))


def decode_query(example: dict[str, Any]) -> records.Query:
  """A `xor_queries` record as a `records.Query`."""
  return records.Query(id=_text(example['id']), question=_text(example['question']),
                       answers=tuple(map(_text, example['answers'])),
                       lang=_text(example['lang']))


def decode_train_group(example: dict[str, Any]) -> records.TrainGroup:
  """A `xor_train_groups` record as a `records.TrainGroup`."""
  return records.TrainGroup(query_id=_text(example['query_id']), query=_text(example['query']),
                            positive_passages=_passages(example['positive_passages']),
                            negative_passages=_passages(example['negative_passages']))
