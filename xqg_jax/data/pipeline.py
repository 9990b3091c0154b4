"""grain input pipelines: a global order independent of the process count, static shapes.

Every epoch's order is planned globally (`global_plan`) as a pure function of the seed, the epoch,
the number of records and (for length bucketing) their token lengths, never of the process count:
optional seeded shuffle -> global batches -> optional length bucketing (within a window of global
batches: sort rows by length, cut batches, pad each to the smallest bucket >= its longest row,
shuffle the batch order with the seed). Process `p` of `P` reads rows `[p*B/P, (p+1)*B/P)` of
every global batch, so the batches of all processes, concatenated in process order, are the
global batches. The last partial global batch is padded with rows marked `valid=False`.

Batches are dicts of numpy arrays: int32 `input_ids`, `attention_mask` (and `token_type_ids` when
the tokenizer has them), bool `valid` and `truncated` row masks, and host-side string ids (object
arrays, never sent to devices).

grain has no windowed sort-by-length primitive and its shuffle cannot be read out as a plan, so
the plan is numpy over int64 row indices (8 bytes a record); fetching rows, tokenising and padding
are grain `MapDataset` transformations over the plan. Iterate the result directly or through
`.to_iter_dataset(grain.ReadOptions(num_threads=k))`; the order is the same either way.
"""

import dataclasses
import functools
from typing import Any, Callable, Protocol, Sequence

import grain
import numpy as np
import tokenizers

from xqg_jax import randomness
from xqg_jax.data import records

PAD_ROW = -1
BUCKET_WINDOW = 16  # Global batches sorted together when bucketing by length.
# Purpose tags keep the random streams of the shuffle, bucket order and group sampling apart.
_SHUFFLE, _BUCKET_ORDER, _GROUP = 0, 1, 2


class RandomAccess(Protocol):
  """A source of records: a list, a TFDS data source, a grain `MapDataset`."""

  def __len__(self) -> int:
    ...

  def __getitem__(self, index: int) -> Any:
    ...


def _rng(seed: int, epoch: int, purpose: int, *keys) -> np.random.Generator:
  return randomness.numpy_rng(seed, epoch, purpose, *keys)


def passage_text(passage: records.Passage) -> str:
  """The text a passage is encoded from (Tevatron's `title text`), in training and encoding."""
  return f'{passage.title} {passage.text}'.strip()


@dataclasses.dataclass(frozen=True)
class GlobalPlan:
  """Row indices of every global batch (`PAD_ROW` pads) and the bucket length of each batch."""
  rows: np.ndarray  # int64 [num_batches, batch_size]
  lengths: np.ndarray | None  # int32 [num_batches]; None when the caller pads to fixed lengths

  def process_rows(self, process_index: int, process_count: int) -> np.ndarray:
    """This process's contiguous slice of every global batch: [num_batches, batch_size / P]."""
    batch_size = self.rows.shape[1]
    if batch_size % process_count or not 0 <= process_index < process_count:
      raise ValueError(f'cannot give process {process_index} of {process_count} an equal slice '
                       f'of global batches of {batch_size}')
    size = batch_size // process_count
    return self.rows[:, process_index * size:(process_index + 1) * size]


