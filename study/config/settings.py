"""The study's settings, read once from the composed config and checked at the boundary.

The config is a plain nested mapping (Hydra's, resolved and converted by the entry point); every
value the user can get wrong is checked here and reported as a one-line :class:`StudyError`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from study.config import spec
from study.errors import StudyError
from study.importance import get_method

__all__ = ["Settings", "MAX_RUNS", "MAX_SEED", "AUTO_RUNS"]

MAX_RUNS = 1_000_000  # seeds in one study: far above any real study, far below a typo
# study.n_runs=auto: the seeds it starts with, and the most it trains (study.analysis.uncertainty's
# MC_TARGET says when it has enough)
AUTO_RUNS = (10, 1000)
MAX_SEED = 2**32 - 1  # numpy's RandomState takes seeds in [0, 2**32)


def _int(value, key: str, *, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
        raise StudyError(f"{key} must be an integer; got {value!r}")
    if minimum is not None and value < minimum:
        raise StudyError(f"{key} must be at least {minimum}; got {value}")
    return int(value)


def _get(cfg: Mapping, dotted: str):
    """``cfg``'s value at ``"section.key"``, or its default (:mod:`study.config.spec`, the one place
    defaults are stated)."""
    node = cfg
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            value = spec.default(dotted) if dotted.split(".")[0] in spec.SECTIONS else None
            return dataclasses.asdict(value) if dataclasses.is_dataclass(value) else value
        node = node[part]
    return node


def _section(cfg: Mapping, name: str) -> dict:
    """A whole section: its defaults, overridden by what ``cfg`` gives."""
    return {**dataclasses.asdict(spec.default(name)), **dict(cfg.get(name) or {})}


@dataclass(frozen=True)
class Settings:
    name: str | None
    dataset: dict
    model: dict
    n_runs: int
    seed: int
    n_jobs: int
    test_size: float
    resplit: bool
    progress: bool
    charts: bool
    methods: tuple[str, ...]
    method_options: dict
    top_k: int
    n_bootstrap: int
    tracking_uri: str
    experiment: str
    root: Path
    output_dir: Path | None
    validate: dict = field(default_factory=dict)
    randomisation: dict = field(default_factory=dict)
    max_failures: int = 0  # set by from_config: study.max_failures, or 10% of the networks
    resume: bool = False
    shard: int = 0
    n_shards: int = 1
    resample: str = "none"  # study.resample: none, bootstrap or subsample (study/resample.py)
    n_resamples: int = 0  # resample networks; 0 when study.resample is none
    auto_runs: bool = False  # study.n_runs=auto: n_runs is where it starts (AUTO_RUNS)

    @classmethod
    def from_config(cls, cfg: Mapping) -> Settings:
        """Read and check every setting; raise StudyError naming the bad key."""
        _check_known_keys(cfg)
        dataset = _dataset(cfg)
        model = dict(_get(cfg, "model") or {})
        methods, options = _importance(cfg)
        test_size = _test_size(cfg)
        n_jobs = _n_jobs(cfg)
        validate = _validate(_section(cfg, "validate"))
        randomisation = _randomisation(_section(cfg, "randomisation"))
        resample, n_resamples = _resample(cfg)
        n_runs, auto = _n_runs(cfg, resample)
        seed = _seed(cfg, n_runs)
        max_failures = _max_failures(cfg, n_runs + n_resamples)
        output_dir = _get(cfg, "paths.output_dir")
        experiment = _experiment(cfg)
        shard, n_shards = _shards(cfg, auto)
        return cls(
            name=_get(cfg, "study.name"),
            dataset=dataset,
            model=model,
            n_runs=n_runs,
            seed=seed,
            n_jobs=n_jobs,
            test_size=float(test_size),
            resplit=bool(_get(cfg, "study.resplit")),
            progress=bool(_get(cfg, "study.progress")),
            charts=bool(_get(cfg, "study.charts")),
            methods=tuple(dict.fromkeys(methods)),
            method_options=options,
            top_k=_int(_get(cfg, "stability.top_k"), "stability.top_k", minimum=1),
            n_bootstrap=_int(
                _get(cfg, "stability.n_bootstrap"), "stability.n_bootstrap", minimum=100
            ),
            tracking_uri=str(_get(cfg, "tracking.uri")),
            experiment=experiment,
            root=Path(str(_get(cfg, "paths.root"))),
            output_dir=Path(str(output_dir)) if output_dir else None,
            validate=validate,
            randomisation=randomisation,
            max_failures=max_failures,
            resume=bool(_get(cfg, "study.resume")),
            shard=shard,
            n_shards=n_shards,
            resample=resample,
            n_resamples=n_resamples,
            auto_runs=auto,
        )


def _dataset(cfg: Mapping) -> dict:
    """The ``dataset`` section, which must name a dataset (the loader checks its options)."""
    dataset = dict(_get(cfg, "dataset") or {})
    if not dataset.get("name"):
        raise StudyError("dataset.name is missing: choose one, e.g. dataset=wine")
    return dataset


def _importance(cfg: Mapping) -> tuple[list[str], dict]:
    """``importance.methods`` (a list, or names separated by commas), each a known method, and
    ``importance.options``, each method's options checked by the method."""
    methods = _get(cfg, "importance.methods")
    if isinstance(methods, str):
        methods = [m.strip() for m in methods.split(",") if m.strip()]
    if not methods:
        raise StudyError("importance.methods is empty: name at least one method")
    for name in methods:
        try:
            get_method(name)
        except ValueError as err:
            raise StudyError(f"importance.methods: {err}") from None
    options = dict(_get(cfg, "importance.options") or {})
    for name, opts in options.items():  # a misspelt option must not be ignored
        try:
            get_method(name).check_options(dict(opts or {}))
        except ValueError as err:
            raise StudyError(f"importance.options.{name}: {err}") from None
    return methods, options


