"""Tokenizers: load HF tokenizer directories, and train mBERT- and mT5-style ones offline.

Every stage loads tokenizers with `load_tokenizer`, for real checkpoints (mBERT WordPiece, XLM-R
and mT5 SentencePiece layouts) and for the ones trained here alike. The trained directories are
what `save_pretrained` writes for `BertTokenizerFast` and `T5TokenizerFast`.

transformers 5 rebuilds these two classes' pipelines in `__init__` and takes only the vocabulary,
post-processor and (for T5) a SentencePiece `Precompiled` normalizer from tokenizer.json. So the
trained pipelines are exactly the ones those classes rebuild: any other normalizer (NFKC, say)
would be dropped at load time. The Unigram tokenizer therefore leaves text unnormalized; the
WordPiece one uses mBERT's cased `BertNormalizer`, which keeps accents, combining marks and vowel
signs but, like mBERT, deletes format characters (ZWJ, ZWNJ, ZWSP).

The `tokenizers` trainers iterate Rust hash maps, whose order changes from run to run. Training
is made deterministic by declaring every `##` continuation piece up front (WordPiece merge
tie-breaks follow token ids) and by canonicalizing the Unigram pieces (`_canonical_pieces`).
"""

import bisect
import collections
import json
import math
import os
import tempfile
from typing import Iterable, Iterator

from etils import epath
import tokenizers
from tokenizers import decoders, models, normalizers, pre_tokenizers, processors, trainers

# transformers advises at import that PyTorch is absent; only its tokenizers are used here.
os.environ.setdefault('TRANSFORMERS_NO_ADVISORY_WARNINGS', '1')
import transformers  # pylint: disable=g-import-not-at-top,g-bad-import-order

from xqg_jax.io import atomic

BERT_SPECIAL_TOKENS = ('[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]')  # ids 0..4
T5_SPECIAL_TOKENS = ('<pad>', '</s>', '<unk>')  # ids 0..2, as in mT5
# Files of which a local tokenizer directory needs at least one.
TOKENIZER_FILES = ('tokenizer.json', 'vocab.txt', 'spiece.model', 'sentencepiece.bpe.model')

_CONTINUATION = '##'
_METASPACE = '▁'
# Unigram scores differ in the last bits between runs; rounding to 1e-6 (far below any score gap
# that matters) makes them identical.
_SCORE_DECIMALS = 6
# The Unigram trainer gives characters that EM dropped the scores min, min + step, min + 2 step, ...
# in hash set order.
_FILLER_STEP = 1e-4
# Characters of a words-and-characters vocabulary score this far (in log probability) below the
# rarest word, so that a word in the vocabulary is always one piece.
_CHARACTER_PENALTY = 5.0
# Words per string when replaying word counts to a trainer.
_REPLAY_CHUNK = 1024


def load_tokenizer(name_or_path: str | os.PathLike) -> transformers.PreTrainedTokenizerFast:
  """Loads a fast tokenizer from a local or `gs://` HF directory or, when online, a hub id.

  A path that exists, or has a scheme (`gs://`), or starts with '/', '.' or '~', is a
  directory that must hold one of `TOKENIZER_FILES`; anything else is a hub id. transformers
  reads local files only, so a `gs://` directory is copied to a local temporary one first.
  """
  name = os.path.expanduser(os.fspath(name_or_path))
  remote = '://' in name
  local = remote or os.path.exists(name) or name.startswith(('/', '.'))
  if local:
    directory = epath.Path(name)
    if not directory.is_dir():
      raise FileNotFoundError(f'tokenizer directory {name} does not exist')
    if not any((directory / f).is_file() for f in TOKENIZER_FILES):
      raise FileNotFoundError(
          f'tokenizer directory {name} holds no tokenizer file; expected one of '
          f'{", ".join(TOKENIZER_FILES)}')
  with tempfile.TemporaryDirectory() as staging:
    if remote:
      _copy_files(name, staging)
    tokenizer = transformers.AutoTokenizer.from_pretrained(
        staging if remote else name, local_files_only=local, trust_remote_code=False)
  tokenizer.name_or_path = name
  if not tokenizer.is_fast:
    raise ValueError(f'{name}: {type(tokenizer).__name__} is not a fast (tokenizers) tokenizer')
  return tokenizer


def tokenizer_exists(out_dir: str | os.PathLike) -> bool:
  """Whether `out_dir` holds a complete saved tokenizer (training writes it atomically)."""
  return all((epath.Path(out_dir) / f).is_file()
             for f in ('tokenizer.json', 'tokenizer_config.json'))


def _copy_files(src, dst) -> None:
  """Copies the files directly in directory `src` into directory `dst` (local or remote)."""
  for path in epath.Path(src).iterdir():
    if path.is_file():
      (epath.Path(dst) / path.name).write_bytes(path.read_bytes())


