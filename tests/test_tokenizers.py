"""Tests for xqg_jax.data.tokenizers: training, atomic saving and loading through AutoTokenizer."""

import io
import json
import os
import random

import pytest
import sentencepiece
import transformers

from xqg_jax.data import tokenizers as toks

# Words with combining marks and vowel signs in each script of the benchmark.
SCRIPT_TEXTS = {
    'ar': 'كِتَابٌ جَمِيلٌ في المدرسة',
    'bn': 'আমি বাংলায় গান গাই, কলকাতা ভাষা',
    'te': 'తెలుగు భాష హైదరాబాద్',
    'ja': '日本語のテキストです。東京',
    'ko': '한국어 문장입니다 서울',
    'ru': 'Привет, мир! Москва ёлка',
    'am': 'ሰላም ዓለም አማርኛ',
    'km': 'ភាសាខ្មែរ ភ្នំពេញ',
}
ENGLISH = ('The quick brown fox jumps over the lazy dog.',
           'Passages are encoded in 2024 by 8 devices.',
           'Who wrote the first cross-lingual retrieval paper?')


def corpus():
  """English sentences plus every script sample, repeated so that merges have counts."""
  texts = []
  for i in range(20):
    texts.extend(ENGLISH)
    texts.extend(f'{text} {i}' for text in SCRIPT_TEXTS.values())
  return texts


def lexicon_corpus():
  """Zipf-distributed random words with affixes over the same characters.

  The trainers meet many ties here and the Unigram trainer many filler characters, both of
  which the trainers order by Rust hash maps.
  """
  rng = random.Random(0)
  chars = sorted(set(''.join(SCRIPT_TEXTS.values())) - {' '})
  stems = [''.join(rng.choices(chars, k=rng.randint(2, 6))) for _ in range(300)]
  prefixes, suffixes = ('', 'er', 'ing'), ('', 'er', 'ing', 'ের', 'ទៅ', 'ами')
  weights = [1 / (rank + 1) for rank in range(len(stems))]
  return [' '.join(rng.choice(prefixes) + stem + rng.choice(suffixes)
                   for stem in rng.choices(stems, weights, k=15)) for _ in range(1000)]


def unspaced(text):
  return text.replace(' ', '')


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
  root = tmp_path_factory.mktemp('tok')
  return {
      'wordpiece': toks.train_wordpiece(iter(corpus()), 600, root / 'wordpiece'),
      'unigram': toks.train_unigram(iter(corpus()), 400, root / 'unigram'),
      'root': root,
  }


def test_classes_and_special_ids(trained):
  bert, t5 = trained['wordpiece'], trained['unigram']
  assert isinstance(bert, transformers.BertTokenizerFast)
  assert isinstance(t5, transformers.T5TokenizerFast)
  # transformers 5: the *Fast names are aliases of BertTokenizer / T5Tokenizer.
  assert type(bert).__name__ == 'BertTokenizer' and type(t5).__name__ == 'T5Tokenizer'
  assert (bert.pad_token_id, bert.unk_token_id, bert.cls_token_id, bert.sep_token_id,
          bert.mask_token_id) == (0, 1, 2, 3, 4)
  assert (t5.pad_token_id, t5.eos_token_id, t5.unk_token_id) == (0, 1, 2)
  assert '<extra_id_0>' not in t5.get_vocab()  # extra_ids=0: no sentinels.
  assert len(bert) <= 600 and len(t5) <= 400


@pytest.mark.parametrize('kind', ['wordpiece', 'unigram'])
def test_reload_keeps_the_trained_pipeline(trained, kind):
  """transformers rebuilds the pipeline on load; it must equal what was trained and saved."""
  tokenizer = trained[kind]
  saved = (trained['root'] / kind / 'tokenizer.json').read_text(encoding='utf-8')
  assert json.loads(tokenizer.backend_tokenizer.to_str()) == json.loads(saved)


@pytest.mark.parametrize('lang', sorted(SCRIPT_TEXTS))
def test_every_script_round_trips(trained, lang):
  text = SCRIPT_TEXTS[lang]
  bert, t5 = trained['wordpiece'], trained['unigram']
  # Marks and vowel signs survive; the normalizer only puts spaces around CJK ideographs.
  assert unspaced(bert.backend_tokenizer.normalizer.normalize_str(text)) == unspaced(text)

  ids = bert(text)['input_ids']
  assert bert.unk_token_id not in ids
  assert ids[0] == bert.cls_token_id and ids[-1] == bert.sep_token_id
  # WordPiece decodes with spaces between words and around punctuation.
  assert unspaced(bert.decode(ids, skip_special_tokens=True)) == unspaced(text)

  ids = t5(text)['input_ids']
  assert t5.unk_token_id not in ids
  assert ids[-1] == t5.eos_token_id and ids.count(t5.eos_token_id) == 1
  assert t5.decode(ids, skip_special_tokens=True) == text


