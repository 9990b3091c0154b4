"""The generate stage: n questions per language for every passage, in the augmented layout.

Output `workdir/generated/generated-00003-of-00008.jsonl` (docid, title, text,
generated_queries{lang: [...]}, the layout the xQG authors released), one file per corpus shard
(the same ranges as encoding), written atomically; process p generates shards p, p+P, ...
(embarrassingly parallel, each process on its own devices), and an interrupted run redoes
only missing shards. Sample r of (passage, language) draws its randomness from
(seed, passage id, language, r) alone, so the text does not depend on batch size, devices,
processes or resume point. The manifest counts empty and degenerate questions.
"""

import collections
import json
import time
from typing import Sequence

from absl import logging
from etils import epath
from flax import linen as nn
import grain
import jax
import ml_collections
import numpy as np

from xqg_jax import languages as languages_lib
from xqg_jax.data import pipeline
from xqg_jax.data import prompts
from xqg_jax.data import records
from xqg_jax.data import tfds_builders
from xqg_jax.data import tokenizers
from xqg_jax.data.formats import augmented
from xqg_jax.data.formats import embedding_shards
from xqg_jax.generation import decoding
from xqg_jax.io import atomic
from xqg_jax.io import progress
from xqg_jax.io import stage_dir
from xqg_jax.models import hf_t5
from xqg_jax.models import t5
from xqg_jax.parallel import mesh as mesh_lib
from xqg_jax.parallel import multihost
from xqg_jax.parallel import partitioning
from xqg_jax.parallel import xla_options


def shard_file(shard: int, count: int) -> str:
  return embedding_shards.shard_name('generated', shard, count, 'jsonl')


def _counts_file(shard: int, count: int) -> str:
  """Per-shard counts (questions, empty, degenerate, truncated prompts), summed at the end."""
  return embedding_shards.shard_name('counts', shard, count, 'json')


def is_degenerate(question: str) -> bool:
  """Empty, or one token repeated for most of it (a decoding failure mode)."""
  words = question.split()
  if not words:
    return True
  return len(words) >= 4 and collections.Counter(words).most_common(1)[0][1] > len(words) / 2


def sampling_config(config: ml_collections.ConfigDict) -> decoding.SamplingConfig:
  g = config.generate
  return decoding.SamplingConfig(max_new_tokens=g.max_new_tokens,
                                 num_return_sequences=g.num_queries, do_sample=g.do_sample,
                                 temperature=g.temperature, top_k=g.top_k, top_p=g.top_p)


class Generator:
  """A loaded generator on a mesh of this process's devices.

  Args:
    model_dir: an HF T5/mT5 directory.
    tokenizer_dir: its tokenizer.
    dtype: the computation dtype.
    input_max_len: prompts are truncated to this many tokens.
    sampling: the decoding settings.
    seed: with each prompt's key items, all of the decoding randomness.
    batch_size: prompts per decode batch.
    compiler_options: XLA options of the decode loop (None: XLA's own).
    mesh_spec: (axis, size) pairs of the device mesh; `rules`: logical -> mesh axes.
    devices: the mesh's devices (default this process's).
  """

  def __init__(self, model_dir: str, tokenizer_dir: str, *, dtype: str, input_max_len: int,
               sampling: decoding.SamplingConfig, seed: int, batch_size: int,
               compiler_options: dict | None, mesh_spec, rules, devices=None):
    self.cfg, params = hf_t5.load_hf_t5(model_dir, dtype=dtype)
    self.tokenizer = tokenizers.load_tokenizer(tokenizer_dir)
    tokenizers.check_vocab(self.tokenizer, self.cfg.vocab_size, f'xQG model {model_dir}')
    self.rules = tuple(rules)
    self.mesh = mesh_lib.create_mesh(mesh_spec, devices=devices or jax.local_devices())
    model = t5.T5(self.cfg)
    dummy = np.zeros((1, 8), np.int32)
    abstract = jax.eval_shape(lambda: model.init(jax.random.key(0), dummy, dummy + 1, dummy))
    with nn.logical_axis_rules(self.rules):
      specs = nn.get_partition_spec(abstract['params'])
    self.params = jax.device_put(
        params, partitioning.tree_shardings(specs, self.mesh, self.rules,
                                            shapes=nn.unbox(abstract['params'])))
    self.tokenize = pipeline.Tokenize(self.tokenizer, input_max_len)
    self.sampling = sampling
    self.seed = seed
    self.batch_size = batch_size
    self.compiler_options = compiler_options

  @classmethod
  def from_config(cls, config: ml_collections.ConfigDict, model_dir: str, tokenizer_dir: str,
                  devices=None) -> 'Generator':
    """The run's generator: `config.generate`'s decoding, `config.xqg`'s dtype and input
    length, on `config.mesh`."""
    return cls(model_dir, tokenizer_dir, dtype=config.xqg.dtype,
               input_max_len=config.xqg.input_max_len, sampling=sampling_config(config),
               seed=config.generate.seed, batch_size=config.generate.batch_size,
               compiler_options=xla_options.for_backend(config.generate.compiler_options),
               mesh_spec=config.mesh, rules=config.logical_axis_rules, devices=devices)

  def texts(self, prompt_texts: Sequence[str], key_items: Sequence[Sequence[str | int]], *,
            desc: str) -> tuple[list[list[str]], np.ndarray]:
    """Decoded outputs per prompt (`self.sampling`), and which prompts were truncated.

    `key_items[i]` names prompt i's randomness (`decoding.item_keys`), so an output does not
    depend on the batch it ran in. `desc` names the progress bar.
    """
    out, truncated = [], np.zeros(len(prompt_texts), bool)
    size = self.batch_size
    prompts_bar = progress.bar(desc=desc, total=len(prompt_texts), unit='prompt')
    for start in range(0, len(prompt_texts), size):
      stop = min(start + size, len(prompt_texts))
      rows = list(range(start, stop)) + [stop - 1] * (size - (stop - start))  # static shapes
      arrays, cut = self.tokenize([prompt_texts[i] for i in rows])
      truncated[start:stop] = cut[:stop - start]
      batch = partitioning.shard_host_batch(
          {'input_ids': arrays['input_ids'], 'attention_mask': arrays['attention_mask'],
           'keys': decoding.item_keys([key_items[i] for i in rows])}, self.mesh, self.rules)
      with jax.set_mesh(self.mesh), nn.logical_axis_rules(self.rules):
        generated = decoding.generate(self.cfg, self.params, batch['input_ids'],
                                      batch['attention_mask'], batch['keys'], self.sampling,
                                      seed=self.seed, compiler_options=self.compiler_options)
      for row in np.asarray(generated.tokens)[:stop - start]:
        out.append([t.strip() for t in self.tokenizer.batch_decode(
            row, skip_special_tokens=True)])
      prompts_bar.update(stop - start)
    prompts_bar.close()
    return out, truncated

  def questions(self, items: list[tuple[records.Passage, str]], *, desc: str
                ) -> tuple[list[list[str]], int]:
    """n questions per (passage, language) item, and how many prompts were truncated."""
    out, truncated = self.texts([prompts.prompt(lang, p.title, p.text) for p, lang in items],
                                [(p.id, lang) for p, lang in items], desc=desc)
    return out, int(truncated.sum())


