"""A local journal of the seeds a process trained, written before they are handed to the store.

When the tracking store stops answering mid-study, what was trained is not lost: ``study.resume``
uploads the journalled seeds instead of training them again. The journal of the study whose
parent run is ``run_id`` lives in ``<paths.root>/journal/<run_id>/``, one file per seed (written
to a temporary name, then renamed: a file there is always whole), and is removed when the
study's seeds are all in the store.
"""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path

from .record import RunRecord

__all__ = ["Journal"]


class Journal:
    def __init__(self, root: Path, run_id: str):
        self.folder = Path(root) / "journal" / str(run_id)

    def add(self, run: RunRecord) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f".seed-{run.seed}.tmp"
        with open(tmp, "wb") as fh:
            pickle.dump(run, fh, protocol=pickle.HIGHEST_PROTOCOL)
        tmp.replace(self.folder / f"seed-{run.seed}.pkl")

    def runs(self, *, besides=()) -> list[RunRecord]:
        """The journalled runs, less the seeds in ``besides`` (those the store already has)."""
        if not self.folder.is_dir():
            return []
        skip, out = set(besides), []
        for path in sorted(self.folder.glob("seed-*.pkl")):
            if int(path.stem.removeprefix("seed-")) in skip:
                continue
            with open(path, "rb") as fh:
                run = pickle.load(fh)  # our own files, written by this project
            run.run_id = None
            out.append(run)
        return sorted(out, key=lambda r: r.seed)

    def clear(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
        try:
            self.folder.parent.rmdir()  # journal/, when no other study has one
        except OSError:
            pass
