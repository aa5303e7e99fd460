"""The background writer: child runs written on a thread while the next seeds train."""

from __future__ import annotations

import time

from study.training.record import RunRecord


class WriterError(RuntimeError):
    """The background writer could not write a child run; the cause is chained."""


class ChildWriter:
    """Writes child runs on a background thread while the next seeds train.

    ``submit`` queues a :class:`~study.training.record.RunRecord` (or a
    :class:`~study.training.record.FailedRun`, written as a FAILED child) and returns at once; the
    thread writes whatever is queued, up to ``max_batch`` children per call of
    :meth:`Tracker.log_runs`.
    ``close`` waits until everything is written; ``cancel`` (Ctrl-C, a failure) stops after the
    batch being written and drops the rest. A failure of the thread is never silent: the next
    ``submit`` or ``close`` raises :class:`WriterError` with the cause chained, and the children
    of the failed batch are ended FAILED. ``run_ids`` maps each written seed to its child run;
    ``on_written(seeds)`` is called, on the thread, once a batch's children are FINISHED.
    """

    def __init__(self, tracker, *, max_batch: int = 64, on_written=None):
        import queue
        import threading

        self._tracker, self._max_batch = tracker, int(max_batch)
        self._on_written = on_written
        self._queue: queue.Queue = queue.Queue()
        self._cancelled = threading.Event()
        self._error: BaseException | None = None
        self.run_ids: dict[int, str] = {}
        self.busy_seconds = 0.0  # time the thread spent writing
        # set by the thread when it ends: in CPython 3.11 a join() interrupted by a signal marks
        # the thread stopped although it still runs, so is_alive() cannot tell
        self._ended = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="study-mlflow-writer", daemon=True)
        self._thread.start()

    def submit(self, run: RunRecord) -> None:
        self._raise_if_failed()
        self._queue.put(run)

    def close(self) -> dict[int, str]:
        """Wait until every submitted run is written; returns ``run_ids``."""
        self._queue.put(None)
        self._ended.wait()
        self._raise_if_failed()
        return self.run_ids

    def cancel(self, *, timeout: float = 120.0) -> None:
        """Stop after the batch being written (it ends FINISHED, or FAILED: never RUNNING);
        queued runs are not written. Further signals while it waits do not cut that short."""
        self._cancelled.set()
        self._queue.put(None)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self._ended.wait(0.2):
                    return
            except KeyboardInterrupt:  # a second Ctrl-C or SIGTERM: still let the batch end
                continue

    def __enter__(self) -> ChildWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if not self._ended.is_set():
            self.cancel()

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            err = self._error
            raise WriterError(
                f"writing child runs to MLflow failed: {type(err).__name__}: {err}"
            ) from err

    def _loop(self) -> None:
        try:
            self._write_until_closed()
        finally:
            self._ended.set()

    def _write_until_closed(self) -> None:
        import queue

        done = False
        while not done:
            batch = [self._queue.get()]
            while len(batch) < self._max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            done = any(run is None for run in batch)
            batch = [run for run in batch if run is not None]
            if not batch or self._cancelled.is_set() or self._error is not None:
                continue
            t0 = time.perf_counter()
            good = sorted(
                (run for run in batch if isinstance(run, RunRecord)), key=lambda r: r.seed
            )
            try:
                ids = self._tracker.log_runs(good) if good else []
                for failed in (run for run in batch if not isinstance(run, RunRecord)):
                    self._tracker.log_failed(failed)
            except BaseException as exc:  # reported by the next submit() or close()
                self._error = exc
            else:
                self.run_ids.update((run.seed, cid) for run, cid in zip(good, ids))
                if self._on_written is not None and good:
                    self._on_written([run.seed for run in good])
            self.busy_seconds += time.perf_counter() - t0
