"""White-box HotFlip attack on the xDR query tower, and its random-edit baseline.

HotFlip (Ebrahimi et al., 2018) against a bi-encoder: for a query with gold passage rows `G`
in a corpus embedding matrix `C`, the objective is the margin
`m(q) = max_{g in G} <E_q(q), C_g> - s_k(q)`, where `s_k` is the k-th best non-gold score;
the gold is outside the top `k` exactly when `m < 0`. Each step:

1. First order: the gradient of `m` w.r.t. the word embeddings `e_i` of the query's tokens
   (taken by intercepting the `word_embeddings` lookup of `bert.Encoder`, so the model code is
   untouched) gives the estimated change of substituting token `v` at position `i`:
   `<grad_i, E_v - E_{x_i}>`, the one-hot gradient `grad[i, v] - grad[i, x_i]` of the paper.
2. Candidates: positions holding a token of the query's own script (never specials, digits,
   punctuation or other scripts), replaced by vocabulary tokens of that script of the same kind
   (word-start or continuation piece). At every position the `candidates` best estimates whose
   edited text round-trips are kept: the text is the query with the token's character span
   replaced by the new token's surface, and must re-tokenize to exactly the edited ids, so the
   attacked text is what was scored and differs from the original in exactly `edits` token
   positions. (Per position rather than overall: the overall best estimates crowd onto one
   position, where the linear estimate is often wrong.)
3. Exact re-scoring of every kept candidate by re-encoding (batched); the beam keeps the
   `beam` best that lower the margin (`beam=1`: greedy). The search stops once the gold leaves
   the top `k`, when nothing lowers the margin, or after `budget` edits; each position is
   edited at most once. Queries whose gold already is outside the top `k` are not attacked.

The margin, not the gold score alone, is minimised: an edit may raise the gold's score if it
raises the k-th competitor's more.

With `synonyms` (lang -> word -> synonyms, e.g. `load_synonyms` of the benchmark's
`surface_forms.json`), the attack instead swaps whole words for their known synonyms, every
swap scored exactly (no first-order step): a meaning-preserving adversarial paraphrase whose
unit is the word. Synonyms are words and the model's units are tokens, so the two modes are
kept apart rather than mixed.

Everything is deterministic: exact ties go to the first proposed candidate (by position, then
estimate, then token id). The device sees fixed shapes only ([batch_size, max_len] rows), so a
query's result does not depend on which other queries are attacked with it, nor on their
order. Another `batch_size` changes scores in the last bits (other kernels), which may break a
near tie the other way.
"""

import collections
import dataclasses
import functools
import json
import re
import unicodedata
from typing import Iterable, Mapping, Sequence

from etils import epath
from flax import linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import tokenizers

from xqg_jax import languages
from xqg_jax import randomness
from xqg_jax.data import pipeline
from xqg_jax.data import records
from xqg_jax.data import tokenizers as tokenizers_lib
from xqg_jax.encoders import encode_stage
from xqg_jax.io import progress
from xqg_jax.layers import embeddings
from xqg_jax.robustness import attacked_set

Synonyms = Mapping[str, Mapping[str, Sequence[str]]]  # lang -> word -> its synonyms
_WORD_START = '▁'  # SentencePiece's word-start mark
_DRAWS = 16  # random tokens tried per position before the baseline moves on


def load_synonyms(path) -> dict[str, dict[str, tuple[str, ...]]]:
  """lang -> word -> its synonyms, from `{lang: {concept: [surface forms]}}` JSON.

  A word's synonyms are the other forms of its concepts, in file order; forms holding
  whitespace are left out (a swap replaces one word).
  """
  forms = json.loads(epath.Path(path).read_text())
  out = {}
  for lang, concepts in forms.items():
    words: dict[str, dict[str, None]] = {}
    for group in concepts.values():
      group = [form for form in group if form and not any(c.isspace() for c in form)]
      for word in group:
        words.setdefault(word, {}).update(dict.fromkeys(f for f in group if f != word))
    out[lang] = {word: tuple(others) for word, others in words.items() if others}
  return out


