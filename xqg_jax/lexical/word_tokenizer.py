"""The word tokenizers for token budgets (XOR R@kt) and lexical baselines.

`nltk`: the official XOR-Retrieve script's tokenizer, nltk's `word_tokenize` (Punkt sentence
split, then Treebank words). It needs nltk's English Punkt model (`punkt_tab`, fetched with
`python -m nltk.downloader punkt_tab`), and is used for budgets whenever nltk finds it.

`regex`, otherwise: DPR's `SimpleTokenizer` rule: a token is a maximal run of letters, digits
and combining marks (`[\\p{L}\\p{N}\\p{M}]+`), or any single other non-space, non-control
character. Combining marks matter: Bengali, Telugu and Khmer vowel signs are marks, and
Python's `\\w` would split words at them. The two differ where it shows in R@kt: nltk keeps
`1,990`, `U.S.` and `Dr.` whole, this rule splits them (`1 , 990`: a comma-grouped number is
then never found as an answer), and nltk rewrites double quotes as `` and ''.
"""

import functools

import regex

NLTK, REGEX = 'nltk', 'regex'

_TOKEN = regex.compile(r'[\p{L}\p{N}\p{M}]+|[^\p{Z}\p{C}]', regex.UNICODE)


def word_tokenize(text: str) -> list[str]:
  """Tokens of `text` in order (case preserved)."""
  return _TOKEN.findall(text)


def word_tokenize_lower(text: str) -> list[str]:
  """Lower-cased word tokens without punctuation-only tokens (for lexical matching)."""
  return [t.lower() for t in _TOKEN.findall(text) if regex.match(r'[\p{L}\p{N}]', t)]


@functools.lru_cache(maxsize=1)
def budget_tokenizer() -> str:
  """The budget tokenizer this machine runs: 'nltk' when nltk finds its English Punkt model,
  else 'regex' (cached; `budget_tokenizer.cache_clear()` after installing the model)."""
  try:
    import nltk.data  # pylint: disable=g-import-not-at-top
    nltk.data.find('tokenizers/punkt_tab/english/')
  except (ImportError, LookupError):
    return REGEX
  return NLTK


def budget_tokenize(text: str, tokenizer: str) -> list[str]:
  """Tokens of `text` under budget tokenizer `tokenizer` ('nltk' or 'regex')."""
  if tokenizer == NLTK:
    from nltk import tokenize  # pylint: disable=g-import-not-at-top
    return tokenize.word_tokenize(text)
  if tokenizer == REGEX:
    return word_tokenize(text)
  raise ValueError(f'budget tokenizer {tokenizer!r}: expected {NLTK!r} or {REGEX!r}')
