"""A study's first step: everything a user can get wrong, checked before anything is written.

:func:`prepare` reads the settings and the data, tries the model on one epoch and checks the
options of the methods that need data; what it returns (:class:`Prepared`) is all a
:class:`~study.lifecycle.study.Study` needs.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from study import datasets, tracking
from study.analysis import randomisation
from study.config import identity
from study.config.settings import Settings
from study.config.spec import default
from study.errors import StudyError
from study.escape import for_terminal
from study.training import models, runner
from study.training.record import StudyMeta, method_layouts

__all__ = ["Prepared", "prepare", "output_dir", "writable_folder"]


@dataclass
class Prepared:
    """A study's inputs, checked: nothing has been written anywhere yet."""

    cfg: Mapping
    config_yaml: str
    settings: Settings
    dataset: datasets.Dataset
    plan: runner.Plan
    meta: StudyMeta
    ident: dict
    config_hash: str

    @property
    def shared(self) -> bool:
        """Whether other processes may add to this study (a resume, shards)."""
        return self.settings.resume or self.settings.n_shards > 1


def prepare(cfg: Mapping, *, config_yaml: str | None = None) -> Prepared:
    """Read the settings and the data and try the model; raise StudyError for anything wrong."""
    if "backend" not in (cfg.get("model") or {}):  # logged and hashed as what trains it
        cfg = {**cfg, "model": {**cfg.get("model", {}), "backend": models.DEFAULT_BACKEND}}
    settings = Settings.from_config(cfg)
    ds = datasets.load_dataset(
        settings.dataset["name"], **{k: v for k, v in settings.dataset.items() if k != "name"}
    )
    for note in ds.extra.get("notes", ()):  # what the loader changed, said before training
        print(f"Note: {for_terminal(note)}.", file=sys.stderr)  # it may name a column
    plan = runner.Plan(
        dataset=ds,
        model=settings.model,
        methods=settings.methods,
        method_options=settings.method_options,
        test_size=settings.test_size,
        split_seed=None if settings.resplit else settings.seed,
        resample=settings.resample,
        seed=settings.seed,
    )
    if settings.validate.get("retrain") and ds.n_features < 2:
        raise StudyError("validate.retrain needs at least 2 variables; this dataset has one")
    data = datasets.split(ds, test_size=settings.test_size, seed=settings.seed)
    _check_model(settings, ds, data)
    _check_lek(settings, ds)
    _check_options(settings, ds)
    # last: they create folders, which a config refused above should not leave behind
    writable_folder(settings.root, "paths.root")  # the journal and the study folders go there
    tracking.resolve_uri(settings.tracking_uri)  # a scheme or driver MLflow cannot open
    if config_yaml is None:
        import yaml

        config_yaml = yaml.safe_dump(dict(cfg), sort_keys=False)
    ident = identity.identity(cfg)
    meta = _meta(settings, ds, chance=randomisation.chance_score(data.y_test, ds.task))
    return Prepared(cfg, config_yaml, settings, ds, plan, meta, ident, identity.config_hash(ident))


def _check_model(settings: Settings, ds: datasets.Dataset, data: datasets.Split) -> None:
    """A one-epoch trial fit on the training split (a subset could hold a single class and fail
    for the wrong reason)."""
    import warnings

    models.backend(settings.model)  # an unknown backend is a user error
    model = models.make_model(ds.task, settings.model, seed=settings.seed)
    _check_params(model)  # before max_iter=1 hides a bad max_iter
    model.set_params(max_iter=1)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(data.X_train, data.y_train)
    except (ValueError, TypeError) as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise StudyError(f"model: {first}") from None


