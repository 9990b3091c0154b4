"""Ad-hoc search: type a question in any language, get the top passages with scores and titles.

  python -m launch.search --config=tiny --workdir=/tmp/xqg --lang=ja --query="..."
      [--query="..."] [--system=xqg_matched] [--k=5]

Runs (or verifies) the pipeline up to `evaluate`, encodes the queries with the trained query
tower and searches the system's index for queries in `--lang` (ScaNN or exact, as
configured); the default system is the xDR+xQG system chosen on dev.
"""

from absl import app
from absl import flags
from etils import epath

from launch import stages
from xqg_jax import languages
from xqg_jax.configs import flags as config_flags
from xqg_jax.data import errors
from xqg_jax.data import tokenizers
from xqg_jax.data.formats import corpus as corpus_format
from xqg_jax.encoders import encode_stage
from xqg_jax.eval import evaluate_stage
from xqg_jax.eval import retrieval_report
from xqg_jax.eval import systems as systems_lib
from xqg_jax.io import console

_CONFIG = config_flags.define_config_flag()
_WORKDIR = config_flags.define_workdir_flag()
_QUERY = flags.DEFINE_multi_string('query', None, 'A question (repeat for several).',
                                   required=True)
_LANG = flags.DEFINE_enum('lang', None, list(languages.LANGUAGES),
                          'The language of the queries (systems route by it).', required=True)
_SYSTEM = flags.DEFINE_string('system', None, 'The system to search (xdr, xqg_all, xqg_matched, '
                              'oracle_all, oracle_matched); default: the one chosen on dev.')
_K = flags.DEFINE_integer('k', 5, 'Passages shown per query.')


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  console.quiet_libraries()
  config = _CONFIG.value
  queries = [q.strip() for q in _QUERY.value]
  if not all(queries):
    raise app.UsageError('--query must not be empty')
  state = stages.run(config, _WORKDIR.value, until='evaluate')
  encoder = encode_stage.load_encoder(config, state['xdr_dir'])
  tokenizer = tokenizers.load_tokenizer(state['encoder_tokenizer'])
  query_emb = encoder.embed_texts(tokenizer, queries, max_len=config.data.q_max_len)
  systems = {name: systems_lib.System.from_dict(d) for name, d in state['systems'].items()}
  name = _SYSTEM.value or stages.headline(state)
  if name not in systems:
    raise app.UsageError(f'--system={name!r}: the pipeline built {sorted(systems)}')
  directories = (evaluate_stage.build_indexes(config, _WORKDIR.value, systems[name])[0]
                 if config.index.kind == 'scann' else systems[name].corpora)
  run = evaluate_stage.search(config, systems[name], directories, list(range(len(queries))),
                              query_emb, [_LANG.value] * len(queries))
  wanted = {docid for hits in run.values() for docid, _ in hits[:_K.value]}
  passages = {p.id: p for p in corpus_format.read_corpus(
      epath.Path(state['data_dir']) / 'corpus.tsv',
      errors.BadRecordPolicy.from_name(config.on_bad_record)) if p.id in wanted}
  for i, query in enumerate(queries):
    print(f'\n{query}  [{retrieval_report.system_name(name)}, {config.index.kind}]')
    for rank, (docid, score) in enumerate(run[i][:_K.value], start=1):
      passage = passages[docid]
      print(f'{rank:3d}. {score:9.4f}  {docid}  {passage.title}: {passage.text[:100]}')


if __name__ == '__main__':
  app.run(main)
