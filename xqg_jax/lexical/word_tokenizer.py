"""The word tokenizer for token budgets (XOR R@kt) and lexical baselines.

DPR's `SimpleTokenizer` rule, which XOR-TyDi's tooling descends from: a token is a maximal run
of letters, digits and combining marks (`[\\p{L}\\p{N}\\p{M}]+`), or any single other
non-space, non-control character. Combining marks matter: Bengali, Telugu and Khmer vowel
signs are marks, and Python's `\\w` would split words at them. nltk's `word_tokenize` needs a
Punkt model that cannot be downloaded offline, so it is not used.
"""

import regex

_TOKEN = regex.compile(r'[\p{L}\p{N}\p{M}]+|[^\p{Z}\p{C}]', regex.UNICODE)


def word_tokenize(text: str) -> list[str]:
  """Tokens of `text` in order (case preserved)."""
  return _TOKEN.findall(text)


def word_tokenize_lower(text: str) -> list[str]:
  """Lower-cased word tokens without punctuation-only tokens (for lexical matching)."""
  return [t.lower() for t in _TOKEN.findall(text) if regex.match(r'[\p{L}\p{N}]', t)]
