"""The MLflow writer (background thread, SQL fast path, the parent's bundle) and the reader."""

import threading

import numpy as np
import pytest

from study import config, tracking
from study.config.settings import Settings
from study.datasets import load_dataset
from study.lifecycle import pipeline
from study.lifecycle.prepare import _meta
from study.tracking._sql_fast import new_run_id
from study.training.runner import Plan, run_many, seeds_for


@pytest.fixture(scope="module")
def trained():
    """Four wine runs and their study layout, trained once for every test here."""
    settings = Settings.from_config(config.compose(["importance.options.permutation.n_repeats=2"]))
    ds = load_dataset("wine")
    plan = Plan(ds, settings.model, settings.methods, settings.method_options, 0.25, 0)
    runs = sorted(run_many(plan, seeds_for(0, 4)), key=lambda r: r.seed)
    runs[1].importances["olden"]["value"][0, 0] = np.nan  # a diverged value: sanitised alike
    runs[2].importances["garson"]["value"][1, 0] = np.inf  # MLflow clips it; the npz keeps it
    return _meta(settings, ds), ds, runs


def _tracker(store, experiment, meta, ds):
    t = tracking.Tracker(f"sqlite:///{store / 'mlflow.db'}", experiment)
    t.start(meta, config={"study": {"n_runs": 4}}, config_yaml="", dataset=ds, run_name="t")
    return t


def _seen(client, run_id):
    """What MLflow shows of a run: metrics, params, tags, status and every metric's history."""
    run = client.get_run(run_id)
    tags = {k: v for k, v in run.data.tags.items() if k != tracking.PARENT_TAG}
    history = {
        k: [(m.value, m.step) for m in client.get_metric_history(run_id, k)]
        for k in run.data.metrics
    }
    return run.data.metrics, run.data.params, tags, run.info.status, history


def test_sql_fast_path_writes_what_log_batch_writes(mlflow_store, trained):
    import dataclasses

    from study.training.resample import resample_id

    meta, ds, runs = trained
    runs = [*runs, dataclasses.replace(runs[0], seed=resample_id(1))]  # and a resample network
    fast = _tracker(mlflow_store, "tracking-fast", meta, ds)
    slow = _tracker(mlflow_store, "tracking-slow", meta, ds)
    assert fast._sql is not None
    slow._sql = None  # MLflow's own log_batch, as for an HTTP server
    fast_ids, slow_ids = fast.log_runs(runs), slow.log_runs(runs)
    # the fast path's ids increase (so its rows append to MLflow's run_uuid indexes), and are
    # MLflow-shaped: 32 hex digits, unique
    more = [new_run_id() for _ in range(5000)]
    for ids in (fast_ids, more):
        assert ids == sorted(ids) and len(set(ids)) == len(ids)
        assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
    for a, b in zip(fast_ids, slow_ids):
        seen_a, seen_b = _seen(fast.client, a), _seen(slow.client, b)
        assert seen_a[0].keys() == seen_b[0].keys() == set(fast.metric_keys())
        for key in seen_a[0]:
            np.testing.assert_equal(seen_a[0][key], seen_b[0][key])  # NaN equals NaN here
        assert seen_a[1:4] == seen_b[1:4]
        assert fast.client.get_run(a).data.tags[tracking.PARENT_TAG] == fast.run_id
        np.testing.assert_equal(seen_a[4], seen_b[4])
        # the run itself: name, user, status, times, artifact location and files
        ia, ib = fast.client.get_run(a).info, slow.client.get_run(b).info
        for field in ("run_name", "user_id", "status", "lifecycle_stage"):
            assert getattr(ia, field) == getattr(ib, field), field
        assert ia.end_time >= ia.start_time > 0
        # <the experiment's artifact location>/<run id>/artifacts, as MLflow makes it (a plain
        # replace of the experiment id once also cut "20" out of "pytest-20" in the path)
        for tracker, run_id, info in ((fast, a, ia), (slow, b, ib)):
            where = tracker.client.get_experiment(tracker.experiment_id).artifact_location
            assert info.artifact_uri == f"{where}/{run_id}/artifacts"
        files = lambda c, r: sorted((f.path, f.file_size) for f in c.list_artifacts(r))  # noqa: E731
        assert files(fast.client, a) == files(slow.client, b) and len(files(fast.client, a)) == 2
    last = fast.client.get_run(fast_ids[-1])
    assert last.info.run_name == "resample-1" and last.data.tags["study.resample"] == "1"
    assert last.data.params == {"seed": str(2**32 + 1), "resample": "1"}
    # the fast path's rows are searchable like log_batch's
    found = fast.client.search_runs([fast.experiment_id], "metrics.test_score >= 0")
    assert {r.info.run_id for r in found} == set(fast_ids)
    for t in (fast, slow):
        t.finish()


