"""The user's own CSV file: read, its columns chosen, and everything a user can get wrong in it
(a missing or repeated column, a saved row index, missing or non-numeric values, too few rows)
reported as a one-line :class:`~study.errors.StudyError`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from study.datasets.dataset import CLASSIFICATION, MIN_ROWS, REGRESSION, Dataset
from study.errors import StudyError

if TYPE_CHECKING:  # pandas loads where a CSV is read: a training worker needs none of it
    import pandas as pd

__all__ = ["load_csv"]


def _as_list(value, what) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    try:
        return [str(v) for v in value]
    except TypeError:
        raise StudyError(f"{what} must be a column name or a list of column names") from None


def _check_columns(df: pd.DataFrame, cols: list[str], what: str, fname: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise StudyError(
            f"{what}: column {', '.join(map(repr, missing))} not in {fname}; "
            f"its columns are: {', '.join(map(str, df.columns))}"
        )


def _check_complete(df: pd.DataFrame, fname: str) -> None:
    for col in df.columns:
        bad = df[col].isna().to_numpy()
        if bad.any():
            rows = np.flatnonzero(bad) + 1
            raise StudyError(
                f"{fname}: column {col!r} has {bad.sum()} missing value(s) (first in data row "
                f"{rows[0]}); drop or impute them first"
            )


def _numeric(df: pd.DataFrame, fname: str, role: str) -> np.ndarray:
    import pandas as pd

    for col in df.columns:
        values = pd.to_numeric(df[col], errors="coerce")
        bad = values.isna().to_numpy() | ~np.isfinite(values.to_numpy(dtype=float, na_value=0))
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise StudyError(
                f"{fname}: {role} column {col!r} is not numeric ({df[col].iloc[row]!r} in data "
                f"row {row + 1}); encode it as finite numbers first"
            )
    return df.apply(pd.to_numeric).to_numpy(dtype=float)


def _infer_task(target: pd.DataFrame) -> str:
    """Classification for text labels or few integer values (<= 10 distinct); else regression."""
    import pandas as pd

    if target.shape[1] > 1:
        return REGRESSION
    col = target.iloc[:, 0]
    numeric = pd.to_numeric(col, errors="coerce")
    if numeric.isna().any():
        return CLASSIFICATION
    is_int = np.allclose(numeric, np.round(numeric))
    return CLASSIFICATION if is_int and numeric.nunique() <= 10 else REGRESSION


def _repeated_columns(path: Path) -> list[str]:
    """Header names that occur more than once. pandas renames the second ``y`` to ``y.1``, which
    then becomes a feature: the target leaks into the inputs."""
    import csv

    with open(path, newline="", encoding="utf-8", errors="replace") as fh:
        header = next(csv.reader(fh), [])
    names = [h.strip() for h in header]
    return sorted({n for n in names if names.count(n) > 1})


def _saved_index(df: pd.DataFrame) -> str | None:
    """The name of the first column if it is a row index pandas saved with the table: no name in
    the header (pandas reads it as ``Unnamed: 0``) and the row numbers 0..n-1, in any order (a
    shuffled frame keeps its index). As a feature it would rank the row order."""
    import re

    import pandas as pd

    if df.shape[1] == 0 or not re.fullmatch(r"Unnamed: \d+", str(df.columns[0])):
        return None
    values = pd.to_numeric(df.iloc[:, 0], errors="coerce").to_numpy(dtype=float, na_value=-1)
    rows = np.arange(len(df))
    return str(df.columns[0]) if np.array_equal(np.sort(values), rows) else None


def load_csv(*, path=None, target=None, features=None, task="auto"):
    """The CSV file at ``path`` as a :class:`Dataset`: ``target`` one column or several (a
    name, a comma-separated list or a list), ``features`` likewise (default: every other
    column), ``task`` auto (:func:`_infer_task`), classification or regression."""
    path, df = _read(path)
    fname = path.name
    targets = _targets(df, target, fname)
    df, notes = _without_saved_index(df, features, targets, fname)
    feats = _features(df, features, targets, fname)
    if len(df) < MIN_ROWS:
        raise StudyError(f"{fname}: {len(df)} data rows; a study needs at least {MIN_ROWS}")
    _check_complete(df[feats + targets], fname)
    X = _numeric(df[feats], fname, "feature")
    task = _task(task, df[targets])
    common = dict(
        source=str(path.resolve()), description=f"{fname}: {len(df)} rows", extra={"notes": notes}
    )
    if task == REGRESSION:
        y = _numeric(df[targets], fname, "target")
        return Dataset("csv", X, y, tuple(feats), tuple(targets), REGRESSION, **common)
    y = _class_labels(df, targets)
    return Dataset(
        "csv",
        X,
        y,
        tuple(feats),
        tuple(targets),
        CLASSIFICATION,
        class_names=tuple(str(c) for c in np.unique(y)),
        **common,
    )


def _read(path) -> tuple[Path, pd.DataFrame]:
    """The file ``dataset.path`` names, and its table; a header that names a column twice is an
    error."""
    import pandas as pd

    if not path:
        raise StudyError("dataset.path is required for dataset=csv: add dataset.path=<file.csv>")
    path = Path(str(path)).expanduser()
    if not path.is_file():
        raise StudyError(f"dataset.path: no such file: {path}")
    try:
        df = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise StudyError(
            f"dataset.path: cannot read {path} as CSV ({err})".replace("\n", " ")
        ) from None
    repeated = _repeated_columns(path)
    if repeated:
        raise StudyError(
            f"{path.name}: column name(s) {', '.join(map(repr, repeated))} appear more "
            "than once in the header; give every column its own name"
        )
    return path, df


def _targets(df: pd.DataFrame, target, fname: str) -> list[str]:
    """``dataset.target``'s columns, at least one, each in the table."""
    targets = _as_list(target, "dataset.target")
    if not targets:
        raise StudyError("dataset.target is required for dataset=csv: add dataset.target=<column>")
    _check_columns(df, targets, "dataset.target", fname)
    return targets