def check_vocab(tokenizer, vocab_size: int, what: str) -> None:
  """Raises if a model of `what` with `vocab_size` embedding rows cannot embed every token id."""
  if vocab_size < len(tokenizer):
    raise ValueError(
        f'{what}: the model has {vocab_size} vocabulary rows but tokenizer '
        f'{tokenizer.name_or_path!r} has {len(tokenizer)} tokens; use the tokenizer the model was '
        f'trained with, or a model with vocab_size >= {len(tokenizer)}')


def train_wordpiece(texts: Iterable[str], vocab_size: int,
                    out_dir: str | os.PathLike) -> transformers.PreTrainedTokenizerFast:
  """Trains a cased mBERT-style WordPiece tokenizer and saves it atomically to `out_dir`.

  Every character of `texts` stays in the vocabulary (no alphabet limit). `texts` is read once.
  Returns the tokenizer as loaded back by `load_tokenizer`.
  """
  normalizer = normalizers.BertNormalizer(
      clean_text=True, handle_chinese_chars=True, strip_accents=False, lowercase=False)
  pre_tokenizer = pre_tokenizers.BertPreTokenizer()
  counts = collections.Counter()
  for text in texts:
    words = pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(text))
    counts.update(word for word, _ in words)
  # Declared before training (as ids right after the special tokens) so that no id, and hence
  # no merge tie-break, depends on the trainer's hash map order.
  continuations = sorted({_CONTINUATION + char for word in counts for char in word[1:]})
  trainer = trainers.WordPieceTrainer(
      vocab_size=vocab_size, special_tokens=[*BERT_SPECIAL_TOKENS, *continuations],
      continuing_subword_prefix=_CONTINUATION, show_progress=False)
  learner = tokenizers.Tokenizer(models.WordPiece(unk_token=BERT_SPECIAL_TOKENS[1]))
  learner.pre_tokenizer = pre_tokenizers.WhitespaceSplit()  # The replayed words are pre-split.
  learner.train_from_iterator(_replay(counts), trainer)
  vocab = learner.get_vocab(with_added_tokens=False)
  _check_size(len(vocab), vocab_size)

  tokenizer = tokenizers.Tokenizer(models.WordPiece(
      vocab, unk_token=BERT_SPECIAL_TOKENS[1], continuing_subword_prefix=_CONTINUATION))
  tokenizer.normalizer = normalizer
  tokenizer.pre_tokenizer = pre_tokenizer
  tokenizer.decoder = decoders.WordPiece(prefix=_CONTINUATION)
  tokenizer.post_processor = processors.TemplateProcessing(
      single='[CLS]:0 $A:0 [SEP]:0', pair='[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1',
      special_tokens=[(token, vocab[token]) for token in ('[CLS]', '[SEP]')])
  tokenizer.add_special_tokens(list(BERT_SPECIAL_TOKENS))
  _save_atomically(transformers.BertTokenizerFast(
      tokenizer_object=tokenizer, do_lower_case=False, strip_accents=False,
      tokenize_chinese_chars=True), out_dir)
  return load_tokenizer(out_dir)


def train_unigram(texts: Iterable[str], vocab_size: int,
                  out_dir: str | os.PathLike) -> transformers.PreTrainedTokenizerFast:
  """Trains an mT5-style (SentencePiece Unigram) tokenizer and saves it atomically to `out_dir`.

  Every character of `texts` stays in the vocabulary (the trainer fails if `vocab_size` cannot
  hold them). `texts` is streamed once. Returns the tokenizer as loaded back by `load_tokenizer`.
  """
  trainer = trainers.UnigramTrainer(
      vocab_size=vocab_size, special_tokens=list(T5_SPECIAL_TOKENS),
      unk_token=T5_SPECIAL_TOKENS[2], show_progress=False)
  learner = _unigram_tokenizer(models.Unigram())
  learner.train_from_iterator(texts, trainer)
  pieces = json.loads(learner.to_str())['model']['vocab']
  _check_size(len(pieces), vocab_size)
  _save_unigram(_canonical_pieces(pieces), out_dir)
  return load_tokenizer(out_dir)


def train_words_and_chars(texts: Iterable[str], min_texts: int,
                          out_dir: str | os.PathLike) -> transformers.PreTrainedTokenizerFast:
  """Builds an mT5-style (Unigram) tokenizer of whole words and single characters.

  Its pieces are every character of `texts` and every whitespace-separated word found in at
  least `min_texts` of the texts (unless it begins a rarer word), scored by log frequency
  (characters below every word); anything rarer is spelled out letter by letter. Counting the
  texts a word occurs in, not its occurrences, separates vocabulary from names: a name is
  bursty (repeated within the few passages about its entity, in few others), while a word of
  the language is spread over many texts. That keeps names learnable: an unseen name is a
  sequence of known letters, and a model can learn how each script writes them, where a
  vocabulary of frequent strings makes every often-repeated name one opaque token that no
  spelling rule reaches. Saved atomically to `out_dir` in the layout `T5TokenizerFast` loads;
  returns it as loaded back by `load_tokenizer`.
  """
  if min_texts < 1:
    raise ValueError(f'min_texts must be >= 1, got {min_texts}')
  counts, spread = collections.Counter(), collections.Counter()
  for text in texts:
    words = text.split()
    counts.update(words)
    spread.update(set(words))
  total = sum(counts.values())
  if not total:
    raise ValueError('no text to build the tokenizer from')
  frequent = {w for w, n in spread.items() if n >= min_texts and len(w) > 1}
  words = sorted((_METASPACE + word, round(math.log(counts[word] / total), _SCORE_DECIMALS))
                 for word in frequent - _prefixes_of_rare_words(counts, frequent))
  floor = round(math.log(1 / total) - _CHARACTER_PENALTY, _SCORE_DECIMALS)
  chars = sorted({char for word in counts for char in word} | {_METASPACE})
  pieces = sorted(words, key=lambda item: (-item[1], item[0])) + [(c, floor) for c in chars]
  _save_unigram(pieces, out_dir)
  return load_tokenizer(out_dir)


