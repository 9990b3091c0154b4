"""Stage `fuse`: fold the generated-question embeddings into the passage embeddings.

  python -m launch.fuse --config=tiny --workdir=/tmp/xqg

For every question source (xqg, oracle) and fusion (`augment.fusions`), at the setting the
`select` stage chose: `workdir/fused/{source}/{source}-{reduce}-a{alpha}-n{n}-{languages}/`
(embedding shards), one corpus for the paper's fusion, one per query language for the
language-matched one.
"""

from launch import run_to_stage

if __name__ == '__main__':
  run_to_stage.run('fuse')
