"""A ready worker moves what it holds for its whole life out of the garbage collector's sight (`gc.freeze`), so that
full collections walk only what jobs allocate."""

from __future__ import annotations

import gc
from pathlib import Path

from llmcache.shared.config import load_settings
from llmcache.workers.resources import WorkerResources


def test_prewarm_freezes_what_is_alive_and_later_objects_stay_collectable(tmp_path: Path) -> None:
    resources = WorkerResources(load_settings(data_dir=tmp_path))
    try:
        resources.prewarm(model=False)
        frozen = gc.get_freeze_count()
        assert frozen > 1000  # the modules, schemas and settings alive at start
        later = [[n] for n in range(100)]
        assert gc.is_tracked(later) and gc.get_freeze_count() == frozen  # what comes after is collected as usual
    finally:
        gc.unfreeze()
        resources.close()
