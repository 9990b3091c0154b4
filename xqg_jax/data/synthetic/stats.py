"""Statistics that show the synthetic benchmark is a genuine cross-lingual retrieval task.

Counts per language and split; the share of each language's question letters written in its
own script; the share of question tokens that also occur in the positive passage; and a BM25
lexical baseline on the target-language questions beside BM25 on the same questions in
English (the same-language check). A task that needs cross-lingual alignment shows low overlap
and BM25 far below the English check.
"""

import numpy as np
import regex

from xqg_jax import languages
from xqg_jax.data.synthetic import benchmark as benchmark_lib
from xqg_jax.lexical import bm25
from xqg_jax.lexical import word_tokenizer

_LETTER = regex.compile(r'[\p{L}\p{M}]')
_LATIN = regex.compile(r'\p{Script=Latin}')


def _script_shares(text: str, lang: str) -> tuple[int, int, int]:
  """(letters, letters in `lang`'s script, Latin letters) of `text`."""
  letters = _LETTER.findall(text)
  own = sum(languages.in_script(ch, lang) for ch in letters)
  return len(letters), own, sum(bool(_LATIN.match(ch)) for ch in letters)


def _overlap(question: str, passage_tokens: set[str]) -> tuple[int, int]:
  tokens = word_tokenizer.word_tokenize_lower(question)
  return len(tokens), sum(t in passage_tokens for t in tokens)


def compute(bench: benchmark_lib.SyntheticBenchmark, *, baseline_split: str = 'dev',
            k: int = 20, with_baseline: bool = True) -> dict:
  """All statistics as a JSON-ready dict (BM25 needs the corpus in memory)."""
  world = bench.world
  counts = {split: {lang: bench.num_queries(split, lang) for lang in bench.cfg.languages}
            for split in benchmark_lib.SPLITS}
  per_lang = {}
  eval_questions = {}
  for lang in bench.cfg.languages:
    letters = own = latin = tokens = shared = en_tokens = en_shared = yes_no = 0
    questions = list(bench.questions(baseline_split, lang))
    eval_questions[lang] = questions
    for q in questions:
      n, o, lat = _script_shares(q.query.question, lang)
      letters, own, latin = letters + n, own + o, latin + lat
      _, text, title = world.passage(int(q.positive.removeprefix('syn')))
      passage_tokens = set(word_tokenizer.word_tokenize_lower(f'{title} {text}'))
      t, s = _overlap(q.query.question, passage_tokens)
      tokens, shared = tokens + t, shared + s
      t, s = _overlap(bench.english_question(q), passage_tokens)
      en_tokens, en_shared = en_tokens + t, en_shared + s
      yes_no += q.query.answers[0] in ('yes', 'no')
    per_lang[lang] = {
        'own_script_letter_share': own / max(letters, 1),
        'latin_letter_share': latin / max(letters, 1),
        'query_token_overlap_with_positive': shared / max(tokens, 1),
        'english_check_token_overlap': en_tokens and en_shared / en_tokens,
        'yes_no_questions': yes_no,
    }
  out = {'num_passages': world.num_passages, 'num_entities': world.num_entities,
         'queries': counts, 'languages': per_lang, 'baseline_split': baseline_split}
  if with_baseline:
    out['bm25'] = lexical_baseline(bench, eval_questions, k)
  return out


def lexical_baseline(bench, questions: dict, k: int) -> dict:
  """BM25 recall@k and MRR@10 of the positive passage, target language vs English."""
  docids, texts = [], []
  for p in bench.passages():
    docids.append(p.id)
    texts.append(f'{p.title} {p.text}')
  index = bm25.BM25(texts)
  position = {docid: i for i, docid in enumerate(docids)}

  def score(pairs):
    recall, rr = [], []
    for query, positive in pairs:
      ranked = [doc for doc, _ in index.search(query, k)]
      target = position[positive]
      recall.append(target in ranked)
      rank = ranked.index(target) + 1 if target in ranked[:10] else None
      rr.append(1.0 / rank if rank else 0.0)
    return {f'recall@{k}': float(np.mean(recall)), 'mrr@10': float(np.mean(rr))}

  table = {}
  for lang, qs in questions.items():
    table[lang] = {
        'target_language': score([(q.query.question, q.positive) for q in qs]),
        'english_check': score([(bench.english_question(q), q.positive) for q in qs]),
    }
  for column in ('target_language', 'english_check'):
    for metric in (f'recall@{k}', 'mrr@10'):
      table.setdefault('macro', {}).setdefault(column, {})[metric] = float(
          np.mean([table[lang][column][metric] for lang in questions]))
  table['random'] = {f'recall@{k}': k / len(docids)}
  return table


def markdown(stats: dict) -> str:
  """The statistics as Markdown tables: questions per split, script and overlap, BM25."""
  langs = list(stats['languages'])
  rows = [f'Synthetic benchmark: {stats["num_passages"]} passages, '
          f'{stats["num_entities"]} entities.', '',
          '| lang | family | train | dev | test | own script | token overlap | '
          'English overlap |', '|---|---|---|---|---|---|---|---|']
  for lang in langs:
    row = stats['languages'][lang]
    rows.append(
        f'| {lang} | {languages.get(lang).family} | {stats["queries"]["train"][lang]} | '
        f'{stats["queries"]["dev"][lang]} | {stats["queries"]["test"][lang]} | '
        f'{row["own_script_letter_share"]:.3f} | '
        f'{row["query_token_overlap_with_positive"]:.3f} | '
        f'{row["english_check_token_overlap"]:.3f} |')
  if 'bm25' in stats:
    bm25_table = stats['bm25']
    metric = next(m for m in bm25_table['random'])
    rows += ['', f'BM25 on {stats["baseline_split"]} ({metric} and MRR@10 of the positive '
             f'passage; random {metric} = {bm25_table["random"][metric]:.4f}):', '',
             f'| lang | target {metric} | target MRR@10 | English {metric} | '
             'English MRR@10 |', '|---|---|---|---|---|']
    for lang in langs + ['macro']:
      t, e = bm25_table[lang]['target_language'], bm25_table[lang]['english_check']
      rows.append(f'| {lang} | {t[metric]:.3f} | {t["mrr@10"]:.3f} | {e[metric]:.3f} | '
                  f'{e["mrr@10"]:.3f} |')
  return '\n'.join(rows) + '\n'
