"""What Hydra writes for ``study-run``, kept clean: no password of ``tracking.uri`` in its files
(:func:`mask_hydra_files`, :func:`mask_file`) or in its log records (:func:`mask_log_records`),
and no run folder left behind by a study rejected before it ran (:func:`drop_if_empty`)."""

from __future__ import annotations

from pathlib import Path

from study.cli.common import shown

__all__ = ["mask_hydra_files", "mask_file", "mask_log_records", "drop_if_empty"]


def mask_hydra_files(hydra_cfg, sweep: bool) -> None:
    """Hydra has written the composed config and the command line (``.hydra/*.yaml``, and
    ``multirun.yaml`` for a sweep) before the study starts: a password in ``tracking.uri`` is
    masked there too, as in every file the study writes (see also study.sweep.MaskSecrets)."""
    files = list((Path(hydra_cfg.runtime.output_dir) / hydra_cfg.output_subdir).glob("*.yaml"))
    if sweep:
        files.append(Path(hydra_cfg.sweep.dir) / "multirun.yaml")
    for path in files:
        mask_file(path)


def mask_file(path: Path) -> None:
    """Rewrite the text file ``path``, if it exists, with every URI's password masked."""
    from study.tracking import mask_uri

    text = path.read_text() if path.is_file() else ""
    if mask_uri(text) != text:
        path.write_text(mask_uri(text))


def drop_if_empty(folder) -> None:
    """Remove a Hydra output folder that holds only Hydra's own files (and its empty parents)."""
    import shutil

    path = Path(folder)
    if path.is_dir() and all(c.name == ".hydra" or c.suffix == ".log" for c in path.iterdir()):
        shutil.rmtree(path, ignore_errors=True)
        for parent in (path.parent, path.parent.parent):  # <date>/ and hydra/, when now empty
            try:
                parent.rmdir()
            except OSError:
                break


def mask_log_records() -> None:
    """Hydra logs each job of a sweep with its overrides (``tracking.uri`` and its password
    among them) to the terminal and its log file before the job starts: every log record of
    this process is made already masked, whatever handlers Hydra configures later."""
    import logging

    make = logging.getLogRecordFactory()

    def masked(*args, **kwargs):
        record = make(*args, **kwargs)
        try:
            text = record.getMessage()
        except Exception:  # a bad format: logging reports it when the record is emitted
            return record
        if shown(text) != text:
            record.msg, record.args = shown(text), ()
        return record

    logging.setLogRecordFactory(masked)
