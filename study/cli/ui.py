"""``study-ui``: the MLflow UI on the study's own store, on 127.0.0.1 only.

A user error prints one line and exits with status 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from study.cli.common import fail, shown, uri_option
from study.errors import StudyError

__all__ = ["ui_main"]


def ui_main(argv=None) -> None:
    """``study-ui``: the MLflow UI on the study's own store, bound to 127.0.0.1. The process
    becomes ``mlflow ui`` (exec): a signal that stops it stops the server, none is left behind.
    A tracking server serves its own UI: for one, this prints its address."""
    parser = argparse.ArgumentParser(
        prog="study-ui", description="Open the MLflow UI on a study store, on 127.0.0.1 only."
    )
    uri_option(parser)
    parser.add_argument("--port", type=int, default=5000, help="port (default 5000)")
    args = parser.parse_args(argv)
    from study.tracking import check_reachable, latest_study, resolve_uri, ui_url

    def latest(**where) -> str:  # the runs view of the store's latest study, if it has one
        found = latest_study(uri)
        return (
            f"\n  latest study ({found[1]}): {ui_url(found[0], study=found[1], **where)}"
            if found
            else ""
        )

    try:
        uri = resolve_uri(args.uri)
        if uri.startswith(("http://", "https://")):
            check_reachable(uri)
            print(
                shown(
                    f"The tracking server at {uri} serves its own UI; studies: "
                    f"{ui_url(uri=uri)}{latest(uri=uri)}"
                )
            )
            return
        if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).is_file():
            raise StudyError(
                f"no study store at {uri.removeprefix('sqlite:///')}: run study-run first, or "
                "pass --uri"
            )
    except StudyError as err:
        fail("study-ui", err)
    # the store through the environment: a command line (and its password) is public in ps
    env = {**os.environ, "MLFLOW_BACKEND_STORE_URI": uri}
    cmd = [sys.executable, "-m", "mlflow", "ui", "--host", "127.0.0.1", "--port", str(args.port)]
    if uri.startswith("sqlite:///"):
        root = Path(uri.removeprefix("sqlite:///")).parent / "artifacts"
        cmd += ["--default-artifact-root", root.as_uri()]
    print(
        shown(
            f"MLflow UI for {uri}\n  studies: {ui_url(port=args.port)}"
            f"{latest(port=args.port)}\n  (Ctrl-C stops it)"
        ),
        flush=True,
    )
    os.execve(sys.executable, cmd, env)
