"""Oracle generated questions: what a perfect query generator would write for each passage.

SIMULATION. The benchmark's own question writer (`SyntheticBenchmark.write_question`) writes
`n` questions per language for every passage, each about a fact that this passage states, with
fresh surface choices drawn from (seed, 'oracle', docid, language, i). A question whose text
equals an evaluation query (dev or test) of its language is redrawn, so the oracle never hands
the retriever an evaluation query. The rows have the generate stage's layout (one
`generated-*.jsonl` per corpus shard), so they go through encode, fuse, search and evaluate
unchanged: the ceiling of what xQG augmentation can give with this retriever.
"""

from typing import Iterable, Sequence

from xqg_jax import randomness
from xqg_jax.data import records
from xqg_jax.data.synthetic import benchmark as benchmark_lib
from xqg_jax.data.synthetic import world as world_lib


def evaluation_texts(bench: benchmark_lib.SyntheticBenchmark) -> dict[str, set[str]]:
  """{language: texts of its dev and test queries}: what an oracle question must not equal."""
  out: dict[str, set[str]] = {}
  for split in records.EVALUATION_SPLITS:
    for lang in bench.cfg.languages:
      out.setdefault(lang, set()).update(q.query.question for q in bench.questions(split, lang))
  return out


def passage_questions(bench: benchmark_lib.SyntheticBenchmark, pid: int, lang: str, n: int,
                      exclude: set[str]) -> tuple[str, ...]:
  """`n` distinct questions in `lang` about facts stated in passage number `pid`."""
  entity, part = divmod(pid, bench.world.passages_per_entity)
  ent = bench.world.entity(entity)
  stated = [f.relation for f in ent.facts
            if bench.world.fact_passage(entity, f.relation) == part]
  docid = bench.world.passage_id(entity, part)
  out: list[str] = []
  for i in range(n):
    rng = randomness.numpy_rng(bench.cfg.seed, 'oracle', docid, lang, i)
    for _ in range(world_lib.MAX_TRIES):
      relation = stated[int(rng.integers(len(stated)))]
      text, _, _ = bench.write_question(ent, relation, lang, rng)
      if text not in exclude and text not in out:
        break
    else:
      raise ValueError(f'oracle: no new question about {docid} in {lang!r} after '
                       f'{world_lib.MAX_TRIES} draws')
    out.append(text)
  return tuple(out)


def augmented_passages(bench: benchmark_lib.SyntheticBenchmark, start: int, stop: int,
                       langs: Sequence[str], n: int,
                       exclude: dict[str, set[str]]) -> Iterable[records.AugmentedPassage]:
  """Passages [start, stop) with `n` oracle questions in each of `langs`."""
  for pid in range(start, stop):
    docid, text, title = bench.world.passage(pid)
    yield records.AugmentedPassage(docid, title, text, {
        lang: passage_questions(bench, pid, lang, n, exclude.get(lang, set()))
        for lang in langs})
