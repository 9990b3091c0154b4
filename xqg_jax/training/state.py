"""Train state created on shapes first, then materialised with its shardings (MaxText order).

`eval_shape(init)` gives boxed (logically partitioned) abstract params; their logical specs map
through the config's rules to `NamedSharding`s; `jit(init, out_shardings=...)` then creates
every array directly where it lives. The state used for training is unboxed.
"""

from typing import Any, Callable

import flax
from flax import linen as nn
import jax
import optax

from xqg_jax.parallel import partitioning


@flax.struct.dataclass
class TrainState:
  step: jax.Array
  params: Any
  opt_state: Any


def _boxed_init(init_params: Callable[[jax.Array], Any], tx: optax.GradientTransformation,
                rng: jax.Array) -> TrainState:
  params = init_params(rng)
  return TrainState(step=jax.numpy.zeros((), jax.numpy.int32), params=params,
                    opt_state=_fit_boxes(tx.init(params)))


def _fit_boxes(tree):
  """`tree` with each box that names more axes than its value has replaced by the value.

  Optimizer state made from boxed params keeps each param's box; Adafactor's factored second
  moments (a row and a column vector per matrix) then carry the matrix's axis names. They
  are small (rows + columns), so unboxed they are replicated.
  """
  return jax.tree.map(
      lambda x: x.value if isinstance(x, nn.Partitioned) and len(x.names) > x.value.ndim else x,
      tree, is_leaf=lambda x: isinstance(x, nn.Partitioned))


def shardings(init_params, tx, mesh, rules, rng) -> TrainState:
  """The `NamedSharding` of every leaf of the state `create` makes."""
  abstract = jax.eval_shape(lambda r: _boxed_init(init_params, tx, r), rng)
  with nn.logical_axis_rules(rules):
    specs = nn.get_partition_spec(abstract)
  return partitioning.tree_shardings(specs, mesh, rules, shapes=nn.unbox(abstract))


def create(init_params: Callable[[jax.Array], Any], tx: optax.GradientTransformation, mesh,
           rules, rng: jax.Array) -> tuple[TrainState, TrainState]:
  """(state, its shardings): params from `init_params(rng)`, fresh optimizer state."""
  state_shardings = shardings(init_params, tx, mesh, rules, rng)
  with jax.set_mesh(mesh), nn.logical_axis_rules(rules):
    return initializer(init_params, tx, state_shardings)(rng), state_shardings


def initializer(init_params, tx, state_shardings: TrainState) -> Callable:
  """The jitted `rng -> state` that makes every array where `state_shardings` puts it (call or
  `.lower` it under the mesh and rules)."""
  return jax.jit(lambda r: nn.unbox(_boxed_init(init_params, tx, r)),
                 out_shardings=state_shardings)


def abstract(state_shardings: TrainState, init_params, tx, rng) -> TrainState:
  """ShapeDtypeStructs with shardings: the restore target for checkpoints."""
  shapes = jax.eval_shape(lambda r: nn.unbox(_boxed_init(init_params, tx, r)), rng)
  return jax.tree.map(lambda s, sh: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sh),
                      shapes, state_shardings)
