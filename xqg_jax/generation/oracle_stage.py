"""The oracle stage: the benchmark's own question writer in place of the generator.

Writes `workdir/oracle/generated-*.jsonl` in the generate stage's layout (one file per corpus
shard, the same ranges) with `generate.num_queries` oracle questions per language of
`generate.languages` for every passage (`data/synthetic/oracle.py`), so encode, fuse, search and
evaluate treat them exactly as generated questions: the ceiling of what augmentation can give
with this retriever. Synthetic data only (real data has no question writer).
"""

from etils import epath
import ml_collections

from xqg_jax import languages as languages_lib
from xqg_jax.data.formats import augmented
from xqg_jax.data.formats import embedding_shards
from xqg_jax.data.synthetic import benchmark as benchmark_lib
from xqg_jax.data.synthetic import oracle
from xqg_jax.generation import generate_stage
from xqg_jax.io import stage_dir


def run(config: ml_collections.ConfigDict, workdir, *, inputs: dict) -> epath.Path:
  """Writes the oracle questions of every corpus shard; returns `workdir/oracle`."""
  if config.data.source != 'synthetic':
    raise ValueError('the oracle needs the synthetic benchmark (data.source=synthetic)')
  directory = epath.Path(workdir) / 'oracle'
  langs = languages_lib.validate(config.generate.languages)
  num_shards = config.data.num_corpus_shards
  stage_config = {'synthetic': config.synthetic.to_dict(), 'languages': list(langs),
                  'num_queries': config.generate.num_queries, 'num_shards': num_shards}

  def produce(d):
    bench = benchmark_lib.SyntheticBenchmark(config.synthetic)
    exclude = oracle.evaluation_texts(bench)
    files = []
    for shard, (start, stop) in enumerate(
        embedding_shards.shard_ranges(bench.world.num_passages, num_shards)):
      name = generate_stage.shard_file(shard, num_shards)
      augmented.write_augmented(d / name, oracle.augmented_passages(
          bench, start, stop, langs, config.generate.num_queries, exclude))
      files.append(name)
    return files, {'questions': bench.world.num_passages * len(langs)
                                * config.generate.num_queries}

  stage_dir.run(directory, stage='oracle', config=stage_config, inputs=inputs, produce=produce)
  return directory
