"""Script-aware character noise: typos that stay in the query's own script.

Unit: 'char' = one Unicode code point (a Bengali vowel sign or an Arabic haraka is one char).

Eligible characters are those of the query language's script (`languages.in_script`) whose
general category is a letter (L*) or mark (M*); digits, punctuation, spaces and characters of
other scripts (e.g. a Latin name inside an Arabic query) are never touched. Operations:

- `substitute`: an eligible char -> another code point of the same script range and the same
  general category (Lo -> Lo, Ll -> Ll, Mn -> Mn: a vowel sign becomes another vowel sign).
- `delete`: an eligible char is removed.
- `insert`: a letter is inserted next to an eligible letter (the gap's left neighbour if that
  is one, else its right one), drawn from that letter's script range and category.
- `swap`: two adjacent, different eligible chars are exchanged.
- `homoglyph`: a char -> a lookalike from `HOMOGLYPH_PAIRS` (see there).
- `zero_width`: ZWJ (U+200D) or ZWNJ (U+200C) is inserted between two eligible chars.
- `strip_marks`: a combining mark (Mn/Mc: Bengali / Telugu / Khmer vowel signs and virama,
  Arabic harakat and hamza) is deleted, or a precomposed letter loses its marks (Finnish
  ä -> a, Russian й -> и, Japanese が -> か, Arabic أ -> ا). Amharic has nothing to strip:
  Ge'ez is a syllabary whose vowels are part of each syllable's code point (bar the rare
  combining marks U+135D-F); Hangul syllables decompose into letters (jamo), not marks, so
  Korean has nothing either.

The substitute / insert alphabets are the assigned code points of the language's Unicode
script ranges (`languages.LANGUAGES[...].script_ranges`), not letters seen in a corpus, so a
query's noise never depends on which other queries are attacked with it (it may change with
Python's Unicode database version). Every substituted or inserted char is therefore in the
query's script, except ZWJ / ZWNJ (format chars, U+200C-D) and the Latin <-> Cyrillic
homoglyphs of Finnish and Russian.

Budget: `budget` operations per query, or `rate`: ceil(rate * length), at least 1. Up to the
budget, operations are drawn one at a time (an operation uniformly among those still
possible, then a site uniformly). Each char and each gap between chars is edited at most once,
and never a char together with a gap beside it (no insertion next to a deletion, say), so
`edits`, the optimal-string-alignment distance (Levenshtein plus adjacent swaps, 1 each) in code
points between the original and the attacked text, is at most the number of operations; draws
that cancel out ("aab": delete the first a, insert an a before the b) are redrawn.
Randomness: (seed, attack name, query id).
"""

import functools
import math
import unicodedata
from typing import Sequence

import numpy as np

from xqg_jax import languages
from xqg_jax import randomness
from xqg_jax.data import records
from xqg_jax.robustness import attacked_set

UNIT = 'char'
OPERATIONS = ('substitute', 'delete', 'insert', 'swap', 'homoglyph', 'zero_width',
              'strip_marks')
ZERO_WIDTH = ('\u200d', '\u200c')  # ZWJ, ZWNJ

# Lookalike pairs, usable in both directions; a char is replaced only when it is in the
# query's script. Arabic: yeh / alef maksura / Farsi yeh, kaf / keheh, heh / teh marbuta,
# variants that Arabic text mixes and IR normalisers merge. Japanese: katakana and the kanji
# (or hiragana) they are drawn like. Cyrillic <-> Latin (out of script): Russian letters become
# Latin ones and Finnish letters Cyrillic ones. Bengali, Telugu, Korean, Amharic and Khmer
# have no table (the operation never applies to them).
HOMOGLYPH_PAIRS = (
    'يى', 'يی', 'ىی', 'كک', 'هة',
    'カ力', 'ロ口', 'エ工', 'ニ二', 'ハ八', 'タ夕', 'ト卜', 'ー一', 'ヘへ',
    'аa', 'еe', 'оo', 'рp', 'сc', 'уy', 'хx', 'ӓä', 'ӧö',
    'АA', 'ВB', 'ЕE', 'КK', 'МM', 'НH', 'ОO', 'РP', 'СC', 'ТT', 'ХX',
)
_ATTEMPTS = 8  # Draws before a query whose operations keep cancelling out is left unattacked.


