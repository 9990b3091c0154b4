"""The generator's inputs: the xQG prompt (Zhuang et al., SIGIR 2023), and the name prompt of
its pre-training text. Languages are named in English."""

from typing import Sequence

from xqg_jax import languages

TEMPLATE = 'Generate a {language} question for this passage: {title} {passage}'
NAME_TEMPLATE = '{language} name: {title}'
NAMES_TEMPLATE = '{language} names: {titles}'


def prompt(lang: str, title: str, passage: str) -> str:
  """The generator input asking for a question in `lang` about the passage."""
  return TEMPLATE.format(language=languages.get(lang).name, title=title, passage=passage)


def name_prompt(lang: str, titles: Sequence[str]) -> str:
  """The generator input asking how `lang` writes the names in `titles` (one or more)."""
  language = languages.get(lang).name
  if len(titles) == 1:
    return NAME_TEMPLATE.format(language=language, title=titles[0])
  return NAMES_TEMPLATE.format(language=language, titles=', '.join(titles))
