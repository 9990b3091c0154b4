"""Stage `pretrain_xqg`: the query generator learns from pre-training text pairs first.

  python -m launch.pretrain_xqg --config=tiny --workdir=/tmp/xqg

Trains from scratch on `xqg.pretrain.pairs` (the synthetic benchmark writes the names of
another world's entities in every script) into `workdir/xqg_pretrain/`; `train_xqg` then
fine-tunes from its `hf/` export. Does nothing unless `xqg.pretrain` is configured.
"""

from launch import run_to_stage

if __name__ == '__main__':
  run_to_stage.run('pretrain_xqg')
