"""What a study produces, independent of where it is kept: per-run records and the study's layout.

The runner fills these from training; :mod:`study.tracking` writes them to MLflow and reads them
back; :mod:`study.analysis.aggregate` computes everything else from them. Data flows one way.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from study.config.spec import N_BOOTSTRAP
from study.importance import get_method

__all__ = ["MethodLayout", "StudyMeta", "RunRecord", "FailedRun", "StudyRecord", "method_layouts"]


@dataclass(frozen=True)
class MethodLayout:
    """How one method's numbers are laid out in this study.

    ``columns`` labels the columns of every measure array: the output names, or ``("all",)`` for
    a method pooled over the outputs of a classifier. ``extras`` names the method's stored arrays
    that are not measures (kept in ``RunRecord.importances[name]`` too, never ranked).
    """

    name: str
    primary: str
    measures: tuple[str, ...]
    signed: bool
    columns: tuple[str, ...]
    extras: tuple[str, ...] = ()


def method_layouts(names, *, task: str, output_names) -> dict[str, MethodLayout]:
    """The layout of each named method for a network with these outputs."""
    layouts = {}
    for name in names:
        m = get_method(name)
        n = m.n_columns(task, len(output_names))
        columns = tuple(output_names) if n == len(output_names) else ("all",)
        layouts[name] = MethodLayout(
            name, m.primary, tuple(m.measures), m.signed, columns, tuple(m.extras)
        )
    return layouts


@dataclass(frozen=True)
class StudyMeta:
    """Everything needed to read a study's runs and analyse them again exactly as ``study-run``
    did: names, shapes, methods, the known truth, top-k, bootstrap resamples and seed."""

    name: str
    dataset: str
    task: str
    feature_names: tuple[str, ...]
    output_names: tuple[str, ...]
    layer_sizes: tuple[int, ...]
    methods: dict[str, MethodLayout]
    score_name: str
    truth: tuple[float, ...] | None = None
    top_k: int = 3
    n_bootstrap: int = N_BOOTSTRAP
    seed: int = 0
    backend: str | None = None  # what trained the networks (None: a study from before the key)
    # the test score of a network that learned nothing (None: a study from before the key):
    # the most frequent class's share of the test rows (accuracy), 0 for R²
    chance_score: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> StudyMeta:
        d = dict(d)
        d["methods"] = {
            k: MethodLayout(
                **{
                    **v,
                    "measures": tuple(v["measures"]),
                    "columns": tuple(v["columns"]),
                    "extras": tuple(v.get("extras", ())),
                }
            )
            for k, v in d["methods"].items()
        }
        for key in ("feature_names", "output_names", "layer_sizes"):
            d[key] = tuple(d[key])
        if d.get("truth") is not None:
            d["truth"] = tuple(d["truth"])
        return cls(**d)


@dataclass
class RunRecord:
    """One trained network: its seed, scores, weights and every importance.

    ``importances[method][measure]`` has shape ``(n_features, n_columns)``; a method's extras
    (see :class:`MethodLayout`) sit beside its measures with their own shapes.
    ``timings`` holds seconds spent fitting and computing importance (``fit``, ``importance``).
    """

    seed: int
    train_score: float
    test_score: float
    n_iter: int
    converged: bool
    coefs: list[np.ndarray]
    intercepts: list[np.ndarray]
    importances: dict[str, dict[str, np.ndarray]]
    timings: dict[str, float] = field(default_factory=dict)
    run_id: str | None = None  # its child run in MLflow, once written (set by the reader)
    process: str | None = None  # "host:pid" of the study-run process that logged it


@dataclass(frozen=True)
class FailedRun:
    """A seed whose training or importance raised: its error (one line) and the traceback."""

    seed: int
    error: str
    traceback: str


@dataclass
class StudyRecord:
    """A whole study: its layout and its runs, sorted by seed.

    ``runs`` are the seeds, trained on the full training rows: every table, statistic and the
    answer come from them alone. ``resamples`` are the resample networks (``study.resample``;
    :mod:`study.training.resample`), sorted by index ``b``; each one's ``seed`` is its ledger id
    ``2**32 + b``."""

    meta: StudyMeta
    runs: list[RunRecord]
    run_id: str | None = None
    experiment_id: str | None = None
    # what the reader noticed: duplicate FINISHED children of a seed it left out, a damaged bundle
    notes: list[str] = field(default_factory=list)
    resamples: list[RunRecord] = field(default_factory=list)

    def values(self, method: str, measure: str | None = None) -> np.ndarray:
        """Stacked importances over runs: ``(n_runs, n_features, n_columns)``."""
        layout = self.meta.methods[method]
        measure = measure or layout.primary
        return np.stack([r.importances[method][measure] for r in self.runs])

    def resample_values(self, method: str, measure: str | None = None) -> np.ndarray:
        """Stacked importances over the resample networks: ``(n_resamples, n_features,
        n_columns)`` (no rows without resamples)."""
        layout = self.meta.methods[method]
        measure = measure or layout.primary
        if not self.resamples:
            shape = self.runs[0].importances[method][measure].shape if self.runs else (0, 0)
            return np.empty((0, *shape))
        return np.stack([r.importances[method][measure] for r in self.resamples])

    @property
    def seeds(self) -> list[int]:
        return [r.seed for r in self.runs]

    @property
    def ids(self) -> list[int]:
        """The ledger ids of every network read: the seeds, then the resample networks'."""
        return [r.seed for r in self.runs + self.resamples]
