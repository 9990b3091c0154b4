"""Black-box query attacks: never a no-op, within budget, in script, deterministic, with reasons."""

import collections
import json

import pytest

from xqg_jax import languages
from xqg_jax.configs import common
from xqg_jax.data import errors
from xqg_jax.data import records
from xqg_jax.data import tokenizers
from xqg_jax.data.formats import paraphrases as paraphrases_format
from xqg_jax.data.formats import queries as queries_format
from xqg_jax.robustness import char_noise
from xqg_jax.robustness import code_switch
from xqg_jax.robustness import lexicon
from xqg_jax.robustness import paraphrase
from xqg_jax.robustness import registry

from tests.conftest import small_config

_PROMPT = common.ATTACK_SETTINGS['paraphrase']['prompt']

IN_SCRIPT_OPS = ('substitute', 'delete', 'insert', 'swap', 'strip_marks')


@pytest.fixture(scope='module')
def data_dir(tmp_path_factory):
  from launch import stages  # pylint: disable=g-import-not-at-top
  workdir = tmp_path_factory.mktemp('attacks')
  return stages.run(small_config(), workdir, until='data')['data_dir']


@pytest.fixture(scope='module')
def queries(data_dir):
  return list(queries_format.read_queries(f'{data_dir}/queries/train.jsonl'))


def _query(text, lang, qid='q'):
  return records.Query(qid, text, ('x',), lang)


def _check_rows(rows, queries):
  assert [r.id for r in rows] == [q.id for q in queries]
  for row, query in zip(rows, queries):
    assert row.original == query.question and row.lang == query.lang
    assert row.attacked != row.original
    assert 0 <= row.edits <= row.budget
    assert (row.attacked is None) == bool(row.reason) and (row.attacked is not None) == (
        row.edits > 0)


def _introduced(row):
  return collections.Counter(row.attacked) - collections.Counter(row.original)


# Character noise.


@pytest.mark.parametrize('operations', [char_noise.OPERATIONS, IN_SCRIPT_OPS])
def test_char_noise_changes_every_query_within_budget(queries, operations):
  rows = char_noise.CharNoise(seed=0, budget=3, operations=operations)(queries)
  _check_rows(rows, queries)
  assert {r.lang for r in rows} == set(languages.ALL_LANGUAGES)
  for row in rows:
    assert row.attacked is not None, row
    assert row.unit == 'char' and row.length == len(row.original)
    assert row.edits == char_noise.osa_distance(row.original, row.attacked)
    for ch in _introduced(row):
      assert (languages.in_script(ch, row.lang) or ch in char_noise.ZERO_WIDTH
              or ch in char_noise.HOMOGLYPHS), (row, ch)


def test_char_noise_in_script_operations_keep_script_digits_and_punctuation(queries):
  rows = char_noise.CharNoise(seed=1, budget=4, operations=IN_SCRIPT_OPS)(queries)
  for row in rows:
    assert all(languages.in_script(ch, row.lang) for ch in _introduced(row)), row
    untouched = [ch for ch in row.original if not char_noise.eligible(ch, row.lang)]
    assert [ch for ch in row.attacked if not char_noise.eligible(ch, row.lang)] == untouched


@pytest.mark.parametrize('operation', char_noise.OPERATIONS)
def test_char_noise_one_operation_is_one_edit(queries, operation):
  rows = char_noise.CharNoise(seed=2, budget=1, operations=[operation])(queries)
  _check_rows(rows, queries)
  for row in rows:
    if row.attacked is None:
      continue
    assert row.edits == 1
    introduced = set(_introduced(row))
    if operation == 'zero_width':
      assert introduced <= set(char_noise.ZERO_WIDTH) and len(row.attacked) == row.length + 1
    elif operation == 'homoglyph':
      assert len(introduced) == 1 and introduced.pop() in char_noise.HOMOGLYPHS
    elif operation in ('delete', 'swap'):
      assert not introduced


