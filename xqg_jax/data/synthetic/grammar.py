"""How each simulated language asks a question: lexicons, word order, affixes, paraphrases.

SIMULATION. A question is an abstract structure (question word, entity, predicate, optionally a
number for yes/no questions). Each language has its own lexicon of pseudo-words in its own
script with several synonyms per concept, its own word orders (two per language, the first
canonical), case markers on the entity (suffixes, prefixes or separate particles), its own
question mark and yes/no particle. The choices made for a question are recorded, so every
meaning-preserving paraphrase (other synonyms, the other word order, with or without the type
noun) is known exactly.
"""

import dataclasses
import functools

from xqg_jax import randomness
from xqg_jax.data.synthetic import orthography
from xqg_jax.data.synthetic import world as world_lib

# (entity kind, relation) -> (question-word concept, predicate concept).
RELATION_CONCEPTS = {
    ('city', 'founded_year'): ('when', 'found'),
    ('city', 'founder'): ('who', 'found'),
    ('city', 'river'): ('which_river', 'lie_on'),
    ('city', 'population'): ('how_many', 'inhabit'),
    ('city', 'mayor'): ('who', 'mayor'),
    ('city', 'industry'): ('what', 'known_for'),
    ('person', 'birth_year'): ('when', 'born'),
    ('person', 'birthplace'): ('where', 'grow_up'),
    ('person', 'occupation'): ('what', 'work_as'),
    ('person', 'spouse'): ('who', 'marry'),
    ('person', 'death_year'): ('when', 'die'),
    ('person', 'work'): ('what', 'best_work'),
    ('river', 'length'): ('how_long', 'long'),
    ('river', 'source'): ('where', 'rise'),
    ('river', 'mouth'): ('where', 'flow_into'),
    ('river', 'city'): ('which_city', 'pass_through'),
    ('river', 'tributary'): ('which_river', 'tributary'),
    ('river', 'basin_population'): ('how_many', 'live_in_basin'),
    ('company', 'founded_year'): ('when', 'found'),
    ('company', 'founder'): ('who', 'found'),
    ('company', 'headquarters'): ('where', 'headquarter'),
    ('company', 'product'): ('what', 'make'),
    ('company', 'employees'): ('how_many', 'employ'),
    ('company', 'chairman'): ('who', 'chair'),
}
YES_NO_RELATIONS = ('founded_year', 'birth_year', 'death_year')

# English glosses: the bilingual (MUSE) lexicons and the same-language check use them.
GLOSSES = {
    'when': 'when', 'who': 'who', 'where': 'where', 'what': 'what', 'how_many': 'how many',
    'how_long': 'how long', 'which_river': 'which river', 'which_city': 'which city',
    'found': 'founded', 'lie_on': 'lies on', 'inhabit': 'inhabitants', 'mayor': 'mayor',
    'known_for': 'known for', 'born': 'born', 'grow_up': 'grew up', 'work_as': 'worked as',
    'marry': 'married', 'die': 'died', 'best_work': 'best known work', 'long': 'long',
    'rise': 'rises', 'flow_into': 'flows into', 'pass_through': 'passes through',
    'tributary': 'largest tributary', 'live_in_basin': 'live in the basin',
    'headquarter': 'headquarters', 'make': 'makes', 'employ': 'employs', 'chair': 'chaired',
    'city': 'city', 'person': 'person', 'river': 'river', 'company': 'company',
    'yes_no': 'is it true that', 'in_year': 'in',
}
CONCEPTS = tuple(GLOSSES)
TYPE_NOUNS = ('city', 'person', 'river', 'company')


@dataclasses.dataclass(frozen=True)
class Grammar:
  """One language's question grammar."""
  orders: tuple[str, str]  # Permutations of 'QEP' (question word, entity, predicate).
  markers: tuple[str, ...]  # Case markers on the entity: '-x' suffix, 'x-' prefix, 'x' particle.
  noun_first: bool  # Type noun before the name ('city X') or after ('X city').
  question_mark: str
  yes_no_final: bool  # Yes/no particle at the end (else at the start).
  synonyms: int = 3  # Surface forms per concept.


