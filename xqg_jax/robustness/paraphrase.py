"""Paraphrase attacks: a query replaced by a meaning-preserving rewrite.

Unit: 'word' = a whitespace-separated token (punctuation stays attached to its word; a query
written without spaces, as real Japanese is, counts as one word). `edits` is the word-level
Levenshtein distance between query and paraphrase (a moved word costs 2: delete + insert);
`budget` is the largest distance allowed, and rewrites over it are skipped. With `budget=None`
nothing is skipped and each query records the largest possible distance, max(words of the
query, words of the rewrite), as its budget. A rewrite with distance 0 (the query itself, or a
whitespace change) is no paraphrase.

Two sources:
- `KnownParaphrase`: a paraphrase JSONL (`data.formats.paraphrases`): the synthetic
  benchmark's known surface forms (`{data_dir}/paraphrases/{split}.jsonl`) or a user's file.
  One acceptable paraphrase per query is picked uniformly with randomness from
  (seed, attack name, query id).
- `ModelParaphraser`: a seq2seq paraphraser in HF T5 / mT5 format, run through our Flax T5 and
  KV-cached decoder (`generate_stage.Generator` loads and shards it). The input is
  `prompt.format(query=...)` (e.g. `paraphrase: {query}`); sample r of a query draws from
  (seed, attack name, query id, r), so outputs do not depend on batching. The first of the
  `num_return_sequences` outputs that is non-empty, changed and within budget is taken.
"""

import dataclasses
from typing import Mapping, Sequence

import ml_collections

from xqg_jax import randomness
from xqg_jax.data import records
from xqg_jax.data.formats import paraphrases as paraphrases_format
from xqg_jax.generation import decoding
from xqg_jax.generation import generate_stage
from xqg_jax.parallel import xla_options
from xqg_jax.robustness import attacked_set

UNIT = 'word'


@dataclasses.dataclass(frozen=True)
class Runtime:
  """Where a model paraphraser runs: the device mesh, its logical-axis rules, the dtype and the
  XLA options of the decode loop (None: XLA's own)."""
  mesh_spec: tuple
  rules: tuple
  dtype: str
  compiler_options: dict | None = None

  @classmethod
  def from_config(cls, config: ml_collections.ConfigDict) -> 'Runtime':
    """The run's mesh and rules, the generator's dtype (`xqg.dtype`) and its decode loop's XLA
    options (`generate.compiler_options`)."""
    return cls(tuple(config.mesh), tuple(config.logical_axis_rules), config.xqg.dtype,
               xla_options.for_backend(config.generate.compiler_options))


def word_distance(a: str, b: str) -> int:
  """Levenshtein distance between the whitespace tokens of `a` and `b`."""
  x, y = a.split(), b.split()
  previous = list(range(len(y) + 1))
  for i, word in enumerate(x, 1):
    current = [i]
    for j, other in enumerate(y, 1):
      current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (word != other)))
    previous = current
  return previous[-1]


def _acceptable(query: records.Query, rewrites: Sequence[str], budget: int | None
                ) -> tuple[list[tuple[str, int]], str]:
  """Distinct rewrites that change the query within budget with their distances, else a reason."""
  changed = {}
  for text in rewrites:
    text = text.strip()
    distance = word_distance(query.question, text)
    if text and distance:
      changed.setdefault(text, distance)
  within = [(t, d) for t, d in changed.items() if budget is None or d <= budget]
  if within:
    return within, ''
  if not changed:
    return [], f'none of its {len(rewrites)} rewrites changes a word (empty or the query itself)'
  return [], (f'all {len(changed)} changed rewrites exceed the budget of {budget} words '
              f'(closest: {min(changed.values())})')


def _result(query: records.Query, choice: tuple[str, int] | None, budget: int | None,
            reason: str) -> attacked_set.AttackedQuery:
  length = len(query.question.split())
  if choice is None:
    return attacked_set.unattacked(query, reason=reason, unit=UNIT, length=length,
                             budget=length if budget is None else budget)
  text, distance = choice
  limit = max(length, len(text.split())) if budget is None else budget
  return attacked_set.AttackedQuery(query.id, query.lang, query.question, text, distance, length,
                              limit, UNIT)


