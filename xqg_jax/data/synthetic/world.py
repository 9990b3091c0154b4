"""The English side of the synthetic benchmark: a seeded world of entities, facts and passages.

SIMULATION. Entities (cities, people, rivers, companies) have invented names built from a
small syllable inventory, and facts whose values are English strings (years, numbers, names,
nouns). Each entity is described by `passages_per_entity` passages of about 100 English words;
every fact is stated in exactly one of them, so a question about a fact has one positive
passage whose text contains the answer span.

Everything about entity `i` derives from (seed, i) alone: the corpus streams in O(1) memory and
any passage can be regenerated on its own.
"""

import dataclasses
import functools

from xqg_jax import randomness

ONSETS = ('b', 'd', 'f', 'g', 'k', 'l', 'm', 'n', 'p', 'r', 's', 't', 'v', 'z')
VOWELS = ('a', 'e', 'i', 'o', 'u')
CODAS = ('', 'n', 'r', 'l', 's')
SYLLABLES = tuple((o, v, c) for o in ONSETS for v in VOWELS for c in CODAS)
_NUM_SYL = len(SYLLABLES)
_NAME_SPACE = _NUM_SYL ** 2 + _NUM_SYL ** 3

ENTITY_TYPES = ('city', 'person', 'river', 'company')

# Categorical answer vocabularies: large enough that a random passage rarely holds the answer.
INDUSTRIES = (
    'copper', 'silk', 'timber', 'wine', 'glass', 'salt', 'wool', 'tea', 'marble', 'paper',
    'cotton', 'pottery', 'leather', 'amber', 'honey', 'tin', 'iron', 'linen', 'rice', 'olives',
    'tobacco', 'coffee', 'porcelain', 'saffron', 'indigo', 'pearls', 'clocks', 'bells', 'ships',
    'carpets', 'cheese', 'barley', 'granite', 'lace', 'spices', 'copperware', 'jade', 'coal',
    'cider', 'quartz')
OCCUPATIONS = (
    'painter', 'sailor', 'physician', 'architect', 'poet', 'engineer', 'merchant',
    'astronomer', 'composer', 'judge', 'botanist', 'cartographer', 'sculptor', 'chemist',
    'historian', 'diplomat', 'violinist', 'surveyor', 'printer', 'geologist', 'novelist',
    'mathematician', 'weaver', 'glassblower', 'philosopher', 'linguist', 'pharmacist',
    'goldsmith', 'navigator', 'librarian')
PRODUCTS = (
    'bicycles', 'lamps', 'typewriters', 'pianos', 'telescopes', 'radios', 'engines', 'bridges',
    'tractors', 'cameras', 'compasses', 'stoves', 'umbrellas', 'turbines', 'looms', 'pumps',
    'kettles', 'locomotives', 'microscopes', 'violins', 'scales', 'batteries', 'sewing machines',
    'anchors', 'barometers', 'clocks', 'printing presses', 'pencils', 'tiles', 'ropes')
WORK_NOUNS = (
    'Garden', 'Harbour', 'Winter', 'Mirror', 'Lantern', 'Orchard', 'Tower', 'River', 'Voyage',
    'Silence', 'Bridge', 'Meadow', 'Storm', 'Compass', 'Island', 'Letter', 'Forest', 'Crown')
SEAS = ('North', 'Amber', 'Grey', 'Quiet', 'Salt', 'Iron', 'Pearl', 'Cold', 'Green', 'Stone')
MAX_TRIES = 1000  # Bounded rejection sampling: tiny worlds may lack a kind.
FIRST_NAMES_COUNT = 400  # First names are names of index space [0, 400) under a separate key.

# Relation -> (entity type, fact attribute). The English question templates live in grammar.
RELATIONS = {
    'city': ('founded_year', 'founder', 'river', 'population', 'mayor', 'industry'),
    'person': ('birth_year', 'birthplace', 'occupation', 'spouse', 'death_year', 'work'),
    'river': ('length', 'source', 'mouth', 'city', 'tributary', 'basin_population'),
    'company': ('founded_year', 'founder', 'headquarters', 'product', 'employees', 'chairman'),
}

_FILLER = (
    '{X} is often mentioned in the regional chronicles of the period.',
    'Several travellers wrote long accounts about {X} and its surroundings.',
    'Historians still debate many details of the early records concerning {X}.',
    'A museum collection preserves letters, maps and drawings related to {X}.',
    'In later centuries the reputation of {X} spread well beyond the region.',
    'Local archives describe {X} in a number of official reports.',
    'Several old maps drawn by foreign surveyors show {X}.',
    'Scholars have compared {X} with similar examples from neighbouring lands.',
    'Much of what is known about {X} comes from a single surviving register.',
    'Modern guidebooks give a short summary of the history of {X}.',
    'Public lectures about {X} were held in the capital during the last century.',
    'A detailed study of {X} was published by a university press.',
    'Schoolchildren in the region learn about {X} in their history lessons.',
    'Some accounts about {X} are considered unreliable by modern researchers.',
    'Photographs from the archive show how {X} looked in earlier times.',
)