def test_char_noise_operations_by_script(queries):
  attacked = collections.defaultdict(set)
  for operation in ('homoglyph', 'strip_marks'):
    for row in char_noise.CharNoise(seed=0, budget=1, operations=[operation])(queries):
      if row.attacked is not None:
        attacked[operation].add(row.lang)
  # Lookalike tables exist for Arabic, Latin, Cyrillic and Japanese only.
  assert attacked['homoglyph'] == {'ar', 'fi', 'ru', 'ja'}
  # Ge'ez syllables and Hangul blocks hold no marks; the synthetic Arabic and Russian have none.
  assert attacked['strip_marks'] == {'bn', 'te', 'km', 'fi', 'ja'}


def test_char_noise_examples():
  strip = char_noise.CharNoise(seed=0, budget=5, operations=['strip_marks'])
  assert strip([_query('häät', 'fi')])[0].attacked == 'haat'
  assert strip([_query('أنا', 'ar')])[0].attacked == 'انا'
  assert strip([_query('কি?', 'bn')])[0].attacked == 'ক?'
  row = strip([_query('ጤና ይስጥልኝ', 'am')])[0]
  assert row.attacked is None and "Ge'ez" in row.reason
  glyph = char_noise.CharNoise(seed=0, budget=1, operations=['homoglyph'])
  assert glyph([_query('كتاب', 'ar')])[0].attacked == 'کتاب'
  assert glyph([_query('カメラ', 'ja')])[0].attacked == '力メラ'
  # Cyrillic о, с, а -> Latin o, c, a (out of script).
  assert glyph([_query('оса', 'ru')])[0].attacked in ('o\u0441\u0430', '\u043ec\u0430',
                                                     '\u043e\u0441a')


def test_char_noise_unattackable_queries_have_reasons():
  attack = char_noise.CharNoise(seed=0, budget=2)
  rows = attack([_query('1999 2000?', 'ar', 'digits'), _query('Sorbelbes?', 'ar', 'latin'),
                 _query('١٩٩٩؟', 'ar', 'arabic-digits'), _query('গ', 'bn', 'one')])
  assert [r.attacked is None for r in rows] == [True, True, True, False]
  assert all('no Arabic-script letter or mark' in r.reason for r in rows[:3])


def test_char_noise_is_deterministic_and_order_free(queries):
  first = char_noise.CharNoise(seed=5, budget=2)(queries)
  again = char_noise.CharNoise(seed=5, budget=2)(list(reversed(queries)))
  assert first == list(reversed(again))
  assert char_noise.CharNoise(seed=5, budget=2)(queries[7:9]) == first[7:9]
  other = char_noise.CharNoise(seed=6, budget=2)(queries)
  assert sum(a.attacked != b.attacked for a, b in zip(first, other)) > len(queries) // 2