def gold_rows(qrels: Iterable[records.Qrel], corpus_ids: Sequence[str]
              ) -> dict[str, tuple[int, ...]]:
  """query id -> corpus rows of its relevant passages (those present in `corpus_ids`)."""
  row = {docid: i for i, docid in enumerate(corpus_ids)}
  out: dict[str, list[int]] = {}
  for qrel in qrels:
    if qrel.relevance > 0 and qrel.docid in row:
      out.setdefault(qrel.query_id, []).append(row[qrel.docid])
  return {qid: tuple(sorted(rows)) for qid, rows in out.items()}


def _word_spans(text: str) -> list[tuple[int, int]]:
  """Whitespace-separated words less punctuation at their edges, as (start, end)."""
  spans = []
  for match in re.finditer(r'\S+', text):
    start, end = match.span()
    while start < end and unicodedata.category(text[start]).startswith('P'):
      start += 1
    while end > start and unicodedata.category(text[end - 1]).startswith('P'):
      end -= 1
    if start < end:
      spans.append((start, end))
  return spans


def _is_letter(char: str, lang: str) -> bool:
  return unicodedata.category(char)[0] in 'LM' and languages.in_script(char, lang)


class _Vocabulary:
  """The tokenizer's tokens: surfaces, word-start flags, and the in-script set per language."""

  def __init__(self, tokenizer, rows: int):
    model = json.loads(tokenizer.backend_tokenizer.to_str())['model']
    if model['type'] not in ('WordPiece', 'Unigram'):
      raise ValueError(f"{model['type']} tokenizers are not supported (WordPiece as mBERT's, "
                       "Unigram as XLM-R's are)")
    tokens = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    self.rows = rows
    self.is_start = np.zeros(rows, bool)
    self.surface = [''] * rows
    special = set(tokenizer.all_special_ids)
    for i, token in enumerate(tokens):
      if i in special or token is None:
        continue
      if model['type'] == 'WordPiece':
        prefix = model['continuing_subword_prefix']
        self.is_start[i] = not token.startswith(prefix)
        self.surface[i] = token if self.is_start[i] else token[len(prefix):]
      else:
        self.is_start[i] = token.startswith(_WORD_START)
        self.surface[i] = token.removeprefix(_WORD_START)
    self._allowed: dict[str, np.ndarray] = {}

  def allowed(self, lang: str) -> np.ndarray:
    """[rows] bool: tokens whose every character is a letter (or mark) of `lang`'s script;
    the script's own digits and punctuation (Arabic '؟', Bengali digits) do not count."""
    if lang not in self._allowed:
      self._allowed[lang] = np.array([bool(s) and all(_is_letter(c, lang) for c in s)
                                      for s in self.surface])
    return self._allowed[lang]


