"""Code-switching: up to `budget` words of a query replaced by their English translation.

Unit: 'word' = a whitespace-separated token. A token's core is what lies between its first and
last letter or mark (so `كاسمانكور؟` is looked up as `كاسمانكور` and keeps its `؟`); the core
is looked up in the MUSE lexicon `{lexicon_dir}/{lang}-en.txt` as written, then lower-cased.
Translations equal to the word (ignoring case) are dropped: they would change nothing. Among the
candidates, min(budget, count) distinct words are sampled uniformly without replacement, and a
word with several translations takes one uniformly; randomness from (seed, attack name, query
id). `edits` = replaced words, `length` = the query's words. A language without a lexicon file
leaves its queries unattacked (with that reason); spacing is kept as it was.
"""

import re
import unicodedata
from typing import Sequence

from etils import epath

from xqg_jax import randomness
from xqg_jax.data import records
from xqg_jax.robustness import attacked_set
from xqg_jax.robustness import lexicon as lexicon_lib

UNIT = 'word'
_SPACE = re.compile(r'(\s+)')


def _is_word_char(ch: str) -> bool:
  return unicodedata.category(ch)[0] in 'LM'


def split_core(token: str) -> tuple[str, str, str]:
  """(leading non-letters, core, trailing non-letters) of a token."""
  letters = [i for i, ch in enumerate(token) if _is_word_char(ch)]
  if not letters:
    return token, '', ''
  return token[:letters[0]], token[letters[0]:letters[-1] + 1], token[letters[-1] + 1:]


class CodeSwitch:
  """Replaces words with their translation from a bilingual lexicon."""

  def __init__(self, lexicon_dir, *, seed: int, budget: int, name: str = 'code_switch',
               target: str = 'en'):
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
      raise ValueError(f'code-switch budget must be an integer >= 1 (words), got {budget!r}')
    self.lexicon_dir = epath.Path(lexicon_dir)
    if not self.lexicon_dir.is_dir() or not list(self.lexicon_dir.glob(f'*-{target}.txt')):
      raise FileNotFoundError(f'{self.lexicon_dir} holds no MUSE lexicon *-{target}.txt')
    self.seed, self.budget, self.name, self.target = seed, budget, name, target
    self._lexicons: dict[str, dict[str, tuple[str, ...]] | None] = {}

  def lexicon(self, lang: str) -> dict[str, tuple[str, ...]] | None:
    """`lang`'s lexicon (read once), or None when there is no file for it."""
    if lang not in self._lexicons:
      path = lexicon_lib.lexicon_path(self.lexicon_dir, lang, self.target)
      self._lexicons[lang] = lexicon_lib.read_lexicon(path) if path.exists() else None
    return self._lexicons[lang]

  def _attack(self, query: records.Query) -> attacked_set.AttackedQuery:
    pieces = _SPACE.split(query.question)  # words at even indices, spacing at odd ones
    words = [i for i in range(0, len(pieces), 2) if pieces[i]]
    entries = self.lexicon(query.lang)
    if entries is None:
      path = lexicon_lib.lexicon_path(self.lexicon_dir, query.lang, self.target)
      return attacked_set.unattacked(query, reason=f'no lexicon {path}', budget=self.budget,
                               unit=UNIT, length=len(words))
    candidates = []
    for i in words:
      _, core, _ = split_core(pieces[i])
      found = entries.get(core) or entries.get(core.lower()) or ()
      translations = [t for t in found if t.lower() != core.lower()]
      if translations:
        candidates.append((i, translations))
    if not candidates:
      return attacked_set.unattacked(
          query, budget=self.budget, unit=UNIT, length=len(words),
          reason=f'no word found in the {query.lang}-{self.target} lexicon')
    rng = randomness.numpy_rng(self.seed, self.name, query.id)
    chosen = sorted(rng.choice(len(candidates), min(self.budget, len(candidates)),
                               replace=False))
    for k in chosen:
      i, translations = candidates[k]
      before, _, after = split_core(pieces[i])
      pieces[i] = before + translations[rng.integers(len(translations))] + after
    return attacked_set.AttackedQuery(query.id, query.lang, query.question, ''.join(pieces),
                                len(chosen), len(words), self.budget, UNIT)

  def __call__(self, queries: Sequence[records.Query]) -> list[attacked_set.AttackedQuery]:
    return [self._attack(q) for q in queries]
