"""Checkpoints of whole state pytrees through orbax's CheckpointManager.

This is the only module that talks to orbax, so an orbax API change touches one file.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

from shapley_nas_jax.runs import absolute_path


class Checkpointer:
    """Saves `(state, meta)` pairs under increasing integer ids, keeping the newest `keep`.

    `state` is any pytree of arrays (restored with the structure of a template); `meta` is a JSON dict.
    Saves are synchronous: when `save` returns, the checkpoint is complete on disk (orbax writes to a
    temporary folder and renames it, so a run killed mid-save leaves the previous checkpoint intact).
    """

    def __init__(self, directory: str, keep: int = 3):
        options = ocp.CheckpointManagerOptions(max_to_keep=keep, enable_async_checkpointing=False, create=True)
        self._manager = ocp.CheckpointManager(
            absolute_path(directory), options=options,  # a local path made absolute, or a gs:// URL
            item_handlers={"state": ocp.StandardCheckpointHandler(), "meta": ocp.JsonCheckpointHandler()},
        )

    def save(self, checkpoint_id: int, state: Any, meta: dict) -> None:
        if checkpoint_id in self._manager.all_steps():
            return  # the same point of the run is already saved
        self._manager.save(
            checkpoint_id,
            args=ocp.args.Composite(state=ocp.args.StandardSave(_on_host(state)), meta=ocp.args.JsonSave(meta)),
        )
        self._manager.wait_until_finished()

    def latest_id(self) -> int | None:
        return self._manager.latest_step()

    def restore(self, template: Any, checkpoint_id: int | None = None) -> tuple[Any, dict] | None:
        """The state (shaped like `template`) and meta of a checkpoint (default: the latest), or None.

        `template` is a pytree of arrays or `jax.ShapeDtypeStruct`s (e.g. `jax.eval_shape` of the state's
        initialiser). Each restored leaf is placed the way a freshly built state's leaf is: with the
        leaf's sharding when it has one (a committed array, or an abstract leaf with a sharding: a mesh
        run), else uncommitted on the default device, like an array jnp creates. Restoring everything
        committed to one device (orbax's default) would give the jitted steps differently placed
        arguments than an uninterrupted run gives them, so a resumed run would miss XLA's compilation
        caches (in memory and on disk) and compile every step again.
        """
        checkpoint_id = self._manager.latest_step() if checkpoint_id is None else checkpoint_id
        if checkpoint_id is None:
            return None
        saved = self._saved_fields(checkpoint_id)
        if saved is not None and _flat_layout_only(template, saved):
            # written before the state was grouped (``template.flat()`` names that layout's fields)
            flat = {name: leaf for name, leaf in template.flat().items() if name in saved}
            state, meta = self._restore(flat, checkpoint_id)
            return type(template).from_flat(state), meta
        absent = _absent_optional_fields(template, saved)
        if absent:  # saved before these optional (None) fields existed: restore the others, keep them None
            fields = {f.name: getattr(template, f.name) for f in dataclasses.fields(template) if f.name not in absent}
            state, meta = self._restore(fields, checkpoint_id)
            return template.replace(**state), meta
        return self._restore(template, checkpoint_id)

    def _saved_fields(self, checkpoint_id: int) -> set[str] | None:
        """The top-level names of a checkpoint's state (None: not a dict-like state, e.g. a bare array)."""
        saved = getattr(self._manager.item_metadata(checkpoint_id).state, "tree", None)
        return set(saved) if isinstance(saved, dict) else None

    def _restore(self, template: Any, checkpoint_id: int) -> tuple[Any, dict]:
        leaves, treedef = jax.tree.flatten(template)
        shardings = [_placement(leaf) for leaf in leaves]
        abstract = [_abstract(leaf, sharding) for leaf, sharding in zip(leaves, shardings)]
        restored = self._manager.restore(
            checkpoint_id,
            args=ocp.args.Composite(state=ocp.args.StandardRestore(jax.tree.unflatten(treedef, abstract)),
                                    meta=ocp.args.JsonRestore()),
        )
        # Host arrays (default-placed leaves) go to the default device uncommitted, as jnp.asarray puts them.
        state = jax.tree.unflatten(treedef, [
            jax.device_put(leaf) if isinstance(spec, np.ndarray) else leaf
            for leaf, spec in zip(treedef.flatten_up_to(restored.state), abstract)])
        return state, restored.meta

    def close(self) -> None:
        self._manager.close()


def _absent_optional_fields(template: Any, saved: set[str] | None) -> list[str]:
    """Fields of a dataclass ``template`` that are None there and missing from the ``saved`` names: optional
    parts of a state added after the checkpoint was written (e.g. an option's extra state, left off)."""
    if not dataclasses.is_dataclass(template) or saved is None:
        return []
    return [f.name for f in dataclasses.fields(template) if getattr(template, f.name) is None and f.name not in saved]


def _flat_layout_only(template: Any, saved: set[str]) -> bool:
    """Whether ``saved`` lacks fields ``template`` needs but holds those of its older flat layout (a state
    class with ``flat()`` and ``from_flat()``, such as ``SearchState``)."""
    if not (dataclasses.is_dataclass(template) and hasattr(template, "from_flat")):
        return False
    needed = {f.name for f in dataclasses.fields(template) if getattr(template, f.name) is not None}
    flat_needed = {name for name, leaf in template.flat().items() if leaf is not None}
    return not needed <= saved and flat_needed <= saved


def _placement(leaf: Any) -> jax.sharding.Sharding | None:
    """The sharding a template leaf pins its array to, or None for a leaf placed by default: an abstract
    leaf without a sharding or an uncommitted array (what jnp functions and un-jitted inits return)."""
    if isinstance(leaf, jax.Array) and not leaf.committed:
        return None
    return getattr(leaf, "sharding", None)


def _abstract(leaf: Any, sharding: jax.sharding.Sharding | None) -> Any:
    """What orbax restores `leaf` as: an array with `sharding`, or (no sharding) a host numpy array."""
    dtype = getattr(leaf, "dtype", None)
    if sharding is not None or dtype is None or jax.dtypes.issubdtype(dtype, jax.dtypes.extended):
        return ocp.utils.to_shape_dtype_struct(leaf)  # placed leaves, scalars, typed PRNG keys: orbax's way
    return np.empty(leaf.shape, dtype)


def _on_host(state: Any) -> Any:
    """``state`` with the arrays this process holds whole copied to NumPy (one transfer per array). Orbax
    writes a sharded array shard by shard, slicing it on its devices with a program per leaf shape and
    sharding: hundreds of compiles in a short run of a population spread over devices. Arrays that span
    processes (multi-host) stay as they are, for Orbax to write each process's part."""
    return jax.tree.map(lambda x: np.asarray(x) if isinstance(x, jax.Array) and x.is_fully_addressable else x,
                        state)