def test_char_noise_rate_budget(queries):
  rows = char_noise.CharNoise(seed=0, rate=0.1)(queries)
  _check_rows(rows, queries)
  for row in rows:
    assert row.budget == max(1, -(-row.length // 10))


@pytest.mark.parametrize('kwargs', [{}, {'budget': 1, 'rate': 0.1}, {'budget': 0},
                                    {'budget': 1, 'operations': ['typo']},
                                    {'rate': 1.5}])
def test_char_noise_bad_settings(kwargs):
  with pytest.raises(ValueError):
    char_noise.CharNoise(seed=0, **kwargs)


def test_osa_distance():
  assert char_noise.osa_distance('abcd', 'abdc') == 1
  assert char_noise.osa_distance('kitten', 'sitting') == 3
  assert char_noise.osa_distance('', 'ab') == 2


# Lexicons and code-switching.


def test_lexicon_reads_duplicates_and_strips(tmp_path):
  path = tmp_path / 'xx-en.txt'
  path.write_text('  кот   cat \nкот\tkitty\nкот cat\nпёс dog\n\n', encoding='utf-8')
  assert lexicon.read_lexicon(path) == {'кот': ('cat', 'kitty'), 'пёс': ('dog',)}


@pytest.mark.parametrize('text, line, problem', [
    ('a b\nonly\n', 2, 'one column'),
    ('a b\nc d e\n', 2, '3 columns'),
    ('a b\n\nc d\n', 2, 'blank line'),
])
def test_lexicon_errors_name_file_and_line(tmp_path, text, line, problem):
  path = tmp_path / 'xx-en.txt'
  path.write_text(text, encoding='utf-8')
  with pytest.raises(errors.BadRecordError, match=problem) as info:
    lexicon.read_lexicon(path)
  assert str(info.value).startswith(f'{path}:{line}: ')


def test_code_switch_replaces_lexicon_words(data_dir, queries):
  attack = code_switch.CodeSwitch(f'{data_dir}/lexicons', seed=0, budget=2)
  rows = attack(queries)
  _check_rows(rows, queries)
  for row in rows:
    assert row.attacked is not None, row
    entries = attack.lexicon(row.lang)
    before, after = row.original.split(), row.attacked.split()
    assert row.length == len(before) == len(after)
    changed = [(a, b) for a, b in zip(before, after) if a != b]
    assert len(changed) == row.edits <= 2
    assert row.edits == min(2, sum(code_switch.split_core(w)[1] in entries for w in before))
    for old, new in changed:
      prefix, core, suffix = code_switch.split_core(old)
      assert new == prefix + new[len(prefix):len(new) - len(suffix)] + suffix
      assert new[len(prefix):len(new) - len(suffix)] in entries[core]
  assert rows == code_switch.CodeSwitch(f'{data_dir}/lexicons', seed=0, budget=2)(
      list(reversed(queries)))[::-1]


def test_code_switch_keeps_punctuation_and_spacing(tmp_path):
  (tmp_path / 'ru-en.txt').write_text('кто who\nгде where\nгде wherever\n', encoding='utf-8')
  attack = code_switch.CodeSwitch(tmp_path, seed=0, budget=5)
  row = attack([_query('Кто  здесь, где?', 'ru')])[0]
  assert row.attacked in ('who  здесь, where?', 'who  здесь, wherever?') and row.edits == 2
  rows = attack([_query('1999 здесь?', 'ru', 'none'), _query('kto?', 'fi', 'no-lexicon')])
  assert rows[0].attacked is None and 'no word found in the ru-en lexicon' in rows[0].reason
  assert rows[1].attacked is None and 'no lexicon' in rows[1].reason


def test_code_switch_malformed_lexicon_names_file_and_line(tmp_path):
  (tmp_path / 'ru-en.txt').write_text('кто who\nгде\n', encoding='utf-8')
  with pytest.raises(errors.BadRecordError, match=r'ru-en\.txt:2: .*one column'):
    code_switch.CodeSwitch(tmp_path, seed=0, budget=1)([_query('где', 'ru')])
  with pytest.raises(FileNotFoundError):
    code_switch.CodeSwitch(tmp_path / 'missing', seed=0, budget=1)


# Paraphrases.


def test_benchmark_paraphrases(data_dir, queries):
  attack = registry.build({'kind': 'paraphrase', 'source': 'benchmark'}, seed=0,
                          data_dir=data_dir, split='train')
  rows = attack(queries)
  _check_rows(rows, queries)
  known = {r.id: r.paraphrases for r in paraphrases_format.read_paraphrases(
      f'{data_dir}/paraphrases/train.jsonl')}
  for row in rows:
    assert row.attacked in known[row.id] and row.unit == 'word'
    assert row.edits == paraphrase.word_distance(row.original, row.attacked) >= 1
    assert row.budget == max(row.length, len(row.attacked.split()))
  assert attack(list(reversed(queries))) == rows[::-1]
  tight = registry.build({'kind': 'paraphrase', 'source': 'benchmark', 'budget': 1}, seed=0,
                         data_dir=data_dir, split='train')(queries)
  _check_rows(tight, queries)
  assert all(r.edits == 1 for r in tight if r.attacked is not None)
  assert any('exceed the budget of 1 words' in r.reason for r in tight)


def test_paraphrase_file_no_ops_and_missing(tmp_path):
  path = tmp_path / 'p.jsonl'
  paraphrases_format.write_paraphrases(path, [
      paraphrases_format.Paraphrases('same', 'fi', ('mikä on  se?', ' mikä on se? ')),
      paraphrases_format.Paraphrases('one', 'fi', ('mikä on se?', 'mikä se on?'))])
  attack = registry.build({'kind': 'paraphrase', 'source': 'file', 'path': str(path)}, seed=0)
  rows = attack([_query('mikä on se?', 'fi', 'same'), _query('mikä on se?', 'fi', 'one'),
                 _query('mikä on se?', 'fi', 'absent')])
  assert rows[0].attacked is None and 'changes a word' in rows[0].reason
  assert rows[1].attacked == 'mikä se on?' and rows[1].edits == 2
  assert rows[2].attacked is None and 'no paraphrases of this query' in rows[2].reason
  with pytest.raises(ValueError, match='paraphrases are'):
    attack([_query('mikä on se?', 'ru', 'one')])


def test_paraphrase_file_errors_name_file_and_line(tmp_path):
  path = tmp_path / 'p.jsonl'
  path.write_text(json.dumps({'id': 'a', 'lang': 'fi', 'paraphrases': ['x']}) + '\n'
                  + json.dumps({'id': 'b', 'lang': 'fi', 'paraphrases': 'x'}) + '\n')
  with pytest.raises(errors.BadRecordError) as info:
    registry.build({'kind': 'paraphrase', 'source': 'file', 'path': str(path)}, seed=0)
  assert str(info.value).startswith(f'{path}:2: ')


def test_word_distance():
  assert paraphrase.word_distance('a b c', 'a c b') == 2
  assert paraphrase.word_distance('a b', ' a  b ') == 0
  assert paraphrase.word_distance('a b c', 'a x c d') == 2


def test_model_paraphraser_end_to_end(tmp_path, data_dir, queries):
  import torch  # pylint: disable=g-import-not-at-top
  import transformers  # pylint: disable=g-import-not-at-top
  picked = [q for q in queries if q.lang in ('fi', 'ru', 'km')][:12]
  tokenizer = tokenizers.train_unigram(
      [_PROMPT.format(query=q.question) for q in queries
       if q.lang in ('fi', 'ru', 'km')], 300, tmp_path / 'tokenizer')
  torch.manual_seed(0)
  model = transformers.MT5ForConditionalGeneration(transformers.MT5Config(
      vocab_size=len(tokenizer), d_model=32, d_kv=8, d_ff=64, num_layers=1,
      num_decoder_layers=1, num_heads=4, relative_attention_num_buckets=8,
      relative_attention_max_distance=16, decoder_start_token_id=0))
  # An untied head, saved as its own tensor (as in tests/test_mt5_parity.py).
  model.lm_head.weight = torch.nn.Parameter(torch.randn(model.lm_head.weight.shape))
  model.save_pretrained(tmp_path / 'model')
  tokenizer.save_pretrained(tmp_path / 'model')
  spec = {'kind': 'paraphrase', 'source': 'model', 'path': str(tmp_path / 'model'),
          'do_sample': True, 'top_k': 50, 'num_return_sequences': 2, 'max_new_tokens': 6,
          'batch_size': 8, 'input_max_len': 48, 'budget': 12}
  attack = registry.build(spec, seed=0, runtime=paraphrase.Runtime.from_config(small_config()))
  rows = attack(picked)
  _check_rows(rows, picked)
  assert any(r.attacked is not None for r in rows)
  for row in rows:
    assert row.unit == 'word' and row.budget == 12
    if row.attacked is None:
      assert row.reason.startswith('the model: ')
    else:
      assert row.edits == paraphrase.word_distance(row.original, row.attacked)
  assert attack(list(reversed(picked))) == rows[::-1]
  assert attack(picked[3:5]) == rows[3:5]
  with pytest.raises(ValueError, match='must hold'):
    paraphrase.ModelParaphraser(attack.generator, prompt='paraphrase: {text}')


# Registry.


@pytest.mark.parametrize('spec, match', [
    ({'kind': 'typo'}, 'known: char_noise, code_switch, paraphrase, hotflip, random_edits'),
    ({'kind': 'hotflip', 'budget': 1, 'top_k': 3}, r"unknown settings \['top_k'\]"),
    ({'kind': 'char_noise', 'budget': 1, 'size': 3}, r"unknown settings \['size'\]"),
    ({'kind': 'code_switch'}, r"missing settings \['budget'\]"),
    ({'kind': 'paraphrase', 'source': 'web'}, 'source must be one of'),
    ({'kind': 'paraphrase'}, r"missing settings \['source'\]"),
    ({'kind': 'paraphrase', 'source': 'file', 'path': ''}, "source 'file' needs a path"),
    ({'kind': 'paraphrase', 'source': 'benchmark', 'top_k': 5},
     r"source 'benchmark' does not use settings \['top_k'\]"),
    ({'kind': 'paraphrase', 'source': 'benchmark'}, 'needs data_dir'),
    ({'kind': 'char_noise'}, 'exactly one of budget and rate'),
])
def test_registry_errors(spec, match):
  with pytest.raises(ValueError, match=match):
    registry.build(spec, seed=0)


def test_registry_builds_named_attacks(data_dir, queries):
  noise = registry.build({'kind': 'char_noise', 'budget': 2, 'operations': ['swap']}, seed=3,
                         name='swaps')
  assert noise.name == 'swaps' and noise.operations == ('swap',)
  assert noise(queries[:4]) == char_noise.CharNoise(seed=3, budget=2, operations=['swap'],
                                                    name='swaps')(queries[:4])
  switch = registry.build({'kind': 'code_switch', 'budget': 1, 'lexicon_dir': ''}, seed=0,
                          data_dir=data_dir)
  assert switch.name == 'code_switch' and all(r.edits == 1 for r in switch(queries[:4]))
  # One config entry may hold every source's settings at their defaults.
  spec = {'kind': 'paraphrase', 'source': 'benchmark', 'budget': 8, 'path': '',
          'prompt': _PROMPT, 'do_sample': False}
  rows = registry.build(spec, seed=0, data_dir=data_dir, split='train')(queries[:4])
  assert all(r.budget == 8 and r.attacked is not None for r in rows)


def test_attacks_the_data_cannot_feed_are_named(tmp_path):
  """Real XOR-TyDi has no paraphrase lists, lexicons or qrels: those attacks are skipped with
  the reason, the others (character noise, random edits) run, and the report says so."""
  from xqg_jax.robustness import robustness_report  # pylint: disable=g-import-not-at-top
  data = tmp_path / 'data'
  data.mkdir()
  reasons = {name: registry.missing_resource(common.attack(name, **settings).to_dict(),
                                             data_dir=data, split='test')
             for name, settings in (('paraphrase', {'source': 'benchmark'}),
                                    ('code_switch', {'budget': 2}), ('hotflip', {'budget': 2}),
                                    ('char_noise', {'budget': 2}),
                                    ('random_edits', {'budget': 2}))}
  assert reasons['paraphrase'] == (f'the data has no paraphrase lists: '
                                   f'{data}/paraphrases/test.jsonl is absent')
  assert reasons['code_switch'].startswith('the data has no lexicons')
  assert reasons['hotflip'].startswith('the data has no qrels')
  assert reasons['char_noise'] is None and reasons['random_edits'] is None
  assert registry.missing_resource(
      common.attack('code_switch', budget=2, lexicon_dir='mine').to_dict(), data_dir=data,
      split='test') is None  # a lexicon directory of one's own
  skipped = {k: v for k, v in reasons.items() if v}
  robustness_report.write(tmp_path / 'report', {}, {'xdr': 'xDR'}, ['R@2kt'], title='t',
                          skipped=skipped)
  text = (tmp_path / 'report' / robustness_report.MARKDOWN_NAME).read_text()
  assert '## Attacks not run' in text and reasons['paraphrase'] in text
  document = json.loads((tmp_path / 'report' / robustness_report.JSON_NAME).read_text())
  assert document['skipped_attacks'] == skipped
