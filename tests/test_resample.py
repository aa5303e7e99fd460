"""Resample networks (``study.resample``): their rows and seeds, the batched backend against
scikit-learn on resampled rows, the settings' errors, and a whole study on a real SQLite store
(child runs, the seeds' tables untouched, resume, ``study-aggregate``)."""

import sqlite3
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.neural_network import MLPClassifier

from study import config, tracking
from study.analysis import answer
from study.cli import aggregate_main
from study.config import identity
from study.config.settings import Settings
from study.datasets import load_dataset, split
from study.errors import StudyError
from study.lifecycle import pipeline
from study.training import resample, runner
from study.training.plan import as_job, job_data
from study.training.record import FailedRun

ARGS = [
    "study.n_jobs=1",
    "study.charts=false",
    "study.progress=false",
    "importance.methods=[olden,garson]",
    "stability.n_bootstrap=200",
]
MODEL = dict(
    hidden_layer_sizes=(8,),
    activation="tanh",
    solver="adam",
    alpha=1e-4,
    batch_size="auto",
    learning_rate_init=0.01,
    max_iter=2000,
    tol=1e-4,
    n_iter_no_change=10,
    early_stopping=False,
)


def _plan(kind: str, *, backend: str = "batched", seed: int = 0) -> runner.Plan:
    return runner.Plan(
        dataset=load_dataset("wine"),
        model={**MODEL, "backend": backend},
        methods=("olden", "garson"),
        split_seed=seed,
        resample=kind,
        seed=seed,
    )


# ---------------------------------------------------------------------------------------------
# rows and seeds


def test_bootstrap_rows_are_n_draws_with_replacement_reproducible_and_differ_between_b():
    n = 133
    seeds = [resample.network_seed(0, b) for b in range(5)]
    assert len(set(seeds)) == 5 and all(0 <= s < 2**32 for s in seeds)
    assert seeds == [resample.network_seed(0, b) for b in range(5)]  # no hidden state
    draws = [resample.rows("bootstrap", n, s) for s in seeds]
    for rows in draws:
        assert len(rows) == n and rows.min() >= 0 and rows.max() < n
        assert len(np.unique(rows)) < n  # with replacement: some rows twice, some never
    assert len({tuple(r) for r in draws}) == 5
    np.testing.assert_array_equal(draws[0], resample.rows("bootstrap", n, seeds[0]))


def test_subsample_rows_are_half_without_replacement_reproducible_and_differ_between_b():
    n = 133
    draws = [resample.rows("subsample", n, resample.network_seed(7, b)) for b in range(5)]
    for rows in draws:
        assert len(rows) == n // 2 and len(np.unique(rows)) == n // 2
        assert rows.min() >= 0 and rows.max() < n
    assert len({tuple(r) for r in draws}) == 5
    np.testing.assert_array_equal(
        draws[3], resample.rows("subsample", n, resample.network_seed(7, 3))
    )
    # another study.seed, other resamples
    assert resample.network_seed(7, 0) != resample.network_seed(8, 0)


def test_resample_ids_lie_above_every_numpy_seed():
    assert resample.resample_id(0) == 2**32 and resample.index(2**32 + 5) == 5
    assert not resample.is_resample(2**32 - 1) and resample.is_resample(2**32)
    assert runner.resamples_for(3) == [2**32, 2**32 + 1, 2**32 + 2]


@pytest.mark.parametrize("kind", ["bootstrap", "subsample"])
def test_a_resample_trains_on_training_rows_only_and_scores_on_the_study_test_rows(kind):
    plan = _plan(kind)
    whole = split(plan.dataset, test_size=plan.test_size, seed=0)
    job = as_job(plan, resample.resample_id(2))
    data = job_data(plan, job)
    rows = resample.rows(kind, len(whole.y_train), job.seed)
    np.testing.assert_array_equal(data.X_train, whole.X_train[rows])
    np.testing.assert_array_equal(data.y_train, whole.y_train[rows])
    np.testing.assert_array_equal(data.X_test, whole.X_test)  # the seeds' test rows
    test_rows = {tuple(x) for x in whole.X_test}
    assert not any(tuple(x) in test_rows for x in data.X_train)