@dataclasses.dataclass(frozen=True)
class Name:
  """An invented name: syllables (onset, vowel, coda) and its English spelling."""
  syllables: tuple[tuple[str, str, str], ...]

  @property
  def english(self) -> str:
    return ''.join(o + v + c for o, v, c in self.syllables).capitalize()


@dataclasses.dataclass(frozen=True)
class EntityName:
  """An entity's name: the core name, an optional first name (people), a type word."""
  core: Name
  first: Name | None = None
  kind: str = 'city'

  @property
  def english(self) -> str:
    """The English surface form as written in passages."""
    if self.kind == 'person':
      return f'{self.first.english} {self.core.english}'
    if self.kind == 'river':
      return f'the {self.core.english} River'
    if self.kind == 'company':
      return f'{self.core.english} Works'
    return self.core.english

  @property
  def bare(self) -> str:
    """The name without articles or type words (what questions transliterate)."""
    if self.kind == 'person':
      return f'{self.first.english} {self.core.english}'
    return self.core.english


@dataclasses.dataclass(frozen=True)
class Fact:
  relation: str
  answer: str  # English answer span, verbatim in the passage.
  sentence: str
  # For facts whose value is another entity, that entity's name (questions may mention it).
  value_name: EntityName | None = None


@dataclasses.dataclass(frozen=True)
class Entity:
  index: int
  kind: str
  name: EntityName
  facts: tuple[Fact, ...]


def _name_from_code(code: int) -> Name:
  digits = []
  length = 2 if code < _NUM_SYL ** 2 else 3
  if length == 3:
    code -= _NUM_SYL ** 2
  for _ in range(length):
    code, digit = divmod(code, _NUM_SYL)
    digits.append(digit)
  return Name(tuple(SYLLABLES[d] for d in digits))


