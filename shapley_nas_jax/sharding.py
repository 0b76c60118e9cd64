"""Device mesh, shardings and batch placement for data-parallel search (`jax.sharding`, no pmap).

One 1-D mesh with axis ``'data'`` spans the devices of the run (all devices of all processes after
:func:`initialize_distributed`). What lives where:

* search state (supernet weights, optimizer state, alpha, ...): replicated, ``P()``;
* weight-step batches ``[B, ...]``: split along the batch axis, ``P('data')``; XLA inserts the gradient
  and BatchNorm-statistics all-reduces, so a sharded step computes the single-device step;
* Shapley scoring: the coalitions of each scored chunk (``M chains x chunk_size positions``) are split
  along the flattened coalition axis (:func:`coalition_sharding`); the value batches are replicated.

With one device there is no mesh at all (``None``) and the search runs exactly as before.
"""

from __future__ import annotations

import os
from typing import Any, Sequence

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from shapley_nas_jax.errors import ConfigError

DATA_AXIS = "data"

# Environment variables read by initialize_distributed (JAX itself only reads the coordinator address).
ENV_COORDINATOR = "JAX_COORDINATOR_ADDRESS"
ENV_NUM_PROCESSES = "JAX_NUM_PROCESSES"
ENV_PROCESS_ID = "JAX_PROCESS_ID"
ENV_DISTRIBUTED = "SHAPLEY_NAS_DISTRIBUTED"  # "1": call jax.distributed.initialize() (TPU pods, SLURM)


def initialize_distributed() -> bool:
    """Join a multi-process run when the environment asks for one; returns True if initialised.

    Must run before anything touches a JAX device. Triggers: ``JAX_COORDINATOR_ADDRESS`` is set (then
    ``JAX_NUM_PROCESSES`` and ``JAX_PROCESS_ID`` give this process's place), or
    ``SHAPLEY_NAS_DISTRIBUTED=1`` (all parameters auto-detected: Cloud TPU pod slices, SLURM, Open MPI).
    A no-op in a single-process run or when already initialised.
    """
    if jax.distributed.is_initialized():
        return True
    coordinator = os.environ.get(ENV_COORDINATOR)
    wanted = os.environ.get(ENV_DISTRIBUTED, "").lower() in ("1", "true", "yes")
    if not coordinator and not wanted:
        return False
    kwargs: dict[str, Any] = {}
    if coordinator:
        kwargs["coordinator_address"] = coordinator
    for env, key in ((ENV_NUM_PROCESSES, "num_processes"), (ENV_PROCESS_ID, "process_id")):
        if os.environ.get(env):
            kwargs[key] = int(os.environ[env])
    jax.distributed.initialize(**kwargs)
    return True


def mesh_devices(num_devices: int = 0) -> list:
    """The devices of the mesh: all devices (``0``; every process's after initialisation) or the first n."""
    devices = jax.devices()
    if num_devices < 0:
        raise ConfigError(f"mesh.devices={num_devices} must be >= 0 (0 = all devices)")
    if num_devices == 0:
        return list(devices)
    if num_devices > len(devices):
        raise ConfigError(f"mesh.devices={num_devices} but only {len(devices)} device(s) are visible "
                          f"({devices[0].platform}); use mesh.devices=0 for all of them")
    if jax.process_count() > 1 and num_devices != len(devices):
        raise ConfigError(f"mesh.devices={num_devices} selects a subset of devices in a {jax.process_count()}-process "
                          f"run; use mesh.devices=0 (all devices) for multi-host search")
    return list(devices[:num_devices])


def make_mesh(num_devices: int = 0, devices: Sequence | None = None) -> Mesh | None:
    """1-D ``('data',)`` mesh (classic auto sharding propagation), or None for a single device."""
    devices = list(devices) if devices is not None else mesh_devices(num_devices)
    if len(devices) <= 1:
        return None
    return jax.make_mesh((len(devices),), (DATA_AXIS,), axis_types=(jax.sharding.AxisType.Auto,), devices=devices)


