"""Every stage of the pipeline on files in exactly XOR-TyDi's released formats and names.

The fixture is small but real in form: `psgs_w100.tsv` with its header, DPR's quoting (quotes
and a tab inside fields), abbreviations and comma-grouped numbers; the DPR training JSON (some
questions with `hard_negative_ctxs`, some without: mined); the span dev JSONL; the question-only
test JSONL; questions in the seven XOR-TyDi languages. The checkpoints are tiny random BERT and
mT5 (tied head, as transformers 5 saves a new one) written by the installed transformers, with
their tokenizers in the same directories. R@kt is tokenized with nltk's `word_tokenize` (a
small English Punkt model is written for it) and checked against the official script's logic
on the run's own submission file.
"""

import csv
import json

import numpy as np
import pytest
import torch  # noqa: F401  (transformers saves the checkpoints through it; [test] installs it)
import transformers

from launch import stages
from xqg_jax.configs import xor_tydi
from xqg_jax.data import tokenizers
from xqg_jax.eval import evaluate_stage
from xqg_jax.lexical import word_tokenizer


_FILLER = ('river valley trade museum harbour railway council festival bridge market library '
           'province mountain coast temple district university garden castle century').split()
_PLACES = ['Cairo', 'Dhaka', 'Helsinki', 'Tokyo', 'Seoul', 'Moscow', 'Hyderabad', 'Lima',
           'Oslo', 'Quito', 'Accra', 'Hanoi']
_QUESTIONS = {
    'ar': 'ما هو عدد سكان {}؟', 'bn': '{} এর জনসংখ্যা কত?', 'fi': 'Mikä on {}n väkiluku?',
    'ja': '{}の人口は？', 'ko': '{}의 인구는?', 'ru': 'Каково население {}?',
    'te': '{} జనాభా ఎంత?',
}


def _passages(rng):
  rows = []
  for i, place in enumerate(_PLACES):
    people = f'{(i + 1) * 1_234_567:,}'  # 1,234,567: found only by nltk's tokens
    filler = ' '.join(rng.choice(_FILLER, size=90))
    rows.append((f'{i + 1}', f'{place} has {people} people, says Dr. Lee of the U.S. census; '
                 f'it was founded in {1100 + 37 * i}. {filler}', place))
    rows.append((f'{i + 101}', f'The "{place} Gazette"\treported on St. Mark\'s {filler}',
                 f'{place} Gazette'))
  return rows


def _released_files(d, rng):
  passages = _passages(rng)
  with open(d / 'psgs_w100.tsv', 'w', newline='', encoding='utf-8') as f:
    writer = csv.writer(f, delimiter='\t', lineterminator='\n')
    writer.writerow(('id', 'text', 'title'))
    writer.writerows(passages)
  by_title = {title: (pid, text) for pid, text, title in passages}
  langs = list(_QUESTIONS)

  def question(i, place, lang, answer_kind):
    pid, text = by_title[place]
    answer = (text.split(' has ')[1].split(' people')[0] if answer_kind == 'people'
              else str(1100 + 37 * _PLACES.index(place)))
    return {'question': _QUESTIONS[lang].format(place), 'answers': [answer], 'lang': lang,
            'pid': pid, 'text': text, 'title': place}

  train = []
  for i, place in enumerate(_PLACES[:8]):
    q = question(i, place, langs[i % 7], 'people' if i % 2 else 'year')
    negative = _PLACES[(i + 5) % len(_PLACES)]
    train.append({
        'question': q['question'], 'answers': q['answers'], 'lang': q['lang'],
        'positive_ctxs': [{'title': place, 'text': q['text'], 'score': 30.5, 'title_score': 1,
                           'passage_id': q['pid']}],
        'negative_ctxs': [],
        'hard_negative_ctxs': ([] if i % 3 == 0 else [
            {'title': negative, 'text': by_title[negative][1],
             'passage_id': by_title[negative][0]}])})
  (d / 'xor_train_retrieve_eng_dpr.json').write_text(json.dumps(train, ensure_ascii=False,
                                                                indent=2), encoding='utf-8')
  dev = [question(i, place, langs[i % 7], 'people' if i % 2 else 'year')
         for i, place in enumerate(_PLACES[4:11])]
  with open(d / 'xor_dev_retrieve_eng_span_v1_1.jsonl', 'w', encoding='utf-8') as f:
    for i, q in enumerate(dev):
      f.write(json.dumps({'id': f'dev-{i}', 'lang': q['lang'], 'question': q['question'],
                          'answers': q['answers']}, ensure_ascii=False) + '\n')
  with open(d / 'xor_test_retrieve_eng_span_q_only_v1_1.jsonl', 'w', encoding='utf-8') as f:
    for i, place in enumerate(_PLACES[:7]):
      f.write(json.dumps({'id': f'test-{i}', 'lang': langs[i],
                          'question': _QUESTIONS[langs[i]].format(place)},
                         ensure_ascii=False) + '\n')
  return [f'{title} {text}' for _, text, title in passages] + [
      q['question'] for q in train] + [q['question'] for q in dev]