def test_a_failing_batch_leaves_no_child_running(mlflow_store, trained, monkeypatch):
    meta, ds, runs = trained

    def boom(*args):
        raise OSError("disk full (planted)")

    # MLflow's client path (an HTTP server): children already created are ended FAILED
    t = _tracker(mlflow_store, "tracking-fail", meta, ds)
    t._sql = None
    monkeypatch.setattr(t, "_log_arrays", boom)
    with pytest.raises(OSError, match="planted"):
        t.log_runs(runs[:2])
    children = t.client.search_runs([t.experiment_id], "tags.`study.role` = 'seed'")
    assert len(children) == 2 and {c.info.status for c in children} == {"FAILED"}
    t.finish("FAILED")
    # the SQL path writes the artifacts before any run row: a failure leaves no child at all
    t = _tracker(mlflow_store, "tracking-fail-sql", meta, ds)
    assert t._sql is not None
    monkeypatch.setattr(t, "_write_arrays", boom)
    with pytest.raises(OSError, match="planted"):
        t.log_runs(runs[:2])
    assert t.client.search_runs([t.experiment_id], "tags.`study.role` = 'seed'") == []
    t.finish("FAILED")


def test_writer_returns_before_the_child_is_written(mlflow_store, trained):
    """submit() only queues: while the writer is held inside MLflow, training goes on."""
    meta, ds, runs = trained
    t = _tracker(mlflow_store, "tracking-async", meta, ds)
    release, entered = threading.Event(), threading.Event()
    real = t.log_runs

    def held(batch):
        entered.set()
        assert release.wait(30)
        return real(batch)

    t.log_runs = held
    writer = t.writer()
    writer.submit(runs[0])
    assert entered.wait(30)
    for run in runs[1:]:
        writer.submit(run)  # returns although the writer is blocked
    assert writer.run_ids == {}
    release.set()
    ids = writer.close()
    assert sorted(ids) == [0, 1, 2, 3]
    children = t.client.search_runs([t.experiment_id], "tags.`study.role` = 'seed'")
    assert {c.info.run_id for c in children} == set(ids.values())
    assert {c.info.status for c in children} == {"FINISHED"}
    t.finish()


def test_writer_failure_fails_the_study_and_leaves_nothing_running(mlflow_store, monkeypatch):
    from mlflow import MlflowClient

    def boom(self, batch):
        raise RuntimeError("store refused the write (planted)")

    monkeypatch.setattr(tracking.Tracker, "log_runs", boom)
    cfg = config.compose(
        [
            f"tracking.uri=sqlite:///{mlflow_store / 'mlflow.db'}",
            f"paths.root={mlflow_store}",
            "study.progress=false",
            "study.resample=none",
            "study.charts=false",
            "dataset=iris",
            "study.n_runs=3",
            "importance.methods=[olden]",
            "tracking.experiment=tracking-writer-fails",
        ]
    )
    with pytest.raises(tracking.WriterError, match="planted"):
        pipeline.run(cfg)
    client = MlflowClient(f"sqlite:///{mlflow_store / 'mlflow.db'}")
    exp = client.get_experiment_by_name("tracking-writer-fails")
    runs = client.search_runs([exp.experiment_id])
    assert [r.info.status for r in runs] == ["FAILED"]  # the parent; no child was created


def _same_runs(a, b):
    assert [r.seed for r in a.runs] == [r.seed for r in b.runs]
    for x, y in zip(a.runs, b.runs):
        assert (x.train_score, x.test_score, x.n_iter, x.converged) == (
            y.train_score,
            y.test_score,
            y.n_iter,
            y.converged,
        )
        for u, v in zip(x.coefs + x.intercepts, y.coefs + y.intercepts):
            np.testing.assert_array_equal(u, v)
        for m, measures in x.importances.items():
            for k, v in measures.items():
                np.testing.assert_array_equal(v, y.importances[m][k])


