"""The full default config (the paper's setting) and the `key=value,flag` argument parser.

Every field any stage reads is defined here with its default; size presets (`tiny.py`,
`base.py`, `large.py`) only change values. Stages never call `config.get(key, default)`.
"""

import ml_collections

from xqg_jax import languages


_PARAPHRASE_MODEL = {'tokenizer': '', 'prompt': 'paraphrase: {query}', 'num_return_sequences': 1,
                     'do_sample': False, 'temperature': 1.0, 'top_k': 0, 'top_p': 1.0,
                     'max_new_tokens': 64, 'batch_size': 32, 'input_max_len': 64}
# Every setting of every attack kind with its default (`robustness/registry.py` says what each
# means); `REQUIRED` settings have none. A config entry is `attack(kind, **settings)`.
FILE_FIELDS = ('corpus', 'train', 'train_dpr', 'train_groups', 'dev', 'test', 'qrels_dev',
               'qrels_test')
REQUIRED = '<required>'
ATTACK_SETTINGS = {
    # budget: characters edited per query, or rate: edited share of its characters (one of).
    'char_noise': {'budget': None, 'rate': None,
                   'operations': ('substitute', 'delete', 'insert', 'swap', 'homoglyph',
                                  'zero_width', 'strip_marks')},
    # budget: words switched to English; lexicon_dir '': the benchmark's {data_dir}/lexicons.
    'code_switch': {'budget': REQUIRED, 'lexicon_dir': ''},
    # source benchmark | file | model; budget None: any word distance; the model settings
    # (a seq2seq paraphraser in `path`) are read only by source 'model'.
    'paraphrase': {'source': REQUIRED, 'budget': None, 'path': '', **_PARAPHRASE_MODEL},
    # White-box, on the xDR query tower: tokens edited per query, candidate tokens per
    # position, beam width, queries per gradient batch.
    'hotflip': {'budget': REQUIRED, 'candidates': 4, 'beam': 1, 'batch_size': 32},
    'random_edits': {'budget': REQUIRED},
}


def attack(kind: str, **settings) -> ml_collections.ConfigDict:
  """The config entry of an attack: `{'kind': kind, **every setting}`, `settings` over the
  defaults of `ATTACK_SETTINGS[kind]`. An unknown kind or setting, or a missing required one,
  is an error naming them."""
  if kind not in ATTACK_SETTINGS:
    raise ValueError(f'unknown attack kind {kind!r}; known: {", ".join(ATTACK_SETTINGS)}')
  defaults = ATTACK_SETTINGS[kind]
  unknown = sorted(set(settings) - set(defaults))
  if unknown:
    raise ValueError(f'attack {kind}: unknown settings {unknown}; known: {sorted(defaults)}')
  out = {'kind': kind, **defaults, **settings}
  missing = sorted(k for k, v in out.items() if v == REQUIRED)
  if missing:
    raise ValueError(f'attack {kind}: missing settings {missing}')
  return ml_collections.ConfigDict(out)


def parse_arg(arg: str | None, **defaults) -> ml_collections.ConfigDict:
  """Parses `'a=1,b=x,flag'` into a ConfigDict over `defaults` (big_vision's convention).

  Values are cast to the type of their default; a bare name sets a boolean to True. Unknown
  keys are an error naming the known ones.
  """
  result = ml_collections.ConfigDict(dict(defaults))
  if not arg:
    return result
  for item in arg.split(','):
    if not item:
      continue
    key, sep, value = item.partition('=')
    if key not in defaults:
      raise ValueError(f'unknown config argument {key!r}; known: {sorted(defaults)}')
    default = defaults[key]
    if not sep:
      if not isinstance(default, bool):
        raise ValueError(f'config argument {key!r} needs a value')
      result[key] = True
    elif isinstance(default, bool):
      if value.lower() not in ('true', 'false', '1', '0'):
        raise ValueError(f'config argument {key!r} is boolean, got {value!r}')
      result[key] = value.lower() in ('true', '1')
    else:
      result[key] = type(default)(value)
  return result


