"""The config's schema and its defaults, stated once.

These dataclasses are the structured config behind ``conf/config.yaml``: the entry points register
:class:`Config` in Hydra's ConfigStore as ``study_schema`` (the first entry of the defaults
list), so Hydra itself rejects an unknown key or a value of the wrong type, and every default
below is the one a study gets. :class:`study.config.settings.Settings` reads a plain config through
:func:`default` and :data:`SECTIONS` too, so a config built by hand (a notebook) gets the same
defaults. Pure dataclasses: nothing here imports Hydra.

``dataset`` and ``model`` are config groups whose options differ per choice: their loaders
(:func:`study.datasets.load_dataset`) and scikit-learn's estimators check them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any, Optional

__all__ = ["Config", "SECTIONS", "default", "N_BOOTSTRAP"]


@dataclass
class StudyConf:
    name: Optional[str] = None  # the study's name; null = <dataset>-<model>
    # seeds; auto: from settings.AUTO_RUNS[0] until the seeds' Monte Carlo error is below a tenth
    # of the data's standard error (needs study.resample), at most settings.AUTO_RUNS[1]
    n_runs: Any = 30
    seed: int = 0  # first seed: run r trains with seed + r (weights init, shuffling)
    n_jobs: int = -1  # seeds in parallel worker processes; -1 = every core, 1 = in this process
    test_size: float = 0.25
    resplit: bool = False  # true: each run also draws its own train/test split (from its seed)
    # networks retrained on resamples of the training rows (study/resample.py), beside the seeds:
    # none | bootstrap (n rows drawn with replacement) | subsample (n // 2 without)
    resample: str = "bootstrap"
    # B resample networks, with study.resample on (at least 2); 20: benchmarks/rank_coverage.py
    n_resamples: int = 20
    progress: bool = True  # progress bar on stderr
    charts: bool = True  # draw the PNG charts
    # networks that may raise; null = 10% of n_runs (+ n_resamples with resampling), rounded up
    max_failures: Optional[int] = None
    resume: bool = False  # true: add to the latest study of this name (same settings) what it lacks
    shard: int = 0  # this process trains seeds shard, shard + n_shards, ...
    n_shards: int = 1  # > 1: shards attach to one study (the latest of this name and settings)


@dataclass
class ImportanceConf:
    methods: Any = field(
        default_factory=lambda: [
            "garson",
            "garson_signed",
            "olden",
            "weight_sums",
            "permutation",
            "partial_derivatives",
        ]
    )
    # per method: keyword options (permutation.n_repeats, lek.steps, ...); checked by the registry
    options: Any = field(
        default_factory=lambda: {
            "permutation": {"n_repeats": 5},  # shuffles per variable (scikit-learn's default)
            "lek": {"steps": 100, "group_vals": [0, 0.2, 0.4, 0.6, 0.8, 1], "kmeans_seed": 0},
        }
    )


@dataclass
class StabilityConf:
    top_k: int = 3  # top-k frequency and top-k stability use the k most important variables
    n_bootstrap: int = 1000  # resamples for the confidence interval of each mean importance


# the functions that take n_bootstrap (study.analysis.answer, study.analysis.aggregate, ...)
# default to the config's
N_BOOTSTRAP = StabilityConf.n_bootstrap


@dataclass
class ValidateConf:
    retrain: bool = False  # retrain on the top-k variables of each method vs random variables
    k_max: int = 5  # k = 1..k_max
    n_seeds: int = 3  # retrainings per (method, k)
    n_random: int = 5  # random draws of k variables for the baseline


@dataclass
class RandomisationConf:  # Olden & Jackson's randomisation test (2002); docs/randomisation.md
    n_permutations: int = 0  # B null networks (per variable and tested seed, see below); 0 = off
    # what null networks train on: the response permuted (the paper's global null: "no variable
    # matters"), or each variable permuted in turn (the null "x_i adds nothing": valid
    # per-variable p-values when other variables carry signal)
    permute: str = "variable"  # response | variable
    # where null networks start: their own fresh initial weights, or the initial weights (same
    # random_state: Glorot draw, early-stopping split, minibatch order) of the seed they test
    init: str = "tested"  # fresh | tested
    tested: Any = (
        "all"  # the seeds tested: all, best (the best-scoring: the paper's) or k (first k)
    )
    alternative: str = "two-sided"  # two-sided (on |value|), greater, less, observed-sign
    alpha: float = 0.05  # p <= alpha counts a seed as significant
    # Besag & Clifford's sequential null: a variable (and its tested seed) stops once h of its
    # null networks are at least as extreme as the seed on every statistic tested; 0 = all B.
    # h > alpha (B + 1) - 1 rejects exactly what all B would (5 with B = 99 and alpha = 0.05)
    stop_after: int = 5
    seed: int = 1_000_000  # null network b permutes with seed + b (and, init=fresh, draws weights)


@dataclass
class PathsConf:
    root: str = "runs"  # everything generated goes here (git-ignored)
    output_dir: Optional[str] = None  # this study's tables and charts; null = Hydra's folder


@dataclass
class TrackingConf:
    # the store under paths.root (conf/config.yaml: the environment's MLFLOW_TRACKING_URI, if set)
    uri: str = f"sqlite:///{PathsConf.root}/mlflow.db"
    experiment: str = "study"


@dataclass
class Config:
    dataset: Any = None
    model: Any = None
    experiment: Any = None
    study: StudyConf = field(default_factory=StudyConf)
    importance: ImportanceConf = field(default_factory=ImportanceConf)
    stability: StabilityConf = field(default_factory=StabilityConf)
    validate: ValidateConf = field(default_factory=ValidateConf)
    randomisation: RandomisationConf = field(default_factory=RandomisationConf)
    tracking: TrackingConf = field(default_factory=TrackingConf)
    paths: PathsConf = field(default_factory=PathsConf)


# every key each section takes: what Settings checks a plain config against
SECTIONS: dict[str, tuple[str, ...]] = {
    f.name: tuple(g.name for g in fields(f.default_factory))
    for f in fields(Config)
    if is_dataclass(f.default_factory)
}


def default(dotted: str):
    """The default of ``"section.key"`` (a fresh copy for lists and dicts)."""
    node: Any = Config()
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, dict) else getattr(node, part)
    return node
