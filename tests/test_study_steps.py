"""A study's steps (open, claim, train, the failure budget, gather, resume, finish) on the
in-memory storage: the lifecycle's logic without a store. Several storages on one backend are
several processes; the networks are trained for real (small and quick)."""

import dataclasses
import pickle

import pytest

from study import config
from study.errors import SeedsFailed, StudyError
from study.importance import _registry
from study.lifecycle.journal import Journal
from study.lifecycle.prepare import prepare
from study.lifecycle.study import Study
from study.tracking.memory import MemoryBackend, MemoryStorage
from study.training import runner

DEAD_PID = "999999999"  # above any pid_max: a process that is gone


def _prep(tmp_path, *overrides):
    return prepare(
        config.compose(
            [
                f"tracking.uri=sqlite:///{tmp_path / 'never-opened.db'}",
                f"paths.root={tmp_path}",
                "study.n_runs=4",
                "study.progress=false",
                "study.resample=none",
                "study.charts=false",
                "study.n_jobs=1",
                "importance.methods=[olden]",
                *overrides,
            ]
        )
    )


def _study(tmp_path, backend, process, *overrides):
    storage = MemoryStorage(backend, process)
    return Study(_prep(tmp_path, *overrides), tmp_path / "out", storage), storage


def _run_steps(study):
    study.open()
    trained = study.train(study.claim())
    record = study.gather(trained)
    study.finish("FINISHED")
    return trained, record


def _break_olden_for(monkeypatch, seeds):
    orig = _registry.METHODS["olden"]

    def boom(net, **kw):
        if net.seed in seeds:
            raise FloatingPointError("weights went NaN")
        return orig.compute(net, **kw)

    monkeypatch.setitem(_registry.METHODS, "olden", dataclasses.replace(orig, compute=boom))


def test_a_study_trains_each_seed_once_and_finishes(tmp_path):
    study, storage = _study(tmp_path, MemoryBackend(), "A")
    trained, record = _run_steps(study)
    assert [r.seed for r in trained.runs] == [0, 1, 2, 3]
    assert record.seeds == [0, 1, 2, 3] and study.missing == []
    assert storage.children("FINISHED") == [0, 1, 2, 3]  # one child per seed
    assert storage.status() == "FINISHED"
    assert not (tmp_path / "journal").exists()  # cleared once the store had every seed


def test_a_second_process_takes_nothing_a_live_one_holds(tmp_path):
    backend = MemoryBackend()
    a, _ = _study(tmp_path, backend, "A", "study.resume=true")
    a.open()
    a.claim()  # A holds every seed and trains them (it has not yet)
    b, _ = _study(tmp_path, backend, "B", "study.resume=true")
    b.open()
    assert b.run_id == a.run_id  # same name and settings: one study
    with pytest.raises(StudyError, match="being trained by another live process"):
        b.claim()


def test_a_dead_process_s_seeds_are_taken_over_less_what_it_wrote(tmp_path):
    backend = MemoryBackend()
    a, a_store = _study(tmp_path, backend, "A", "study.resume=true")
    a.open()
    a.claim()
    # A writes seeds 0 and 1, then dies before its claim is settled
    runs = list(runner.run_many(a.prep.plan, [0, 1], n_jobs=1))
    a_store.log_runs(runs)
    backend.kill("A")
    b, b_store = _study(tmp_path, backend, "B", "study.resume=true")
    trained, record = _run_steps(b)
    assert [r.seed for r in trained.runs] == [2, 3]  # what A wrote is not trained again
    assert record.seeds == [0, 1, 2, 3]
    assert b_store.children("FINISHED") == [0, 1, 2, 3]
    assert b_store.status() == "FINISHED"  # no live claim is left: B, the last, ends it


def test_a_live_process_keeps_the_parent_running_until_it_ends(tmp_path):
    backend = MemoryBackend()
    a, a_store = _study(tmp_path, backend, "A", "study.resume=true", "study.n_runs=2")
    a.open()
    a.claim()  # seeds 0, 1
    b, b_store = _study(tmp_path, backend, "B", "study.resume=true", "study.n_runs=4")
    b.open()
    trained = b.train(b.claim())
    assert [r.seed for r in trained.runs] == [2, 3]
    record = b.gather(trained)
    assert b.missing == [0, 1] and b.holders == {"A": {0, 1}}  # the report names who has them
    b.finish("FINISHED", quiet=True)
    assert b_store.status() == "RUNNING"  # A still trains: the last process ends the parent
    a.gather(a.train([]))
    a.finish("FINISHED")
    assert a_store.status() == "FINISHED" and a_store.children("FINISHED") == [0, 1, 2, 3]
    assert record.seeds == [2, 3]


