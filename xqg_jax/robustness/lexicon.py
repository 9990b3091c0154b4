"""MUSE bilingual lexicons: `word translation` per line, whitespace-separated.

The synthetic benchmark writes `lexicons/{lang}-en.txt` (target-language word -> English) in
this format, as do the MUSE ground-truth dictionaries. Columns are stripped; a word may repeat
with several translations (kept in file order, repeats of the same pair dropped). Lines that
do not hold exactly two columns are errors naming the file and line (`lines.read_records`; a
blank line other than at the end is one too).
"""

from typing import Mapping

from etils import epath

from xqg_jax.data import errors
from xqg_jax.data.formats import fields
from xqg_jax.data.formats import lines

Lexicon = Mapping[str, tuple[str, ...]]


def _parse(text: str) -> tuple[str, str]:
  columns = text.split()
  if len(columns) != 2:
    what = 'one column' if len(columns) == 1 else f'{len(columns)} columns'
    raise fields.Invalid('wrong_columns',
                         f'expected 2 whitespace-separated columns (word translation), got {what}')
  return columns[0], columns[1]


def read_lexicon(path, policy: errors.BadRecordPolicy | None = None) -> dict[str, tuple[str, ...]]:
  """{word: its translations in file order} from the MUSE file `path`."""
  out: dict[str, list[str]] = {}
  for _, (word, translation) in lines.read_records(path, policy, _parse):
    translations = out.setdefault(word, [])
    if translation not in translations:
      translations.append(translation)
  return {word: tuple(translations) for word, translations in out.items()}


def lexicon_path(directory, lang: str, target: str = 'en') -> epath.Path:
  """`directory/{lang}-{target}.txt`, the MUSE file name."""
  return epath.Path(directory) / f'{lang}-{target}.txt'
