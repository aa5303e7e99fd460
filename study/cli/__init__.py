"""Console scripts: ``study-run`` (the Hydra app, :mod:`study.cli.run`), ``study-aggregate``
(:mod:`study.cli.aggregate`), ``study-compare`` (:mod:`study.cli.compare`) and ``study-ui``
(:mod:`study.cli.ui`); what they share is in :mod:`study.cli.common`, and what keeps Hydra's
files clean in :mod:`study.cli.hydra_output`.

User errors print one line and exit with status 2, with no traceback; bugs keep theirs. A study
some of whose seeds raised exits with status 1 (the others are trained, logged and analysed).
"""

from study.cli.aggregate import aggregate_main
from study.cli.compare import compare_main
from study.cli.hydra_output import mask_file as mask_file  # study.sweep masks multirun.yaml
from study.cli.run import run_main
from study.cli.ui import ui_main

__all__ = ["run_main", "aggregate_main", "compare_main", "ui_main"]
