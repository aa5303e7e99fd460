"""Shared fixtures: a quiet MLflow, and one SQLite tracking store per test session.

Creating an MLflow SQLite store runs its schema migrations (seconds), so the session shares one;
tests keep apart by using their own experiment names.
"""

import os

import pytest

os.environ.setdefault("MLFLOW_DISABLE_AGENT_HINT", "1")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


@pytest.fixture(scope="session")
def mlflow_store(tmp_path_factory):
    """A folder holding ``mlflow.db`` (already migrated) and the artifacts of its runs."""
    from study.tracking import Tracker

    root = tmp_path_factory.mktemp("store")
    Tracker(f"sqlite:///{root / 'mlflow.db'}", "warm-up")
    return root
