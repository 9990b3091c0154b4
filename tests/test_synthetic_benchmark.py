"""The synthetic benchmark is deterministic, well-formed and genuinely cross-lingual."""

import json

import pytest

from xqg_jax import languages
from xqg_jax.configs import tiny
from xqg_jax.data.formats import corpus as corpus_format
from xqg_jax.data.formats import paraphrases as paraphrases_format
from xqg_jax.data.formats import qrels as qrels_format
from xqg_jax.data.formats import queries as queries_format
from xqg_jax.data.formats import train_groups as train_groups_format
from xqg_jax.data.synthetic import benchmark as benchmark_lib
from xqg_jax.data.synthetic import export
from xqg_jax.data.synthetic import orthography
from xqg_jax.data.synthetic import stats as stats_lib
from xqg_jax.data.synthetic import world as world_lib
from xqg_jax.lexical import word_tokenizer


def _cfg(**overrides):
  cfg = tiny.get_config('entities=300,queries=100').synthetic
  cfg.dev_queries_per_language = 30
  cfg.test_queries_per_language = 20
  cfg.yes_no_rate = 0.3
  for key, value in overrides.items():
    cfg[key] = value
  return cfg


@pytest.fixture(scope='module')
def bench():
  return benchmark_lib.SyntheticBenchmark(_cfg())


@pytest.fixture(scope='module')
def stats(bench):
  return stats_lib.compute(bench)


def test_deterministic_and_seeded(bench):
  again = benchmark_lib.SyntheticBenchmark(_cfg())
  assert list(again.passages()) == list(bench.passages())
  assert [again.question('dev', 'ja', k) for k in range(10)] == [
      bench.question('dev', 'ja', k) for k in range(10)]
  other = benchmark_lib.SyntheticBenchmark(_cfg(seed=1))
  assert list(other.passages(0, 5)) != list(bench.passages(0, 5))


def test_passages_stream_and_slice(bench):
  everything = list(bench.passages())
  assert len(everything) == 600
  assert list(bench.passages(100, 110)) == everything[100:110]
  assert len({p.id for p in everything}) == 600
  for p in everything[:50]:
    assert 90 <= len(p.text.split()) <= 160, p
    assert p.title and p.title in p.text


def test_names_are_unique():
  world = world_lib.World(seed=3, num_entities=5000)
  names = [world.name(i).core.english for i in range(5000)]
  assert len(set(names)) == len(names)


def test_counts_follow_resource_level(bench, stats):
  cfg = bench.cfg
  counts = stats['queries']
  for lang in cfg.languages:
    scale = cfg.resource_scale[languages.get(lang).resource]
    assert counts['train'][lang] == round(100 * scale)
    assert counts['dev'][lang] == 30 and counts['test'][lang] == 20
  assert counts['train']['am'] < counts['train']['bn'] < counts['train']['fi'] < counts['train']['ja']


def test_answers_are_spans_of_the_positive_passage(bench):
  passages = {p.id: p for p in bench.passages()}
  yes_no = 0
  for split in benchmark_lib.SPLITS:
    for lang in bench.cfg.languages:
      for q in bench.questions(split, lang):
        assert q.query.lang == lang and q.query.id.startswith(f'{split}-{lang}-')
        if q.query.answers in (('yes',), ('no',)):
          yes_no += 1
          assert q.number is not None and q.number in q.query.question
          continue
        assert q.query.answers[0] in passages[q.positive].text, q
  assert yes_no > 0


def test_splits_use_disjoint_entities(bench):
  entities = {split: {q.entity for lang in bench.cfg.languages
                      for q in bench.questions(split, lang)} for split in benchmark_lib.SPLITS}
  assert not entities['train'] & entities['dev']
  assert not entities['train'] & entities['test']
  assert not entities['dev'] & entities['test']


@pytest.mark.parametrize('lang', languages.ALL_LANGUAGES)
def test_questions_are_in_their_own_script(bench, stats, lang):
  assert stats['languages'][lang]['own_script_letter_share'] > 0.8
  for concept, forms in bench.lexicons.forms(lang).items():
    assert len(set(forms)) == len(forms) == 3, concept
    for form in forms:
      letters = [ch for ch in form if ch.isalpha()]
      assert letters and all(languages.in_script(ch, lang) for ch in letters), (concept, form)
  name = bench.world.name(7).core
  written = orthography.transliterate_name(lang, name)
  if lang != 'fi':
    assert all(languages.in_script(ch, lang) for ch in written if ch.isalpha()), written