class _Tokens:
  """Tokenization as the encoder sees it (`pipeline.Tokenize`), with character offsets."""

  def __init__(self, tokenizer, max_len: int):
    self.tokenize = pipeline.Tokenize(tokenizer, max_len)
    self._backend = tokenizers.Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())
    self._backend.no_padding()
    self._backend.enable_truncation(max_len, direction=tokenizer.truncation_side)
    self.max_len = max_len

  def arrays(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
    return self.tokenize(list(texts), self.max_len)[0]

  def offsets(self, texts: Sequence[str]) -> list[list[tuple[int, int]]]:
    return [e.offsets for e in self._backend.encode_batch(list(texts))]

  def lengths(self, texts: Sequence[str]) -> list[int]:
    """Tokens of each text the model sees, less the added special tokens."""
    return [len(e.ids) - sum(e.special_tokens_mask)
            for e in self._backend.encode_batch(list(texts))]


def _splice(text: str, span: tuple[int, int], surface: str) -> str:
  """`text` with the non-space part of `span` replaced by `surface`."""
  start, end = span
  while start < end and text[start].isspace():
    start += 1
  return text[:start] + surface + text[end:]


def _eligible(ids: np.ndarray, mask: np.ndarray, allowed: np.ndarray) -> np.ndarray:
  """[L] bool: real, in-script (hence non-special) token positions of one row."""
  return (mask != 0) & allowed[ids]


@dataclasses.dataclass(frozen=True)
class _State:
  text: str
  edited: frozenset[int]  # token positions (token mode) or word indices (synonym mode)
  margin: float


def _margin(emb, corpus, gold, k: int):
  """(margin, best gold score) per row; `gold` [R, G] corpus rows, padded with N."""
  scores = emb @ corpus.T
  best = jnp.take_along_axis(scores, gold, axis=1, mode='fill', fill_value=-jnp.inf).max(1)
  rows = jnp.arange(scores.shape[0])[:, None]
  others = scores.at[rows, gold].set(-jnp.inf, mode='drop')
  return best - jax.lax.top_k(others, k)[0][:, -1], best


def _query_tower(model) -> str:
  return 'encoder' if model.tied else 'query'


class HotFlip:
  """The white-box attack (module docstring); `attacked_set.Attack` with unit 'token' or 'word'.

  A query's `length` is its tokens as the query tower sees them (truncated to `max_len`,
  special tokens left out), or its whitespace-separated words with `synonyms`.

  Args:
    encoder: the xDR bi-encoder (`encode_stage.load_encoder`).
    tokenizer: its tokenizer.
    corpus: [N, H] passage embeddings the rank is measured against (the corpus, or a shortlist
      that holds every gold row).
    gold: query id -> rows of `corpus` of its relevant passages (`gold_rows`).
    budget: most edits per query (tokens; words with `synonyms`).
    max_len: the query tower's input length (`config.data.q_max_len`).
    top_k: the attack succeeds once the gold is outside the top `top_k` (about 20 passages of
      100 words make R@2kt's 2,000 tokens).
    candidates: first-order candidates per position re-scored exactly (token mode).
    beam: beam width; 1 is greedy.
    synonyms: lang -> word -> synonyms: swap whole words for known synonyms instead.
    batch_size: rows per device call.
  """

  def __init__(self, encoder: encode_stage.Encoder, tokenizer, corpus: np.ndarray,
               gold: Mapping[str, Sequence[int]], *, budget: int, max_len: int, top_k: int,
               candidates: int, beam: int, batch_size: int, synonyms: Synonyms | None = None):
    for name, value in (('budget', budget), ('candidates', candidates), ('beam', beam),
                        ('batch_size', batch_size), ('top_k', top_k)):
      if value < 1:
        raise ValueError(f'{name} must be >= 1, got {value}')
    corpus = np.asarray(corpus, np.float32)
    if top_k + max((len(rows) for rows in gold.values()), default=0) > len(corpus):
      raise ValueError(f'top_k={top_k} plus the gold rows exceed the corpus of {len(corpus)}')
    self.name = 'hotflip_synonyms' if synonyms is not None else 'hotflip'
    self.unit = 'word' if synonyms is not None else 'token'
    self.budget, self.top_k, self.candidates, self.beam = budget, top_k, candidates, beam
    self.batch_size = batch_size
    self._synonyms = synonyms
    self._gold = {qid: tuple(int(r) for r in rows) for qid, rows in gold.items()}
    self._encoder = encoder
    self._tokens = _Tokens(tokenizer, max_len)
    tokenizers_lib.check_vocab(tokenizer, encoder.model.encoder.vocab_size, 'xDR encoder')
    self._vocab = _Vocabulary(tokenizer, encoder.model.encoder.vocab_size)
    self._corpus = jnp.asarray(corpus)
    self._score_fn = jax.jit(self._score)
    self._first_order_fn = jax.jit(self._first_order, static_argnames='count')

  # Device functions: fixed [batch_size, max_len] rows.

  def _embed(self, params, batch, delta=None):
    def add_delta(next_fn, args, kwargs, context):
      out = next_fn(*args, **kwargs)
      if (delta is not None and context.method_name == '__call__'
          and isinstance(context.module, embeddings.Embed)
          and context.module.name == 'word_embeddings'):
        out = out + delta.astype(out.dtype)
      return out
    with nn.intercept_methods(add_delta):
      return self._encoder.model.apply({'params': params}, batch, method='encode_query')

  def _score(self, params, corpus, batch, gold):
    return _margin(self._embed(params, batch), corpus, gold, self.top_k)

  def _first_order(self, params, corpus, batch, gold, allowed, eligible, *, count: int):
    """The `count` best (estimated margin changes, token ids) per position: [R, L, count]."""
    table = params[_query_tower(self._encoder.model)]['embeddings']['word_embeddings'][
        'embedding']
    ids = batch['input_ids']
    delta = jnp.zeros(ids.shape + (table.shape[1],), jnp.float32)
    grads = jax.grad(lambda d: _margin(self._embed(params, batch, d), corpus, gold,
                                       self.top_k)[0].sum())(delta)
    est = jnp.einsum('rlh,vh->rlv', grads, table.astype(jnp.float32))
    est = est - jnp.take_along_axis(est, ids[..., None], axis=-1)
    is_start = jnp.asarray(self._vocab.is_start)
    ok = (eligible[:, :, None] & allowed[:, None, :]
          & (is_start[None, None, :] == is_start[ids][..., None])
          & (jnp.arange(table.shape[0]) != ids[..., None]))
    neg, tokens = jax.lax.top_k(-jnp.where(ok, est, jnp.inf), count)
    return -neg, tokens

  def _chunks(self, fn, arrays: dict, *extra):
    """Runs `fn(params, corpus, batch, *extra)` over fixed-size row chunks; numpy outputs."""
    n, size = len(arrays['input_ids']), self.batch_size

    def rows(array, start):  # One chunk, padded with copies of its first row.
      chunk = array[start:start + size]
      return np.concatenate([chunk, np.repeat(chunk[:1], size - len(chunk), axis=0)])

    outs = [fn(self._encoder.params, self._corpus, {k: rows(v, start) for k, v in arrays.items()},
               *(rows(e, start) for e in extra)) for start in range(0, n, size)]
    return tuple(np.concatenate([np.asarray(part) for part in parts])[:n]
                 for parts in zip(*outs))

  def _gold_array(self, qids: Sequence[str]) -> np.ndarray:
    width = 1 << max(len(self._gold[q]) for q in qids).bit_length()  # Few shapes.
    out = np.full((len(qids), width), len(self._corpus), np.int32)
    for i, qid in enumerate(qids):
      out[i, :len(self._gold[qid])] = self._gold[qid]
    return out

  # Exact scores and first-order estimates, also for analysis.

  def margins(self, batch: Mapping[str, np.ndarray], query_ids: Sequence[str]
              ) -> tuple[np.ndarray, np.ndarray]:
    """Exact (margin, best gold score) of tokenized rows [n, max_len] against their gold."""
    return self._chunks(self._score_fn, dict(batch), self._gold_array(query_ids))

  def score_texts(self, texts: Sequence[str], query_ids: Sequence[str]
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Exact (margin, best gold score) of each text against its query's gold."""
    return self.margins(self._tokens.arrays(texts), query_ids)

  def estimates(self, queries: Sequence[records.Query], texts: Sequence[str],
                edited: Sequence[Iterable[int]] = (), *, count: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """First-order candidates of each text (a version of its query), positions `edited`
    excluded: [n, max_len, count] token ids and estimated margin changes, best first per
    position; +inf estimates mark no candidate."""
    arrays = self._tokens.arrays(texts)
    allowed = np.stack([self._vocab.allowed(q.lang) for q in queries])
    eligible = np.stack([_eligible(ids, mask, a) for ids, mask, a in zip(
        arrays['input_ids'], arrays['attention_mask'], allowed)])
    for row, positions in enumerate(edited):
      eligible[row, list(positions)] = False
    est, tokens = self._chunks(
        functools.partial(self._first_order_fn, count=min(count, self._vocab.rows)), arrays,
        self._gold_array([q.id for q in queries]), allowed, eligible)
    return tokens, est

  # The search.

  def _token_children(self, queries, states) -> list[list[tuple[str, int]]]:
    """Per state: (text, edited position) of the `candidates` best round-tripping
    first-order substitutions at each position, in (position, estimate) order."""
    texts = [s.text for s in states]
    tokens, est = self.estimates(queries, texts, [s.edited for s in states],
                                 count=2 * self.candidates)  # Spares for round-trip misses.
    ids = self._tokens.arrays(texts)['input_ids']
    proposals = []  # (state row, text, position, expected ids)
    for row, offsets in enumerate(self._tokens.offsets(texts)):
      for i, rank in zip(*np.nonzero(np.isfinite(est[row]))):
        expected = ids[row].copy()
        expected[i] = tokens[row, i, rank]
        surface = self._vocab.surface[expected[i]]
        proposals.append((row, _splice(texts[row], offsets[i], surface), int(i), expected))
    children = [[] for _ in states]
    kept = collections.Counter()
    if proposals:
      check = self._tokens.arrays([p[1] for p in proposals])['input_ids']
      for (row, text, i, expected), got in zip(proposals, check):
        if kept[row, i] < self.candidates and np.array_equal(got, expected):
          kept[row, i] += 1
          children[row].append((text, i))
    return children

  def _synonym_children(self, queries, states) -> list[list[tuple[str, int]]]:
    """Per state: every (text, word index) swapping one unedited word for a synonym."""
    return [[(s.text[:a] + synonym + s.text[b:], j)
             for j, (a, b), synonyms in _synonym_words(s.text, self._synonyms.get(q.lang, {}))
             if j not in s.edited for synonym in synonyms]
            for q, s in zip(queries, states)]

  def _nothing_to_do(self, query: records.Query) -> str:
    if not self._gold.get(query.id):
      return 'no gold passage of this query in the corpus'
    if self._synonyms is not None:
      if not _synonym_words(query.question, self._synonyms.get(query.lang, {})):
        return 'no word with a known synonym'
      return ''
    arrays = self._tokens.arrays([query.question])
    if not _eligible(arrays['input_ids'][0], arrays['attention_mask'][0],
                     self._vocab.allowed(query.lang)).any():
      return "no token of the query's script to substitute"
    return ''

  def _length(self, query: records.Query) -> int:
    if self._synonyms is not None:
      return len(_word_spans(query.question))
    return self._tokens.lengths([query.question])[0]

  def _step(self, queries, beams: dict[int, list[_State]]) -> dict[int, list[_State]]:
    """One edit more: per query, the distinct children that lower their parent's margin,
    best first (exact ties: first proposed). Queries without any candidate are left out."""
    owners = [n for n, beam in beams.items() for _ in beam]
    states = [s for beam in beams.values() for s in beam]
    expand = self._synonym_children if self._synonyms is not None else self._token_children
    flat = [(n, parent, text, key) for n, parent, kids in zip(
        owners, states, expand([queries[n] for n in owners], states)) for text, key in kids]
    if not flat:
      return {}
    margin, _ = self.score_texts([f[2] for f in flat], [queries[f[0]].id for f in flat])
    found: dict[int, dict[str, _State]] = {n: {} for n, *_ in flat}
    for c in sorted(range(len(flat)), key=lambda c: (margin[c], c)):
      n, parent, text, key = flat[c]
      if margin[c] < parent.margin and text not in found[n]:
        found[n][text] = _State(text, parent.edited | {key}, float(margin[c]))
    return {n: list(kids.values()) for n, kids in found.items()}

  def __call__(self, queries: Sequence[records.Query]) -> list[attacked_set.AttackedQuery]:
    queries = list(queries)
    reasons = {n: self._nothing_to_do(q) for n, q in enumerate(queries)}
    beams: dict[int, list[_State]] = {}
    todo = [n for n, reason in reasons.items() if not reason]
    if todo:
      margin, _ = self.score_texts([queries[n].question for n in todo],
                                   [queries[n].id for n in todo])
      for n, m in zip(todo, margin):
        if m < 0:
          reasons[n] = f'the gold passage is already outside the top {self.top_k}'
        else:
          beams[n] = [_State(queries[n].question, frozenset(), float(m))]
    best = {n: beam[0] for n, beam in beams.items()}
    proposed = set()
    for _ in progress.bar(range(self.budget), desc=f'HotFlip {len(queries)} queries',
                          unit='edit'):
      if not beams:
        break
      children = self._step(queries, beams)
      proposed.update(children)
      beams = {}
      for n, kids in children.items():
        if not kids:
          continue
        if kids[0].margin < best[n].margin:
          best[n] = kids[0]
        if kids[0].margin >= 0:  # The gold is still in the top k.
          beams[n] = kids[:self.beam]
    out = []
    for n, q in enumerate(queries):
      state, length = best.get(n), self._length(q)
      if state is None or not state.edited:
        reason = reasons[n] or ('no substitution lowers the gold margin' if n in proposed
                                else 'no in-script substitution re-tokenizes to itself')
        out.append(attacked_set.unattacked(q, reason=reason, budget=self.budget, unit=self.unit,
                                     length=length))
      else:
        out.append(attacked_set.AttackedQuery(q.id, q.lang, q.question, state.text,
                                        len(state.edited), length, self.budget, self.unit))
    return out


def _synonym_words(text: str, table: Mapping[str, Sequence[str]]
                   ) -> list[tuple[int, tuple[int, int], Sequence[str]]]:
  """(word index, span, synonyms) of every word of `text` with known synonyms."""
  return [(j, (a, b), table[text[a:b]]) for j, (a, b) in enumerate(_word_spans(text))
          if table.get(text[a:b])]


class RandomEdits:
  """The baseline: `budget` substitutions drawn uniformly from what `HotFlip` may use.

  Token mode: distinct in-script positions in random order, each given a random in-script
  token of the same kind whose edited text round-trips (up to 16 draws per position). With
  `synonyms`: distinct words with known synonyms, each swapped for a random synonym. Random
  from (seed, name, query id) alone. Always spends the whole budget where it can, unlike
  `HotFlip`, which stops once the gold is out of the top k.
  """

  def __init__(self, tokenizer, *, budget: int, max_len: int, seed: int,
               synonyms: Synonyms | None = None):
    if budget < 1:
      raise ValueError(f'budget must be >= 1, got {budget}')
    self.name = 'random_synonyms' if synonyms is not None else 'random_edits'
    self.unit = 'word' if synonyms is not None else 'token'
    self.budget, self.seed = budget, seed
    self._synonyms = synonyms
    self._tokens = _Tokens(tokenizer, max_len)
    self._vocab = _Vocabulary(tokenizer, len(tokenizer))

  def __call__(self, queries: Sequence[records.Query]) -> list[attacked_set.AttackedQuery]:
    return [self._attack(q) for q in queries]

  def _attack(self, query: records.Query) -> attacked_set.AttackedQuery:
    rng = randomness.numpy_rng(self.seed, self.name, query.id)
    if self._synonyms is not None:
      text, edits, reason = self._swap_words(query, rng)
      length = len(_word_spans(query.question))
    else:
      text, edits, reason = self._swap_tokens(query, rng)
      length = self._tokens.lengths([query.question])[0]
    if not edits:
      return attacked_set.unattacked(query, reason=reason, budget=self.budget, unit=self.unit,
                               length=length)
    return attacked_set.AttackedQuery(query.id, query.lang, query.question, text, edits, length,
                                self.budget, self.unit)

  def _swap_words(self, query, rng) -> tuple[str, int, str]:
    text, table = query.question, self._synonyms.get(query.lang, {})
    words = _synonym_words(text, table)
    picked = sorted(rng.permutation(len(words))[:self.budget])
    for j, _, synonyms in (words[k] for k in picked):
      a, b = _word_spans(text)[j]  # Spans move as words change length.
      text = text[:a] + synonyms[int(rng.integers(len(synonyms)))] + text[b:]
    return text, len(picked), 'no word with a known synonym'

  def _swap_tokens(self, query, rng) -> tuple[str, int, str]:
    text = query.question
    arrays = self._tokens.arrays([text])
    ids = arrays['input_ids'][0]
    allowed = self._vocab.allowed(query.lang)
    eligible = np.flatnonzero(_eligible(ids, arrays['attention_mask'][0], allowed))
    if not len(eligible):
      return text, 0, "no token of the query's script to substitute"
    edits = 0
    for i in rng.permutation(eligible):
      if edits == self.budget:
        break
      pool = np.flatnonzero(allowed & (self._vocab.is_start == self._vocab.is_start[ids[i]]))
      pool = pool[pool != ids[i]]
      offsets = self._tokens.offsets([text])[0]
      for v in rng.choice(pool, size=min(_DRAWS, len(pool)), replace=False):
        edited = _splice(text, offsets[i], self._vocab.surface[v])
        expected = ids.copy()
        expected[i] = v
        if np.array_equal(self._tokens.arrays([edited])['input_ids'][0], expected):
          text, ids, edits = edited, expected, edits + 1
          break
    return text, edits, 'no in-script substitution re-tokenizes to itself'