# ---------------------------------------------------------------------------------------------
# the batched backend on resampled rows


@pytest.mark.parametrize("kind", ["bootstrap", "subsample"])
def test_batched_backend_equals_scikit_learn_fitted_on_the_resampled_rows(kind):
    """Each resample network of a block as scikit-learn fits it on the same rows with the same
    random_state: n_iter_ identical, weights to 1e-6, the same importances and test score."""
    plan = _plan(kind)
    ids = runner.resamples_for(6)
    ours = runner.run_block(plan, ids)
    whole = split(plan.dataset, test_size=plan.test_size, seed=0)
    for rec, rid in zip(ours, ids):
        assert rec.seed == rid
        s = resample.network_seed(0, resample.index(rid))
        rows = resample.rows(kind, len(whole.y_train), s)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sk = MLPClassifier(**MODEL, random_state=s).fit(
                whole.X_train[rows], whole.y_train[rows]
            )
        assert rec.n_iter == sk.n_iter_
        for a, b in zip(sk.coefs_ + sk.intercepts_, rec.coefs + rec.intercepts):
            np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-9)
        assert rec.test_score == sk.score(whole.X_test, whole.y_test)
    # and the sklearn backend's records, number for number
    theirs = [runner.run_one(_plan(kind, backend="sklearn"), rid) for rid in ids]
    for a, b in zip(theirs, ours):
        assert (a.seed, a.n_iter, a.test_score) == (b.seed, b.n_iter, b.test_score)
        for method in ("olden", "garson"):
            np.testing.assert_allclose(
                b.importances[method]["value"], a.importances[method]["value"], rtol=1e-6, atol=1e-9
            )


def test_seeds_and_resamples_train_in_separate_blocks():
    plan = _plan("subsample")
    ids = [0, 1, 2, *runner.resamples_for(3)]
    parts = runner.blocks(plan, ids, 1)
    assert parts == [[0, 1, 2], runner.resamples_for(3)]
    # and a mixed call gives the same numbers as each kind alone
    mixed = list(runner.run_many(plan, ids))
    alone = runner.run_block(plan, [0, 1, 2]) + runner.run_block(plan, runner.resamples_for(3))
    assert [r.seed for r in mixed] == ids
    for a, b in zip(mixed, alone):
        np.testing.assert_array_equal(a.coefs[0], b.coefs[0])


# ---------------------------------------------------------------------------------------------
# settings


def _settings(*overrides):
    return Settings.from_config(config.compose(list(overrides)))


def test_resample_settings_and_their_defaults():
    s = _settings()
    from study.config import spec

    default_b = spec.default("study.n_resamples")
    assert (s.resample, s.n_resamples) == (spec.default("study.resample"), default_b)
    assert s.resample == "bootstrap"  # the choice: the default study resamples
    assert (
        _settings("study.resample=none").resample,
        _settings("study.resample=none").n_resamples,
    ) == ("none", 0)
    s = _settings("study.resample=bootstrap", "study.n_resamples=5")
    assert (s.resample, s.n_resamples) == ("bootstrap", 5)
    assert _settings("study.resample=subsample").n_resamples == default_b


@pytest.mark.parametrize(
    "overrides, needle",
    [
        (
            ["study.resample=foo"],
            "study.resample must be one of none, bootstrap, subsample; got 'foo'",
        ),
        (
            ["study.resample=bootstrap", "study.n_resamples=1"],
            "study.n_resamples must be at least 2 with study.resample=bootstrap; got 1",
        ),
        (["study.n_resamples=-1"], "study.n_resamples must be at least 0; got -1"),
    ],
)
def test_resample_user_errors_are_one_line(overrides, needle):
    with pytest.raises(StudyError) as err:
        _settings(*overrides)
    assert str(err.value) == needle


