"""Exclusive locks between this user's processes on one machine: a file beside a SQLite store,
or a named file in this user's private runtime folder."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path

from study.errors import StudyError


def lock(name: str):
    """An exclusive lock between this user's processes on this machine, in
    :func:`lock_folder`."""
    return locked(name=name)


@contextmanager
def locked(path: Path | None = None, *, name: str = ""):
    """An exclusive lock on the file ``path``, or ``name`` in :func:`lock_folder` (where
    ``path`` is None or in a folder this process may not write), opened read-only, without
    following a symbolic link (at a name anyone could guess in the shared temp folder, a planted
    link made a study truncate its target); none on Windows, which has no ``fcntl``."""
    import errno

    try:
        import fcntl
    except ImportError:
        yield
        return
    # O_NONBLOCK: a FIFO planted at the name would block the open for ever; it is refused
    flags, fd = os.O_RDONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, None
    try:
        if path is not None:
            try:
                fd = os.open(path, flags, 0o644)
            except OSError as err:  # not in this folder: in the runtime folder then
                if err.errno not in (errno.EACCES, errno.EPERM, errno.EROFS) or not name:
                    raise
        if fd is None:
            path = lock_folder() / f"{name}.lock"
            fd = os.open(path, flags, 0o644)
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise OSError(errno.EINVAL, "not a regular file")
    except OSError as err:
        raise StudyError(
            f"cannot open the lock file {path} ({err.strerror}); remove it "
            "if it is not a file of yours"
        ) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # and the lock with it


def lock_folder() -> Path:
    """This user's folder for lock files: ``$XDG_RUNTIME_DIR/study`` (the runtime folder the
    system gives each user), else ``study-<uid>`` in the temp folder, made 0700; refused if
    someone else made it first, or can enter it."""
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    if runtime and os.path.isdir(runtime):
        folder = Path(runtime) / "study"
    else:
        folder = Path(tempfile.gettempdir()) / f"study-{os.getuid()}"
    try:
        with contextlib.suppress(FileExistsError):
            os.mkdir(folder, 0o700)
        info = os.lstat(folder)
    except OSError as err:
        raise StudyError(
            f"cannot make the folder {folder} for the study's lock files "
            f"({err.strerror}); set XDG_RUNTIME_DIR or TMPDIR to a folder of yours"
        ) from None
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise StudyError(
            f"{folder}, where studies keep their lock files, is not a private "
            "folder of this user; remove it, or set XDG_RUNTIME_DIR or TMPDIR to a "
            "folder of yours"
        )
    return folder
