"""The one table of query languages, their families, scripts and resource levels.

Every per-language and per-family report, the synthetic benchmark, the xQG prompt and the
script-aware attacks read this table; nothing else lists languages.
"""

import dataclasses
from typing import Sequence


@dataclasses.dataclass(frozen=True)
class Language:
  """One query language: code, name, script, family, resource level."""
  code: str
  name: str  # English name, as written in the xQG prompt.
  family: str
  branch: str
  script: str
  resource: str  # 'high' | 'medium' | 'low' | 'very low'
  # Inclusive code point ranges of the script's letters (used for script checks and noise).
  script_ranges: tuple[tuple[int, int], ...]


LANGUAGES: dict[str, Language] = {
    lang.code: lang for lang in (
        Language('ar', 'Arabic', 'Afro-Asiatic', 'Semitic', 'Arabic', 'high',
                 ((0x0600, 0x06FF),)),
        Language('bn', 'Bengali', 'Indo-European', 'Indo-Aryan', 'Bengali', 'low',
                 ((0x0980, 0x09FF),)),
        Language('fi', 'Finnish', 'Uralic', 'Finnic', 'Latin', 'medium',
                 ((0x0041, 0x005A), (0x0061, 0x007A), (0x00C0, 0x00FF))),
        Language('ja', 'Japanese', 'Japonic', 'Japonic', 'Kanji/Kana', 'high',
                 ((0x3040, 0x30FF), (0x4E00, 0x9FFF))),
        Language('ko', 'Korean', 'Koreanic', 'Koreanic', 'Hangul', 'medium',
                 ((0xAC00, 0xD7A3), (0x1100, 0x11FF), (0x3130, 0x318F))),
        Language('ru', 'Russian', 'Indo-European', 'Slavic', 'Cyrillic', 'high',
                 ((0x0400, 0x04FF),)),
        Language('te', 'Telugu', 'Dravidian', 'South-Central Dravidian', 'Telugu', 'low',
                 ((0x0C00, 0x0C7F),)),
        Language('am', 'Amharic', 'Afro-Asiatic', 'Semitic', "Ge'ez", 'very low',
                 ((0x1200, 0x137F),)),
        Language('km', 'Khmer', 'Austroasiatic', 'Khmer', 'Khmer', 'very low',
                 ((0x1780, 0x17FF),)),
    )
}

XOR_TYDI_LANGUAGES = ('ar', 'bn', 'fi', 'ja', 'ko', 'ru', 'te')
LOW_RESOURCE_EXTENSION = ('am', 'km')
ALL_LANGUAGES = XOR_TYDI_LANGUAGES + LOW_RESOURCE_EXTENSION


class UnknownLanguageError(ValueError):
  """A language code that is not in the table."""


def get(code: str) -> Language:
  """Returns the table row for `code`, or raises naming the supported codes."""
  try:
    return LANGUAGES[code]
  except KeyError:
    raise UnknownLanguageError(
        f'unknown language code {code!r}; supported: {", ".join(LANGUAGES)}') from None


def validate(codes: Sequence[str]) -> tuple[str, ...]:
  """Checks every code against the table; returns them as a tuple."""
  return tuple(get(code).code for code in codes)


def families(codes: Sequence[str]) -> dict[str, tuple[str, ...]]:
  """Groups language codes by family, in table order."""
  out: dict[str, list[str]] = {}
  for code in codes:
    out.setdefault(get(code).family, []).append(code)
  return {family: tuple(members) for family, members in out.items()}


def in_script(char: str, code: str) -> bool:
  """Whether `char` is a letter of language `code`'s script."""
  point = ord(char)
  return any(lo <= point <= hi for lo, hi in get(code).script_ranges)