def test_no_resamples_leave_the_config_hash_of_earlier_studies_and_n_resamples_is_not_identity():
    cfg = config.compose(["study.resample=none"])  # as every study before resampling
    ident = identity.identity(cfg)
    assert not any(k.startswith("study.resample") or k == "study.n_resamples" for k in ident)
    assert identity.identity(config.compose([]))["study.resample"] == "bootstrap"
    more = identity.identity(config.compose(["study.resample=bootstrap", "study.n_resamples=9"]))
    fewer = identity.identity(config.compose(["study.resample=bootstrap", "study.n_resamples=3"]))
    assert more == fewer and more["study.resample"] == "bootstrap"
    assert identity.config_hash(more) != identity.config_hash(ident)


@pytest.mark.slow
def test_cli_refuses_an_unknown_resample_in_one_line_exit_2(tmp_path):
    from tests.test_cli import _assert_user_error, _run

    proc = _run(["study.resample=foo", "tracking.uri=sqlite:///store.db"], tmp_path)
    _assert_user_error(proc, "study.resample must be one of none, bootstrap, subsample")


# ---------------------------------------------------------------------------------------------
# a whole study on a real store


def _config(store, *overrides):
    return config.compose(
        [f"tracking.uri=sqlite:///{store / 'mlflow.db'}", f"paths.root={store}", *ARGS, *overrides]
    )


def _children(db, run_id: str) -> list[tuple[str, str, str | None, str | None]]:
    """(name, seed param, resample tag, resample param) of every FINISHED child of ``run_id``."""
    with sqlite3.connect(db) as con:
        return con.execute(
            "select r.name, p.value, t.value, q.value from runs r "
            "join tags parent on parent.run_uuid = r.run_uuid "
            "and parent.key = 'mlflow.parentRunId' "
            "join params p on p.run_uuid = r.run_uuid and p.key = 'seed' "
            "left join tags t on t.run_uuid = r.run_uuid and t.key = 'study.resample' "
            "left join params q on q.run_uuid = r.run_uuid and q.key = 'resample' "
            "where parent.value = ? and r.status = 'FINISHED'",
            (run_id,),
        ).fetchall()