def _lookalikes() -> dict[str, tuple[str, ...]]:
  out: dict[str, list[str]] = {}
  for a, b in HOMOGLYPH_PAIRS:
    out.setdefault(a, []).append(b)
    out.setdefault(b, []).append(a)
  return {ch: tuple(sorted(others)) for ch, others in out.items()}


HOMOGLYPHS = _lookalikes()


@functools.cache
def _alphabet(lo: int, hi: int, category: str) -> tuple[str, ...]:
  """Assigned code points in [lo, hi] of general `category`."""
  return tuple(chr(p) for p in range(lo, hi + 1) if unicodedata.category(chr(p)) == category)


def _same_kind(ch: str, lang: str) -> tuple[str, ...]:
  """Chars of `ch`'s script range and general category."""
  point = ord(ch)
  lo, hi = next(r for r in languages.get(lang).script_ranges if r[0] <= point <= r[1])
  return _alphabet(lo, hi, unicodedata.category(ch))


def eligible(ch: str, lang: str) -> bool:
  """Whether noise may touch `ch`: a letter or mark of `lang`'s script."""
  return unicodedata.category(ch)[0] in 'LM' and languages.in_script(ch, lang)


def _stripped(ch: str, lang: str) -> str | None:
  """What `strip_marks` leaves of `ch` ('' for a lone mark), or None if it has no marks."""
  if unicodedata.category(ch)[0] == 'M':
    return ''
  decomposed = unicodedata.normalize('NFD', ch)
  base = unicodedata.normalize(
      'NFC', ''.join(c for c in decomposed if unicodedata.category(c)[0] != 'M'))
  if base == ch or len(base) != 1 or not languages.in_script(base, lang):
    return None
  return base


def osa_distance(a: Sequence, b: Sequence) -> int:
  """Optimal string alignment distance: insert / delete / substitute / adjacent swap, 1 each."""
  rows = [list(range(len(b) + 1))]
  for i in range(1, len(a) + 1):
    row = [i] + [0] * len(b)
    for j in range(1, len(b) + 1):
      row[j] = min(rows[-1][j] + 1, row[j - 1] + 1, rows[-1][j - 1] + (a[i - 1] != b[j - 1]))
      if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
        row[j] = min(row[j], rows[-2][j - 2] + 1)
    rows = rows[-1:] + [row]
  return rows[-1][len(b)]


class _Plan:
  """Non-overlapping edits of one text: chars at odd slots (2i+1), gaps at even slots (2g)."""

  def __init__(self, text: str):
    self.text = text
    self.chars: dict[int, str] = {}  # position -> replacement ('' deletes)
    self.inserts: dict[int, str] = {}  # gap -> inserted char
    self.occupied: set[int] = set()

  def free(self, first: int, last: int) -> bool:
    """Whether slots first..last are free and touch no edit."""
    return not any(s in self.occupied for s in range(first - 1, last + 2))

  def occupy(self, first: int, last: int) -> None:
    self.occupied.update(range(first, last + 1))

  def result(self) -> str:
    out = []
    for g in range(len(self.text) + 1):
      out.append(self.inserts.get(g, ''))
      if g < len(self.text):
        out.append(self.chars.get(g, self.text[g]))
    return ''.join(out)


