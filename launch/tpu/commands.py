"""The commands that create, set up, use and delete a Cloud TPU VM, as argv lists.

Pure functions: nothing here runs anything. Every worker of a slice gets the repository in
`~/xqg-jax` and a Python 3.11 virtual environment in `~/xqg-venv` (TPU VM images ship an
older Python; `uv` fetches 3.11). Remote command strings quote every user-given value.
"""

import dataclasses
import re
import shlex

REMOTE_DIR = 'xqg-jax'
REMOTE_VENV = 'xqg-venv'
PYTHON_VERSION = '3.11'
# The `launch.<stage>` mains that take --config and --workdir, in pipeline order.
STAGES = ('prepare_data', 'train_xdr', 'pretrain_xqg', 'train_xqg', 'generate', 'oracle',
          'encode', 'select_settings', 'fuse', 'index', 'search', 'evaluate', 'attack',
          'robustness', 'pipeline')
# Generation and size: TensorCores on v2, v3, v4, v5p; chips on v5litepod (v5e) and v6e.
_ACCELERATOR = re.compile(r'(v2|v3|v4|v5litepod|v5p|v6e)-([1-9][0-9]*)')
# The largest single-VM slice of every generation is size 8 (v4-8, v5litepod-8, v6e-8, ...).
_MAX_SINGLE_HOST = 8
_UV = '$HOME/.local/bin/uv'
UV_VERSION = '0.13.9'  # the installer of this uv release, not whatever is newest
_SETUP = (
    f'curl -LsSf https://astral.sh/uv/{UV_VERSION}/install.sh | sh',
    f'{_UV} venv --allow-existing --python {PYTHON_VERSION} {REMOTE_VENV}',
    # gcsfs: etils.epath reads and writes gs:// through fsspec.
    f"{_UV} pip install --python {REMOTE_VENV}/bin/python -e './{REMOTE_DIR}[tpu]' gcsfs",
)

Command = list[str]


def is_multi_host(accelerator_type: str) -> bool:
  """Whether a slice of `accelerator_type` spans several VMs; raises on an unknown type."""
  match = _ACCELERATOR.fullmatch(accelerator_type)
  if not match:
    raise ValueError(f'unknown accelerator type {accelerator_type!r}; expected '
                     'v2|v3|v4|v5litepod|v5p|v6e-<size>, e.g. v4-8, v4-32, v5litepod-16')
  return int(match.group(2)) > _MAX_SINGLE_HOST


@dataclasses.dataclass(frozen=True)
class Tpu:
  """A TPU VM (one VM, or a pod slice of several) by name, zone and project."""
  name: str
  zone: str
  project: str

  def gcloud(self, verb: str, *args: str) -> Command:
    return ['gcloud', 'compute', 'tpus', 'tpu-vm', verb, *args, f'--zone={self.zone}',
            f'--project={self.project}']

  def on_all_workers(self, script: str) -> Command:
    """Runs `script` on every worker at once (each one's login shell, in its home)."""
    return self.gcloud('ssh', self.name, '--worker=all', '--command', script)


def create(tpu: Tpu, accelerator_type: str, runtime_version: str, spot: bool) -> list[Command]:
  is_multi_host(accelerator_type)  # Raises on an unknown type before gcloud sees it.
  return [tpu.gcloud('create', tpu.name, f'--accelerator-type={accelerator_type}',
                     f'--version={runtime_version}', *(['--spot'] if spot else []))]


def delete(tpu: Tpu) -> list[Command]:
  return [tpu.gcloud('delete', tpu.name, '--quiet')]


def install(tpu: Tpu, *, repo_root: str, repo_url: str, ref: str,
            scratch_dir: str) -> list[Command]:
  """Puts `ref` of the repository on every worker and installs it with the `[tpu]` extra.

  With `repo_url` each worker clones it; otherwise `ref` of the local checkout at `repo_root`
  is archived (committed files only) into `scratch_dir` (a fresh private directory) and
  copied to every worker.
  """
  if repo_url:
    local = []
    fetch = (f'git clone --quiet {shlex.quote(repo_url)} {REMOTE_DIR}',
             f'git -C {REMOTE_DIR} checkout --quiet {shlex.quote(ref)}')
  else:
    archive = f'{scratch_dir}/{tpu.name}-{REMOTE_DIR}.tar.gz'
    local = [['git', '-C', repo_root, 'archive', '--format=tar.gz', f'--output={archive}', ref],
             tpu.gcloud('scp', archive, f'{tpu.name}:{REMOTE_DIR}.tar.gz', '--worker=all')]
    fetch = (f'mkdir {REMOTE_DIR}', f'tar -xzf {REMOTE_DIR}.tar.gz -C {REMOTE_DIR}')
  script = ' && '.join((f'rm -rf {REMOTE_DIR}', *fetch, *_SETUP))
  return local + [tpu.on_all_workers(script)]


def run(tpu: Tpu, *, accelerator_type: str, stage: str, config: str, workdir: str,
        stage_args: list[str]) -> list[Command]:
  """`python -m launch.<stage>` on every worker at once, as a multi-host JAX program needs.

  A relative `workdir` (or config path) is relative to the checkout on the worker.
  """
  if stage not in STAGES:
    raise ValueError(f'unknown stage {stage!r}; one of {", ".join(STAGES)}')
  if is_multi_host(accelerator_type) and not workdir.startswith('gs://'):
    raise ValueError(f'{accelerator_type} has several workers; they share outputs only '
                     f'through a gs:// workdir, got {workdir!r}')
  argv = [f'../{REMOTE_VENV}/bin/python', '-m', f'launch.{stage}', f'--config={config}',
          f'--workdir={workdir}', *stage_args]
  return [tpu.on_all_workers(f'cd {REMOTE_DIR} && {shlex.join(argv)}')]


def collect(tpu: Tpu, *, workdir: str, paths: list[str], dest: str) -> list[Command]:
  """Copies `paths` (relative to `workdir`) into the local directory `dest`.

  A gs:// workdir is read from the bucket; a local one from worker 0 (which writes reports).
  """
  commands = [['mkdir', '-p', dest]]
  for path in paths:
    if workdir.startswith('gs://'):
      commands.append(['gcloud', 'storage', 'cp', '--recursive',
                       f'{workdir.rstrip("/")}/{path}', dest])
    else:
      remote = workdir if workdir.startswith('/') else f'{REMOTE_DIR}/{workdir}'
      commands.append(tpu.gcloud('scp', '--recurse', f'{tpu.name}:{remote.rstrip("/")}/{path}',
                                 dest, '--worker=0'))
  return commands