def test_transliteration_is_systematic():
  name = world_lib.Name((('k', 'a', 'n'), ('t', 'o', '')))
  assert orthography.transliterate_name('ru', name) == 'канто'
  assert orthography.transliterate_name('ja', name) == 'カント'
  assert orthography.transliterate_name('ko', name) == '칸토'
  assert orthography.transliterate_name('fi', name) == 'Kanto'
  # Real mergers are kept: Arabic has no /p/, Japanese does not tell l from r.
  assert orthography.write_syllables('ar', [('p', 'a', '')]) == orthography.write_syllables(
      'ar', [('b', 'a', '')])
  assert orthography.write_syllables('ja', [('l', 'i', '')]) == 'リ'


def test_paraphrases_preserve_meaning_and_differ(bench):
  for lang in bench.cfg.languages:
    for q in list(bench.questions('dev', lang))[:10]:
      paraphrases = bench.paraphrases(q)
      assert 1 <= len(paraphrases) <= bench.cfg.paraphrases_per_query
      assert q.query.question not in paraphrases
      assert len(set(paraphrases)) == len(paraphrases)
      for text in paraphrases:
        assert q.name in text  # same entity, same fact; only surface forms change.


def test_little_lexical_overlap_and_bm25_far_below_english(stats):
  for lang, row in stats['languages'].items():
    assert row['query_token_overlap_with_positive'] < 0.1, lang
    assert row['english_check_token_overlap'] > 0.5, lang
  macro = stats['bm25']['macro']
  assert macro['english_check']['recall@20'] > 0.9
  assert macro['target_language']['recall@20'] < 0.25 * macro['english_check']['recall@20']


def test_train_groups_have_hard_negatives(bench):
  for q in list(bench.questions('train', 'ko'))[:20]:
    group = bench.train_group(q)
    assert [p.id for p in group.positive_passages] == [q.positive]
    negatives = [p.id for p in group.negative_passages]
    assert len(negatives) == len(set(negatives)) == bench.cfg.hard_negatives
    assert q.positive not in negatives
    same_entity = f'syn{q.entity * 2 + (1 - int(q.positive[3:]) % 2)}'
    assert negatives[0] == same_entity


def test_unknown_language_is_rejected():
  with pytest.raises(languages.UnknownLanguageError, match='supported: ar, bn'):
    benchmark_lib.SyntheticBenchmark(_cfg(languages=('ar', 'xx')))


def test_export_round_trips_through_the_format_readers(bench, tmp_path):
  outputs = export.write(bench, tmp_path)
  assert all((tmp_path / name).exists() for name in outputs)
  assert list(corpus_format.read_corpus(tmp_path / 'corpus.tsv')) == list(bench.passages())
  dev = list(queries_format.read_queries(tmp_path / 'queries/dev.jsonl'))
  assert dev == [q.query for lang in bench.cfg.languages for q in bench.questions('dev', lang)]
  qrels = list(qrels_format.read_qrels(tmp_path / 'qrels/dev.txt'))
  assert [(r.query_id, r.docid) for r in qrels] == [
      (q.query.id, q.positive) for lang in bench.cfg.languages
      for q in bench.questions('dev', lang)]
  groups = list(train_groups_format.read_train_groups(tmp_path / 'train_groups.jsonl'))
  assert len(groups) == sum(bench.num_queries('train', lang) for lang in bench.cfg.languages)
  lexicon = (tmp_path / 'lexicons/ja-en.txt').read_text().splitlines()
  assert all(len(line.split(' ')) == 2 for line in lexicon)
  forms = json.loads((tmp_path / 'surface_forms.json').read_text())
  assert set(forms) == set(bench.cfg.languages)
  paraphrase_rows = list(paraphrases_format.read_paraphrases(tmp_path / 'paraphrases/dev.jsonl'))
  assert [row.id for row in paraphrase_rows] == [q.id for q in dev]
  assert all(row.paraphrases for row in paraphrase_rows)