# answer.csv gains the rank sets from the resample networks (its seeds' columns stay: SEED_COLUMNS)
SEED_COLUMNS = [
    "method",
    "position",
    "feature",
    "mean_rank",
    "ci_low",
    "ci_high",
    "top_share",
    "k",
    "n_seeds",
]
SEED_TABLES = (
    "answer_methods.csv",
    "importances.csv",
    "aggregate.csv",
    "stability.csv",
    "topk_frequency.csv",
    "rank_distribution.csv",
    "agreement.csv",
    "stability_curve.csv",
    "weight_sums.csv",
)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["batched", "sklearn"])
def test_a_resampled_study_logs_resample_children_apart_from_the_seeds(tmp_path, backend):
    db = tmp_path / "mlflow.db"

    def _cfg(store, *overrides):
        return _config(store, f"model.backend={backend}", *overrides)

    with_b = pipeline.run(
        _cfg(
            tmp_path,
            "study.n_runs=3",
            "study.name=RS",
            "study.resample=bootstrap",
            "study.n_resamples=4",
            f"paths.output_dir={tmp_path / 'a'}",
        )
    )
    kids = sorted(_children(db, with_b.run_id))
    seeds = [k for k in kids if k[2] is None]
    resampled = [k for k in kids if k[2] is not None]
    assert sorted(int(k[1]) for k in seeds) == [0, 1, 2] and all(k[3] is None for k in seeds)
    assert sorted((k[0], int(k[2]), int(k[3]), int(k[1])) for k in resampled) == [
        (f"resample-{b}", b, b, 2**32 + b) for b in range(4)
    ]
    assert with_b.record.seeds == [0, 1, 2]
    assert [r.seed for r in with_b.record.resamples] == runner.resamples_for(4)
    assert with_b.record.resample_values("olden").shape == (4, 13, 3)

    # the seeds' tables and statistics do not see the resamples
    without = pipeline.run(
        _cfg(
            tmp_path,
            "study.n_runs=3",
            "study.name=NR",
            "study.resample=none",
            f"paths.output_dir={tmp_path / 'b'}",
        )
    )
    assert not without.record.resamples and not (tmp_path / "b" / "resamples.csv").exists()
    for table in SEED_TABLES:
        assert (tmp_path / "a" / table).read_bytes() == (tmp_path / "b" / table).read_bytes(), table
    _assert_same_seed_answer(tmp_path / "a", tmp_path / "b")
    table = pd.read_csv(tmp_path / "a" / "resamples.csv")
    assert sorted(table["resample"].unique()) == [0, 1, 2, 3]
    assert set(table.seed) == {resample.network_seed(0, b) for b in range(4)}

    # a resume asking for more resamples trains only the new ones
    more = pipeline.run(
        _cfg(
            tmp_path,
            "study.n_runs=3",
            "study.name=RS",
            "study.resume=true",
            "study.resample=bootstrap",
            "study.n_resamples=6",
            f"paths.output_dir={tmp_path / 'c'}",
        )
    )
    assert more.run_id == with_b.run_id and more.timings["trained_runs"] == 2
    kids = _children(db, more.run_id)
    assert sorted(int(k[1]) for k in kids) == [0, 1, 2, *runner.resamples_for(6)]  # each once
    assert [r.seed for r in more.record.resamples] == runner.resamples_for(6)
    for a, b in zip(with_b.record.resamples, more.record.resamples):  # kept, not retrained
        assert a.run_id == b.run_id
    for table in SEED_TABLES:
        assert (tmp_path / "c" / table).read_bytes() == (tmp_path / "b" / table).read_bytes(), table
    _assert_same_seed_answer(tmp_path / "c", tmp_path / "b")

    # read back from the store alone
    back = tracking.load_study(more.uri, more.run_id)
    assert back.seeds == [0, 1, 2] and [r.seed for r in back.resamples] == runner.resamples_for(6)
    np.testing.assert_array_equal(
        back.resample_values("olden"), more.record.resample_values("olden")
    )
    out = tmp_path / "again"
    aggregate_main(
        [
            "--run-id",
            more.run_id,
            "--uri",
            more.uri,
            "--output",
            str(out),
            "--no-charts",
            "--no-log",
        ]
    )
    for name in ("resamples.csv", "answer.csv", *SEED_TABLES):
        assert (out / name).read_bytes() == (tmp_path / "c" / name).read_bytes(), name


def _assert_same_seed_answer(resampled, plain):
    """The resampled study's answer.csv: the plain one's seeds' columns, then the rank sets."""
    a, b = pd.read_csv(resampled / "answer.csv"), pd.read_csv(plain / "answer.csv")
    assert list(b.columns) == SEED_COLUMNS
    pd.testing.assert_frame_equal(a[SEED_COLUMNS], b)
    assert {*answer.DATA_COLUMNS, "n_resamples"} <= set(a.columns)


def test_a_resample_short_of_a_class_fails_alone_and_the_others_train():
    import dataclasses

    iris = load_dataset("iris")
    keep = np.r_[np.flatnonzero(iris.y != 2), np.flatnonzero(iris.y == 2)[:3]]  # 2 to train
    ds = dataclasses.replace(iris, X=iris.X[keep], y=iris.y[keep])
    plan = dataclasses.replace(_plan("subsample"), dataset=ds)
    ids = runner.resamples_for(16)
    out = runner.run_block(plan, ids, keep_going=True)
    failed = [r for r in out if isinstance(r, FailedRun)]
    assert [r.seed for r in out] == ids and 0 < len(failed) < len(ids)
    assert "drew no training row of 1 of the 3 classes" in failed[0].error
    good = [r for r in out if not isinstance(r, FailedRun)]
    alone = runner.run_block(plan, [r.seed for r in good])  # as if the short ones were not there
    for a, b in zip(good, alone):
        np.testing.assert_array_equal(a.coefs[0], b.coefs[0])
    with pytest.raises(ValueError, match="drew no training row"):
        runner.run_block(plan, [failed[0].seed])
    one = dataclasses.replace(plan, model={**MODEL, "backend": "sklearn"})
    assert runner.run_one_or_fail(one, failed[0].seed).error == failed[0].error