def _without_saved_index(
    df: pd.DataFrame, features, targets: list[str], fname: str
) -> tuple[pd.DataFrame, list[str]]:
    """The table less a row index pandas saved with it (:func:`_saved_index`) where the features
    are not named, and the note saying so."""
    index = _saved_index(df)
    if index is None or features or index in targets:
        return df, []
    df = df.drop(columns=index)
    note = (
        f"{fname}: its first column has no name and holds the row numbers 0 to "
        f"{len(df) - 1}, a row index saved by pandas (to_csv without index=False): "
        "left out of the features"
    )
    return df, [note]


def _features(df: pd.DataFrame, features, targets: list[str], fname: str) -> list[str]:
    """``dataset.features``' columns (default: every column but the targets), each in the table,
    none of them a target, at least one."""
    feats = _as_list(features, "dataset.features") or [c for c in df.columns if c not in targets]
    _check_columns(df, feats, "dataset.features", fname)
    overlap = sorted(set(feats) & set(targets))
    if overlap:
        raise StudyError(f"column(s) {', '.join(map(repr, overlap))} are both feature and target")
    if not feats:
        raise StudyError(f"{fname}: no feature columns left besides the target")
    return feats


def _task(task, target: pd.DataFrame) -> str:
    """``dataset.task``, checked; ``auto`` (or none) inferred from the target columns."""
    task = str(task or "auto").lower()
    if task == "auto":
        task = _infer_task(target)
    if task not in (CLASSIFICATION, REGRESSION):
        raise StudyError(f"dataset.task must be auto, classification or regression; got {task!r}")
    return task


def _class_labels(df: pd.DataFrame, targets: list[str]) -> np.ndarray:
    """The one target column's class labels: numbers where every label is one, else text."""
    import pandas as pd

    if len(targets) > 1:
        raise StudyError(
            "classification takes one target column; several target columns are supported for "
            "regression (dataset.task=regression)"
        )
    labels = df[targets[0]]
    numeric = pd.to_numeric(labels, errors="coerce")
    return numeric.to_numpy() if not numeric.isna().any() else labels.astype(str).to_numpy()
