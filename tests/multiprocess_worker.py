"""One process of `test_multiprocess`: the xQG, generate and encode stages, one xDR step.

`python -m tests.multiprocess_worker WORKDIR OUT_JSON [ADDRESS NUM_PROCESSES PROCESS_ID]`
from the repository root; without an address the run is a single process. WORKDIR already
holds the stages up to `train_xdr` (made with `config_for_test()`, so they are skipped here).
xQG is exported untrained (0 steps; its held-out loss is still computed). The training step
goes to `WORKDIR/one_step`. After each stage returns, this process records whether the
stage's manifests exist: outputs must be final on every process, not only on the one that
writes them.
"""

import json
import sys
import time

from etils import epath
import jax

from launch import stages
from tests.conftest import small_config
from xqg_jax.io import manifest
from xqg_jax.parallel import multihost

PREPARED = ('data', 'tokenizers', 'datasets', 'train_xdr')
STAGES = PREPARED + ('pretrain_xqg', 'train_xqg', 'generate', 'encode')
ONE_STEP = 'one_step'


def config_for_test(num_train_steps: int = 0, address: str = '', num_processes: int = 1,
                    process_id: int = 0):
  """`small_config` with untrained (0-step) models, or `num_train_steps` of xDR."""
  config = small_config()
  config.xdr.num_train_steps = num_train_steps
  config.xqg.num_train_steps = 0
  config.xqg.pretrain.num_train_steps = 0
  config.distributed.coordinator_address = address
  config.distributed.num_processes = num_processes
  config.distributed.process_id = process_id
  return config


def _manifest_dirs(produced: dict) -> list[str]:
  """The directories with a manifest among a stage's results."""
  dirs = [produced[key] for key in ('xdr_dir', 'xqg_dir', 'generated_dir') if key in produced]
  return dirs + list(produced.get('embeddings', {}).values())


def main(workdir: str, out_json: str, address: str = '', num_processes: str = '1',
         process_id: str = '0') -> None:
  distributed = (address, int(num_processes), int(process_id))
  config = config_for_test(0, *distributed)
  multihost.initialize(config.distributed)
  runs = [(name, config, workdir) for name in STAGES]
  runs.append(('train_xdr', config_for_test(1, *distributed), f'{workdir}/{ONE_STEP}'))
  state, complete, seconds = {}, {}, {}
  for name, stage_config, stage_workdir in runs:
    start = time.perf_counter()
    produced = stages.BY_NAME[name].fn(stage_config, stage_workdir, state)
    state.update(produced)
    key = name if stage_workdir == workdir else ONE_STEP
    seconds[key] = round(time.perf_counter() - start, 2)
    complete[key] = {path: manifest.read(path) is not None for path in _manifest_dirs(produced)}
  epath.Path(out_json).write_text(json.dumps({
      'process_index': jax.process_index(), 'process_count': jax.process_count(),
      'device_count': jax.device_count(), 'local_device_count': jax.local_device_count(),
      'complete': complete, 'seconds': seconds}))


if __name__ == '__main__':
  main(*sys.argv[1:])