def _test_size(cfg: Mapping):
    test_size = _get(cfg, "study.test_size")
    if not isinstance(test_size, (int, float)) or not 0 < test_size < 1:
        raise StudyError(f"study.test_size must be a fraction in (0, 1); got {test_size!r}")
    return test_size


def _n_jobs(cfg: Mapping) -> int:
    n_jobs = _int(_get(cfg, "study.n_jobs"), "study.n_jobs")
    if n_jobs == 0 or n_jobs < -1:
        raise StudyError(
            f"study.n_jobs must be -1 (every core) or a positive integer; got {n_jobs}"
        )
    return n_jobs


def _validate(validate: dict) -> dict:
    """The retraining check's settings; its numbers checked where it runs."""
    if validate.get("retrain"):
        for key in ("k_max", "n_seeds", "n_random"):
            validate[key] = _int(validate[key], f"validate.{key}", minimum=1)
    return validate


def _seed(cfg: Mapping, n_runs: int) -> int:
    """``study.seed``: the first of ``n_runs`` seeds, the last of them numpy's largest at most."""
    seed = _int(_get(cfg, "study.seed"), "study.seed", minimum=0)
    if seed + n_runs - 1 > MAX_SEED:
        raise StudyError(
            f"study.seed + study.n_runs - 1 must be at most {MAX_SEED} (numpy's "
            f"largest seed); got {seed} + {n_runs} - 1"
        )
    return seed


