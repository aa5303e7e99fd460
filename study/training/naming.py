"""The names of metrics: MLflow-safe feature and output names, and the key of each importance
value. Pure (no MLflow): the analysis and the charts name things as the store does."""

from __future__ import annotations

import re

__all__ = ["metric_names", "importance_key"]


def metric_names(names) -> tuple[str, ...]:
    """MLflow-safe, unique versions of feature or output names (letters, digits, ``_``, ``-``).

    Dots separate the parts of a key, so they go too: ``od280/od315_of_diluted_wines`` becomes
    ``od280_od315_of_diluted_wines``. Names that collide after cleaning get a ``_2``, ``_3`` suffix.
    """
    out, seen = [], set()
    for name in names:
        base = re.sub(r"[^A-Za-z0-9_\-]+", "_", str(name)).strip("_")[:60] or "x"
        key, n = base, 1
        while key in seen:
            n += 1
            key = f"{base}_{n}"
        seen.add(key)
        out.append(key)
    return tuple(out)


def importance_key(method: str, column: str | None, feature: str) -> str:
    """The metric name of one importance value (``column`` None for a single-column method)."""
    return ".".join(["importance", method] + ([column] if column is not None else []) + [feature])
