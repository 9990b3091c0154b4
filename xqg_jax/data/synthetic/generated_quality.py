"""How good are generated questions? Checks that only the synthetic world makes possible.

Per language: the share of generated letters in the language's own script; the share of
questions that name the passage's entity (its transliteration or its Latin name); and the
share that are answerable from the source passage: they name the entity and use the predicate
word of a fact that this passage states, so the fact's English answer span is in the passage.
"""

import collections
from typing import Iterable

import regex

from xqg_jax import languages
from xqg_jax.data import records
from xqg_jax.data.synthetic import benchmark as benchmark_lib
from xqg_jax.data.synthetic import grammar
from xqg_jax.data.synthetic import orthography

_LETTER = regex.compile(r'[\p{L}\p{M}]')


def _entity_names(bench: benchmark_lib.SyntheticBenchmark, entity: int, lang: str) -> set[str]:
  name = bench.world.name(entity)
  parts = (name.first, name.core) if name.first else (name.core,)
  return {name.bare, ' '.join(orthography.transliterate_name(lang, p) for p in parts)}


def compute(bench: benchmark_lib.SyntheticBenchmark,
            passages: Iterable[records.AugmentedPassage]) -> dict:
  """{lang: {questions, own_script_letter_share, names_entity, answerable}}."""
  counts = collections.defaultdict(collections.Counter)
  per = bench.world.passages_per_entity
  for row in passages:
    pid = int(row.docid.removeprefix('syn'))
    entity, part = divmod(pid, per)
    kind = bench.world.kind(entity)
    stated = [relation for relation in
              (f.relation for f in bench.world.entity(entity).facts)
              if bench.world.fact_passage(entity, relation) == part]
    for lang, questions in row.generated_queries.items():
      forms = bench.lexicons.forms(lang)
      predicates = {forms_word for relation in stated
                    for forms_word in forms[grammar.RELATION_CONCEPTS[(kind, relation)][1]]}
      names = _entity_names(bench, entity, lang)
      for question in questions:
        c = counts[lang]
        c['questions'] += 1
        letters = _LETTER.findall(question)
        c['letters'] += len(letters)
        c['own_letters'] += sum(languages.in_script(ch, lang) for ch in letters)
        has_name = any(name in question for name in names)
        c['names_entity'] += has_name
        words = set(question.rstrip('?？؟፧').split())
        c['answerable'] += has_name and bool(predicates & words)
  return {lang: {'questions': c['questions'],
                 'own_script_letter_share': c['own_letters'] / max(c['letters'], 1),
                 'names_entity': c['names_entity'] / max(c['questions'], 1),
                 'answerable': c['answerable'] / max(c['questions'], 1)}
          for lang, c in counts.items()}