def _max_failures(cfg: Mapping, n_networks: int) -> int:
    """``study.max_failures``; by default 10% of the ``n_networks`` (seeds and resamples),
    rounded up."""
    max_failures = _get(cfg, "study.max_failures")
    if max_failures is None:
        return -(-n_networks // 10)
    return _int(max_failures, "study.max_failures", minimum=0)


def _experiment(cfg: Mapping) -> str:
    experiment = _get(cfg, "tracking.experiment")
    if not isinstance(experiment, str) or not experiment.strip():  # MLflow needs a name
        raise StudyError(f"tracking.experiment must be a name; got {experiment!r}")
    return experiment


def _shards(cfg: Mapping, auto: bool) -> tuple[int, int]:
    """``study.shard`` and ``study.n_shards``: this process's share of the seeds (``auto``: the
    study decides its number of seeds alone, so it takes no shards)."""
    n_shards = _int(_get(cfg, "study.n_shards"), "study.n_shards", minimum=1)
    shard = _int(_get(cfg, "study.shard"), "study.shard", minimum=0)
    if shard >= n_shards:
        raise StudyError(f"study.shard must be below study.n_shards ({n_shards}); got {shard}")
    if auto and n_shards > 1:
        raise StudyError(
            "study.n_runs=auto decides alone how many seeds to train: give "
            "shards a number of seeds (study.n_runs=N)"
        )
    return shard, n_shards


# every key a section may hold (:data:`study.config.spec.SECTIONS`); ``+study.n_seeds=6`` (a typo,
# appended with +) must not run with the key silently ignored. dataset.*, model.* and
# importance.options.* are checked where they are used (the loader, the model, each method).
KNOWN_KEYS = {name: set(keys) for name, keys in spec.SECTIONS.items()}


def _check_known_keys(cfg: Mapping) -> None:
    for section, known in KNOWN_KEYS.items():
        node = cfg.get(section) or {}
        unknown = sorted(set(node) - known) if isinstance(node, Mapping) else []
        if unknown:
            raise StudyError(
                f"unknown key(s) {', '.join(f'{section}.{k}' for k in unknown)}; "
                f"{section} takes {', '.join(sorted(known))}"
            )
    top = sorted(set(cfg) - set(KNOWN_KEYS) - {"dataset", "model", "experiment", "hydra"})
    if top:
        raise StudyError(f"unknown top-level key(s) {', '.join(top)}")


def _n_runs(cfg: Mapping, resample: str) -> tuple[int, bool]:
    """``study.n_runs``: a number of seeds (at most :data:`MAX_RUNS`), or ``auto`` (the seeds it
    starts with, True)."""
    value = _get(cfg, "study.n_runs")
    if isinstance(value, str) and value.strip().lower() == "auto":
        if resample == "none":
            raise StudyError(
                "study.n_runs=auto needs resample networks (study.resample=bootstrap "
                "or subsample): it trains seeds until their error is small beside "
                "the data's, which the resample networks measure"
            )
        return AUTO_RUNS[0], True
    if (
        isinstance(value, str)
        or isinstance(value, bool)
        or not isinstance(value, (int, float))
        or int(value) != value
    ):
        raise StudyError(f"study.n_runs must be an integer or auto; got {value!r}")
    n_runs = _int(value, "study.n_runs", minimum=1)
    if n_runs > MAX_RUNS:  # a typo (1000000000) would create the parent, then run out of memory
        raise StudyError(f"study.n_runs must be at most {MAX_RUNS:_}; got {n_runs:_}")
    return n_runs, False


def _resample(cfg: Mapping) -> tuple[str, int]:
    """``study.resample`` and ``study.n_resamples``, checked; no resamples when it is none."""
    from study.training.resample import KINDS

    kind = _get(cfg, "study.resample")
    if kind not in KINDS:
        raise StudyError(f"study.resample must be one of {', '.join(KINDS)}; got {kind!r}")
    n = _int(_get(cfg, "study.n_resamples"), "study.n_resamples", minimum=0)
    if kind == "none":
        return kind, 0
    if n < 2:  # one network's importances give no covariance
        raise StudyError(
            f"study.n_resamples must be at least 2 with study.resample={kind}; got {n}"
        )
    if n > MAX_RUNS:
        raise StudyError(f"study.n_resamples must be at most {MAX_RUNS:_}; got {n:_}")
    return kind, n


def _randomisation(r: dict) -> dict:
    """The randomisation test's settings, checked; ``n_permutations`` 0 = no test."""
    from study.analysis.randomisation import ALTERNATIVES, INIT, PERMUTE

    out = {
        "n_permutations": _int(r["n_permutations"], "randomisation.n_permutations", minimum=0),
        "permute": r["permute"],
        "init": r["init"],
        "tested": r["tested"],
        "alternative": r["alternative"],
        "alpha": r["alpha"],
        "seed": _int(r["seed"], "randomisation.seed", minimum=0),
        "stop_after": _int(r["stop_after"], "randomisation.stop_after", minimum=0),
    }
    for key, allowed in (("permute", PERMUTE), ("init", INIT)):
        if out[key] not in allowed:
            raise StudyError(
                f"randomisation.{key} must be one of {', '.join(allowed)}; got {out[key]!r}"
            )
    if out["tested"] not in ("all", "best"):
        if isinstance(out["tested"], str) and out["tested"].isdigit():
            out["tested"] = int(out["tested"])
        if isinstance(out["tested"], str):
            raise StudyError(
                "randomisation.tested must be all, best or a number of seeds; got "
                f"{out['tested']!r}"
            )
        out["tested"] = _int(out["tested"], "randomisation.tested", minimum=1)
    if out["n_permutations"] > MAX_RUNS:
        raise StudyError(
            f"randomisation.n_permutations must be at most {MAX_RUNS:_}; got "
            f"{out['n_permutations']:_}"
        )
    if out["seed"] + out["n_permutations"] - 1 > MAX_SEED:
        raise StudyError(
            f"randomisation.seed + randomisation.n_permutations - 1 must be at most "
            f"{MAX_SEED} (numpy's largest seed)"
        )
    if out["alternative"] not in ALTERNATIVES:
        raise StudyError(
            f"randomisation.alternative must be one of {', '.join(ALTERNATIVES)}; "
            f"got {out['alternative']!r}"
        )
    alpha = out["alpha"]
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
        raise StudyError(f"randomisation.alpha must be a fraction in (0, 1); got {alpha!r}")
    out["alpha"] = float(alpha)
    return out