def test_unseen_character_is_unknown(trained):
  assert trained['wordpiece']('ẞ')['input_ids'] == [2, 1, 3]
  assert trained['unigram']('ẞ')['input_ids'][-2:] == [2, 1]


def test_pair_token_type_ids(trained):
  encoded = trained['wordpiece']('the fox', 'ভাষা')
  tokens = trained['wordpiece'].convert_ids_to_tokens(encoded['input_ids'])
  assert tokens[0] == '[CLS]' and tokens.count('[SEP]') == 2 and tokens[-1] == '[SEP]'
  first_sep = tokens.index('[SEP]')
  assert encoded['token_type_ids'] == [0] * (first_sep + 1) + [1] * (len(tokens) - first_sep - 1)


@pytest.mark.parametrize('train', [toks.train_wordpiece, toks.train_unigram])
@pytest.mark.parametrize('texts', [corpus, lexicon_corpus])
def test_training_is_deterministic(tmp_path, train, texts):
  for run in ('a', 'b', 'c'):
    train(iter(texts()), 400, tmp_path / run)
  first = (tmp_path / 'a' / 'tokenizer.json').read_bytes()
  assert first == (tmp_path / 'b' / 'tokenizer.json').read_bytes()
  assert first == (tmp_path / 'c' / 'tokenizer.json').read_bytes()


@pytest.mark.parametrize('train', [toks.train_wordpiece, toks.train_unigram])
def test_output_is_atomic(tmp_path, train):
  out = tmp_path / 'tok'
  assert not toks.tokenizer_exists(out)

  def failing():
    yield from corpus()[:10]
    raise RuntimeError('corpus reader died')

  with pytest.raises(RuntimeError, match='corpus reader died'):
    train(failing(), 400, out)
  assert os.listdir(tmp_path) == []

  train(iter(corpus()), 400, out)
  train(iter(corpus()), 380, out)  # Replaces the complete directory.
  assert os.listdir(tmp_path) == ['tok'] and toks.tokenizer_exists(out)
  assert len(toks.load_tokenizer(out)) <= 380


def test_failed_save_keeps_the_old_directory(tmp_path, monkeypatch):
  out = tmp_path / 'tok'
  toks.train_unigram(iter(corpus()), 400, out)
  before = (out / 'tokenizer.json').read_bytes()

  def half_save(self, directory):
    os.makedirs(directory, exist_ok=True)
    (tmp_path / os.path.basename(directory) / 'tokenizer.json').write_text('{')
    raise OSError('disk full')

  monkeypatch.setattr(transformers.T5TokenizerFast, 'save_pretrained', half_save)
  with pytest.raises(OSError, match='disk full'):
    toks.train_unigram(iter(corpus()), 380, out)
  assert os.listdir(tmp_path) == ['tok']
  assert (out / 'tokenizer.json').read_bytes() == before


def test_vocab_too_small_for_the_alphabet(tmp_path):
  with pytest.raises(ValueError, match='too small'):
    toks.train_wordpiece(iter(corpus()), 50, tmp_path / 'tok')
  assert os.listdir(tmp_path) == []


def test_load_errors(tmp_path):
  with pytest.raises(FileNotFoundError, match='does not exist'):
    toks.load_tokenizer(tmp_path / 'missing')
  (tmp_path / 'empty').mkdir()
  with pytest.raises(FileNotFoundError, match=r'empty holds no tokenizer file.*tokenizer\.json'):
    toks.load_tokenizer(tmp_path / 'empty')


