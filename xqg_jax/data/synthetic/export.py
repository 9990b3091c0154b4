"""Writes the synthetic benchmark in the real formats, in the layout real data is read from.

Layout of `out_dir` (the manual dir that `tfds_builders` and every later stage read, the same
layout a user assembles from the real XOR-TyDi and DPR files):

  corpus.tsv                    DPR corpus (id, text, title) with header
  queries/{train,dev,test}.jsonl  XOR-TyDi questions (id, question, answers, lang)
  train_groups.jsonl            Tevatron groups: positive + hard negatives per train question
  qrels/{train,dev,test}.txt    TREC qrels of the positive passages
  paraphrases/{split}.jsonl     known meaning-preserving paraphrases per question id
  lexicons/{lang}-en.txt        MUSE-format bilingual lexicons (word, English translation)
  surface_forms.json            every concept's surface forms per language
  pretraining/{kind}s.jsonl     the generator's pre-training text pairs (`pretraining.py`),
                                when `pretraining_entities` > 0
"""

import json

from etils import epath

from xqg_jax.data import records
from xqg_jax.data.formats import corpus as corpus_format
from xqg_jax.data.formats import paraphrases as paraphrases_format
from xqg_jax.data.formats import qrels as qrels_format
from xqg_jax.data.formats import queries as queries_format
from xqg_jax.data.formats import text_pairs
from xqg_jax.data.formats import train_groups as train_groups_format
from xqg_jax.data.synthetic import benchmark as benchmark_lib
from xqg_jax.data.synthetic import orthography
from xqg_jax.data.synthetic import pretraining
from xqg_jax.io import atomic


def write(bench: benchmark_lib.SyntheticBenchmark, out_dir) -> list[str]:
  """Writes every file (each atomically); returns their paths relative to `out_dir`."""
  out_dir = epath.Path(out_dir)
  outputs = ['corpus.tsv', 'train_groups.jsonl', 'surface_forms.json']
  corpus_format.write_corpus(out_dir / 'corpus.tsv', bench.passages())
  langs = bench.cfg.languages
  for split in benchmark_lib.SPLITS:
    questions = lambda: (q for lang in langs for q in bench.questions(split, lang))
    queries_format.write_queries(out_dir / f'queries/{split}.jsonl',
                                 (q.query for q in questions()))
    qrels_format.write_qrels(out_dir / f'qrels/{split}.txt',
                             (records.Qrel(q.query.id, q.positive, 1) for q in questions()))
    paraphrases_format.write_paraphrases(out_dir / f'paraphrases/{split}.jsonl', (
        paraphrases_format.Paraphrases(q.query.id, q.query.lang, tuple(bench.paraphrases(q)))
        for q in questions()))
    outputs += [f'queries/{split}.jsonl', f'qrels/{split}.txt', f'paraphrases/{split}.jsonl']
  train_groups_format.write_train_groups(
      out_dir / 'train_groups.jsonl',
      (bench.train_group(q) for lang in langs for q in bench.questions('train', lang)))
  for lang in langs:
    atomic.write_text(out_dir / f'lexicons/{lang}-en.txt', _muse_lexicon(bench, lang))
    outputs.append(f'lexicons/{lang}-en.txt')
  if bench.cfg.pretraining_entities:
    for kind in pretraining.KINDS:
      name = f'pretraining/{kind}s.jsonl'
      text_pairs.write_text_pairs(out_dir / name, pretraining.pairs(
          bench, kind, bench.cfg.pretraining_entities))
      outputs.append(name)
  forms = {lang: {c: list(f) for c, f in bench.lexicons.forms(lang).items()} for lang in langs}
  atomic.write_text(out_dir / 'surface_forms.json',
                    json.dumps(forms, ensure_ascii=False, indent=1, sort_keys=True) + '\n')
  return sorted(outputs)


def _muse_lexicon(bench: benchmark_lib.SyntheticBenchmark, lang: str) -> str:
  """`word translation` lines: every lexicon word, and the names in this language's questions
  (the name syllables of each entity asked about, transliterated, against the English)."""
  pairs = dict.fromkeys(bench.lexicons.gloss_pairs(lang))
  for split in benchmark_lib.SPLITS:
    for q in bench.questions(split, lang):
      name = bench.world.name(q.entity)
      for part in (name.first, name.core) if name.first else (name.core,):
        pairs[(orthography.transliterate_name(lang, part), part.english)] = None
  return ''.join(f'{word} {english}\n' for word, english in pairs)
