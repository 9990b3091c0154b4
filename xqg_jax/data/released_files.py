"""The data stage for real data: the released files, by their own names, as the data directory.

`data.files` names each file (see `configs/common.py`). The stage makes `workdir/data` in the
layout every later stage reads, without copying what is already in that format:

  corpus.tsv                      link to `corpus` (psgs_w100.tsv as downloaded)
  queries/{train,dev,test}.jsonl  links to `train`, `dev`, `test` (XOR-Retrieve JSONL)
  qrels/{dev,test}.txt            links to `qrels_dev`, `qrels_test`
  train_groups.jsonl              link to `train_groups`, or written from `train_dpr`
  queries/train.jsonl             written from `train_dpr` when `train` is ''
  files.json                      each name above: its source path and sha256; per query split
                                  its count and whether it is labeled (has answers)

Links are symbolic links on local disks and copies elsewhere (gs:// has no links). Query files
are read through here: a file where some queries have answers and others not is an error, since
it can be neither scored nor submitted as a whole.
"""

import json
import os

from absl import logging
from etils import epath
import ml_collections

from xqg_jax.data import errors
from xqg_jax.data import negative_mining
from xqg_jax.data import records
from xqg_jax.data.formats import corpus as corpus_format
from xqg_jax.data.formats import dpr_train
from xqg_jax.data.formats import queries as queries_format
from xqg_jax.data.formats import train_groups as train_groups_format
from xqg_jax.io import atomic
from xqg_jax.io import manifest as manifest_lib
from xqg_jax.io import stage_dir
from xqg_jax.lexical import bm25

FILES_JSON = 'files.json'
# data.files field -> its name in the data directory.
LINKED = {'corpus': 'corpus.tsv', 'train': 'queries/train.jsonl', 'dev': 'queries/dev.jsonl',
          'test': 'queries/test.jsonl', 'qrels_dev': 'qrels/dev.txt',
          'qrels_test': 'qrels/test.txt', 'train_groups': 'train_groups.jsonl'}
QUERY_SPLITS = {'train': 'train', 'dev': 'dev', 'test': 'test'}
MINING = ('bm25', 'none')


def configured(files: ml_collections.ConfigDict) -> dict[str, epath.Path]:
  """{data.files field: path} of the files the config names."""
  return {field: epath.Path(path) for field, path in files.items() if path}


def check(data: ml_collections.ConfigDict) -> None:
  """Raises ValueError naming what `data.files` lacks or names wrongly (before any work)."""
  files = configured(data.files)
  problems = []
  if 'corpus' not in files:
    problems.append('data.files.corpus is required (the passage TSV, e.g. psgs_w100.tsv)')
  if not {'dev', 'test'} & set(files):
    problems.append('data.files.dev or data.files.test is required (XOR-Retrieve query JSONL)')
  if 'train_groups' in files and 'train_dpr' in files:
    problems.append('give data.files.train_groups or data.files.train_dpr, not both')
  for field, path in sorted(files.items()):
    if not path.exists():
      problems.append(f'data.files.{field}: {path} does not exist')
    elif path.is_dir():
      problems.append(f'data.files.{field}: {path} is a directory, not a file')
    else:
      try:
        with path.open('rb') as f:
          f.read(1)
      except OSError as e:
        problems.append(f'data.files.{field}: {path} cannot be read ({e.strerror or e})')
  if data.mine_negatives not in MINING:
    problems.append(f'data.mine_negatives={data.mine_negatives!r}: must be one of '
                    f'{", ".join(MINING)}')
  if problems:
    raise ValueError('; '.join(problems))


def _link(source: epath.Path, target: epath.Path, *, refresh: bool) -> None:
  """`target` shows `source`'s bytes: a symbolic link (local), else an atomic copy (made again
  only with `refresh` or when missing)."""
  target.parent.mkdir(parents=True, exist_ok=True)
  if '://' in os.fspath(target) or '://' in os.fspath(source):
    if target.exists() and not refresh:
      return
    with source.open('rb') as f, atomic.atomic_open(target, 'wb') as g:
      while chunk := f.read(1 << 20):
        g.write(chunk)
    return
  temporary = target.parent / f'.{target.name}.link'
  if os.path.lexists(temporary):
    os.unlink(temporary)
  os.symlink(os.path.abspath(source), temporary)
  os.replace(temporary, target)


def _query_split(path: epath.Path, policy: errors.BadRecordPolicy) -> dict:
  """{'queries': n, 'labeled': bool} of a query file; mixed labels are an error naming a line."""
  counts = {True: 0, False: 0}
  first = {}
  for query in queries_format.read_queries(path, policy):
    labeled = bool(query.answers)
    counts[labeled] += 1
    first.setdefault(labeled, query.id)
  if counts[True] and counts[False]:
    raise ValueError(f'{path}: {counts[False]} queries have no answers (e.g. {first[False]!r}) '
                     f'but {counts[True]} have (e.g. {first[True]!r}); a query file is either '
                     'labeled (every query has answers) or question-only')
  return {'queries': counts[True] + counts[False], 'labeled': bool(counts[True])}