def _checkpoints(root, texts):
  """Tiny random mBERT- and mT5-shaped checkpoints with their tokenizers, as transformers saves."""
  bert_dir, mt5_dir = root / 'mbert', root / 'mt5'
  bert_tok = tokenizers.train_wordpiece(texts, 600, bert_dir)
  transformers.BertForMaskedLM(transformers.BertConfig(
      vocab_size=len(bert_tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
      intermediate_size=64, max_position_embeddings=128)).save_pretrained(bert_dir)
  mt5_tok = tokenizers.train_unigram(texts, 400, mt5_dir)
  model = transformers.MT5ForConditionalGeneration(transformers.MT5Config(
      vocab_size=len(mt5_tok), d_model=32, d_kv=8, d_ff=64, num_layers=1, num_heads=2,
      decoder_start_token_id=0, pad_token_id=0, eos_token_id=1))
  model.save_pretrained(mt5_dir)
  return bert_dir, mt5_dir


@pytest.fixture(scope='module')
def punkt_model(tmp_path_factory):
  """A small English Punkt model (nltk's punkt_tab layout) so R@kt uses nltk's tokenizer."""
  import nltk  # pylint: disable=g-import-not-at-top
  root = tmp_path_factory.mktemp('nltk_data')
  model = root / 'tokenizers/punkt_tab/english'
  model.mkdir(parents=True)
  for name in ('collocations.tab', 'sent_starters.txt', 'ortho_context.tab'):
    (model / name).write_text('')
  (model / 'abbrev_types.txt').write_text('dr\nu.s\nst\n')
  saved = list(nltk.data.path)
  nltk.data.path[:] = [str(root)]
  word_tokenizer.budget_tokenizer.cache_clear()
  yield
  nltk.data.path[:] = saved
  word_tokenizer.budget_tokenizer.cache_clear()


@pytest.fixture(scope='module')
def run(tmp_path_factory, punkt_model):
  del punkt_model
  root = tmp_path_factory.mktemp('xor_tydi')
  data = root / 'xor-tydi'
  data.mkdir()
  texts = _released_files(data, np.random.default_rng(0))
  bert_dir, mt5_dir = _checkpoints(root, texts)
  config = xor_tydi.get_config(f'dir={data},mbert={bert_dir},mt5={mt5_dir}')
  c = config
  c.data.num_corpus_shards = 2
  c.data.q_max_len, c.data.p_max_len, c.data.length_buckets = 16, 48, (16, 32, 48)
  c.data.mined_negatives = 2
  c.xdr.update(dtype='float32', batch_size=8, group_size=2, num_train_steps=3,
               checkpoint_every=2, log_every=1, encode_batch_size=8)
  c.xqg.update(dtype='float32', batch_size=8, num_train_steps=3, checkpoint_every=2,
               log_every=1, input_max_len=48, target_max_len=16)  # Adafactor, as in the paper
  c.generate.update(num_queries=2, max_new_tokens=6, batch_size=8)
  c.augment.num_queries = 2
  c.eval.update(sweep_alphas=(0.1, 0.5), sweep_num_queries=(1, 2), permutations=200,
                bootstrap=200)
  c.index.scann.update(num_leaves=3, num_leaves_to_search=2, training_sample_size=12,
                       reorder_k=24)
  c.index.hits = 24
  c.robustness.hotflip.batch_size = 8
  workdir = root / 'work'
  return config, workdir, data, stages.run(config, workdir)


def test_every_stage_ran_on_the_released_files(run):
  _, workdir, data, state = run
  assert list(state['timings']) == stages.names()
  assert (workdir / 'data/corpus.tsv').resolve() == data / 'psgs_w100.tsv'
  counts = json.loads((workdir / 'data/files.json').read_text())['splits']
  assert counts == {'train': {'queries': 8, 'labeled': True},
                    'dev': {'queries': 7, 'labeled': True},
                    'test': {'queries': 7, 'labeled': False}}
  assert state['oracle_dir'] is None  # synthetic data only
  assert (workdir / 'xqg/hf/tokenizer.json').exists()


def test_dev_r_at_kt_equals_the_official_logic_with_nltk(run):
  config, workdir, data, state = run
  answers = {json.loads(line)['id']: json.loads(line)['answers']
             for line in (data / 'xor_dev_retrieve_eng_span_v1_1.jsonl').read_text().splitlines()}
  from nltk import tokenize  # pylint: disable=g-import-not-at-top
  for system in state['results']:
    results = evaluate_stage.load(workdir / 'eval' / system / 'dev')['exact']
    assert results['word_tokenizer'] == 'nltk'
    submission = json.loads((workdir / 'eval' / system / 'dev/exact/xor_run.json').read_text())
    for k in config.eval.kilo_tokens:
      per_lang = {}
      for item in submission:  # eval_xor_retrieve.py's evaluate_top_k_hit
        tokens = []
        for ctx in item['ctxs']:
          tokens += tokenize.word_tokenize(ctx)
          if len(tokens) >= 1000 * k:
            break
        joined = ' '.join(tokens[:1000 * k])
        hit = any(a in joined for a in answers[item['id']] if a not in ('yes', 'no'))
        per_lang.setdefault(item['lang'], []).append(100.0 * hit)
      official = {lang: float(np.mean(v)) for lang, v in per_lang.items()}
      official['macro'] = float(np.mean(list(official.values())))
      assert results[f'R@{k}kt'] == pytest.approx(official), (system, k)


def test_the_question_only_test_split_is_submitted_not_scored(run):
  _, workdir, _, state = run
  assert 'test' not in state['comparisons'] and state['sweeps'] == {}
  for system in state['results']:
    results = evaluate_stage.load(workdir / 'eval' / system / 'test')['exact']
    assert results['scored'] is False and 'question-only' in results['reason']
    submission = json.loads((workdir / 'eval' / system / 'test/exact/xor_run.json').read_text())
    assert sorted(item['id'] for item in submission) == [f'test-{i}' for i in range(7)]
    assert all(item['ctxs'] for item in submission)
  report = json.loads((workdir / 'reports/test/report.json').read_text())
  assert report['scored'] is False
  assert 'Not scored: no query of this split has answers' in (
      workdir / 'reports/test/report.md').read_text()
  assert 'test: not scored' in stages.summary(state)
  dev = json.loads((workdir / 'reports/dev/report.json').read_text())
  assert dev['word_tokenizer'] == dev['selection']['word_tokenizer'] == 'nltk'
  assert 'R@kt word tokenizer: nltk' in (workdir / 'reports/dev/report.md').read_text()
  for name in state['robustness']:
    path = workdir / 'robustness' / 'dev' / name / f'{name}.json'
    assert json.loads(path.read_text())['word_tokenizer'] == 'nltk'


def test_attacks_the_data_cannot_feed_are_skipped_with_the_reason(run):
  _, workdir, _, state = run
  assert sorted(state['attacks_skipped']) == ['code_switch', 'hotflip', 'paraphrase']
  assert 'qrels' in state['attacks_skipped']['hotflip']
  assert sorted(state['robustness']) == ['char_noise', 'random_edits']
  report = (workdir / 'reports/robustness/robustness.md').read_text()
  assert '## Attacks not run' in report and 'robustness on dev' in report