def run(config: ml_collections.ConfigDict, workdir, *, xqg_dir, data_dir, tfds_dir,
        tokenizer_dir: str, inputs: dict, devices=None) -> epath.Path:
  """Generates for every shard of the corpus; returns `workdir/generated`."""
  directory = epath.Path(workdir) / 'generated'
  langs = languages_lib.validate(config.generate.languages)
  stage_config = {'generate': config.generate.to_dict(),
                  'input_max_len': config.xqg.input_max_len,
                  'num_shards': config.data.num_corpus_shards}
  if stage_dir.is_done(directory, config=stage_config, inputs=inputs):
    return directory
  multihost.begin_shards(directory, config=stage_config, inputs=inputs)
  corpus = grain.MapDataset.source(tfds_builders.build_and_load(
      'xor_corpus', data_dir, tfds_dir, 'corpus')).map(tfds_builders.decode_passage)
  num_shards = config.data.num_corpus_shards
  ranges = embedding_shards.shard_ranges(len(corpus), num_shards)
  generator = None
  for shard in multihost.process_shards(num_shards):
    path = directory / shard_file(shard, num_shards)
    if path.exists():
      continue
    counts = collections.Counter()
    generator = generator or Generator.from_config(config, str(epath.Path(xqg_dir) / 'hf'),
                                                   tokenizer_dir, devices)
    began = time.perf_counter()
    passages = [corpus[i] for i in range(*ranges[shard])]
    # Language-major: a batch's questions are of one language and of similar lengths, so the
    # decode loop, which runs until its longest sequence ends, wastes fewer steps.
    items = [(p, lang) for lang in langs for p in passages]
    questions, truncated = generator.questions(items,
                                               desc=f'generate {shard + 1}/{num_shards}')
    counts['truncated_prompts'] += truncated
    by_passage = collections.defaultdict(dict)
    for (passage, lang), qs in zip(items, questions):
      by_passage[passage.id][lang] = tuple(qs)
      counts['questions'] += len(qs)
      counts['empty'] += sum(not q for q in qs)
      counts['degenerate'] += sum(is_degenerate(q) for q in qs)
    atomic.write_text(directory / _counts_file(shard, num_shards), json.dumps(counts) + '\n')
    augmented.write_augmented(path, (records.AugmentedPassage(
        p.id, p.title, p.text, by_passage[p.id]) for p in passages))
    seconds = time.perf_counter() - began
    logging.vlog(1, 'generate: shard %d/%d, %d questions in %.1f s (%.1f questions/s)',
                 shard + 1, num_shards, len(items) * config.generate.num_queries, seconds,
                 len(items) * config.generate.num_queries / max(seconds, 1e-9))
  multihost.barrier(f'generated:{directory}')
  if jax.process_index() == 0 and all(
      (directory / shard_file(s, num_shards)).exists() for s in range(num_shards)):
    counts = collections.Counter()
    for s in range(num_shards):
      counts.update(json.loads((directory / _counts_file(s, num_shards)).read_text()))
    stage_dir.run(directory, stage='generate', config=stage_config, inputs=inputs,
              produce=lambda d: ([shard_file(s, num_shards) for s in range(num_shards)],
                                 {'counts': dict(counts)}), force=True)
  multihost.barrier(f'finished:{directory}')  # No process returns before the manifest exists.
  return directory
