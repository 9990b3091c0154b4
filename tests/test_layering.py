"""The package layers read top-down: no module imports a package above its own, and module
names are unique, so a name says which module it is."""

import ast
import collections
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1] / 'xqg_jax'
# Bottom first. A package may import its own modules and those of lower rows only (not its
# row's peers); launch/ and benchmarks/ sit above them all.
LAYERS = (
    ('common_types', 'config_checks', 'languages', 'randomness'),
    ('configs', 'io', 'lexical'),
    ('layers', 'parallel'),
    ('data', 'models'),
    ('training',),
    ('augment', 'encoders', 'generation', 'index'),
    ('eval',),
    ('robustness',),
)


def imported_packages(path: pathlib.Path) -> list[tuple[int, str]]:
  """(line, module) of every `xqg_jax`, `launch` or `benchmarks` import in `path`, including
  those inside functions."""
  out = []
  for node in ast.walk(ast.parse(path.read_text(), str(path))):
    if isinstance(node, ast.Import):
      out += [(node.lineno, a.name) for a in node.names]
    elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
      out += [(node.lineno, f'{node.module}.{a.name}') for a in node.names]
  return [(line, name) for line, name in out
          if name.split('.')[0] in ('xqg_jax', 'launch', 'benchmarks')]


def layering_errors(root: pathlib.Path, layers=LAYERS) -> list[str]:
  """'file:line: what is wrong' for each import against `layers` under package `root`."""
  rank = {package: i for i, row in enumerate(layers) for package in row}
  errors = []
  for path in sorted(root.rglob('*.py')):
    parts = path.relative_to(root).with_suffix('').parts
    own = parts[0]
    if own == '__init__':
      continue
    if own not in rank:
      errors.append(f'{path}: package {own!r} has no row in LAYERS')
      continue
    for line, name in imported_packages(path):
      top, target = name.split('.')[0], name.split('.')[1]
      where = f'{path}:{line}: {own} imports {name}'
      if top != root.name:
        errors.append(f'{where}, which is outside the library')
      elif target not in rank:
        errors.append(f'{where}: package {target!r} has no row in LAYERS')
      elif target != own and rank[target] >= rank[own]:
        errors.append(f'{where}, which is {"a peer" if rank[target] == rank[own] else "above"}')
  return errors


def test_no_import_goes_against_the_layers():
  assert not layering_errors(ROOT)


def test_every_package_is_in_the_layers_once():
  packages = sorted(p.name for p in ROOT.iterdir()
                    if (p / '__init__.py').exists() or p.suffix == '.py' and p.stem != '__init__')
  listed = [p.removesuffix('.py') for row in LAYERS for p in row]
  assert sorted(listed) == sorted({p.removesuffix('.py') for p in packages})


def test_upward_peer_and_outside_imports_are_found(tmp_path):
  root = tmp_path / 'xqg_jax'
  for package, text in {'low': 'from xqg_jax.high import a\n',
                        'mid': 'def f():\n  from xqg_jax.peer import b\n',
                        'peer': 'from launch import stages\n',
                        'high': 'from xqg_jax.low import c\nfrom xqg_jax.new import d\n'}.items():
    (root / package).mkdir(parents=True)
    (root / package / 'm.py').write_text(text)
  errors = layering_errors(root, (('low',), ('mid', 'peer'), ('high',)))
  assert [e.split(': ', 1)[1] for e in errors] == [
      "high imports xqg_jax.new.d: package 'new' has no row in LAYERS",
      'low imports xqg_jax.high.a, which is above',
      'mid imports xqg_jax.peer.b, which is a peer',
      'peer imports launch.stages, which is outside the library']


def test_module_names_are_unique():
  names = collections.defaultdict(list)
  for path in ROOT.rglob('*.py'):
    if path.stem != '__init__':
      names[path.stem].append(str(path.relative_to(ROOT)))
  assert {n: p for n, p in names.items() if len(p) > 1} == {}


def test_models_hold_the_model_definitions():
  """Every Flax module is a model (models/) or a building block of one (layers/)."""
  elsewhere = []
  for path in ROOT.rglob('*.py'):
    for node in ast.walk(ast.parse(path.read_text())):
      if isinstance(node, ast.ClassDef) and any(
          ast.unparse(base) in ('nn.Module', 'linen.Module') for base in node.bases):
        if path.parent.name not in ('models', 'layers'):
          elsewhere.append(f'{path.relative_to(ROOT)}: {node.name}')
  assert not elsewhere
  assert {'bert', 'bi_encoder', 'hf_bert', 'hf_config', 't5', 'hf_t5'} <= {
      path.stem for path in (ROOT / 'models').glob('*.py')}
