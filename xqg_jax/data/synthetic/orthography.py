"""How each simulated language writes a syllable: names transliterated into its own script.

SIMULATION. A syllable is (onset, vowel, coda) from `world.SYLLABLES`. Each language maps it
to its script with simple, systematic rules modelled on the real writing system (Cyrillic
letters, Arabic consonants with long vowels only, Japanese katakana morae, Hangul blocks,
Bengali/Telugu consonants with vowel signs and virama, Ge'ez syllabary orders, Khmer
consonants with dependent vowels, Finnish respelling with vowel harmony). Mergers are kept where
the real script has them (Arabic p/b, Japanese l/r), so transliteration is many-to-one, as in
real cross-lingual entity matching. The same rules write the pseudo-words of each lexicon, so
every word of a language is in its script.
"""

from typing import Callable, Sequence

Syllable = tuple[str, str, str]

_CYRILLIC = dict(zip('bdfgklmnprstvzaeiou', 'бдфгклмнпрствзаеиоу'))
_ARABIC_C = dict(zip('bdfgklmnprstvz', 'بدفغكلمنبرستفز'))
_ARABIC_V = {'a': 'ا', 'e': '', 'i': 'ي', 'o': 'و', 'u': 'و'}
_KATAKANA_ROWS = {
    '': 'アイウエオ', 'k': 'カキクケコ', 'g': 'ガギグゲゴ', 's': 'サシスセソ', 'z': 'ザジズゼゾ',
    't': 'タチツテト', 'd': 'ダヂヅデド', 'n': 'ナニヌネノ', 'p': 'パピプペポ', 'b': 'バビブベボ',
    'm': 'マミムメモ', 'r': 'ラリルレロ', 'l': 'ラリルレロ', 'v': 'バビブベボ',
}
_KATAKANA_F = {'a': 'ファ', 'e': 'フェ', 'i': 'フィ', 'o': 'フォ', 'u': 'フ'}
_KATAKANA_CODA = {'': '', 'n': 'ン', 'r': 'ー', 'l': 'ル', 's': 'ス'}
_VOWEL_INDEX = {v: i for i, v in enumerate('aiueo')}
_HANGUL_INITIAL = {'g': 0, 'k': 15, 'n': 2, 'd': 3, 't': 16, 'r': 5, 'l': 5, 'm': 6, 'b': 7,
                   'p': 17, 's': 9, 'z': 12, 'f': 17, 'v': 7}
_HANGUL_MEDIAL = {'a': 0, 'e': 5, 'i': 20, 'o': 8, 'u': 13}
_HANGUL_FINAL = {'': 0, 'n': 4, 'r': 8, 'l': 8, 's': 19}
_BENGALI_C = dict(zip('kgtdnpbmrlsfvz', 'কগটডনপবমরলসফভজ'))
_BENGALI_V = {'a': 'া', 'e': 'ে', 'i': 'ি', 'o': 'ো', 'u': 'ু'}
_TELUGU_C = dict(zip('kgtdnpbmrlsfvz', 'కగటడనపబమరలసఫవజ'))
_TELUGU_V = {'a': 'ా', 'e': 'ె', 'i': 'ి', 'o': 'ొ', 'u': 'ు'}
_GEEZ_ROW = {'l': 0x1208, 'm': 0x1218, 'r': 0x1228, 's': 0x1230, 'b': 0x1260, 'v': 0x1268,
             't': 0x1270, 'n': 0x1290, 'k': 0x12A8, 'z': 0x12D8, 'd': 0x12F0, 'g': 0x1308,
             'f': 0x1348, 'p': 0x1350}
_GEEZ_ORDER = {'u': 1, 'i': 2, 'a': 3, 'e': 4, 'o': 6}
_KHMER_C = dict(zip('kgtdnpbmrlsfvz', 'កគតដនពបមរលសហវជ'))
_KHMER_V = {'a': 'ា', 'e': 'េ', 'i': 'ិ', 'o': 'ោ', 'u': 'ុ'}
_FINNISH_C = {'b': 'p', 'd': 't', 'g': 'k', 'z': 'ts', 'f': 'v'}
_FINNISH_FRONT = {'a': 'ä', 'o': 'ö', 'u': 'y'}


def _cyrillic(s: Syllable) -> str:
  return ''.join(_CYRILLIC.get(ch, '') for ch in s[0] + s[1] + s[2])


def _arabic(s: Syllable) -> str:
  o, v, c = s
  return _ARABIC_C[o] + _ARABIC_V[v] + (_ARABIC_C[c] if c else '')


def _katakana(s: Syllable) -> str:
  o, v, c = s
  mora = _KATAKANA_F[v] if o == 'f' else _KATAKANA_ROWS[o][_VOWEL_INDEX[v]]
  return mora + _KATAKANA_CODA[c]


def _hangul(s: Syllable) -> str:
  o, v, c = s
  return chr(0xAC00 + (_HANGUL_INITIAL[o] * 21 + _HANGUL_MEDIAL[v]) * 28 + _HANGUL_FINAL[c])


def _abugida(consonants: dict, vowels: dict, virama: str) -> Callable[[Syllable], str]:
  def write(s: Syllable) -> str:
    o, v, c = s
    return consonants[o] + vowels[v] + (consonants[c] + virama if c else '')
  return write


def _geez(s: Syllable) -> str:
  o, v, c = s
  out = chr(_GEEZ_ROW[o] + _GEEZ_ORDER[v])
  return out + (chr(_GEEZ_ROW[c] + 5) if c else '')  # 6th order: consonant without vowel.


def _khmer(s: Syllable) -> str:
  o, v, c = s
  return _KHMER_C[o] + _KHMER_V[v] + (_KHMER_C[c] if c else '')


def _finnish_word(syllables: Sequence[Syllable]) -> str:
  front = syllables[0][1] in 'ei'
  out = []
  for o, v, c in syllables:
    v = _FINNISH_FRONT.get(v, v) if front else v
    out.append(_FINNISH_C.get(o, o) + v + c)
  return ''.join(out)


_SYLLABLE_WRITERS: dict[str, Callable[[Syllable], str]] = {
    'ar': _arabic,
    'bn': _abugida(_BENGALI_C, _BENGALI_V, '\u09CD'),
    'ja': _katakana,
    'ko': _hangul,
    'ru': _cyrillic,
    'te': _abugida(_TELUGU_C, _TELUGU_V, '\u0C4D'),
    'am': _geez,
    'km': _khmer,
}

SUPPORTED = tuple(_SYLLABLE_WRITERS) + ('fi',)


def write_syllables(lang: str, syllables: Sequence[Syllable]) -> str:
  """The word spelled by `syllables` in `lang`'s script."""
  if lang == 'fi':
    return _finnish_word(syllables)
  write = _SYLLABLE_WRITERS[lang]
  return ''.join(write(s) for s in syllables)


def transliterate_name(lang: str, name) -> str:
  """A `world.Name` written in `lang` (Finnish capitalised, as Latin-script names are)."""
  word = write_syllables(lang, name.syllables)
  return word.capitalize() if lang == 'fi' else word
