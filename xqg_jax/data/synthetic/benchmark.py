"""The offline synthetic cross-lingual retrieval benchmark: corpus, questions, groups, qrels.

A SIMULATION, not real data. English passages about a seeded world (`world.py`); questions in
ar, bn, fi, ja, ko, ru, te, am, km in their own scripts (`orthography.py`, `grammar.py`), whose
answers are English spans of one positive passage. Entities are split between train, dev and
test (10% dev, 10% test), so dev entity names were never seen in training questions: a
retriever must align scripts and lexicons, not memorise. Low-resource languages get fewer
training questions (`resource_scale`). Every item derives from (seed, item key) alone.
"""

import dataclasses
from typing import Iterator

import ml_collections

from xqg_jax import languages
from xqg_jax import randomness
from xqg_jax.data import records
from xqg_jax.data.synthetic import grammar
from xqg_jax.data.synthetic import orthography
from xqg_jax.data.synthetic import world as world_lib

SPLITS = ('train', 'dev', 'test')
_SPLIT_BUCKETS = {'dev': (0,), 'test': (1,), 'train': tuple(range(2, 10))}


@dataclasses.dataclass(frozen=True)
class Question:
  """A generated question with what it was generated from."""
  query: records.Query
  split: str
  entity: int
  relation: str
  positive: str  # docid of the passage stating the fact.
  name: str  # The entity name as written in the question.
  choices: grammar.Choices
  number: str | None  # The year in a yes/no question.


