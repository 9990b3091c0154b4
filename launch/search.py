"""Ad-hoc search: type a question in any language, get the top passages with scores and titles.

  python -m launch.search --config=tiny --workdir=/tmp/xqg --query="..." [--query="..."]
      [--system=xdr_xqg] [--k=5]

Runs (or verifies) the pipeline up to `evaluate`, encodes the queries with the trained query
tower and searches the system's index (ScaNN or exact, as configured).
"""

from absl import app
from absl import flags
from etils import epath

from launch import stages
from xqg_jax.configs import flags as config_flags
from xqg_jax.data import errors
from xqg_jax.data import tokenizers
from xqg_jax.data.formats import corpus as corpus_format
from xqg_jax.encoders import encode_stage
from xqg_jax.index import index_stage

_CONFIG = config_flags.define_config_flag()
_WORKDIR = config_flags.define_workdir_flag()
_QUERY = flags.DEFINE_multi_string('query', None, 'A question (repeat for several).',
                                   required=True)
_SYSTEM = flags.DEFINE_enum('system', 'xdr_xqg', list(stages.SYSTEMS), 'Which index to search.')
_K = flags.DEFINE_integer('k', 5, 'Passages shown per query.')


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  config = _CONFIG.value
  queries = [q.strip() for q in _QUERY.value]
  if not all(queries):
    raise app.UsageError('--query must not be empty')
  state = stages.run(config, _WORKDIR.value, until='evaluate')
  encoder = encode_stage.load_encoder(config, state['xdr_dir'])
  tokenizer = tokenizers.load_tokenizer(state['encoder_tokenizer'])
  query_emb = encoder.embed_texts(tokenizer, queries, max_len=config.data.q_max_len)
  corpus_dir = {'xdr': state['embeddings']['corpus'], 'xdr_xqg': state['fused_dir']}[
      _SYSTEM.value]
  index_dir = (epath.Path(_WORKDIR.value) / 'index' / _SYSTEM.value
               if config.index.kind == 'scann' else corpus_dir)
  scores, docids = index_stage.search(config, index_dir, query_emb, _K.value)
  wanted = {d for row in docids for d in row}
  passages = {p.id: p for p in corpus_format.read_corpus(
      epath.Path(state['data_dir']) / 'corpus.tsv',
      errors.BadRecordPolicy.from_name(config.on_bad_record)) if p.id in wanted}
  for query, row_scores, row_ids in zip(queries, scores, docids):
    print(f'\n{query}  [{stages.SYSTEM_NAMES[_SYSTEM.value]}, {config.index.kind}]')
    for rank, (score, docid) in enumerate(zip(row_scores, row_ids), start=1):
      passage = passages[docid]
      print(f'{rank:3d}. {score:9.4f}  {docid}  {passage.title}: {passage.text[:100]}')


if __name__ == '__main__':
  app.run(main)