def base_config() -> ml_collections.ConfigDict:
  """The paper's setting with every field the stages read."""
  c = ml_collections.ConfigDict()
  c.name = 'base'
  c.seed = 0
  # Query languages evaluated (XOR-TyDi's seven); the benchmark may generate more.
  c.languages = languages.XOR_TYDI_LANGUAGES
  c.on_bad_record = 'fail'  # fail | skip

  # Data sources: the synthetic benchmark, or `files`: the released files by their own names
  # (paths; '' = none). `corpus` and `dev` or `test` are required. Query files are XOR-Retrieve
  # JSONL (`id, question, answers, lang`; the question-only test file has no answers: its runs
  # are written, not scored). Training groups come from `train_groups` (Tevatron JSONL) or
  # `train_dpr` (DPR JSON, whose questions also serve as `train` when that is '').
  c.data = ml_collections.ConfigDict()
  c.data.source = 'synthetic'  # synthetic | files
  c.data.files = ml_collections.ConfigDict({  # every one of FILE_FIELDS
      'corpus': '',  # psgs_w100.tsv (id, text, title)
      'train': '',  # xor_train_retrieve_eng_span.jsonl
      'train_dpr': '',  # xor_train_retrieve_eng_dpr.json
      'train_groups': '',  # Tevatron JSONL (query_id, query, positive/negative_passages)
      'dev': '',  # xor_dev_retrieve_eng_span_v1_1.jsonl
      'test': '',  # xor_test_retrieve_eng_span_q_only_v1_1.jsonl
      'qrels_dev': '',  # TREC qrels (optional)
      'qrels_test': '',
  })
  # DPR questions without `hard_negative_ctxs`: 'bm25' mines `mined_negatives` passages per
  # question from the corpus (top BM25 hits that are not positives and contain no answer,
  # random such passages where BM25 finds too few; the corpus is indexed in memory, so at most
  # `mining_max_passages`); 'none' takes their `negative_ctxs`.
  c.data.mine_negatives = 'bm25'  # bm25 | none
  c.data.mined_negatives = 7
  c.data.mining_max_passages = 2_000_000
  c.data.num_corpus_shards = 16
  c.data.q_max_len = 32
  c.data.p_max_len = 128
  c.data.length_buckets = (16, 32, 64, 128)

  c.synthetic = ml_collections.ConfigDict()
  c.synthetic.seed = 20230503
  c.synthetic.languages = languages.ALL_LANGUAGES
  c.synthetic.num_entities = 200_000
  c.synthetic.passages_per_entity = 2
  c.synthetic.words_per_passage = 100
  # Training questions per language at resource level 'high'; other levels are scaled.
  c.synthetic.train_queries_per_language = 20_000
  c.synthetic.resource_scale = ml_collections.ConfigDict(
      {'high': 1.0, 'medium': 0.6, 'low': 0.3, 'very low': 0.1})
  c.synthetic.dev_queries_per_language = 1_000
  c.synthetic.test_queries_per_language = 1_000
  c.synthetic.yes_no_rate = 0.05
  c.synthetic.latin_name_rate = 0.1  # share of entity names left in Latin script in questions
  c.synthetic.hard_negatives = 7
  c.synthetic.paraphrases_per_query = 4
  # The data statistics include a BM25 baseline (corpus in memory) up to this many passages.
  c.synthetic.bm25_baseline_max_passages = 200_000
  # Entities of a second world per pre-training kind (names, questions) for a generator
  # trained from scratch (`synthetic/pretraining.py`); 0 writes none.
  c.synthetic.pretraining_entities = 0

  c.tokenizer = ml_collections.ConfigDict()
  # A local HF tokenizer directory or hub id; empty means train one on the corpus.
  c.tokenizer.encoder = ''
  c.tokenizer.generator = ''
  c.tokenizer.encoder_vocab_size = 32_000
  c.tokenizer.generator_vocab_size = 32_000
  # unigram (SentencePiece-style, `generator_vocab_size` pieces) | words_and_chars (whole words
  # found in at least `generator_min_word_texts` texts, every other word spelled out letter by
  # letter).
  c.tokenizer.generator_kind = 'unigram'
  c.tokenizer.generator_min_word_texts = 50
  c.tokenizer.train_sample_size = 200_000  # texts sampled for tokenizer training

  # xDR: the bi-encoder, its training and encoding (paper-era DPR settings on mBERT).
  c.xdr = ml_collections.ConfigDict()
  c.xdr.preset = 'mbert-base'  # models.bert.PRESETS name for the architecture
  c.xdr.init_from = ''  # local HF dir or hub id (e.g. bert-base-multilingual-cased); '' = scratch
  c.xdr.dtype = 'bfloat16'  # compute dtype (params stay fp32); 'float32' for parity runs
  c.xdr.dropout = 0.1
  c.xdr.pooling = 'cls'  # cls | mean
  c.xdr.normalize = False
  c.xdr.tied = True  # one encoder for queries and passages
  c.xdr.temperature = 1.0
  c.xdr.learn_temperature = False
  c.xdr.group_size = 8  # 1 positive + 7 hard negatives per query
  c.xdr.batch_size = 128  # queries per global step
  c.xdr.grad_cache_chunks = 1  # >1: gradient caching in this many chunks (exact, less memory)
  c.xdr.learning_rate = 1e-5
  c.xdr.warmup_ratio = 0.1
  c.xdr.weight_decay = 0.0
  c.xdr.max_grad_norm = 2.0
  c.xdr.epochs = 40
  c.xdr.num_train_steps = -1  # -1: from epochs; 0: no training (untrained baseline)
  c.xdr.checkpoint_every = 1000
  c.xdr.keep_checkpoints = 3
  c.xdr.log_every = 50
  c.xdr.encode_batch_size = 256
  # XLA compiler options of the encoder towers when encoding, per backend (measured with
  # benchmarks/encode_throughput.py: on CPU, dots on Eigen instead of YNNPACK ran mbert-base
  # 1.2x faster, 88% of the fp32 matmul peak).
  c.xdr.compiler_options = ml_collections.ConfigDict(
      {'cpu': {'xla_cpu_experimental_ynn_fusion_type': ''}})

  # xQG: the mT5 query generator, its fine-tuning and generation.
  c.xqg = ml_collections.ConfigDict()
  c.xqg.preset = 'mt5-base'  # models.t5.PRESETS name for the architecture
  c.xqg.init_from = ''  # local HF mT5 dir or hub id (e.g. google/mt5-base); '' = scratch
  c.xqg.dtype = 'bfloat16'
  c.xqg.dropout = 0.1
  c.xqg.optimizer = 'adafactor'  # adafactor | adamw
  c.xqg.learning_rate = 1e-3
  c.xqg.warmup_ratio = 0.0
  c.xqg.decay_ratio = 1.0  # the share of steps after warmup over which the rate decays to 0
  c.xqg.weight_decay = 0.0
  c.xqg.max_grad_norm = 1.0
  c.xqg.language_alpha = 1.0  # training language shares ~ n_L ** alpha (1 natural, 0 uniform)
  c.xqg.batch_size = 64
  c.xqg.input_max_len = 256  # prompt + title + ~100-word passage
  c.xqg.target_max_len = 64
  # (input, target) length pairs to batch examples by (growing; () pads every batch to the
  # maximum lengths above, and the largest pair replaces them when given).
  c.xqg.length_buckets = ()
  c.xqg.epochs = 5
  c.xqg.num_train_steps = -1  # -1: from epochs; 0: no training (untrained baseline)
  c.xqg.checkpoint_every = 1000
  c.xqg.keep_checkpoints = 3
  c.xqg.log_every = 50
  # Text-pair files (relative to the data directory) mixed into fine-tuning: `extra_share` of
  # every batch comes from them.
  c.xqg.extra_pairs = ()
  c.xqg.extra_share = 0.0
  # Pre-training on text pairs before fine-tuning (a scratch generator; off for a real mT5).
  c.xqg.pretrain = ml_collections.ConfigDict()
  c.xqg.pretrain.pairs = ()  # text-pair files relative to the data directory; () = none
  c.xqg.pretrain.num_train_steps = 0
  c.xqg.pretrain.batch_size = 128
  c.xqg.pretrain.input_max_len = 32
  c.xqg.pretrain.target_max_len = 24
  c.xqg.pretrain.learning_rate = 3e-3
  c.xqg.pretrain.warmup_ratio = 0.05
  c.xqg.pretrain.decay_ratio = 0.2  # high rate for longer: spelling is learned late
  c.xqg.pretrain.length_buckets = ()

  # Generation of queries for every passage (the augmentation's input).
  c.generate = ml_collections.ConfigDict()
  # Every language of the table, so that language-matched fusion has questions for each query
  # language (the paper generated the seven XOR-TyDi ones).
  c.generate.languages = languages.ALL_LANGUAGES
  c.generate.num_queries = 5  # per language per passage (paper: 5 x 7)
  c.generate.max_new_tokens = 64
  c.generate.do_sample = True
  c.generate.top_k = 10
  c.generate.top_p = 1.0
  c.generate.temperature = 1.0
  c.generate.batch_size = 32  # prompts (passage, language) per device batch
  c.generate.seed = 0
  # XLA compiler options of the decode loop, per backend (measured with
  # benchmarks/generate_throughput.py: on CPU, dots on Eigen instead of YNNPACK ran the tiny and
  # mT5-small shapes 4% faster, the LM head dot most).
  c.generate.compiler_options = ml_collections.ConfigDict(
      {'cpu': {'xla_cpu_experimental_ynn_fusion_type': ''}})

  # Augmentation: p_aug = (1 - alpha) E_p(p) + alpha * REDUCE_{L, i} E_q(q_{L,i}), fused either
  # the paper's way ('all': one vector per passage, the questions of every language in
  # `languages` summed) or per query language ('matched': a query in L searches passages
  # augmented with their L questions only). With `select`, alpha, fusion and n are chosen on
  # dev from `fusions` x `eval.sweep_alphas` x `eval.sweep_num_queries` (`eval/select_stage.py`);
  # otherwise `fusion`, `alpha` and `num_queries` are used as given.
  c.augment = ml_collections.ConfigDict()
  c.augment.select = True
  c.augment.fusions = ('all', 'matched')  # every fusion is evaluated at its chosen setting
  c.augment.fusion = 'all'
  c.augment.alpha = 0.01  # the authors' best run
  c.augment.reduce = 'sum'  # sum (the authors' code) | mean
  c.augment.languages = languages.XOR_TYDI_LANGUAGES  # summed by the 'all' fusion
  c.augment.num_queries = 5  # the first n generated queries of each language

  # Search: ScaNN (one index per corpus shard, merged top-k) or exact inner product on device.
  c.index = ml_collections.ConfigDict()
  c.index.kind = 'scann'  # scann | exact
  c.index.hits = 100  # passages retrieved per query
  c.index.exact_chunk_size = 65_536  # corpus rows scored per device step
  c.index.query_batch_size = 1_024
  c.index.scann = ml_collections.ConfigDict()
  c.index.scann.num_leaves = 2_000  # per shard; about sqrt(rows in a shard)
  c.index.scann.num_leaves_to_search = 100
  c.index.scann.training_sample_size = 250_000
  c.index.scann.dimensions_per_block = 2  # asymmetric hashing
  c.index.scann.anisotropic_quantization_threshold = 0.2
  c.index.scann.reorder_k = 250  # exact re-scoring of this many candidates
  c.index.scann.kmeans_iterations = 12  # Lloyd steps for the tree's centers (ScaNN's default)
  c.index.scann.seed = 0  # draws the k-means training sample and starting centers

  # Evaluation and the comparison of runs.
  c.eval = ml_collections.ConfigDict()
  c.eval.kilo_tokens = (2, 5)  # R@2kt, R@5kt
  c.eval.significance_level = 0.05
  c.eval.permutations = 10_000  # paired permutation (sign-flip) test
  c.eval.correction = 'holm'  # across languages: holm | bonferroni | none
  c.eval.bootstrap = 10_000  # stratified bootstrap replicates of each delta's interval
  c.eval.confidence = 0.95  # of those intervals
  # The selection grid on dev (`augment.select`) and the n-curve on test (`eval/sweep.py`,
  # the `sweep` stage).
  c.eval.sweep_alphas = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3)
  c.eval.sweep_num_queries = (1, 2, 3, 4, 5)

  # Robustness (issue 6): attacks on the queries of one split, evaluated on xDR and xDR+xQG.
  # Each attack is a complete registry entry (`attack`, `robustness/registry.py`).
  c.robustness = ml_collections.ConfigDict()
  c.robustness.split = 'test'
  c.robustness.queries_per_language = 0  # the first n test queries of each language; 0 = all
  c.robustness.success_k = 20  # gold out of the top 20 (~2k tokens of 100-word passages)
  c.robustness.attacks = ('paraphrase', 'char_noise', 'code_switch', 'hotflip', 'random_edits')
  c.robustness.paraphrase = attack('paraphrase', source='benchmark', budget=8)
  c.robustness.char_noise = attack('char_noise', budget=2)
  c.robustness.code_switch = attack('code_switch', budget=2)
  c.robustness.hotflip = attack('hotflip', budget=2)
  c.robustness.random_edits = attack('random_edits', budget=2)

  # Device mesh: (axis, size) with -1 filled from the device count; logical -> mesh rules.
  c.mesh = (('data', -1), ('model', 1))
  c.logical_axis_rules = (
      ('batch', 'data'),
      ('length', None),
      ('embed', None),
      ('heads', 'model'),
      ('kv', None),
      ('mlp', 'model'),
      ('vocab', 'model'),
      ('cache_batch', 'data'),
      ('cache_length', None),
      ('cache_heads', 'model'),
      ('cache_kv', None),
  )

  # Multi-host: empty coordinator means auto-detect (Cloud TPU) or a single process.
  c.distributed = ml_collections.ConfigDict()
  c.distributed.coordinator_address = ''
  c.distributed.num_processes = 1
  c.distributed.process_id = 0
  return c
