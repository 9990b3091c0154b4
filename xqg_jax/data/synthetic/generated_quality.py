"""How good are generated questions? Checks that only the synthetic world makes possible.

Per entity split of the passages (train, dev, test: dev and test entities never occur in a
training question) and per language:
  questions           how many were generated
  own_script          share of their letters in the language's own script
  names_entity        share that write the passage's entity as the language spells it (the
                      benchmark's questions do so 90% of the time, and queries match on it)
  names_entity_latin  share that write it in English instead
  distinct            share of distinct questions among each passage's questions in the language
  answerable          share that name the entity (either way) and use the predicate word of a
                      fact this passage states, so the fact's English answer span is in it
"""

import collections
from typing import Iterable

import regex

from xqg_jax import languages
from xqg_jax.data import records
from xqg_jax.data.synthetic import benchmark as benchmark_lib
from xqg_jax.data.synthetic import grammar

_LETTER = regex.compile(r'[\p{L}\p{M}]')
MEASURES = ('own_script', 'names_entity', 'names_entity_latin', 'distinct', 'answerable')


def question_quality(question: str, lang: str, spelling: str, latin: str,
                     predicates: set[str]) -> dict[str, int]:
  """Counts of one question: letters, own-script letters, and 0/1 per naming check."""
  letters = _LETTER.findall(question)
  names = spelling in question
  latin_name = latin in question
  words = set(question.rstrip('?？؟፧').split())
  return {'letters': len(letters),
          'own_letters': sum(languages.in_script(ch, lang) for ch in letters),
          'names_entity': int(names), 'names_entity_latin': int(latin_name),
          'answerable': int((names or latin_name) and bool(predicates & words))}


def compute(bench: benchmark_lib.SyntheticBenchmark,
            passages: Iterable[records.AugmentedPassage]) -> dict[str, dict[str, dict]]:
  """{split: {lang: {'questions', *MEASURES}}} over the passages of each entity split."""
  counts = collections.defaultdict(lambda: collections.defaultdict(collections.Counter))
  per = bench.world.passages_per_entity
  for row in passages:
    entity, part = divmod(int(row.docid.removeprefix('syn')), per)
    split = bench.split_of(entity)
    ent = bench.world.entity(entity)
    stated = [f.relation for f in ent.facts if bench.world.fact_passage(entity, f.relation) == part]
    for lang, questions in row.generated_queries.items():
      forms = bench.lexicons.forms(lang)
      predicates = {word for relation in stated
                    for word in forms[grammar.RELATION_CONCEPTS[(ent.kind, relation)][1]]}
      spelling = bench.spelling(ent.name, lang)
      c = counts[split][lang]
      c['questions'] += len(questions)
      c['distinct'] += len(set(questions))
      for question in questions:
        c.update(question_quality(question, lang, spelling, ent.name.bare, predicates))
  out = {}
  for split in benchmark_lib.SPLITS:
    if split not in counts:
      continue
    out[split] = {}
    for lang, c in counts[split].items():
      n = max(c['questions'], 1)
      out[split][lang] = {'questions': c['questions'],
                          'own_script': c['own_letters'] / max(c['letters'], 1),
                          **{k: c[k] / n for k in MEASURES if k != 'own_script'}}
  return out