class CharNoise:
  """Script-aware character noise (module docstring)."""

  def __init__(self, *, seed: int, budget: int | None = None, rate: float | None = None,
               operations: Sequence[str] = OPERATIONS, name: str = 'char_noise'):
    if (budget is None) == (rate is None):
      raise ValueError(f'char noise needs exactly one of budget and rate, got budget={budget!r}, '
                       f'rate={rate!r}')
    if budget is not None and (isinstance(budget, bool) or not isinstance(budget, int)
                               or budget < 1):
      raise ValueError(f'char noise budget must be an integer >= 1, got {budget!r}')
    if rate is not None and not 0 < rate <= 1:
      raise ValueError(f'char noise rate must be in (0, 1], got {rate!r}')
    unknown = [op for op in operations if op not in OPERATIONS]
    if isinstance(operations, str) or unknown or not operations:
      raise ValueError(f'char noise operations {list(operations)!r}: each must be one of '
                       f'{", ".join(OPERATIONS)} (at least one)')
    self.seed, self.budget, self.rate, self.name = seed, budget, rate, name
    self.operations = tuple(dict.fromkeys(operations))

  def query_budget(self, length: int) -> int:
    return self.budget if self.budget is not None else max(1, math.ceil(self.rate * length))

  def _sites(self, text: str, lang: str) -> dict[str, list[tuple[int, int, Sequence[str], str]]]:
    """Per operation: (first slot, last slot, choices, excluded choice) of every site."""
    ok = [eligible(ch, lang) for ch in text]
    letter = [e and unicodedata.category(ch)[0] == 'L' for e, ch in zip(ok, text)]
    sites = {op: [] for op in self.operations}

    def add(op, first, last, choices, exclude=None):
      if op in sites and len(choices) > (exclude is not None):
        sites[op].append((first, last, choices, exclude))

    for i, ch in enumerate(text):
      if not ok[i]:
        continue
      add('substitute', 2 * i + 1, 2 * i + 1, _same_kind(ch, lang), exclude=ch)
      add('delete', 2 * i + 1, 2 * i + 1, [''])
      add('homoglyph', 2 * i + 1, 2 * i + 1, HOMOGLYPHS.get(ch, ()))
      stripped = _stripped(ch, lang)
      add('strip_marks', 2 * i + 1, 2 * i + 1, [] if stripped is None else [stripped])
      if i + 1 < len(text) and ok[i + 1] and text[i + 1] != ch:
        add('swap', 2 * i + 1, 2 * i + 3, [text[i + 1] + ch])
    for g in range(len(text) + 1):
      anchor = g - 1 if g > 0 and letter[g - 1] else g if g < len(text) and letter[g] else None
      if anchor is not None:
        add('insert', 2 * g, 2 * g, _same_kind(text[anchor], lang))
      if 0 < g < len(text) and ok[g - 1] and ok[g]:
        add('zero_width', 2 * g, 2 * g, ZERO_WIDTH)
    return sites

  def _draw(self, text: str, sites: dict, budget: int, rng: np.random.Generator) -> str:
    """The text after up to `budget` operations."""
    plan = _Plan(text)
    for _ in range(budget):
      open_sites = {op: [s for s in found if plan.free(s[0], s[1])]
                    for op, found in sites.items()}
      ops = [op for op in self.operations if open_sites[op]]
      if not ops:
        break
      op = ops[rng.integers(len(ops))]
      first, last, choices, exclude = open_sites[op][rng.integers(len(open_sites[op]))]
      if exclude is None:
        choice = choices[rng.integers(len(choices))]
      else:  # any choice but `exclude` (the char being substituted)
        k = int(rng.integers(len(choices) - 1))
        choice = choices[k + (k >= choices.index(exclude))]
      plan.occupy(first, last)
      if first % 2 == 0:
        plan.inserts[first // 2] = choice
      else:
        for k, ch in enumerate(choice if op == 'swap' else [choice]):
          plan.chars[first // 2 + k] = ch
    return plan.result()

  def _attack(self, query: records.Query) -> attacked_set.AttackedQuery:
    text = query.question
    budget = self.query_budget(len(text))
    sites = self._sites(text, query.lang)
    if not any(sites.values()):
      return attacked_set.unattacked(
          query, budget=budget, unit=UNIT, length=len(text),
          reason=f'no {languages.get(query.lang).script}-script letter or mark that '
                 f'{"/".join(self.operations)} can change')
    rng = randomness.numpy_rng(self.seed, self.name, query.id)
    for _ in range(_ATTEMPTS):
      noisy = self._draw(text, sites, budget, rng)
      if noisy != text:
        return attacked_set.AttackedQuery(query.id, query.lang, text, noisy,
                                    osa_distance(text, noisy), len(text), budget, UNIT)
    return attacked_set.unattacked(query, budget=budget, unit=UNIT, length=len(text),
                             reason=f'the drawn operations cancelled out {_ATTEMPTS} times')

  def __call__(self, queries: Sequence[records.Query]) -> list[attacked_set.AttackedQuery]:
    return [self._attack(q) for q in queries]
