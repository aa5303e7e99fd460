"""What the console scripts share: a user error as one line and exit status 2 (:func:`fail`),
text as it may reach a terminal (:func:`shown`), the ``--uri`` option (:func:`uri_option`) and
the errors of a file that cannot be written (:data:`DISK_ERRORS`)."""

from __future__ import annotations

import errno
import os
import sys

from study.config.spec import default

__all__ = ["DEFAULT_URI", "DISK_ERRORS", "fail", "shown", "uri_option"]

# the environment's tracking URI if it names one, as MLflow itself does
DEFAULT_URI = os.environ.get("MLFLOW_TRACKING_URI") or default("tracking.uri")
# a full disk, or a folder that turned read-only (or not ours) mid-study
DISK_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES}


def fail(prog: str, err: Exception) -> None:
    """Print ``prog: error: err`` (as :func:`shown`) and exit with status 2: a user error."""
    print(f"{prog}: error: {shown(err)}", file=sys.stderr)
    sys.exit(2)


def shown(text) -> str:
    """``text`` as it may reach a terminal or a log: no URI's password, no control character
    from a name (see :mod:`study.escape`)."""
    from study.escape import for_terminal
    from study.tracking import mask_uri

    return for_terminal(mask_uri(str(text)))


def uri_option(parser) -> None:
    """The ``--uri`` option of ``parser``: the tracking URI, :data:`DEFAULT_URI` by default."""
    # the default may come from MLFLOW_TRACKING_URI, password and all: --help shows it masked
    parser.add_argument(
        "--uri", default=DEFAULT_URI, help=f"tracking URI (default {shown(DEFAULT_URI)})"
    )
