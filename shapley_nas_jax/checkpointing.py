"""Checkpoints of whole state pytrees through orbax's CheckpointManager.

This is the only module that talks to orbax, so an orbax API change touches one file.
"""

from __future__ import annotations

import os
from typing import Any

import jax
import orbax.checkpoint as ocp


class Checkpointer:
    """Saves `(state, meta)` pairs under increasing integer ids, keeping the newest `keep`.

    `state` is any pytree of arrays (restored with the structure of a template); `meta` is a JSON dict.
    Saves are synchronous: when `save` returns, the checkpoint is complete on disk (orbax writes to a
    temporary folder and renames it, so a run killed mid-save leaves the previous checkpoint intact).
    """

    def __init__(self, directory: str, keep: int = 3):
        options = ocp.CheckpointManagerOptions(max_to_keep=keep, enable_async_checkpointing=False, create=True)
        self._manager = ocp.CheckpointManager(
            os.path.abspath(directory), options=options, item_names=("state", "meta")
        )

    def save(self, checkpoint_id: int, state: Any, meta: dict) -> None:
        if checkpoint_id in self._manager.all_steps():
            return  # the same point of the run is already saved
        self._manager.save(
            checkpoint_id,
            args=ocp.args.Composite(state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)),
        )
        self._manager.wait_until_finished()

    def latest_id(self) -> int | None:
        return self._manager.latest_step()

    def restore(self, template: Any, checkpoint_id: int | None = None) -> tuple[Any, dict] | None:
        """The state (shaped like `template`) and meta of a checkpoint (default: the latest), or None."""
        checkpoint_id = self._manager.latest_step() if checkpoint_id is None else checkpoint_id
        if checkpoint_id is None:
            return None
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, template)
        restored = self._manager.restore(
            checkpoint_id,
            args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore()),
        )
        return restored.state, restored.meta

    def close(self) -> None:
        self._manager.close()