def _groups_from_dpr(data: ml_collections.ConfigDict, path: epath.Path,
                     policy: errors.BadRecordPolicy) -> tuple[list, list, dict]:
  """(training groups, training queries, counts) of a DPR training file, hard negatives
  mined with BM25 (or taken from `negative_ctxs`) where a question has none."""
  questions = list(dpr_train.read_dpr_questions(path, policy))
  lacking = [q for q in questions if not q.hard_negatives]
  mined = {}
  if lacking and data.mine_negatives == 'bm25':
    mined = _mine(data, lacking)
  random_fill = sum(n for _, n in mined.values())
  mined = {qid: negatives for qid, (negatives, _) in mined.items()}
  groups, empty = [], []
  for q in questions:
    negatives = q.hard_negatives or mined.get(q.query.id, ()) or q.negatives
    if not negatives:
      empty.append(q.query.id)
      continue
    groups.append(records.TrainGroup(query_id=q.query.id, query=q.query.question,
                                     positive_passages=q.positives,
                                     negative_passages=negatives))
  if empty:
    kind = 'mined nothing' if data.mine_negatives == 'bm25' else 'mine_negatives=none'
    policy.handle(errors.BadRecordError(
        path, None, f'{len(empty)} questions have no negative passage ({kind}), e.g. '
        f'{empty[0]!r}; they are left out of training'), 'no_negatives')
  counts = {'questions': len(questions), 'with_hard_negatives': len(questions) - len(lacking),
            'mined': sum(bool(v) for v in mined.values()), 'random_mined': random_fill,
            'without_negatives': len(empty)}
  return groups, [q.query for q in questions], counts


def _mine(data: ml_collections.ConfigDict, lacking: list) -> dict[str, tuple[tuple, int]]:
  """{question id: (mined negatives, how many of them are random)}."""
  corpus_path = epath.Path(data.files.corpus)
  passages = []
  for passage in corpus_format.read_corpus(corpus_path, check_duplicates=False):
    passages.append(passage)
    if len(passages) > data.mining_max_passages:
      raise ValueError(
          f'{len(lacking)} questions of {data.files.train_dpr} have no hard_negative_ctxs, and '
          f'{corpus_path} has more than data.mining_max_passages={data.mining_max_passages} '
          'passages: BM25 mining indexes the corpus in memory. Give hard negatives in the '
          'file (e.g. mined with Pyserini), raise the limit, or set '
          'data.mine_negatives=none')
  logging.info('mining BM25 negatives for %d questions over %d passages', len(lacking),
               len(passages))
  index = bm25.BM25([f'{p.title} {p.text}' for p in passages])
  return {q.query.id: negative_mining.mine(index, passages, q.query.question, q.query.answers,
                                           q.positives, data.mined_negatives)
          for q in lacking}


def data_dir(config: ml_collections.ConfigDict, workdir) -> epath.Path:
  """Makes `workdir/data` from `config.data.files` (module docstring) and returns it."""
  data = config.data
  check(data)
  files = configured(data.files)
  directory = epath.Path(workdir) / 'data'
  inputs = {field: f'sha256:{manifest_lib.sha256_file(path)}' for field, path in files.items()}
  settings = {'files': {field: os.fspath(path) for field, path in files.items()},
              'mine_negatives': data.mine_negatives, 'mined_negatives': data.mined_negatives,
              'on_bad_record': config.on_bad_record}

  def link_all(d, refresh):
    for field, path in files.items():
      if field in LINKED:
        _link(path, d / LINKED[field], refresh=refresh)

  def produce(d):
    for name in LINKED.values():
      if os.path.lexists(d / name) or (d / name).exists():  # a link, or a copy on gs://
        (d / name).unlink()
    link_all(d, refresh=True)
    policy = errors.BadRecordPolicy.from_name(config.on_bad_record)
    listing = {LINKED[field]: {'source': os.fspath(path), 'sha256': inputs[field]}
               for field, path in files.items() if field in LINKED}
    outputs = [FILES_JSON]
    extra = {}
    if 'train_dpr' in files:
      groups, questions, extra['train_dpr'] = _groups_from_dpr(data, files['train_dpr'], policy)
      train_groups_format.write_train_groups(d / 'train_groups.jsonl', groups)
      outputs.append('train_groups.jsonl')
      if 'train' not in files:
        queries_format.write_queries(d / 'queries/train.jsonl', questions)
        outputs.append('queries/train.jsonl')
    splits = {split: _query_split(d / f'queries/{split}.jsonl', policy)
              for split in QUERY_SPLITS if (d / f'queries/{split}.jsonl').exists()}
    atomic.write_text(d / FILES_JSON, json.dumps({'files': listing, 'splits': splits},
                                                 indent=1, sort_keys=True) + '\n')
    return outputs, {**extra, 'splits': splits, 'bad_records': policy.summary()}

  stage_dir.run(directory, stage='data', config=settings, inputs=inputs, produce=produce)
  # Links are not outputs (files.json holds their sources' digests): made again if missing.
  link_all(directory, refresh=False)
  return directory


def splits(data: epath.Path) -> dict[str, dict]:
  """{split: {'queries', 'labeled'}} of a data directory made here ({} for other data)."""
  path = epath.Path(data) / FILES_JSON
  return json.loads(path.read_text())['splits'] if path.exists() else {}
