"""Pre-training text for the query generator: names and questions about another world.

SIMULATION. A real mT5 has read names written in many scripts before it is fine-tuned, so it
can write an unseen English name in Telugu. A generator trained from scratch on the benchmark's
training questions has not: dev and test entities never occur in a training question, and a few
thousand questions are too few to learn how each script spells each syllable.

This text stands in for that pre-training. A second world (its own seed: other entities, other
names) gives, per entity, in a language drawn at random:
  name       `{Language} name: {title}` -> the name as that language writes it (what a
             multilingual encyclopedia's titles teach a real model); a person's first name is
             another entity's name, so that both words of a two-word name are new to spell;
  name_list  `{Language} names: {title}, {title}, ...` (1 to 3 names drawn from the world)
             -> their spellings joined by ', ': a name that starts mid-sequence, after other
             text, as it does inside a question (trained on single names only, the generator
             spelled a name well alone and badly inside its questions);
  question   the xQG prompt over the title and one English sentence stating a fact ->
             the benchmark's question writer's question about that fact.
A pair is left out when a word of its title or sentence is the name of a dev or test entity of
the benchmark, or when it would spell such a name in its language (spellings can merge), so no
pre-training text names an evaluation entity. Nothing here runs at generation time: the
generator learns the spellings from this text like from any other.
"""

import re
from typing import Iterator

from xqg_jax import randomness
from xqg_jax.data import prompts
from xqg_jax.data.formats import text_pairs
from xqg_jax.data.synthetic import benchmark as benchmark_lib
from xqg_jax.data.synthetic import world as world_lib

# The second world's seed is the benchmark's plus this (its names are other names).
WORLD_SEED_OFFSET = 1_000_003
KINDS = ('name', 'name_list', 'question')
MAX_LIST_NAMES = 3
LISTS_PER_ENTITY = 0.5  # `name_list` pairs per entity of the world
_WORD = re.compile(r'[A-Za-z]+')


def held_out_names(bench: benchmark_lib.SyntheticBenchmark) -> dict[str, set[str]]:
  """Names of the dev and test entities: {'en': core names, lang: spellings in lang}."""
  out: dict[str, set[str]] = {'en': set()}
  for entity in range(bench.world.num_entities):
    if bench.split_of(entity) == 'train':
      continue
    name = bench.world.name(entity)
    out['en'].add(name.core.english)
    for lang in bench.cfg.languages:
      out.setdefault(lang, set()).add(bench.spelling(name, lang))
  return out


def num_pairs(kind: str, num_entities: int) -> int:
  """How many pairs of `kind` a world of `num_entities` entities is asked for (before skips)."""
  return int(num_entities * LISTS_PER_ENTITY) if kind == 'name_list' else num_entities


def _pretraining_name(other: world_lib.World, index: int, rng) -> world_lib.EntityName:
  """Entity `index`'s name; a person's first name replaced by another entity's name."""
  name = other.name(index)
  if name.kind == 'person':
    first = other.name(int(rng.integers(other.num_entities))).core
    name = world_lib.EntityName(name.core, first, 'person')
  return name


def pairs(bench: benchmark_lib.SyntheticBenchmark, kind: str,
          num_entities: int) -> Iterator[text_pairs.TextPair]:
  """Pairs of `kind` about the first `num_entities` entities of the second world.

  `num_pairs(kind, num_entities)` pairs are drawn, deterministic in (benchmark seed, kind,
  pair index); pairs that would name a dev or test entity are skipped (see the module
  docstring), so fewer may come out.
  """
  if kind not in KINDS:
    raise ValueError(f'pre-training kind must be one of {KINDS}, got {kind!r}')
  if num_entities < 8:
    raise ValueError(f'pre-training needs at least 8 entities, got {num_entities}')
  other = world_lib.World(bench.cfg.seed + WORLD_SEED_OFFSET, num_entities,
                          bench.world.passages_per_entity, bench.world.words_per_passage)
  held_out = held_out_names(bench)
  langs = tuple(bench.cfg.languages)
  for index in range(num_pairs(kind, num_entities)):
    rng = randomness.numpy_rng(bench.cfg.seed, 'pretraining', kind, index)
    lang = langs[int(rng.integers(len(langs)))]
    if kind == 'question':
      ent = other.entity(index)
      fact = ent.facts[int(rng.integers(len(ent.facts)))]
      titles = [ent.name.english.removeprefix('the ')]
      spellings = [bench.spelling(ent.name, lang)]
      source = prompts.prompt(lang, titles[0], fact.sentence)
      english = f'{titles[0]} {fact.sentence}'
      target, _, _ = bench.write_question(ent, fact.relation, lang, rng)
    else:
      count = 1 if kind == 'name' else int(rng.integers(1, MAX_LIST_NAMES + 1))
      picks = [index] if kind == 'name' else rng.integers(num_entities, size=count).tolist()
      names = [_pretraining_name(other, pick, rng) for pick in picks]
      titles = [name.english.removeprefix('the ') for name in names]
      spellings = [bench.spelling(name, lang) for name in names]
      source, target = prompts.name_prompt(lang, titles), ', '.join(spellings)
      english = ' '.join(titles)
    if set(spellings) & held_out[lang] or set(_WORD.findall(english)) & held_out['en']:
      continue
    yield text_pairs.TextPair(f'{kind}-{index}', lang, source, target)