def _to_batches(order: np.ndarray, batch_size: int) -> np.ndarray:
  padded = np.full(-(-len(order) // batch_size) * batch_size, PAD_ROW, np.int64)
  padded[:len(order)] = order
  return padded.reshape(-1, batch_size)


def global_plan(num_records: int, batch_size: int, *, seed: int = 0, epoch: int = 0,
                shuffle: bool = False, drop_remainder: bool = False,
                length_keys: np.ndarray | None = None, buckets: Sequence[int] | None = None,
                window: int = BUCKET_WINDOW) -> GlobalPlan:
  """Plans one epoch's global batches (see the module docstring).

  Args:
    num_records: records in the source.
    batch_size: rows of a global batch.
    seed: non-negative seed of the shuffle and the bucketed batch order.
    epoch: non-negative epoch; each epoch has its own order.
    shuffle: shuffle the records before batching.
    drop_remainder: drop the last `num_records % batch_size` records (after the shuffle)
      instead of padding a partial batch.
    length_keys: per-record lengths (already capped at the maximum length); with them, rows are
      bucketed by length in windows of `window` global batches.
    buckets: the allowed padded lengths. Without `length_keys` every batch gets the largest;
      without `buckets` the plan has no lengths.
    window: global batches sorted together when bucketing.
  """
  if shuffle:
    order = _rng(seed, epoch, _SHUFFLE).permutation(num_records)
  else:
    order = np.arange(num_records, dtype=np.int64)
  if drop_remainder:
    order = order[:num_records // batch_size * batch_size]
  if buckets is None:
    return GlobalPlan(_to_batches(order, batch_size), None)
  buckets = np.asarray(sorted(buckets), np.int32)
  if length_keys is None:
    rows = _to_batches(order, batch_size)
    return GlobalPlan(rows, np.full(len(rows), buckets[-1], np.int32))
  keys = np.asarray(length_keys)
  if len(keys) != num_records:
    raise ValueError(f'{len(keys)} length keys for {num_records} records')
  if len(keys) and keys.max() > buckets[-1]:
    raise ValueError(f'a length key of {keys.max()} exceeds the largest bucket {buckets[-1]}')
  rows, lengths = [np.zeros((0, batch_size), np.int64)], [np.zeros(0, np.int32)]
  span = window * batch_size
  for w, start in enumerate(range(0, len(order), span)):
    chunk = order[start:start + span]
    batches = _to_batches(chunk[np.argsort(keys[chunk], kind='stable')], batch_size)
    longest = np.where(batches == PAD_ROW, 0, keys[batches]).max(axis=1)
    permutation = _rng(seed, epoch, _BUCKET_ORDER, w).permutation(len(batches))
    rows.append(batches[permutation])
    lengths.append(buckets[np.searchsorted(buckets, longest)][permutation])
  return GlobalPlan(np.concatenate(rows), np.concatenate(lengths))


class Tokenize:
  """Tokenises with an HF fast tokenizer, truncating to `max_len`, and pads to a given length.

  It encodes with its own copy of the backend tokenizer, configured once: the HF call sets the
  shared backend's truncation on every call, which races between grain threads.
  """

  def __init__(self, tokenizer, max_len: int):
    if tokenizer.pad_token_id is None:
      raise ValueError('the tokenizer has no padding token')
    self._backend = tokenizers.Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())
    self._backend.no_padding()
    self._backend.enable_truncation(max_len, direction=tokenizer.truncation_side)
    self._pad_id = tokenizer.pad_token_id
    self._type_ids = 'token_type_ids' in tokenizer.model_input_names
    self.max_len = max_len

  def lengths(self, texts: Sequence[str]) -> np.ndarray:
    """Token counts after truncation (special tokens included)."""
    return np.array([len(e.ids) for e in self._backend.encode_batch(list(texts))], np.int32)

  def __call__(self, texts: Sequence[str],
               length: int | None = None) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Returns int32 arrays [len(texts), length or max_len] and the truncated-row mask."""
    length = length or self.max_len
    encodings = self._backend.encode_batch(list(texts))
    shape = (len(encodings), length)
    arrays = {'input_ids': np.full(shape, self._pad_id, np.int32),
              'attention_mask': np.zeros(shape, np.int32)}
    if self._type_ids:
      arrays['token_type_ids'] = np.zeros(shape, np.int32)
    truncated = np.zeros(len(encodings), bool)
    for i, e in enumerate(encodings):
      n = len(e.ids)
      if n > length:
        raise ValueError(f'a row of {n} tokens does not fit the padded length {length}')
      arrays['input_ids'][i, :n] = e.ids
      arrays['attention_mask'][i, :n] = e.attention_mask
      if self._type_ids:
        arrays['token_type_ids'][i, :n] = e.type_ids
      truncated[i] = bool(e.overflowing)
    return arrays, truncated


def token_lengths(source: RandomAccess, text_fn: Callable[[Any], str], tokenize: Tokenize,
                  chunk_size: int = 1024) -> np.ndarray:
  """Truncated token lengths of every record of `source`, in order (the bucketing keys)."""
  ds = grain.MapDataset.source(source).map(text_fn).batch(chunk_size, batch_fn=tokenize.lengths)
  return np.concatenate([np.zeros(0, np.int32), *ds])


def _fetch(source: RandomAccess, row: int) -> Any:
  return None if row == PAD_ROW else source[int(row)]


def batched(source: RandomAccess, plan: GlobalPlan,
            collate: Callable[[list[Any], int | None], dict[str, Any]], *,
            process_index: int, process_count: int) -> grain.MapDataset:
  """This process's batches of `plan`, one per global batch, built by grain.

  `collate(records, length)` gets the batch's records (None for padding rows) and the plan's
  bucket length for the batch (None when the plan has none) and returns the batch dict.
  """
  rows = plan.process_rows(process_index, process_count)
  lengths = plan.lengths
  ds = grain.MapDataset.source(rows.reshape(-1)).map(functools.partial(_fetch, source))
  ds = ds.batch(rows.shape[1], batch_fn=list)
  return ds.map_with_index(
      lambda i, batch: collate(batch, None if lengths is None else int(lengths[i])))


def _ids(values: list[str]) -> np.ndarray:
  ids = np.empty(len(values), object)
  ids[:] = values
  return ids


def _encode_collate(tokenize: Tokenize, text_fn, id_fn, batch: list[Any],
                    length: int) -> dict[str, Any]:
  valid = np.array([r is not None for r in batch], bool)
  arrays, truncated = tokenize([text_fn(r) if r is not None else '' for r in batch], length)
  ids = _ids([id_fn(r) if r is not None else '' for r in batch])
  return {**arrays, 'valid': valid, 'truncated': truncated & valid, 'ids': ids}


def _usable_buckets(buckets: Sequence[int] | None, max_len: int) -> tuple[int, ...]:
  """The buckets below `max_len` plus the smallest one that holds it."""
  buckets = sorted(set(buckets or (max_len,)))
  if buckets[0] <= 0 or buckets[-1] < max_len:
    raise ValueError(f'buckets {buckets} must be positive and include one >= max_len {max_len}')
  return tuple(b for b in buckets if b < max_len) + (next(b for b in buckets if b >= max_len),)


def encode_batches(source: RandomAccess, tokenizer, *, text_fn: Callable[[Any], str],
                   id_fn: Callable[[Any], str], max_len: int, batch_size: int,
                   buckets: Sequence[int] | None = None, process_index: int = 0,
                   process_count: int = 1, seed: int = 0,
                   window: int = BUCKET_WINDOW) -> grain.MapDataset:
  """Batches for encoding every record of `source` exactly once, in a deterministic order.

  Batches hold `input_ids`, `attention_mask` [(token_type_ids)] int32 [batch_size / P, L] with
  `L` from `buckets` (default: `max_len`), `valid`, `truncated` and `ids` (`id_fn` of each row).
  With several buckets, the records are tokenised once more up front to get their lengths.
  """
  buckets = _usable_buckets(buckets, max_len)
  tokenize = Tokenize(tokenizer, max_len)
  keys = token_lengths(source, text_fn, tokenize) if len(buckets) > 1 else None
  plan = global_plan(len(source), batch_size, seed=seed, length_keys=keys, buckets=buckets,
                     window=window)
  collate = functools.partial(_encode_collate, tokenize, text_fn, id_fn)
  return batched(source, plan, collate, process_index=process_index,
                 process_count=process_count)


def sample_group(group: records.TrainGroup, group_size: int, seed: int,
                 epoch: int) -> tuple[list[records.Passage], bool]:
  """A positive and `group_size - 1` negatives, from (seed, epoch, query id) only.

  Negatives never repeat a positive's id and are drawn without replacement unless there are
  too few; the flag says when they were drawn with replacement.
  """
  if not group.positive_passages:
    raise ValueError(f'training group {group.query_id!r} has no positive passage')
  rng = _rng(seed, epoch, _GROUP, group.query_id)
  positive = group.positive_passages[rng.integers(len(group.positive_passages))]
  positive_ids = {p.id for p in group.positive_passages}
  negatives = [p for p in group.negative_passages if p.id not in positive_ids]
  count = group_size - 1
  if count == 0:
    return [positive], False
  if not negatives:
    raise ValueError(f'training group {group.query_id!r} has no negative passage')
  resampled = len(negatives) < count
  picks = rng.choice(len(negatives), size=count, replace=resampled)
  return [positive, *(negatives[i] for i in picks)], resampled


_EMPTY_PASSAGE = records.Passage(id='', text='', title='')


def _train_collate(q_tokenize: Tokenize, p_tokenize: Tokenize, group_size: int, seed: int,
                   epoch: int, batch: list[records.TrainGroup | None],
                   _: None) -> dict[str, Any]:
  queries, query_ids, passages, resampled = [], [], [], []
  for group in batch:
    if group is None:
      sampled, again = [_EMPTY_PASSAGE] * group_size, False
      queries.append('')
      query_ids.append('')
    else:
      sampled, again = sample_group(group, group_size, seed, epoch)
      queries.append(group.query)
      query_ids.append(group.query_id)
    passages.extend(sampled)
    resampled.append(again)
  valid = np.array([g is not None for g in batch], bool)
  query, query_truncated = q_tokenize(queries)
  passage, passage_truncated = p_tokenize([passage_text(p) for p in passages])
  return {'query': query, 'passage': passage, 'valid': valid,
          'query_truncated': query_truncated & valid,
          'passage_truncated': passage_truncated & np.repeat(valid, group_size),
          'negatives_resampled': np.array(resampled, bool),
          'query_id': _ids(query_ids), 'passage_id': _ids([p.id for p in passages])}


def train_batches(groups_source: RandomAccess, tokenizer, *, group_size: int, q_max_len: int,
                  p_max_len: int, batch_size: int, seed: int, epoch: int,
                  process_index: int = 0, process_count: int = 1,
                  drop_remainder: bool = True) -> grain.MapDataset:
  """Shuffled contrastive training batches from a source of `records.TrainGroup`.

  Each batch holds `query` (arrays [batch_size / P, q_max_len]) and `passage` (arrays
  [batch_size / P * group_size, p_max_len], each query's positive then its negatives),
  `valid`, `query_truncated`, `passage_truncated`, `negatives_resampled`, `query_id` and
  `passage_id`. With `drop_remainder=False` the last partial batch is padded (`valid=False`).
  """
  plan = global_plan(len(groups_source), batch_size, seed=seed, epoch=epoch, shuffle=True,
                     drop_remainder=drop_remainder)
  collate = functools.partial(_train_collate, Tokenize(tokenizer, q_max_len),
                              Tokenize(tokenizer, p_max_len), group_size, seed, epoch)
  return batched(groups_source, plan, collate, process_index=process_index,
                 process_count=process_count)