def mesh_size(mesh: Mesh | None) -> int:
    return 1 if mesh is None else int(mesh.devices.size)


def replicated(mesh: Mesh) -> NamedSharding:
    """Every device holds the whole array (state, alpha, value batches)."""
    return NamedSharding(mesh, P())


def batch_sharding(mesh: Mesh, axis: int = 0) -> NamedSharding:
    """Split `axis` (the batch axis) over the mesh; other axes stay whole."""
    return NamedSharding(mesh, P(*([None] * axis), DATA_AXIS))


def coalition_sharding(mesh: Mesh) -> NamedSharding:
    """Sharding of the flattened coalition axis of Shapley scoring (see ``permutation_shapley``)."""
    return NamedSharding(mesh, P(DATA_AXIS))


def num_shards(sharding: NamedSharding, axis: int = 0) -> int:
    """How many pieces `sharding` cuts dimension `axis` into."""
    spec = tuple(sharding.spec)
    entry = spec[axis] if axis < len(spec) else None
    if entry is None:
        return 1
    names = entry if isinstance(entry, tuple) else (entry,)
    return int(np.prod([sharding.mesh.shape[name] for name in names]))


def check_divisible(size: int, mesh: Mesh | None, what: str) -> None:
    """One-line ConfigError when a batch of `size` cannot be split evenly over the mesh."""
    n = mesh_size(mesh)
    if size % n:
        raise ConfigError(f"{what}={size} is not divisible by the {n} devices of the mesh; use a multiple of {n} "
                          f"(e.g. {max(n, size - size % n)}) or set mesh.devices to a divisor of {size}")


def put_global(tree: Any, sharding: NamedSharding) -> Any:
    """Place host arrays that every process holds in full (the global batch) onto the mesh.

    Each process copies only the slices its own devices hold, so this is multi-host safe when every
    process builds the same global batch (the search's batch streams are pure functions of seed and step).
    """

    def put(x):
        x = np.asarray(x)
        if jax.process_count() == 1:
            return jax.device_put(x, sharding)
        return jax.make_array_from_callback(x.shape, sharding, lambda index: x[index])

    return jax.tree.map(put, tree)


def put_process_local(tree: Any, sharding: NamedSharding) -> Any:
    """Assemble a global array from each process's own rows (a per-host input pipeline).

    Every process passes its local part ``[B / num_processes, ...]``; the global batch is their
    concatenation in process order along the sharded axis.
    """
    return jax.tree.map(lambda x: jax.make_array_from_process_local_data(sharding, np.asarray(x)), tree)


def put_batch(tree: Any, mesh: Mesh | None, axis: int = 0) -> Any:
    """A host batch on the mesh: split along `axis` when it divides evenly, else replicated.

    Without a mesh the batch is returned unchanged (jit moves it to the default device as before).
    """
    if mesh is None:
        return tree
    sizes = {np.shape(x)[axis] for x in jax.tree.leaves(tree)}
    if all(s % mesh_size(mesh) == 0 for s in sizes):
        return put_global(tree, batch_sharding(mesh, axis))
    return put_global(tree, replicated(mesh))


def put_replicated(tree: Any, mesh: Mesh | None) -> Any:
    """Device arrays or host arrays replicated on every device of the mesh (no-op without a mesh)."""
    if mesh is None:
        return tree
    sharding = replicated(mesh)
    if jax.process_count() == 1:
        return jax.device_put(tree, sharding)

    def put(x):
        if isinstance(x, jax.Array) and x.sharding.is_equivalent_to(sharding, x.ndim):
            return x
        return put_global(np.asarray(x), sharding)

    return jax.tree.map(put, tree)


def describe(mesh: Mesh | None) -> str:
    if mesh is None:
        return f"single device ({jax.devices()[0]})"
    d = mesh.devices.flat[0]
    return f"mesh {dict(mesh.shape)} over {mesh.devices.size} {d.platform} device(s), {jax.process_count()} process(es)"