def test_failures_within_the_budget_are_failed_children_and_the_rest_go_on(tmp_path, monkeypatch):
    _break_olden_for(monkeypatch, {1})
    study, storage = _study(tmp_path, MemoryBackend(), "A", "study.max_failures=1")
    trained, record = _run_steps(study)
    assert [f.seed for f in trained.failed] == [1]
    assert "FloatingPointError: weights went NaN" in trained.failed[0].error
    assert record.seeds == [0, 2, 3]
    assert storage.children("FAILED") == [1] and storage.children("FINISHED") == [0, 2, 3]
    assert storage.children("RUNNING") == []


def test_more_failures_than_the_budget_stop_the_study_and_a_resume_completes_it(
    tmp_path, monkeypatch
):
    _break_olden_for(monkeypatch, {0, 1})
    backend = MemoryBackend()
    study, storage = _study(tmp_path, backend, "A", "study.max_failures=1", "study.resume=true")
    study.open()
    with pytest.raises(SeedsFailed, match="2 seeds failed, more than study.max_failures=1"):
        study.train(study.claim())
    study.finish("FAILED", quiet=True)
    assert storage.status() == "FAILED"
    assert storage.children("FAILED") == [0, 1] and storage.children("RUNNING") == []
    assert storage.children("FINISHED") == []  # it stopped at the second failure

    monkeypatch.undo()  # the cause is fixed: the resume retries the failed seeds
    again, again_store = _study(tmp_path, backend, "B", "study.resume=true")
    trained, record = _run_steps(again)
    assert again.run_id == study.run_id
    assert [r.seed for r in trained.runs] == [0, 1, 2, 3]
    assert record.seeds == [0, 1, 2, 3] and again_store.status() == "FINISHED"


def test_a_resume_uploads_a_dead_process_s_journal_instead_of_training(tmp_path, monkeypatch):
    backend = MemoryBackend()
    a, _ = _study(tmp_path, backend, "A", "study.resume=true")
    a.open()
    # a process that trained seeds 2 and 3 and died before the store had them
    dead = Journal(tmp_path, a.run_id).study_folder / DEAD_PID
    dead.mkdir(parents=True)
    for run in runner.run_many(a.prep.plan, [2, 3], n_jobs=1):
        (dead / f"seed-{run.seed}.pkl").write_bytes(pickle.dumps(run))
    backend.kill("A")

    trained_seeds = []
    real = runner.run_many

    def counting(plan, seeds, **kw):
        trained_seeds.extend(seeds)
        return real(plan, seeds, **kw)

    monkeypatch.setattr(runner, "run_many", counting)
    b, b_store = _study(tmp_path, backend, "B", "study.resume=true")
    trained, record = _run_steps(b)
    assert trained_seeds == [0, 1]  # 2 and 3 came from the journal
    assert trained.from_journal == 2
    assert record.seeds == [0, 1, 2, 3] and b_store.children("FINISHED") == [0, 1, 2, 3]
    assert not dead.exists()  # cleared once the store had them


def test_another_study_of_the_same_name_with_other_settings_is_refused(tmp_path):
    backend = MemoryBackend()
    first, _ = _study(tmp_path, backend, "A", "study.name=S")
    _run_steps(first)
    other, _ = _study(tmp_path, backend, "B", "study.name=S", "model.max_iter=50")
    with pytest.raises(StudyError, match="was run with other settings .*model.max_iter"):
        other.open()


def test_a_journal_written_before_the_package_move_is_still_read(tmp_path, monkeypatch):
    # a RunRecord pickled when it lived in study.record (before the stage packages)
    import sys
    import types

    from study.training import record

    plan = _prep(tmp_path).plan
    run = next(iter(runner.run_many(plan, [5], n_jobs=1)))
    old = types.ModuleType("study.record")
    old.RunRecord = record.RunRecord
    monkeypatch.setitem(sys.modules, "study.record", old)
    monkeypatch.setattr(record.RunRecord, "__module__", "study.record")
    data = pickle.dumps(run)
    monkeypatch.undo()
    assert b"study.record" in data and "study.record" not in sys.modules

    folder = Journal(tmp_path, "parent").study_folder / DEAD_PID
    folder.mkdir(parents=True)
    (folder / "seed-5.pkl").write_bytes(data)
    (back,) = Journal(tmp_path, "parent").runs()
    assert isinstance(back, record.RunRecord) and back.seed == 5
    assert back.coefs[0].tobytes() == run.coefs[0].tobytes()