GRAMMARS = {
    'ar': Grammar(('QPE', 'QEP'), ('', 'ل-'), True, '؟', False),
    'bn': Grammar(('EQP', 'QEP'), ('-র', '-কে'), False, '?', True),
    'fi': Grammar(('QPE', 'QEP'), ('-n', '-ssa', '-lla'), False, '?', False),
    'ja': Grammar(('EQP', 'QEP'), ('-は', '-の', '-が'), False, '？', True),
    'ko': Grammar(('EQP', 'QEP'), ('-은', '-의', '-이'), False, '?', True),
    'ru': Grammar(('QPE', 'QEP'), ('', '-а'), True, '?', False),
    'te': Grammar(('EQP', 'QEP'), ('-కి', '-లో'), False, '?', True),
    'am': Grammar(('EQP', 'QEP'), ('የ-', 'በ-'), False, '፧', True),
    'km': Grammar(('EPQ', 'QEP'), ('', 'នៃ'), True, '?', True),
}

_ENGLISH_QUESTIONS = {
    ('city', 'founded_year'): 'When was {X} founded?',
    ('city', 'founder'): 'Who founded {X}?',
    ('city', 'river'): 'Which river does {X} lie on?',
    ('city', 'population'): 'How many inhabitants does {X} have?',
    ('city', 'mayor'): 'Who is the mayor of {X}?',
    ('city', 'industry'): 'What is {X} known for?',
    ('person', 'birth_year'): 'When was {X} born?',
    ('person', 'birthplace'): 'Where did {X} grow up?',
    ('person', 'occupation'): 'What did {X} work as?',
    ('person', 'spouse'): 'Who did {X} marry?',
    ('person', 'death_year'): 'When did {X} die?',
    ('person', 'work'): 'What is the best known work of {X}?',
    ('river', 'length'): 'How long is {X}?',
    ('river', 'source'): 'Where does {X} rise?',
    ('river', 'mouth'): 'Where does {X} flow into?',
    ('river', 'city'): 'Which city does {X} pass through?',
    ('river', 'tributary'): 'What is the largest tributary of {X}?',
    ('river', 'basin_population'): 'How many people live in the basin of {X}?',
    ('company', 'founded_year'): 'When was {X} founded?',
    ('company', 'founder'): 'Who founded {X}?',
    ('company', 'headquarters'): 'Where does {X} have its headquarters?',
    ('company', 'product'): 'What does {X} make?',
    ('company', 'employees'): 'How many people does {X} employ?',
    ('company', 'chairman'): 'Who chairs the board of {X}?',
}

_KANJI = ('年市川人会社生死作長流名所創立都住者主品業員誰何時場国山海町村島大小新古東西南北'
          '上下中高低多少知見言話書読行来出入始終間前後近遠明暗強弱早遅重軽水火木金土月日')
_HIRAGANA = 'あいうえおかきくけこさしすせそたちつてとなにぬねのはひふへほまみむめもやゆよらりるれろわ'


@dataclasses.dataclass(frozen=True)
class Choices:
  """The surface choices of one question: enough to re-render it or its paraphrases."""
  order: int
  marker: int
  with_type_noun: bool
  forms: tuple[tuple[str, int], ...]  # (concept, synonym index) for each concept used.