class SyntheticBenchmark:
  """The benchmark for a `config.synthetic` block; all methods are deterministic."""

  def __init__(self, cfg: ml_collections.ConfigDict):
    if cfg.hard_negatives >= (cfg.num_entities - 1) * cfg.passages_per_entity:
      raise ValueError(f'synthetic.hard_negatives={cfg.hard_negatives} needs more passages '
                       f'than {cfg.num_entities} entities give')
    for code in cfg.languages:
      languages.get(code)
      if code not in orthography.SUPPORTED:
        raise ValueError(f'the synthetic benchmark has no grammar for {code!r}; '
                         f'it supports {", ".join(orthography.SUPPORTED)}')
    self.cfg = cfg
    self.world = world_lib.World(cfg.seed, cfg.num_entities, cfg.passages_per_entity,
                                 cfg.words_per_passage)
    self.lexicons = grammar.Lexicons(cfg.seed, _english_vocabulary(self.world))

  # Corpus.
  def passages(self, start: int = 0, stop: int | None = None) -> Iterator[records.Passage]:
    """Passages [start, stop) in corpus order, generated on the fly."""
    stop = self.world.num_passages if stop is None else stop
    for pid in range(start, stop):
      docid, text, title = self.world.passage(pid)
      yield records.Passage(docid, text, title)

  # Questions.
  def split_of(self, entity: int) -> str:
    bucket = randomness.stable_hash(self.cfg.seed, 'split', entity) % 10
    return next(s for s, buckets in _SPLIT_BUCKETS.items() if bucket in buckets)

  def num_queries(self, split: str, lang: str) -> int:
    if split == 'train':
      scale = self.cfg.resource_scale[languages.get(lang).resource]
      return max(1, round(self.cfg.train_queries_per_language * scale))
    return self.cfg[f'{split}_queries_per_language']

  def question(self, split: str, lang: str, k: int) -> Question:
    """Question `k` of (`split`, `lang`)."""
    qid = f'{split}-{lang}-{k}'
    rng = randomness.numpy_rng(self.cfg.seed, 'question', qid)
    for _ in range(world_lib.MAX_TRIES):
      entity = int(rng.integers(self.world.num_entities))
      if self.split_of(entity) == split:
        break
    else:
      raise ValueError(f'no entity of split {split!r} found among {self.world.num_entities}; '
                       'raise synthetic.num_entities')
    ent = self.world.entity(entity)
    fact = ent.facts[int(rng.integers(len(ent.facts)))]
    part = self.world.fact_passage(entity, fact.relation)
    number, answers = None, (fact.answer,)
    if fact.relation in grammar.YES_NO_RELATIONS and rng.random() < self.cfg.yes_no_rate:
      truth = bool(rng.random() < 0.5)
      number = fact.answer if truth else str(int(fact.answer) + int(rng.integers(1, 40)))
      answers = ('yes',) if truth else ('no',)
    text, name, choices = self.write_question(ent, fact.relation, lang, rng, number)
    return Question(records.Query(qid, text, answers, lang), split, entity, fact.relation,
                    self.world.passage_id(entity, part), name, choices, number)

  def spelling(self, name: world_lib.EntityName, lang: str) -> str:
    """How questions in `lang` write `name` (first name and core name transliterated)."""
    parts = (name.first, name.core) if name.kind == 'person' else (name.core,)
    return ' '.join(orthography.transliterate_name(lang, p) for p in parts)

  def write_question(self, ent: world_lib.Entity, relation: str, lang: str, rng,
                     number: str | None = None) -> tuple[str, str, grammar.Choices]:
    """The question writer: a question in `lang` about `ent`'s `relation` (a yes/no question
    about the year `number` when given), its surface choices drawn from `rng`.

    Returns (text, the entity name as written, choices). `ent` may come from another world
    (the generator's pre-training text); the lexicons are this benchmark's.
    """
    name = (ent.name.bare if rng.random() < self.cfg.latin_name_rate
            else self.spelling(ent.name, lang))
    choices = grammar.sample_choices(lang, rng, grammar.concepts_of(ent.kind, relation,
                                                                    number is not None))
    text = grammar.render(lang, self.lexicons, kind=ent.kind, relation=relation, name=name,
                          choices=choices, number=number)
    return text, name, choices

  def questions(self, split: str, lang: str) -> Iterator[Question]:
    for k in range(self.num_queries(split, lang)):
      yield self.question(split, lang, k)

  def english_question(self, q: Question) -> str:
    """The same question in English (for the same-language lexical check only)."""
    ent = self.world.entity(q.entity)
    return grammar.english_question(ent.kind, q.relation, ent.name.english, q.number)

  def paraphrases(self, q: Question) -> list[str]:
    """Meaning-preserving rewrites of `q` (other synonyms, word order, type noun)."""
    rng = randomness.numpy_rng(self.cfg.seed, 'paraphrase', q.query.id)
    ent = self.world.entity(q.entity)
    out = []
    for choices in grammar.paraphrase_choices(q.query.lang, q.choices,
                                              self.cfg.paraphrases_per_query, rng):
      text = grammar.render(q.query.lang, self.lexicons, kind=ent.kind, relation=q.relation,
                            name=q.name, choices=choices, number=q.number)
      if text != q.query.question and text not in out:
        out.append(text)
    return out

  def train_group(self, q: Question) -> records.TrainGroup:
    """The question with its positive passage and hard negatives: the entity's other
    passages first, then passages of other entities of the same kind."""
    rng = randomness.numpy_rng(self.cfg.seed, 'negatives', q.query.id)
    per = self.world.passages_per_entity
    positive_pid = int(q.positive.removeprefix('syn'))
    negatives = [q.entity * per + p for p in range(per) if q.entity * per + p != positive_pid]
    kind = self.world.kind(q.entity)
    for tries in range(world_lib.MAX_TRIES):
      if len(negatives) >= self.cfg.hard_negatives:
        break
      other = int(rng.integers(self.world.num_entities))
      pid = other * per + int(rng.integers(per))
      # Same-kind entities first; any other entity once the search runs long (tiny worlds).
      same_kind = self.world.kind(other) == kind or tries > world_lib.MAX_TRIES // 2
      if other != q.entity and same_kind and pid not in negatives:
        negatives.append(pid)
    as_passage = lambda pid: records.Passage(*self.world.passage(pid))
    return records.TrainGroup(q.query.id, q.query.question, (as_passage(positive_pid),),
                              tuple(as_passage(p) for p in negatives[:self.cfg.hard_negatives]))


def _english_vocabulary(world: world_lib.World, sample: int = 64) -> frozenset[str]:
  """Lower-cased English words of the passages (from a sample) and of the word lists: no
  pseudo-word of a simulated language may equal one of them."""
  words = set()
  for pid in range(min(sample, world.num_passages)):
    _, text, title = world.passage(pid)
    words.update(w.strip('.,?').lower() for w in f'{text} {title}'.split())
  for vocabulary in (world_lib.INDUSTRIES, world_lib.OCCUPATIONS, world_lib.PRODUCTS,
                     world_lib.WORK_NOUNS, world_lib.SEAS, tuple(grammar.GLOSSES.values())):
    for phrase in vocabulary:
      words.update(phrase.lower().split())
  return frozenset(words)
