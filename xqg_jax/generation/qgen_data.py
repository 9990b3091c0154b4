"""xQG training examples: (prompt for language L with the positive passage) -> the L question.

Pairs come from the training groups' positive passages and the training queries' languages
(`data.prompts`: "Generate a {Language} question for this passage"). Batches follow the
same global, process-count-independent plan as every other pipeline (`data.pipeline`).
"""

import collections
import dataclasses
import functools
from typing import Any, Sequence

import grain
import numpy as np

from xqg_jax import randomness
from xqg_jax.data import pipeline
from xqg_jax.data import records
from xqg_jax.data import prompts


@dataclasses.dataclass(frozen=True)
class Example:
  query_id: str
  lang: str
  prompt: str
  target: str


def examples(groups: Sequence[records.TrainGroup], query_langs: dict[str, str],
             languages: Sequence[str]) -> list[Example]:
  """One example per (group, positive passage) whose query is in `languages`."""
  out = []
  for group in groups:
    if group.query_id not in query_langs:
      raise KeyError(f'training group {group.query_id!r} has no query in the train queries '
                     'file (its language is unknown)')
    lang = query_langs[group.query_id]
    if lang not in languages:
      continue
    for passage in group.positive_passages:
      out.append(Example(group.query_id, lang, prompts.prompt(lang, passage.title, passage.text),
                         group.query))
  return out


def rebalance(items: Sequence[Example], alpha: float, seed: int) -> list[Example]:
  """The same number of examples, language L's share proportional to n_L ** alpha.

  alpha 1 keeps the natural mix, 0 makes languages equal (mT5's language sampling). A language
  is repeated whole as often as its share allows, then a seeded subset fills the rest.
  """
  if alpha == 1.0:
    return list(items)
  by_lang = collections.defaultdict(list)
  for item in items:
    by_lang[item.lang].append(item)
  langs = sorted(by_lang)
  weights = np.array([len(by_lang[lang]) ** alpha for lang in langs])
  quotas = np.floor(len(items) * weights / weights.sum()).astype(int)
  quotas[np.argsort(-weights)[:len(items) - quotas.sum()]] += 1  # exact total
  out = []
  for lang, quota in zip(langs, quotas):
    pool = by_lang[lang]
    rng = randomness.numpy_rng(seed, 'rebalance', lang)
    whole, rest = divmod(int(quota), len(pool))
    out += pool * whole + [pool[i] for i in sorted(rng.permutation(len(pool))[:rest])]
  return out


def _collate(inputs: pipeline.Tokenize, targets: pipeline.Tokenize, start_id: int,
             shapes: Sequence[tuple[int, int]] | None, batch: list[Example | None],
             bucket: int | None) -> dict[str, Any]:
  valid = np.array([e is not None for e in batch], bool)
  input_len, target_len = shapes[bucket] if shapes else (None, None)
  source, source_truncated = inputs([e.prompt if e else '' for e in batch], input_len)
  target, target_truncated = targets([e.target if e else '' for e in batch], target_len)
  labels = target['input_ids']
  decoder_inputs = np.concatenate(
      [np.full((len(batch), 1), start_id, np.int32), labels[:, :-1]], axis=1)
  weights = target['attention_mask'] * valid[:, None]
  return {'input_ids': source['input_ids'], 'attention_mask': source['attention_mask'],
          'decoder_input_ids': decoder_inputs, 'labels': labels,
          'weights': weights.astype(np.float32), 'valid': valid,
          'input_truncated': source_truncated & valid,
          'target_truncated': target_truncated & valid}


def shape_keys(items: Sequence[Example], tokenizer,
               shapes: Sequence[tuple[int, int]]) -> np.ndarray:
  """Per example, the index of the smallest (input, target) length pair of `shapes` that holds
  it (the last, truncating, when none does). Shapes must grow in both lengths."""
  if any(a[0] > b[0] or a[1] > b[1] for a, b in zip(shapes, shapes[1:])):
    raise ValueError(f'length buckets must grow in both lengths, got {list(shapes)}')
  input_len, target_len = shapes[-1]
  inputs = pipeline.Tokenize(tokenizer, input_len).lengths([e.prompt for e in items])
  targets = pipeline.Tokenize(tokenizer, target_len).lengths([e.target for e in items])
  keys = np.full(len(items), len(shapes) - 1, np.int32)
  for index in reversed(range(len(shapes) - 1)):
    keys[(inputs <= shapes[index][0]) & (targets <= shapes[index][1])] = index
  return keys


def train_batches(items: Sequence[Example], tokenizer, *, input_max_len: int,
                  target_max_len: int, decoder_start_id: int, batch_size: int, seed: int,
                  epoch: int, process_index: int = 0, process_count: int = 1,
                  drop_remainder: bool = True, shapes: Sequence[tuple[int, int]] = (),
                  keys: np.ndarray | None = None) -> grain.MapDataset:
  """Teacher-forcing batches: encoder inputs, decoder inputs (labels shifted right after the
  start token), labels and per-token loss weights (0 on padding and padding rows).

  Every batch is padded to (`input_max_len`, `target_max_len`), or with `shapes` (ascending
  (input, target) length pairs) and `keys` (`shape_keys` of `items`) to the smallest pair that
  holds its examples: examples of similar length are batched together (`pipeline.global_plan`),
  so short pairs do not pay for the longest.
  """
  if shapes:
    if keys is None or len(keys) != len(items):
      raise ValueError('length buckets need the shape key of every example (shape_keys)')
    input_max_len, target_max_len = shapes[-1]
  plan = pipeline.global_plan(len(items), batch_size, seed=seed, epoch=epoch, shuffle=True,
                              drop_remainder=drop_remainder,
                              length_keys=keys if shapes else None,
                              buckets=range(len(shapes)) if shapes else None)
  collate = functools.partial(_collate, pipeline.Tokenize(tokenizer, input_max_len),
                              pipeline.Tokenize(tokenizer, target_max_len), decoder_start_id,
                              tuple(shapes) or None)
  return pipeline.batched(items, plan, collate, process_index=process_index,
                          process_count=process_count)