def _check_budget(budget):
  if budget is not None and (isinstance(budget, bool) or not isinstance(budget, int)
                             or budget < 1):
    raise ValueError(f'paraphrase budget must be an integer >= 1 (words) or None, got {budget!r}')


def read_table(path) -> dict[str, paraphrases_format.Paraphrases]:
  """{query id: its row} of a paraphrase JSONL; bad lines raise naming file and line."""
  return {row.id: row for row in paraphrases_format.read_paraphrases(path)}


class KnownParaphrase:
  """Replaces each query with one of its listed paraphrases."""

  def __init__(self, table: Mapping[str, paraphrases_format.Paraphrases], *, seed: int,
               budget: int | None = None, origin: str = 'the paraphrase table',
               name: str = 'paraphrase'):
    _check_budget(budget)
    self.table, self.seed, self.budget, self.origin, self.name = table, seed, budget, origin, name

  @classmethod
  def from_file(cls, path, **kwargs) -> 'KnownParaphrase':
    return cls(read_table(path), origin=str(path), **kwargs)

  def _attack(self, query: records.Query) -> attacked_set.AttackedQuery:
    row = self.table.get(query.id)
    if row is None:
      return _result(query, None, self.budget, f'no paraphrases of this query in {self.origin}')
    if row.lang != query.lang:
      raise ValueError(f'{self.origin}: query {query.id!r} is {query.lang!r} but its '
                       f'paraphrases are {row.lang!r}')
    choices, reason = _acceptable(query, row.paraphrases, self.budget)
    if not choices:
      return _result(query, None, self.budget, reason)
    rng = randomness.numpy_rng(self.seed, self.name, query.id)
    return _result(query, choices[rng.integers(len(choices))], self.budget, '')

  def __call__(self, queries: Sequence[records.Query]) -> list[attacked_set.AttackedQuery]:
    return [self._attack(q) for q in queries]


def load_generator(model_dir: str, tokenizer_dir: str, *, seed: int,
                   sampling: decoding.SamplingConfig, batch_size: int, input_max_len: int,
                   runtime: Runtime, devices=None) -> generate_stage.Generator:
  """A `Generator` for `model_dir` with the paraphraser's own decoding settings, on the run's
  mesh and dtype (`runtime`)."""
  return generate_stage.Generator(
      model_dir, tokenizer_dir, dtype=runtime.dtype, input_max_len=input_max_len,
      sampling=sampling, seed=seed, batch_size=batch_size,
      compiler_options=runtime.compiler_options, mesh_spec=runtime.mesh_spec,
      rules=runtime.rules, devices=devices)


class ModelParaphraser:
  """Replaces each query with a seq2seq model's rewrite of it."""

  def __init__(self, generator: generate_stage.Generator, *, prompt: str,
               budget: int | None = None, name: str = 'paraphrase_model'):
    _check_budget(budget)
    try:
      probe = prompt.format(query='\0')
    except (KeyError, IndexError, ValueError) as e:
      raise ValueError(f'paraphrase prompt {prompt!r} must hold {{query}} and no other '
                       f'field ({e!r})') from None
    if '\0' not in probe:
      raise ValueError(f'paraphrase prompt {prompt!r} must hold {{query}}')
    self.generator, self.prompt, self.budget, self.name = generator, prompt, budget, name

  def __call__(self, queries: Sequence[records.Query]) -> list[attacked_set.AttackedQuery]:
    if not queries:
      return []
    outputs, truncated = self.generator.texts(
        [self.prompt.format(query=q.question) for q in queries],
        [(self.name, q.id) for q in queries], desc=f'attack {self.name}')
    rows = []
    for query, rewrites, cut in zip(queries, outputs, truncated):
      if cut:
        rows.append(_result(query, None, self.budget,
                            f'the prompt is longer than {self.generator.tokenize.max_len} '
                            'tokens (input_max_len): the model would not see the whole query'))
        continue
      choices, reason = _acceptable(query, rewrites, self.budget)
      rows.append(_result(query, choices[0] if choices else None, self.budget,
                          'the model: ' + reason if reason else ''))
    return rows