def test_loads_vocab_and_sentencepiece_layouts(tmp_path):
  """The files real mBERT, mT5 and XLM-R directories have (no tokenizer.json)."""
  mbert = tmp_path / 'mbert'
  mbert.mkdir()
  (mbert / 'vocab.txt').write_text('\n'.join([*toks.BERT_SPECIAL_TOKENS, 'the', 'fox', '##es']))
  (mbert / 'config.json').write_text(json.dumps({'model_type': 'bert'}))
  (mbert / 'tokenizer_config.json').write_text(json.dumps({'do_lower_case': False}))
  assert toks.load_tokenizer(mbert)('the foxes')['input_ids'] == [2, 5, 6, 7, 3]

  model = io.BytesIO()
  sentencepiece.SentencePieceTrainer.train(
      sentence_iterator=iter(corpus()), model_writer=model, vocab_size=200, minloglevel=2,
      hard_vocab_limit=False)
  for model_type, filename, cls in (('mt5', 'spiece.model', transformers.T5TokenizerFast),
                                    ('xlm-roberta', 'sentencepiece.bpe.model',
                                     transformers.XLMRobertaTokenizerFast)):
    directory = tmp_path / model_type
    directory.mkdir()
    (directory / filename).write_bytes(model.getvalue())
    (directory / 'config.json').write_text(json.dumps({'model_type': model_type}))
    tokenizer = toks.load_tokenizer(directory)
    assert isinstance(tokenizer, cls) and tokenizer.is_fast
    assert tokenizer.unk_token_id not in tokenizer(SCRIPT_TEXTS['km'])['input_ids']


def test_check_vocab(trained):
  tokenizer = trained['unigram']
  toks.check_vocab(tokenizer, len(tokenizer), 'generator')
  with pytest.raises(ValueError, match=f'generator: the model has 10 .* {len(tokenizer)} tokens'):
    toks.check_vocab(tokenizer, 10, 'generator')


def test_words_and_chars_keeps_frequent_words_and_spells_out_the_rest(tmp_path):
  texts = ['the city of Varzennos lies on the river'] * 6 + ['the Nepinven river'] * 2 + [
      'город Варзеннос', 'ቫርዜኖስ ከተማ']
  tok = toks.train_words_and_chars(iter(texts), 5, tmp_path / 'wc')
  assert isinstance(tok, transformers.T5TokenizerFast)
  assert tok.tokenize('the river') == ['▁the', '▁river']  # in 8 texts: whole words
  # In 2 texts: spelled out, however often those texts repeat it.
  assert tok.tokenize('Nepinven') == ['▁', 'N', 'e', 'p', 'i', 'n', 'v', 'e', 'n']
  assert tok.tokenize('ቫርዜኖስ') == ['▁', 'ቫ', 'ር', 'ዜ', 'ኖ', 'ስ']
  assert tok.tokenize('Varzennos') == ['▁Varzennos']  # in 6 texts: a word here
  # A name repeated within the few texts about it (bursty) stays spelled out, while a word as
  # frequent but spread over many texts is one token.
  bursty = toks.train_words_and_chars(
      iter(['Kolmira Kolmira Kolmira Kolmira Kolmira Kolmira'] * 2
           + [f'river {i}' for i in range(6)]), 5, tmp_path / 'bursty')
  assert bursty.tokenize('river Kolmira')[:2] == ['▁river', '▁']
  for text in ('a seen Nilosin', 'город Варзеннос', 'the river ቫርዜኖስ'):
    assert tok.decode(tok(text)['input_ids'], skip_special_tokens=True) == text
  assert tok('Q')['input_ids'][1] == tok.unk_token_id  # a character never seen
  again = toks.train_words_and_chars(iter(texts), 5, tmp_path / 'again')
  assert ((tmp_path / 'wc' / 'tokenizer.json').read_bytes()
          == (tmp_path / 'again' / 'tokenizer.json').read_bytes())
  reloaded = toks.load_tokenizer(tmp_path / 'wc')
  assert reloaded.tokenize('the Nilosin') == tok.tokenize('the Nilosin')
  # A frequent word that begins a rare one (a name) is spelled out too, so that every name
  # starting with that syllable splits the same way.
  prefixed = toks.train_words_and_chars(iter(['бир вар'] * 6 + ['бирлусдер']), 5,
                                        tmp_path / 'prefixed')
  assert prefixed.tokenize('вар бир') == ['▁вар', '▁', 'б', 'и', 'р']
  assert prefixed.tokenize('бирлусдер')[:4] == ['▁', 'б', 'и', 'р']
  with pytest.raises(ValueError, match='min_texts must be >= 1'):
    toks.train_words_and_chars(iter(texts), 0, tmp_path / 'bad')
  with pytest.raises(ValueError, match='no text'):
    toks.train_words_and_chars(iter([]), 2, tmp_path / 'empty')