def test_with_resplit_a_resample_draws_its_own_split_from_its_seed_as_a_seed_does():
    import dataclasses

    plan = dataclasses.replace(_plan("bootstrap"), split_seed=None)
    job = as_job(plan, resample.resample_id(1))
    own = split(plan.dataset, test_size=plan.test_size, seed=job.seed)
    data = job_data(plan, job)
    np.testing.assert_array_equal(data.X_test, own.X_test)
    rows = resample.rows("bootstrap", len(own.y_train), job.seed)
    np.testing.assert_array_equal(data.X_train, own.X_train[rows])


def test_the_failure_budget_and_the_failures_line_count_resample_networks():
    from study.lifecycle.study import failures_line as _failures_line
    from study.training.record import FailedRun

    assert _settings("study.n_runs=10", "study.resample=none").max_failures == 1
    from study.config import spec

    b = spec.default("study.n_resamples")  # 10% of 10 seeds and B resamples, rounded up
    assert _settings("study.n_runs=10").max_failures == -(-(10 + b) // 10)
    assert (
        _settings(
            "study.n_runs=10", "study.resample=subsample", "study.n_resamples=20"
        ).max_failures
        == 3
    )
    failed = [FailedRun(resample.resample_id(4), "ValueError: short", "")]
    assert _failures_line(failed, 10, 20) == (
        "1 of 30 networks failed; the first: resample 4: ValueError: short"
    )
    assert (
        _failures_line([FailedRun(3, "E", "")], 10) == "1 of 10 seeds failed; the first: seed 3: E"
    )


def test_shards_split_the_resample_networks_as_they_split_the_seeds():
    from study.lifecycle.study import ids_to_train as _wanted

    cfg = [
        "study.n_runs=4",
        "study.seed=10",
        "study.resample=bootstrap",
        "study.n_resamples=3",
        "study.n_shards=2",
    ]
    first, second = _settings(*cfg, "study.shard=0"), _settings(*cfg, "study.shard=1")
    assert _wanted(first) == [10, 12, 2**32, 2**32 + 2]
    assert _wanted(second) == [11, 13, 2**32 + 1]
    assert _wanted(second, every=True) == [10, 11, 12, 13, *runner.resamples_for(3)]


@pytest.mark.slow
def test_a_known_truth_regression_answer_gives_rank_sets_that_hold_the_truth(tmp_path):
    """Planted coefficients [0, 1, 0, -0.8, 0.6, 0, -0.4, 0.2]: x02 is the strongest, x01, x03
    and x06 are noise. The marginal set of x02 holds rank 1, no noise variable is surely in the
    top k, and study-aggregate writes the same answer.csv from the store."""
    out = pipeline.run(
        _config(
            tmp_path,
            "dataset=known_truth_regression",
            "study.n_runs=10",
            "study.resample=bootstrap",
            "study.n_resamples=20",
            "study.name=KT",
            f"paths.output_dir={tmp_path / 'a'}",
        )
    )
    table = pd.read_csv(tmp_path / "a" / "answer.csv").set_index("feature")
    assert {*answer.DATA_COLUMNS, "n_resamples"} <= set(table.columns)
    assert (table.n_resamples == 20).all() and (table.n_seeds == 10).all()
    assert table.loc["x02", "rank_low"] == 1
    assert table.loc["x02", "rank_low_simultaneous"] == 1
    assert not (table.loc[["x01", "x03", "x06"], "top_k"] == "surely").any()
    assert (table.rank_low <= table.rank_high).all()
    assert (table.rank_low_simultaneous <= table.rank_low).all()
    assert (table.rank_high <= table.rank_high_simultaneous).all()
    again = tmp_path / "again"
    aggregate_main(
        [
            "--run-id",
            out.run_id,
            "--uri",
            out.uri,
            "--output",
            str(again),
            "--no-charts",
            "--no-log",
        ]
    )
    assert (again / "answer.csv").read_bytes() == (tmp_path / "a" / "answer.csv").read_bytes()


# ---------------------------------------------------------------------------------------------
# study.n_runs=auto


def _parent_tags(db, run_id: str) -> dict:
    with sqlite3.connect(db) as con:
        return dict(con.execute("select key, value from tags where run_uuid = ?", (run_id,)))


@pytest.mark.slow
def test_n_runs_auto_adds_seeds_up_to_its_cap_and_says_why_it_stopped(tmp_path, monkeypatch):
    """Wine's seeds vary far more than 0.1 of its data's error at a few seeds: with the cap
    lowered to 9 (first 4), auto trains 4, then 8, then 9 seeds, each once, and stops at the
    cap, in those words; the seeds tag and the store agree, and study-aggregate reads 9 seeds."""
    from study.config import settings

    monkeypatch.setattr(settings, "AUTO_RUNS", (4, 9))
    out = pipeline.run(
        _config(
            tmp_path,
            "study.n_runs=auto",
            "study.n_resamples=4",
            f"paths.output_dir={tmp_path / 'a'}",
        )
    )
    assert out.record.seeds == list(range(9))
    kids = _children(tmp_path / "mlflow.db", out.run_id)
    assert sorted(int(k[1]) for k in kids) == [*range(9), *runner.resamples_for(4)]  # each once
    tags = _parent_tags(tmp_path / "mlflow.db", out.run_id)
    assert tags[tracking.SEEDS_TAG] == "0:9"
    report = "\n".join(sum(out.report, []))
    assert (
        "study.n_runs=auto stopped at 9 seeds, its cap being 9: the seeds' Monte Carlo "
        "error is still" in report
    )
    table = pd.read_csv(tmp_path / "a" / "answer.csv")
    assert (table.n_seeds == 9).all() and {"share", "data_share"} <= set(table.columns)
    back = tracking.load_study(out.uri, out.run_id)
    assert back.seeds == list(range(9)) and not back.notes

    # a resume with auto goes on from the seeds in the store, not from auto's first number
    monkeypatch.setattr(settings, "AUTO_RUNS", (4, 11))
    more = pipeline.run(
        _config(
            tmp_path,
            "study.n_runs=auto",
            "study.n_resamples=4",
            "study.resume=true",
            f"paths.output_dir={tmp_path / 'b'}",
        )
    )
    assert more.run_id == out.run_id and more.record.seeds == list(range(11))
    assert more.timings["trained_runs"] == 2


@pytest.mark.slow
def test_n_runs_auto_stops_once_the_seeds_error_is_small_beside_the_datas(tmp_path, monkeypatch):
    """A target the first seeds already meet (the seeds' error below 100 times the data's):
    auto stops after its first round, and says so."""
    from study.analysis import uncertainty
    from study.config import settings

    monkeypatch.setattr(settings, "AUTO_RUNS", (4, 9))
    monkeypatch.setattr(uncertainty, "MC_TARGET", 100.0)
    out = pipeline.run(
        _config(
            tmp_path,
            "study.n_runs=auto",
            "study.n_resamples=4",
            f"paths.output_dir={tmp_path / 'a'}",
        )
    )
    assert out.record.seeds == list(range(4))
    report = "\n".join(sum(out.report, []))
    assert (
        "study.n_runs=auto stopped at 4 seeds: the seeds' Monte Carlo error is below 100 of "
        "the data's standard error for every variable"
    ) in report


@pytest.mark.parametrize(
    "overrides, needle",
    [
        (["study.n_runs=auto", "study.resample=none"], "study.n_runs=auto needs resample networks"),
        (["study.n_runs=auto", "study.n_shards=2"], "study.n_runs=auto decides alone"),
        (["study.n_runs=many"], "study.n_runs must be an integer or auto; got 'many'"),
    ],
)
def test_n_runs_auto_user_errors_are_one_line(overrides, needle):
    with pytest.raises(StudyError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        Settings.from_config(config.compose(overrides))
