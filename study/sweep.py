"""The sweep's last word: after ``study-run -m ...``, the studies it ran compared (a Hydra
callback, configured in ``conf/config.yaml`` under ``hydra.callbacks``).

Every job of a sweep writes ``study_run.json`` (its parent run and store) into its output folder;
:meth:`CompareStudies.on_multirun_end` reads them back from the sweep's folder, whatever launcher
ran the jobs (in this process, joblib workers, submitit on SLURM), and prints and logs the
comparison of the distinct studies (shards of one study are one study: nothing to compare).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from hydra.experimental.callback import Callback

__all__ = ["CompareStudies", "MaskSecrets", "sweep_studies"]


def sweep_studies(sweep_dir) -> list[tuple[str, str]]:
    """``(uri, parent run id)`` of every job of the sweep in ``sweep_dir`` that finished, in job
    order, each study once."""
    from study.lifecycle.pipeline import STUDY_RUN_FILE

    found = []
    for path in sorted(
        Path(sweep_dir).glob(f"*/{STUDY_RUN_FILE}"),
        key=lambda p: (len(p.parent.name), p.parent.name),
    ):
        info = json.loads(path.read_text())
        if (info["uri"], info["run_id"]) not in found:
            found.append((info["uri"], info["run_id"]))
    return found


class MaskSecrets(Callback):
    """``multirun.yaml`` (the sweep's config and command line, written once this has started)
    with a password in ``tracking.uri`` masked when the process ends, however the sweep ends:
    the first job masks it, but a job whose config does not compose ends the sweep first."""

    def on_multirun_start(self, config, **kwargs) -> None:
        import atexit

        from study.cli import mask_file

        atexit.register(mask_file, Path(str(config.hydra.sweep.dir)) / "multirun.yaml")


class CompareStudies(Callback):
    """Print (and log as a comparison run) the comparison of a sweep's studies."""

    def on_multirun_end(self, config, **kwargs) -> None:
        from study.errors import StudyError
        from study.escape import for_terminal
        from study.lifecycle.publish import compare_studies
        from study.tracking import mask_uri, resolve_uri

        sweep_dir = Path(str(config.hydra.sweep.dir))
        studies = sweep_studies(sweep_dir)
        if len(studies) < 2 or len({u for u, _ in studies}) > 1:
            return
        uri = studies[0][0]
        own = str(config.tracking.uri)  # study_run.json holds the URI masked; this one connects
        if mask_uri(resolve_uri(own)) == uri:
            uri = own
        try:
            _, lines, run_id = compare_studies(
                uri, [r for _, r in studies], sweep_dir, charts=bool(config.study.charts)
            )
        except StudyError as err:
            print(
                f"study-run: the sweep's studies could not be compared: "
                f"{for_terminal(mask_uri(str(err)))}",
                file=sys.stderr,
            )
            return
        print("\n" + "\n".join(lines), flush=True)
        print(
            f"Comparison run: {run_id} (and compare.csv, compare.png in {sweep_dir}); "
            f"again: study-compare {' '.join('--study ' + r for _, r in studies)} "
            f"--uri {mask_uri(uri)}",
            flush=True,
        )