class World:
  """The seeded world; `entity(i)` and `passages(i)` are pure functions of (seed, i)."""

  def __init__(self, seed: int, num_entities: int, passages_per_entity: int = 2,
               words_per_passage: int = 100):
    if num_entities < 8:
      raise ValueError(f'num_entities must be at least 8, got {num_entities}')
    if num_entities > _NAME_SPACE // 2:
      raise ValueError(f'num_entities {num_entities} exceeds the name space')
    if not 1 <= passages_per_entity <= 3:
      raise ValueError(f'passages_per_entity must be 1..3, got {passages_per_entity}')
    self.seed = seed
    self.num_entities = num_entities
    self.passages_per_entity = passages_per_entity
    self.words_per_passage = words_per_passage
    rng = randomness.numpy_rng(seed, 'name-permutation')
    # An affine bijection of the name space: unique names for every index.
    self._mul = int(rng.integers(1, _NAME_SPACE))
    while _gcd(self._mul, _NAME_SPACE) != 1:
      self._mul += 1
    self._add = int(rng.integers(0, _NAME_SPACE))

  @property
  def num_passages(self) -> int:
    return self.num_entities * self.passages_per_entity

  def kind(self, index: int) -> str:
    return ENTITY_TYPES[randomness.stable_hash(self.seed, 'kind', index) % len(ENTITY_TYPES)]

  def _core_name(self, index: int) -> Name:
    return _name_from_code((self._mul * index + self._add) % _NAME_SPACE)

  def _first_name(self, index: int) -> Name:
    # First names come from the far end of the index space, so they never equal a core name.
    return self._core_name(self.num_entities + index % FIRST_NAMES_COUNT + 1)

  def name(self, index: int) -> EntityName:
    """The name of entity `index` (cheap: no facts are generated)."""
    kind = self.kind(index)
    first = self._first_name(randomness.stable_hash(self.seed, 'first', index))
    return EntityName(self._core_name(index), first if kind == 'person' else None, kind)

  def _other(self, rng, kind: str, index: int) -> int:
    """A different entity, of `kind` unless a bounded search finds none (tiny worlds)."""
    for _ in range(MAX_TRIES):
      other = int(rng.integers(self.num_entities))
      if other != index and self.kind(other) == kind:
        return other
    return (index + 1 + int(rng.integers(self.num_entities - 1))) % self.num_entities

  @functools.lru_cache(maxsize=4096)
  def entity(self, index: int) -> Entity:
    """Entity `index` with its facts and their English sentences."""
    if not 0 <= index < self.num_entities:
      raise IndexError(f'entity index {index} out of range [0, {self.num_entities})')
    rng = randomness.numpy_rng(self.seed, 'entity', index)
    kind = self.kind(index)
    name = self.name(index)
    x = name.english
    year = lambda lo, hi: str(int(rng.integers(lo, hi)))
    ref = lambda k: self.name(self._other(rng, k, index))
    facts = []
    if kind == 'city':
      founder, river, mayor = ref('person'), ref('river'), ref('person')
      facts = [
          Fact('founded_year', (fy := year(1000, 1900)),
               f'{x} was founded in {fy} as a small market settlement.'),
          Fact('founder', founder.english,
               f'Its founder was {founder.english}, who granted the first charter.', founder),
          Fact('river', river.core.english,
               f'{x} lies on the banks of {river.english}.', river),
          Fact('population', (pop := str(int(rng.integers(2_000, 900_000)))),
               f'The population of {x} was {pop} at the last census.'),
          Fact('mayor', mayor.english, f'The current mayor of {x} is {mayor.english}.', mayor),
          Fact('industry', (ind := str(rng.choice(INDUSTRIES))),
               f'{x} is best known for its {ind}, traded across the whole region.'),
      ]
    elif kind == 'person':
      born = int(rng.integers(1000, 1930))
      birthplace, spouse = ref('city'), ref('person')
      work = f'The {rng.choice(WORK_NOUNS)} of {self.name(self._other(rng, "city", index)).english}'
      facts = [
          Fact('birth_year', str(born), f'{x} was born in {born} into a family of farmers.'),
          Fact('birthplace', birthplace.english,
               f'{name.first.english} grew up in {birthplace.english}.', birthplace),
          Fact('occupation', (occ := str(rng.choice(OCCUPATIONS))),
               f'{x} worked as a {occ} for most of their life.'),
          Fact('spouse', spouse.english, f'{x} married {spouse.english}.', spouse),
          Fact('death_year', (died := str(born + int(rng.integers(30, 90)))),
               f'{x} died in {died}, far from home.'),
          Fact('work', work, f'The best known work of {x} is {work}.'),
      ]
    elif kind == 'river':
      city, tributary = ref('city'), ref('river')
      facts = [
          Fact('length', (km := str(int(rng.integers(40, 4000)))),
               f'{x} is {km} kilometres long.'),
          Fact('source', (src := f'Mount {ref("city").core.english}'),
               f'{x} rises on the slopes of {src}.'),
          Fact('mouth', (sea := f'the {rng.choice(SEAS)} Sea'),
               f'{x} flows into {sea}.'),
          Fact('city', city.english, f'On its way {x} passes through {city.english}.', city),
          Fact('tributary', tributary.core.english,
               f'Its largest tributary is {tributary.english}.', tributary),
          Fact('basin_population', (bp := str(int(rng.integers(10_000, 5_000_000)))),
               f'About {bp} people live in the basin of {x}.'),
      ]
    else:  # company
      founder, hq, chair = ref('person'), ref('city'), ref('person')
      facts = [
          Fact('founded_year', (fy := year(1800, 2000)), f'{x} was founded in {fy}.'),
          Fact('founder', founder.english,
               f'The company was started by {founder.english} in a small workshop.', founder),
          Fact('headquarters', hq.english, f'{x} has its headquarters in {hq.english}.', hq),
          Fact('product', (prod := str(rng.choice(PRODUCTS))),
               f'{x} is famous for making {prod}.'),
          Fact('employees', (emp := str(int(rng.integers(50, 200_000)))),
               f'The company employs {emp} people.'),
          Fact('chairman', chair.english,
               f'The board of {x} is chaired by {chair.english}.', chair),
      ]
    return Entity(index, kind, name, tuple(facts))

  def fact_passage(self, index: int, relation: str) -> int:
    """The passage number (within the entity) that states `relation`."""
    relations = RELATIONS[self.kind(index)]
    return relations.index(relation) % self.passages_per_entity

  def passage_id(self, index: int, part: int) -> str:
    return f'syn{index * self.passages_per_entity + part}'

  def passage(self, pid: int) -> tuple[str, str, str]:
    """Passage number `pid` as (id, text, title): its facts plus filler to the word target."""
    index, part = divmod(pid, self.passages_per_entity)
    entity = self.entity(index)
    facts = [f.sentence for i, f in enumerate(entity.facts)
             if i % self.passages_per_entity == part]
    rng = randomness.numpy_rng(self.seed, 'filler', pid)
    fillers = [_FILLER[i].format(X=entity.name.english)
               for i in rng.permutation(len(_FILLER))]
    sentences, words = [], 0
    slots = iter(fillers)
    # Interleave: facts in order, a filler sentence after each, then fillers to the target.
    for fact in facts:
      sentences += [fact, next(slots)]
    words = sum(len(s.split()) for s in sentences)
    for filler in slots:
      if words >= self.words_per_passage:
        break
      sentences.append(filler)
      words += len(filler.split())
    text = ' '.join(s[0].upper() + s[1:] for s in sentences)
    return self.passage_id(index, part), text, entity.name.english.removeprefix('the ')


def _gcd(a: int, b: int) -> int:
  while b:
    a, b = b, a % b
  return a