def test_word_tokenizer_keeps_combining_marks():
  # Bengali vowel signs are combining marks: one word, not split at the sign.
  assert word_tokenizer.word_tokenize('কোথায় আছে?') == ['কোথায়', 'আছে', '?']
  assert word_tokenizer.word_tokenize("It's 1,742 km.") == ['It', "'", 's', '1', ',', '742',
                                                             'km', '.']


def _spelled_words(text: str, lang: str) -> set[str]:
  """The words of a question, with and without the language's case markers."""
  from xqg_jax.data.synthetic import grammar  # pylint: disable=g-import-not-at-top
  words = {w.removesuffix(',') for w in text.rstrip('?？؟፧').split()}  # (name lists)
  for marker in grammar.GRAMMARS[lang].markers:
    if marker.startswith('-'):
      words |= {w.removesuffix(marker[1:]) for w in words}
    elif marker.endswith('-'):
      words |= {w.removeprefix(marker[:-1]) for w in words}
  return words


def test_no_pretraining_or_training_text_names_a_dev_or_test_entity(bench):
  import re  # pylint: disable=g-import-not-at-top
  from xqg_jax.data.synthetic import pretraining  # pylint: disable=g-import-not-at-top
  held = pretraining.held_out_names(bench)
  assert len(held['en']) == sum(bench.split_of(e) != 'train' for e in range(300))
  held_words = {lang: {w for name in names for w in name.split()}
                for lang, names in held.items() if lang != 'en'}
  for kind in pretraining.KINDS:
    pairs = list(pretraining.pairs(bench, kind, 3000))
    drawn = pretraining.num_pairs(kind, 3000)
    assert 0.8 * drawn < len(pairs) <= drawn, kind  # few are dropped
    assert {p.lang for p in pairs} == set(bench.cfg.languages)
    for pair in pairs:
      assert not set(re.findall('[A-Za-z]+', pair.input)) & held['en'], pair
      assert not _spelled_words(pair.target, pair.lang) & held_words[pair.lang], pair
  # The pairs are about another world's entities, spelled as the benchmark spells names.
  name_pair = next(pretraining.pairs(bench, 'name', 10))
  assert name_pair.input.split(' name: ')[0] in {l.name for l in languages.LANGUAGES.values()}
  # Name lists: 1 to 3 names, each spelled in the list's language, in order.
  lists = list(pretraining.pairs(bench, 'name_list', 400))
  assert {len(p.target.split(', ')) for p in lists} == {1, 2, 3}
  for pair in lists:
    titles = pair.input.split(': ', 1)[1].split(', ')
    assert pair.input.startswith(languages.get(pair.lang).name + (' name: ' if len(titles) == 1
                                                                   else ' names: '))
    assert len(titles) == len(pair.target.split(', '))
  # Training questions are about training entities only, so never name a held-out one in
  # English; a spelling may coincide only where a script merges two names' sounds.
  for lang in bench.cfg.languages:
    for q in bench.questions('train', lang):
      assert bench.split_of(q.entity) == 'train'
      assert not set(re.findall('[A-Za-z]+', q.query.question)) & held['en']


def test_oracle_questions_ask_about_the_passage_and_avoid_evaluation_queries(bench):
  from xqg_jax.data.synthetic import oracle  # pylint: disable=g-import-not-at-top
  exclude = oracle.evaluation_texts(bench)
  first_dev = next(bench.questions('dev', 'ja'))
  assert first_dev.query.question in exclude['ja']
  pid = int(first_dev.positive.removeprefix('syn'))
  rows = list(oracle.augmented_passages(bench, pid, pid + 1, ('ja', 'km'), 4, exclude))
  assert len(rows) == 1 and rows[0].docid == first_dev.positive
  name = bench.world.name(first_dev.entity)
  for lang, questions in rows[0].generated_queries.items():
    assert len(set(questions)) == 4
    assert not set(questions) & exclude[lang]
    assert all(bench.spelling(name, lang) in q or name.bare in q for q in questions)
  # A query text the oracle would have written is redrawn, not repeated.
  again = oracle.passage_questions(bench, pid, 'ja', 4, set())
  forced = oracle.passage_questions(bench, pid, 'ja', 4, {again[0]})
  assert again[0] not in forced and forced[1:] != () and len(set(forced)) == 4
