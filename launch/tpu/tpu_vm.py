r"""Cloud TPU VMs: create one (or a pod slice), install, run a stage on all workers, collect.

  TPU="--name=xqg --zone=us-central2-b --project=my-project"
  python -m launch.tpu.tpu_vm create $TPU --accelerator_type=v4-32 \
      --runtime_version=tpu-ubuntu2204-base [--spot]
  python -m launch.tpu.tpu_vm install $TPU
  python -m launch.tpu.tpu_vm run $TPU --accelerator_type=v4-32 --stage=train_xdr \
      --config=base --workdir=gs://bucket/run -- --config.xdr.batch_size=256
  python -m launch.tpu.tpu_vm collect $TPU --workdir=gs://bucket/run --dest=results/run
  python -m launch.tpu.tpu_vm delete $TPU

`--dry_run` prints the commands (one per line, shell-quoted) instead of running them.
Arguments after `--` go to the stage (`run` only).
"""

import os
import shlex
import subprocess
import tempfile
import sys

from absl import app
from absl import flags

from launch.tpu import commands

ACTIONS = ('create', 'install', 'run', 'collect', 'delete')
_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

_NAME = flags.DEFINE_string('name', None, 'TPU VM (or slice) name.')
_ZONE = flags.DEFINE_string('zone', None, 'Zone, e.g. us-central2-b.')
_PROJECT = flags.DEFINE_string('project', None, 'Google Cloud project.')
_ACCELERATOR_TYPE = flags.DEFINE_string(
    'accelerator_type', None, 'create, run: e.g. v4-8 (one VM), v4-32, v5litepod-16 (pods).')
_RUNTIME_VERSION = flags.DEFINE_string(
    'runtime_version', None, 'create: TPU software version, e.g. tpu-ubuntu2204-base (v4), '
    'v2-alpha-tpuv5-lite (v5e), v2-alpha-tpuv6e (v6e).')
_SPOT = flags.DEFINE_bool('spot', False, 'create: a Spot VM (cheaper, can be preempted).')
_REPO_URL = flags.DEFINE_string(
    'repo_url', '', 'install: git URL each worker clones; empty: copy the local checkout.')
_REF = flags.DEFINE_string('ref', 'HEAD', 'install: the commit, branch or tag to install.')
_STAGE = flags.DEFINE_string('stage', None, 'run: the launch.<stage> to run, e.g. train_xdr.')
_CONFIG = flags.DEFINE_string('config', None, 'run: --config of the stage (preset or path).')
_WORKDIR = flags.DEFINE_string('workdir', None, 'run, collect: the stage workdir; gs:// on '
                               'pods (a relative one is under the checkout on the worker).')
_PATHS = flags.DEFINE_list('paths', ['reports'], 'collect: paths under workdir to copy.')
_DEST = flags.DEFINE_string('dest', None, 'collect: local directory to copy into.')
_DRY_RUN = flags.DEFINE_bool('dry_run', False, 'Print the commands instead of running them.')

_REQUIRED = {
    'create': (_ACCELERATOR_TYPE, _RUNTIME_VERSION),
    'install': (),
    'run': (_ACCELERATOR_TYPE, _STAGE, _CONFIG, _WORKDIR),
    'collect': (_WORKDIR, _DEST),
    'delete': (),
}


def plan(action: str, stage_args: list[str]) -> list[commands.Command]:
  """The commands of `action` from the flags; raises app.UsageError on a wrong invocation."""
  missing = [f'--{f.name}' for f in (_NAME, _ZONE, _PROJECT, *_REQUIRED[action])
             if f.value is None]
  if missing:
    raise app.UsageError(f'{action} needs {", ".join(missing)}')
  if stage_args and action != 'run':
    raise app.UsageError(f'unexpected arguments: {stage_args}')
  tpu = commands.Tpu(_NAME.value, _ZONE.value, _PROJECT.value)
  try:
    if action == 'create':
      return commands.create(tpu, _ACCELERATOR_TYPE.value, _RUNTIME_VERSION.value, _SPOT.value)
    if action == 'install':
      return commands.install(tpu, repo_root=_REPO_ROOT, repo_url=_REPO_URL.value,
                              ref=_REF.value,
                              scratch_dir='' if _REPO_URL.value else tempfile.mkdtemp(
                                  prefix='xqg-tpu-'))
    if action == 'run':
      return commands.run(tpu, accelerator_type=_ACCELERATOR_TYPE.value, stage=_STAGE.value,
                          config=_CONFIG.value, workdir=_WORKDIR.value, stage_args=stage_args)
    if action == 'collect':
      return commands.collect(tpu, workdir=_WORKDIR.value, paths=_PATHS.value,
                              dest=_DEST.value)
    return commands.delete(tpu)
  except ValueError as e:
    raise app.UsageError(str(e)) from e


def main(argv):
  if len(argv) < 2 or argv[1] not in ACTIONS:
    raise app.UsageError(f'the first argument must be one of {", ".join(ACTIONS)}')
  for command in plan(argv[1], argv[2:]):
    print(shlex.join(command), flush=True)
    if not _DRY_RUN.value:
      returncode = subprocess.run(command, check=False).returncode
      if returncode:
        sys.exit(f'exit status {returncode}: {shlex.join(command)}')


if __name__ == '__main__':
  app.run(main)
