"""The paper on real data: XOR-TyDi XOR-Retrieve with the DPR passages, mBERT xDR, mT5 xQG.

`--config=xor_tydi:dir=/data/xor-tydi,mbert=/models/mbert,mt5=/models/mt5-base` reads the
files in `dir` by their released names (README, "Reproduce the paper on XOR-TyDi"); `mbert`
and `mt5` are local HF directories or hub ids (the tokenizers come from the same place).
Everything else is `base`: the paper's settings.
"""

from xqg_jax import languages
from xqg_jax.configs import common

# data.files field -> the released file name.
RELEASED_NAMES = {
    'corpus': 'psgs_w100.tsv',
    'train_dpr': 'xor_train_retrieve_eng_dpr.json',
    'dev': 'xor_dev_retrieve_eng_span_v1_1.jsonl',
    'test': 'xor_test_retrieve_eng_span_q_only_v1_1.jsonl',
}


def get_config(arg=None):
  arg = common.parse_arg(arg, dir='', mbert='bert-base-multilingual-cased',
                         mt5='google/mt5-base')
  c = common.base_config()
  c.name = 'xor_tydi'
  c.data.source = 'files'
  for field, name in RELEASED_NAMES.items():
    c.data.files[field] = f'{arg.dir.rstrip("/")}/{name}' if arg.dir else name
  c.tokenizer.encoder = c.xdr.init_from = arg.mbert
  c.tokenizer.generator = c.xqg.init_from = arg.mt5
  # The paper generated the seven XOR-TyDi languages and summed them all.
  c.generate.languages = languages.XOR_TYDI_LANGUAGES
  c.augment.languages = languages.XOR_TYDI_LANGUAGES
  # The test file is question-only: robustness is measured on dev (the paraphrase lists,
  # lexicons and qrels that three attacks read do not exist for XOR-TyDi; they are skipped).
  c.robustness.split = 'dev'
  return c