def _prefixes_of_rare_words(counts: collections.Counter, frequent: set[str]) -> set[str]:
  """The frequent words that begin a rare one (one spelled out).

  Pieces mark the start of a word only, so a frequent word would also match the start of a
  rare word (a name beginning with the syllable of a common word) and split it differently
  from other names: such words are spelled out too.
  """
  ordered = sorted(counts)
  out = set()
  for word in frequent:
    i = bisect.bisect_right(ordered, word)
    while i < len(ordered) and ordered[i].startswith(word):
      if ordered[i] not in frequent:
        out.add(word)
        break
      i += 1
  return out


def _save_unigram(pieces: list[tuple[str, float]], out_dir) -> None:
  """Saves a T5TokenizerFast over the Unigram `pieces` (special tokens first) to `out_dir`."""
  tokenizer = _unigram_tokenizer(models.Unigram(
      [(token, 0.0) for token in T5_SPECIAL_TOKENS] + pieces, unk_id=2, byte_fallback=False))
  tokenizer.post_processor = processors.TemplateProcessing(
      single='$A </s>', pair='$A </s> $B </s>', special_tokens=[('</s>', 1)])
  tokenizer.add_special_tokens(list(T5_SPECIAL_TOKENS))
  _save_atomically(transformers.T5TokenizerFast(tokenizer_object=tokenizer, extra_ids=0), out_dir)


def _unigram_tokenizer(model: models.Unigram) -> tokenizers.Tokenizer:
  """The pipeline transformers' T5 tokenizer rebuilds on load, around `model`."""
  tokenizer = tokenizers.Tokenizer(model)
  tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
      pre_tokenizers.WhitespaceSplit(),
      pre_tokenizers.Metaspace(replacement=_METASPACE, prepend_scheme='always', split=True)])
  tokenizer.decoder = decoders.Metaspace(replacement=_METASPACE, prepend_scheme='always',
                                         split=True)
  return tokenizer


def _canonical_pieces(pieces: list[list]) -> list[tuple[str, float]]:
  """The trained (piece, score) pairs, less special tokens, made independent of hash map order.

  Filler characters (scores on the `_FILLER_STEP` grid above the minimum) get their grid scores in
  character order; all scores are rounded, and pieces sorted by score, then text.
  """
  scores = {piece: score for piece, score in pieces if piece not in T5_SPECIAL_TOKENS}
  floor = min(scores.values())
  steps = {piece: (score - floor) / _FILLER_STEP for piece, score in scores.items()}
  fillers = sorted(piece for piece, step in steps.items()
                   if len(piece) == 1 and abs(step - round(step)) < 1e-6)
  scores.update((piece, floor + k * _FILLER_STEP) for k, piece in enumerate(fillers))
  return sorted(((piece, round(score, _SCORE_DECIMALS)) for piece, score in scores.items()),
                key=lambda item: (-item[1], item[0]))


def _replay(counts: collections.Counter) -> Iterator[str]:
  """Yields every counted word as often as it was seen, in sorted order, space-separated."""
  for word, count in sorted(counts.items()):
    for start in range(0, count, _REPLAY_CHUNK):
      yield ' '.join([word] * min(_REPLAY_CHUNK, count - start))


def _check_size(size: int, vocab_size: int) -> None:
  if size > vocab_size:
    raise ValueError(f'vocab_size={vocab_size} is too small: the special tokens and every '
                     f'character of the corpus need {size} entries')


def _save_atomically(tokenizer: transformers.PreTrainedTokenizerFast,
                     out_dir: str | os.PathLike) -> None:
  """Saves into `out_dir` (local or `gs://`), replacing it atomically (never partially)."""
  out_dir = os.fspath(out_dir)
  if '://' not in out_dir:
    with atomic.atomic_directory(os.path.abspath(out_dir)) as tmp:
      tokenizer.save_pretrained(os.fspath(tmp))
    return
  with atomic.atomic_directory(out_dir) as tmp, tempfile.TemporaryDirectory() as staging:
    tokenizer.save_pretrained(staging)  # transformers writes local files only.
    _copy_files(staging, tmp)