def test_bundle_reads_back_like_the_children_and_in_two_downloads(
    mlflow_store, trained, monkeypatch
):
    from mlflow import MlflowClient

    meta, ds, runs = trained
    t = _tracker(mlflow_store, "tracking-bundle", meta, ds)
    ids = t.log_runs(runs)
    uri = t.uri
    from_children = tracking.load_study(uri, t.run_id)  # no bundle yet: every child's files
    t.log_bundle(runs, ids)
    t.finish()
    calls = []
    real = MlflowClient.download_artifacts
    monkeypatch.setattr(
        MlflowClient,
        "download_artifacts",
        lambda self, rid, path, *a: calls.append(path) or real(self, rid, path, *a),
    )
    from_bundle = tracking.load_study(uri, t.run_id)
    assert sorted(calls) == ["study.json", tracking.BUNDLE]
    _same_runs(from_bundle, from_children)
    np.testing.assert_equal(from_bundle.runs[1].importances["olden"]["value"][0, 0], np.nan)


def test_children_added_after_the_bundle_are_read_too(mlflow_store, trained):
    """Another process attaches to the parent and adds seeds: the reader finds them."""
    meta, ds, runs = trained
    t = _tracker(mlflow_store, "tracking-extend", meta, ds)
    t.log_bundle(runs[:2], t.log_runs(runs[:2]))
    t.finish()
    other = tracking.Tracker(t.uri, run_id=t.run_id)
    other.attach(meta)
    other.log_runs(runs[2:])
    record = tracking.load_study(t.uri, t.run_id)
    assert record.seeds == [0, 1, 2, 3]
    fresh = tracking.Tracker(t.uri, "tracking-extend-ref")
    fresh.start(meta, config={}, config_yaml="", dataset=ds, run_name="ref")
    fresh.log_runs(runs)
    fresh.finish()
    _same_runs(record, tracking.load_study(t.uri, fresh.run_id))


def test_the_sql_store_is_opened_once_per_process(mlflow_store):
    # every Tracker, reader and writer of one store URI gets MLflow's one SqlAlchemyStore (its
    # engine, schema check and ORM set up once): opening it costs about a second
    from study.tracking._store import _client

    uri = f"sqlite:///{mlflow_store / 'mlflow.db'}"
    first = _client(uri)._tracking_client.store
    assert _client(uri)._tracking_client.store is first
    assert tracking.Tracker(uri, "store-once").client._tracking_client.store is first


def test_by_prefix_covers_every_run_id_once_within_the_limit():
    from study.tracking._reader import _by_prefix

    rng = np.random.default_rng(0)
    ids = sorted(
        {new_run_id() for _ in range(3000)}  # time-ordered: long shared prefixes
        | {"".join(rng.choice(list("0123456789abcdef"), 32)) for _ in range(2000)}
    )
    groups = list(_by_prefix(ids, 100))
    assert all(len(g) <= 100 for _, g in groups)
    assert sorted(i for _, g in groups for i in g) == ids
    assert all(i.startswith(p) for p, g in groups for i in g)
    prefixes = [p for p, _ in groups]
    for probe in ids[::7] + ["".join(rng.choice(list("0123456789abcdef"), 32)) for _ in range(500)]:
        assert sum(probe.startswith(p) for p in prefixes) == 1  # a new child: found by one query
    assert list(_by_prefix(ids[:100], 100)) == [("", ids[:100])]


def test_children_are_found_whatever_the_number_of_ids_left_out(mlflow_store, trained, monkeypatch):
    """A study of more than ~3,300 seeds once could not be read: every known child id went into
    one NOT IN filter, which MLflow refuses past 10,000 tokens."""
    from study.tracking import _reader

    meta, ds, runs = trained
    t = _tracker(mlflow_store, "tracking-many-ids", meta, ds)
    ids = t.log_runs(runs)
    fake = [new_run_id() for _ in range(5000)]

    def found(exclude):
        return sorted(
            c.info.run_id
            for c in _reader._children(
                t.client, t.experiment_id, t.run_id, status="FINISHED", exclude=exclude
            )
        )

    assert found(fake + ids[:1]) == sorted(ids[1:])
    monkeypatch.setattr(_reader, "_IDS_PER_QUERY", 1)  # every query split, real ids
    assert found(ids[:2]) == sorted(ids[2:])
    assert found([]) == sorted(ids)
    t.finish()
