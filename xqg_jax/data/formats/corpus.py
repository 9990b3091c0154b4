"""The DPR corpus TSV (`psgs_w100.tsv`): `id<TAB>text<TAB>title`, one passage per line.

The header line `id\\ttext\\ttitle` is optional (detected on line 1). Fields are quoted the way
DPR's `csv` writer quotes them: a field holding a tab or a double quote is wrapped in double
quotes, with inner quotes doubled. A passage is one line, so line breaks inside fields cannot be
written.
"""

import csv
from typing import Iterable, Iterator

from xqg_jax.data import errors
from xqg_jax.data import records
from xqg_jax.data.formats import fields
from xqg_jax.data.formats import lines
from xqg_jax.io import atomic

COLUMNS = ('id', 'text', 'title')
HEADER = '\t'.join(COLUMNS)
_SCHEMA = {
    'id': fields.string(non_empty=True),
    'text': fields.string(non_empty=True),
    'title': fields.string(),
}


def _parse(text: str) -> records.Passage:
  try:
    row = next(csv.reader((text,), delimiter='\t', strict=True))
  except csv.Error as e:
    reason = str(e).replace('\t', '\\t')  # csv names the tab literally.
    raise fields.Invalid('bad_quoting', f'bad TSV quoting: {reason}') from None
  return records.Passage(**fields.check_object(fields.columns(row, COLUMNS, 'tab'), _SCHEMA))


def read_corpus(path, policy: errors.BadRecordPolicy | None = None, *,
                check_duplicates: bool = True) -> Iterator[records.Passage]:
  """Streams the passages of `path`.

  Bad kinds: those of `lines.read_records`, `bad_quoting` (e.g. an unterminated quote),
  `wrong_column_count`, `empty_id`, `empty_text` and `duplicate`. `check_duplicates` keeps every
  id in memory (about 100 bytes each); turn it off for the full 21M-passage file.
  """
  # The line length limit already bounds memory; csv's own 128 KiB field limit would reject
  # long but valid passages. Only ever raised, never lowered.
  csv.field_size_limit(max(csv.field_size_limit(), lines.MAX_LINE_BYTES))
  key = (lambda passage: passage.id) if check_duplicates else None
  return (passage for _, passage in lines.read_records(path, policy, _parse, key=key,
                                                       header=HEADER))


def write_corpus(path, passages: Iterable[records.Passage], header: bool = True) -> int:
  """Writes `passages` to `path` atomically, quoting as DPR does; returns how many were written.

  Raises ValueError for a field with a line break.
  """
  count = 0
  with atomic.atomic_open(path, 'w') as f:
    writer = csv.writer(f, delimiter='\t', lineterminator='\n')
    if header:
      writer.writerow(COLUMNS)
    for passage in passages:
      row = (passage.id, passage.text, passage.title)
      if any('\n' in value or '\r' in value for value in row):
        raise ValueError(f'passage {passage.id!r} has a line break; a TSV passage is one line')
      writer.writerow(row)
      count += 1
  return count