class Lexicons:
  """Pseudo-word lexicons for every language, derived from the seed alone."""

  def __init__(self, seed: int, english_words: frozenset[str]):
    self.seed = seed
    self._english = english_words

  @functools.lru_cache(maxsize=None)
  def forms(self, lang: str) -> dict[str, tuple[str, ...]]:
    """concept -> its surface forms in `lang` (unique within the language)."""
    grammar = GRAMMARS[lang]
    used: set[str] = set()
    out = {}
    for concept in CONCEPTS:
      words = []
      for variant in range(grammar.synonyms):
        rng = randomness.numpy_rng(self.seed, 'lexicon', lang, concept, variant)
        while True:
          word = self._pseudo_word(lang, rng)
          if word not in used and word.lower() not in self._english:
            break
        used.add(word)
        words.append(word)
      out[concept] = tuple(words)
    return out

  @staticmethod
  def _pseudo_word(lang: str, rng) -> str:
    if lang == 'ja':
      kanji = ''.join(rng.choice(list(_KANJI), size=int(rng.integers(1, 3))))
      return kanji + ''.join(rng.choice(list(_HIRAGANA), size=int(rng.integers(1, 3))))
    syllables = [world_lib.SYLLABLES[i] for i in
                 rng.integers(len(world_lib.SYLLABLES), size=int(rng.integers(1, 4)))]
    word = orthography.write_syllables(lang, syllables)
    if lang == 'fi' and not any(ch in word for ch in 'äöy'):
      word += 'ä' if syllables[0][1] in 'ei' else 'aa'  # Finnish-looking: harmony vowels.
    return word

  def gloss_pairs(self, lang: str) -> list[tuple[str, str]]:
    """(word in `lang`, English gloss) for every surface form: a MUSE-style lexicon."""
    return [(form, GLOSSES[concept].split()[-1])
            for concept, forms in self.forms(lang).items() for form in forms]


def english_question(kind: str, relation: str, name: str, number: str | None = None) -> str:
  """The English question for (kind, relation) about `name` (the same-language check);
  with `number`, the yes/no question whether the fact's year is `number`."""
  if number is not None:
    return f'Is it true that {name} {GLOSSES[RELATION_CONCEPTS[(kind, relation)][1]]} in {number}?'
  return _ENGLISH_QUESTIONS[(kind, relation)].format(X=name)


def _attach(word: str, marker: str) -> str:
  if not marker:
    return word
  if marker.startswith('-'):
    return word + marker[1:]
  if marker.endswith('-'):
    return marker[:-1] + word
  return f'{word} {marker}'


def concepts_of(kind: str, relation: str, yes_no: bool) -> tuple[str, ...]:
  """The lexicon concepts a question uses, in a fixed order."""
  qword, predicate = RELATION_CONCEPTS[(kind, relation)]
  first = 'yes_no' if yes_no else qword
  return (first, predicate, kind) + (('in_year',) if yes_no else ())


def render(lang: str, lexicons: Lexicons, *, kind: str, relation: str, name: str,
           choices: Choices, number: str | None = None) -> str:
  """The question in `lang` for these choices; `number` makes it a yes/no question."""
  grammar = GRAMMARS[lang]
  forms = lexicons.forms(lang)
  word = {concept: forms[concept][index] for concept, index in choices.forms}
  yes_no = number is not None
  qword, predicate = RELATION_CONCEPTS[(kind, relation)]
  entity = _attach(name, grammar.markers[choices.marker])
  if choices.with_type_noun:
    entity = f'{word[kind]} {entity}' if grammar.noun_first else f'{entity} {word[kind]}'
  pred = word[predicate]
  if yes_no:
    pred = f'{word["in_year"]} {number} {pred}'
    parts = {'Q': '', 'E': entity, 'P': pred}
  else:
    parts = {'Q': word[qword], 'E': entity, 'P': pred}
  text = ' '.join(parts[slot] for slot in grammar.orders[choices.order] if parts[slot])
  if yes_no:
    text = f'{text} {word["yes_no"]}' if grammar.yes_no_final else f'{word["yes_no"]} {text}'
  return text + grammar.question_mark


def sample_choices(lang: str, rng, concepts: tuple[str, ...]) -> Choices:
  grammar = GRAMMARS[lang]
  return Choices(order=int(rng.integers(2)), marker=int(rng.integers(len(grammar.markers))),
                 with_type_noun=bool(rng.random() < 0.5),
                 forms=tuple((c, int(rng.integers(grammar.synonyms))) for c in concepts))


def paraphrase_choices(lang: str, choices: Choices, limit: int, rng) -> list[Choices]:
  """Up to `limit` distinct other choices of the same question, drawn from `rng`."""
  concepts = tuple(c for c, _ in choices.forms)
  seen, out = {choices}, []
  for _ in range(20 * limit):
    if len(out) == limit:
      break
    other = sample_choices(lang, rng, concepts)
    if other not in seen:
      seen.add(other)
      out.append(other)
  return out
