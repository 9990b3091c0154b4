"""Stage `fuse`: fold the generated-question embeddings into the passage embeddings.

  python -m launch.fuse --config=tiny --workdir=/tmp/xqg --config.augment.alpha=0.03

Writes `workdir/fused/xqg-{reduce}-a{alpha}-n{num_queries}-{languages}/` (embedding shards).
"""

from launch import stage_main

if __name__ == '__main__':
  stage_main.run('fuse')
