"""The xQG prompt (Zhuang et al., SIGIR 2023): the target language named in English."""

from xqg_jax import languages

TEMPLATE = 'Generate a {language} question for this passage: {title} {passage}'


def prompt(lang: str, title: str, passage: str) -> str:
  """The generator input asking for a question in `lang` about the passage."""
  return TEMPLATE.format(language=languages.get(lang).name, title=title, passage=passage)
