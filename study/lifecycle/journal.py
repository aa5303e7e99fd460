"""A local journal of the seeds a process trained, written before they are handed to the store.

When the tracking store stops answering mid-study, what was trained is not lost: ``study.resume``
uploads the journalled seeds instead of training them again. The journal of the study whose
parent run is ``run_id`` lives in ``<paths.root>/journal/<run_id>/<pid>/``, one folder per process
(several processes of one machine may add to one study), one file per seed (written to a
temporary name, then renamed: a file there is always whole). A process reads its own folder and
those of processes that are gone; a seed's file is removed once the store has the seed, and a
folder once it is empty.
"""

from __future__ import annotations

import os
import pickle
import shutil
from pathlib import Path

from study.training.record import RunRecord

__all__ = ["Journal"]

# where the classes a journal pickles lived before the stage packages (a journal written by an
# earlier version is still uploaded by a resume after the upgrade)
_MOVED = {"study.record": "study.training.record"}


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        return super().find_class(_MOVED.get(module, module), name)


def _gone(pid: str) -> bool:
    try:
        os.kill(int(pid), 0)
    except (ProcessLookupError, ValueError):
        return True
    except PermissionError:
        return False
    return False


class Journal:
    def __init__(self, root: Path, run_id: str):
        self.study_folder = Path(root) / "journal" / str(run_id)
        self.folder = self.study_folder / str(os.getpid())  # this process's

    def add(self, run: RunRecord) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f".seed-{run.seed}.tmp"
        with open(tmp, "wb") as fh:
            pickle.dump(run, fh, protocol=pickle.HIGHEST_PROTOCOL)
        tmp.replace(self.folder / f"seed-{run.seed}.pkl")

    def _folders(self) -> list[Path]:
        """This process's folder and those of processes that are gone (not a live neighbour's)."""
        if not self.study_folder.is_dir():
            return []
        return [
            f
            for f in sorted(self.study_folder.iterdir())
            if f.is_dir() and (f == self.folder or _gone(f.name))
        ]

    def runs(self, *, besides=(), only=None) -> list[RunRecord]:
        """The journalled runs, less the seeds in ``besides`` (those the store already has);
        ``only``: of these seeds alone."""
        skip, out = set(besides), {}
        only = None if only is None else set(only)
        for folder in self._folders():
            for path in sorted(folder.glob("seed-*.pkl")):
                seed = int(path.stem.removeprefix("seed-"))
                if seed in skip or seed in out or only is not None and seed not in only:
                    continue
                with open(path, "rb") as fh:
                    run = _Unpickler(fh).load()  # our own files, written by this project
                run.run_id = None
                out[seed] = run
        return [out[s] for s in sorted(out)]

    def clear(self, *, in_store) -> None:
        """Remove the files of the seeds ``in_store`` (those the store has, as read back from
        it) from this process's folder and the gone processes', and the folders left empty."""
        in_store = set(in_store)
        for folder in self._folders():
            for path in folder.glob("seed-*.pkl"):
                if int(path.stem.removeprefix("seed-")) in in_store:
                    path.unlink(missing_ok=True)
            if not any(folder.glob("seed-*.pkl")):  # a .tmp left by a kill is not a seed
                shutil.rmtree(folder, ignore_errors=True)
        for empty in (self.study_folder, self.study_folder.parent):
            try:
                empty.rmdir()
            except OSError:
                break