def _check_params(model) -> None:
    """scikit-learn's own limits on every option (``max_iter=0`` would fail in every seed),
    worded with the config key."""
    import re

    from sklearn.utils._param_validation import InvalidParameterError

    try:
        model._validate_params()
    except InvalidParameterError as err:
        said = re.fullmatch(
            r"The '(\w+)' parameter of \w+ (must be .*)\. Got (.*) instead\.",
            str(err).strip(),
            re.DOTALL,
        )
        if said is None:
            raise StudyError(f"model: {err}") from None
        key, rule, got = said.groups()
        raise StudyError(f"model.{key} {rule}; got {got}") from None


def _check_lek(settings: Settings, ds: datasets.Dataset) -> None:
    """Lek's options, tried on the data (a bad one would otherwise fail in every worker)."""
    if "lek" not in settings.methods:
        return
    from study.importance import lek_groups

    # names checked by Settings; what is not given is the config's default
    opts = {**default("importance.options")["lek"], **(settings.method_options.get("lek") or {})}
    steps = opts["steps"]
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
        raise StudyError(
            f"importance.options.lek.steps must be an integer of at least 2; got {steps!r}"
        )
    group_vals = opts["group_vals"]
    try:
        lek_groups(
            ds.X[: max(20, int(group_vals) if isinstance(group_vals, int) else 0)],
            group_vals if isinstance(group_vals, int) else list(group_vals),
        )
    except (ValueError, TypeError) as err:
        raise StudyError(f"importance.options.lek.group_vals: {err}") from None


def _check_options(settings: Settings, ds: datasets.Dataset) -> None:
    if settings.top_k > ds.n_features:  # equal is clipped to n - 1 with a note (the default 3)
        raise StudyError(
            f"stability.top_k={settings.top_k} is more than the {ds.n_features} "
            f"variables of {ds.name}"
        )
    n_repeats = (settings.method_options.get("permutation") or {}).get(
        "n_repeats", default("importance.options")["permutation"]["n_repeats"]
    )
    if "permutation" in settings.methods and (
        isinstance(n_repeats, bool) or not isinstance(n_repeats, int) or n_repeats < 1
    ):
        raise StudyError(
            f"importance.options.permutation.n_repeats must be a positive integer; "
            f"got {n_repeats!r}"
        )


def _meta(settings: Settings, ds: datasets.Dataset, *, chance: float | None = None) -> StudyMeta:
    sizes = models.make_model(ds.task, settings.model, seed=0).hidden_layer_sizes
    outputs = ds.output_names
    return StudyMeta(
        name=settings.name or f"{ds.name}-{settings.model.get('name', 'mlp')}",
        dataset=ds.name,
        task=ds.task,
        feature_names=ds.feature_names,
        output_names=outputs,
        layer_sizes=(ds.n_features, *(int(s) for s in sizes), len(outputs)),
        methods=method_layouts(settings.methods, task=ds.task, output_names=outputs),
        score_name="accuracy" if ds.task == datasets.CLASSIFICATION else "R²",
        truth=None if ds.truth is None else tuple(float(t) for t in ds.truth),
        top_k=settings.top_k,
        n_bootstrap=settings.n_bootstrap,
        seed=settings.seed,
        backend=models.trained_by(ds.task, settings.model),
        chance_score=chance,
    )


def output_dir(settings: Settings) -> Path:
    """This study's folder for tables and charts (``paths.output_dir``, or a new dated one)."""
    if settings.output_dir is not None:
        out = settings.output_dir
    else:
        out = settings.root / "studies" / datetime.now().strftime("%Y-%m-%d_%H-%M-%S_%f")
    return writable_folder(out, "paths.output_dir")


def writable_folder(folder: Path, what: str) -> Path:
    """``folder``, created if need be, after checking that a file can be written there: a
    read-only or full disk is a one-line error before anything runs."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        # a name of its own: shards started together probed one name, and one's unlink made the
        # other's fail ('No such file or directory') as if the folder could not be written
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".study-write-test-"):
            pass
    except OSError as err:  # read-only, full disk, not a folder
        raise StudyError(f"{what}: cannot write into {folder} ({err.strerror or err})") from None
    return folder
