"""A study as a ledger: each seed counted and trained once whatever processes add to it, nothing
trained lost when the store dies, and the everyday accidents refused in one line."""

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from study import config, tracking
from study.cli import aggregate_main
from study.errors import StudyError
from study.lifecycle import pipeline
from study.tracking import _claims

REPO = Path(__file__).resolve().parents[1]
ARGS = [
    "study.n_jobs=1",
    "study.charts=false",
    "study.progress=false",
    "study.resample=none",
    "importance.methods=[olden,garson]",
    "stability.n_bootstrap=200",
]
ENV = {**os.environ, "PYTHONPATH": str(REPO), "MLFLOW_DISABLE_AGENT_HINT": "1"}
RUN = "import sys; from study.cli import run_main; sys.argv[0] = 'study-run'; run_main()"


def _cfg(root, *overrides):
    return config.compose(
        [
            f"tracking.uri=sqlite:///{root / 'mlflow.db'}",
            f"paths.root={root}",
            f"paths.output_dir={root / 'out'}",
            *ARGS,
            *overrides,
        ]
    )


def _children(db: Path) -> list[tuple[int, str]]:
    """(seed, status) of every child run in a SQLite store, sorted."""
    with sqlite3.connect(db) as con:
        return sorted(
            con.execute(
                "select cast(p.value as integer), r.status from runs r join params p on "
                "p.run_uuid = r.run_uuid and p.key = 'seed' where r.lifecycle_stage = 'active'"
            )
        )


def _n_runs(db: Path) -> int:
    if not db.exists():
        return 0
    with sqlite3.connect(db) as con:
        return con.execute("select count(*) from runs").fetchone()[0]


def _study_run(*args, cwd, env=ENV, timeout=300):
    return subprocess.run(
        [sys.executable, "-c", RUN, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


# --- inputs refused in one line, nothing written -----------------------------------------------


def test_a_repeated_csv_column_is_refused_before_any_run(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 3))
    rows = ["a,b,c,y,y"] + [f"{a},{b},{c},{a + b},{a + b}" for a, b, c in X]
    (tmp_path / "dup.csv").write_text("\n".join(rows))
    with pytest.raises(StudyError, match=r"column name\(s\) 'y' appear more than once"):
        pipeline.run(
            _cfg(
                tmp_path, "dataset=csv", f"dataset.path={tmp_path / 'dup.csv'}", "dataset.target=y"
            )
        )
    assert _n_runs(tmp_path / "mlflow.db") == 0


def test_a_constant_regression_target_is_refused(tmp_path):
    rows = ["a,b,y"] + [f"{i},{i % 3},2.5" for i in range(30)]
    (tmp_path / "flat.csv").write_text("\n".join(rows))
    with pytest.raises(StudyError, match="'y' of csv are constant"):
        pipeline.run(
            _cfg(
                tmp_path,
                "dataset=csv",
                f"dataset.path={tmp_path / 'flat.csv'}",
                "dataset.target=y",
                "dataset.task=regression",
            )
        )
    assert _n_runs(tmp_path / "mlflow.db") == 0


@pytest.mark.parametrize(
    "override, message",
    [
        ("study.n_runs=1000000000", "study.n_runs must be at most 1_000_000"),
        ("study.seed=4294967290", "numpy's largest seed"),
        ("+dataset.n_sample=50", "unknown dataset.n_sample for dataset wine"),
    ],
)
@pytest.mark.slow
def test_bounds_and_misspelt_options_are_one_line_errors(tmp_path, override, message):
    proc = _study_run(
        override,
        f"paths.root={tmp_path}",
        "study.progress=false",
        "study.resample=none",
        cwd=tmp_path,
    )
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert _n_runs(tmp_path / "mlflow.db") == 0


@pytest.mark.slow
def test_a_diverging_loss_is_not_reported_as_converged(tmp_path):
    out = pipeline.run(
        _cfg(
            tmp_path,
            "study.n_runs=2",
            "model.solver=sgd",
            "model.learning_rate_init=10000",
            "importance.methods=[olden]",
        )
    )
    assert not any(r.converged for r in out.record.runs)


# --- the reader counts each seed once ----------------------------------------------------------


def test_once_per_seed_keeps_the_smallest_run_id_whatever_the_order():
    from study.tracking._reader import once_per_seed

    class R:
        def __init__(self, seed, run_id):
            self.seed, self.run_id = seed, run_id

    runs = [R(1, "b"), R(0, "z"), R(1, "a"), R(2, "c"), R(1, "c")]
    for order in (runs, runs[::-1]):
        kept, dropped = once_per_seed(order)
        assert [(r.seed, r.run_id) for r in kept] == [(0, "z"), (1, "a"), (2, "c")]
        assert dropped == 2


@pytest.mark.slow
def test_a_seed_written_twice_counts_once(tmp_path):
    out = pipeline.run(_cfg(tmp_path, "study.n_runs=3", "study.name=twice"))
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    tracker = tracking.Tracker(uri, run_id=out.run_id)
    tracker.attach(out.record.meta)
    tracker.log_runs([out.record.runs[1]])  # a second FINISHED child of seed 1
    assert [s for s, _ in _children(tmp_path / "mlflow.db")] == [0, 1, 1, 2]
    back = tracking.load_study(uri, out.run_id)
    assert back.seeds == [0, 1, 2]
    assert any("1 more FINISHED child" in n for n in back.notes)
    np.testing.assert_array_equal(back.values("olden"), out.record.values("olden"))


# --- claims ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_claims_skip_live_seeds_and_take_over_dead_ones(tmp_path, monkeypatch):
    out = pipeline.run(_cfg(tmp_path, "study.n_runs=2", "study.name=claims"))
    client = tracking.Tracker(f"sqlite:///{tmp_path / 'mlflow.db'}", run_id=out.run_id).client
    monkeypatch.setattr(_claims, "PROCESS", "elsewhere:1")  # another machine
    first = _claims.Claim(client, out.run_id)
    assert first.take(range(10), done={0, 1}, n=4) == ([2, 3, 4, 5], {})
    assert first.take(range(10), done={0, 1}, n=4) == ([6, 7, 8, 9], {})  # the next chunk
    first.forget([2, 3])  # finished: no longer claimed
    monkeypatch.setattr(_claims, "PROCESS", "elsewhere:2")  # a third process, same time
    mine, taken = _claims.Claim(client, out.run_id).take(range(12), done={0, 1, 2, 3})
    assert mine == [10, 11] and taken == {"elsewhere:1": set(range(2, 10)) - {0, 1, 2, 3}}
    assert first.seeds() == set(range(4, 10))
    # the first process's heartbeat stops: its seeds are free again
    monkeypatch.setattr(_claims.time, "time", lambda: time.monotonic() + 1e10)
    monkeypatch.setattr(_claims, "PROCESS", "elsewhere:3")
    mine, taken = _claims.Claim(client, out.run_id).take(range(12), done={0, 1})
    assert mine == list(range(2, 12)) and taken == {}


@pytest.mark.slow
def test_simultaneous_claims_resolve_to_the_earlier_one(tmp_path, monkeypatch):
    out = pipeline.run(_cfg(tmp_path, "study.n_runs=1", "study.name=race"))
    client = tracking.Tracker(f"sqlite:///{tmp_path / 'mlflow.db'}", run_id=out.run_id).client
    now = time.time()
    # another process claimed 0-5 a moment before this one, but after this one read the tags
    client.set_tag(
        out.run_id,
        _claims.CLAIM_PREFIX + "elsewhere:9",
        f"heartbeat={now:.3f} seeds=0-5@{now - 1:.3f}",
    )
    real_get = client.get_run
    calls = []

    def stale_first_read(run_id):
        calls.append(run_id)
        run = real_get(run_id)
        if len(calls) == 1:  # the first read did not see it yet
            run.data.tags.pop(_claims.CLAIM_PREFIX + "elsewhere:9")
        return run

    monkeypatch.setattr(client, "get_run", stale_first_read)
    claim = _claims.Claim(client, out.run_id)
    mine, taken = claim.take(range(8), done=set())
    assert mine == [6, 7] and taken == {"elsewhere:9": set(range(6))}
    assert claim.seeds() == {6, 7}
    monkeypatch.setattr(client, "get_run", real_get)
    assert _claims.claims(real_get(out.run_id).data.tags)[_claims.PROCESS]["seeds"].keys() == {6, 7}


@pytest.mark.slow
def test_a_process_that_loses_its_whole_chunk_to_a_race_takes_the_next_free_one(
    tmp_path, monkeypatch
):
    """Workers started together claimed the same chunk; the loser stopped with "nothing is left
    for this one" while seeds were still free (seen with four workers on a server)."""
    out = pipeline.run(_cfg(tmp_path, "study.n_runs=1", "study.name=race-all"))
    client = tracking.Tracker(f"sqlite:///{tmp_path / 'mlflow.db'}", run_id=out.run_id).client
    now = time.time()
    client.set_tag(
        out.run_id,
        _claims.CLAIM_PREFIX + "elsewhere:9",
        f"heartbeat={now:.3f} seeds=0-3@{now - 1:.3f}",
    )
    real_get, calls = client.get_run, []

    def stale_first_read(run_id):
        calls.append(run_id)
        run = real_get(run_id)
        if len(calls) == 1:  # the first read did not see the other's claim yet
            run.data.tags.pop(_claims.CLAIM_PREFIX + "elsewhere:9")
        return run

    monkeypatch.setattr(client, "get_run", stale_first_read)
    mine, taken = _claims.Claim(client, out.run_id).take(range(8), done=set(), n=4)
    assert mine == [4, 5, 6, 7] and taken == {"elsewhere:9": set(range(4))}


@pytest.mark.slow
def test_a_slow_heartbeat_does_not_drop_a_chunk_claimed_meanwhile(mlflow_store, monkeypatch):
    import threading

    tracker = tracking.Tracker(f"sqlite:///{mlflow_store / 'mlflow.db'}", "slow-beat")
    client = tracker.client
    run_id = client.create_run(tracker.experiment_id).info.run_id
    claim = _claims.Claim(client, run_id)
    assert claim.take(range(4), done=set(), n=2)[0] == [0, 1]
    real = client.set_tag

    def set_tag(*args):  # the heartbeat's write reaches a busy store late
        if threading.current_thread().name == "beat":
            time.sleep(1.0)
        real(*args)

    monkeypatch.setattr(client, "set_tag", set_tag)
    beat = threading.Thread(target=claim.refresh, name="beat")
    beat.start()
    time.sleep(0.2)
    assert claim.take(range(4), done=set(), n=2)[0] == [2, 3]  # claimed while it waits
    beat.join()
    tag = _claims.claims(client.get_run(run_id).data.tags)[_claims.PROCESS]
    assert set(tag["seeds"]) == {0, 1, 2, 3}  # else another process takes 2-3 as free


@pytest.mark.slow
def test_a_dead_claim_is_taken_over_less_the_seeds_its_process_wrote(tmp_path, monkeypatch):
    out = pipeline.run(_cfg(tmp_path, "study.n_runs=3", "study.name=over"))  # seeds 0-2, ours
    client = tracking.Tracker(f"sqlite:///{tmp_path / 'mlflow.db'}", run_id=out.run_id).client
    gone = subprocess.Popen(["true"])
    gone.wait()
    dead = f"{socket.gethostname()}:{gone.pid}"  # a process of this machine that is gone
    for run in out.record.runs:  # it wrote the children
        client.set_tag(run.run_id, "study.process", dead)
    # and only its claim says who wrote what: the real process's settled claim names 0-2 too
    client.delete_tag(out.run_id, _claims.CLAIM_PREFIX + _claims.PROCESS)
    # its claim still names 0-5: it was killed before its heartbeat moved 1-2 to its done
    client.set_tag(
        out.run_id, _claims.CLAIM_PREFIX + dead, f"heartbeat={time.time():.3f} seeds=1-5@0 done=0"
    )
    running = client.create_run(
        out.record.experiment_id, tags={"mlflow.parentRunId": out.run_id, "study.process": dead}
    ).info.run_id
    monkeypatch.setattr(_claims, "PROCESS", "elsewhere:1")
    claim = _claims.Claim(client, out.run_id)
    assert claim.take(range(6), done=set()) == ([3, 4, 5], {})
    assert client.get_run(running).info.status == "KILLED"  # nobody will finish it
    claim.written([3, 4])  # FINISHED: out of the live claim, into its done
    claim.refresh()
    mine = _claims.claims(client.get_run(out.run_id).data.tags)["elsewhere:1"]
    assert set(mine["seeds"]) == {5} and mine["done"] == {3, 4}
    monkeypatch.setattr(_claims, "PROCESS", "elsewhere:2")
    assert _claims.Claim(client, out.run_id).take(range(7), done={0, 1, 2}) == (
        [6],
        {"elsewhere:1": {5}},
    )


@pytest.mark.slow
def test_a_journal_keeps_the_seeds_the_store_lacks(tmp_path):
    from study.lifecycle.journal import Journal

    out = pipeline.run(_cfg(tmp_path, "study.n_runs=3", "study.name=kept"))
    journal = Journal(tmp_path, out.run_id)
    for run in out.record.runs:
        journal.add(run)
    journal.clear(in_store=[0, 2])
    assert [r.seed for r in journal.runs()] == [1]
    journal.clear(in_store=[0, 1, 2])
    assert not (tmp_path / "journal").exists()


@pytest.mark.slow
def test_workers_started_together_pull_one_studys_seeds_without_shards(tmp_path):
    # scikit-learn's backend, a seed at a time: the batched one trains a chunk of 64 seeds in
    # less time than the second process takes to start
    args = [
        f"paths.root={tmp_path}",
        "study.name=pull",
        "study.n_runs=100",
        "study.n_jobs=1",
        "study.progress=false",
        "study.resample=none",
        "study.charts=false",
        "importance.methods=[olden]",
        "model.backend=sklearn",
    ]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RUN, *args, "study.resume=true"],
            cwd=tmp_path,
            env=ENV,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [e[-2000:] for _, e in results]
    children = _children(tmp_path / "mlflow.db")
    assert children == [(s, "FINISHED") for s in range(100)]
    with sqlite3.connect(tmp_path / "mlflow.db") as con:
        processes = con.execute(
            "select count(distinct value) from tags where key = 'study.process'"
        ).fetchone()[0]
        parents = con.execute(
            "select count(*) from tags where key = 'study.role' and value = 'study'"
        ).fetchone()[0]
    assert parents == 1 and processes == 2  # one study, whose seeds both workers trained


def _by_process(db: Path) -> dict[str, int]:
    """FINISHED children per process (``host:pid``) in a SQLite store."""
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:  # never creates it
            return dict(
                con.execute(
                    "select t.value, count(*) from runs r join tags t on t.run_uuid = r.run_uuid "
                    "and t.key = 'study.process' where r.status = 'FINISHED' "
                    "group by t.value"
                )
            )
    except sqlite3.Error:  # not there yet, or its schema is being made
        return {}


@pytest.mark.slow
def test_a_worker_killed_beside_another_leaves_each_seed_finished_once(tmp_path):
    # two workers pull one study's seeds (64 and 56); one is SIGKILLed with some of its seeds
    # FINISHED, some journalled and the rest unclaimed by anyone alive: the other takes them
    # over, trains none of them twice, and a last resume finds nothing to do
    n = 120
    args = [
        f"paths.root={tmp_path}",
        "study.name=dies",
        f"study.n_runs={n}",
        "study.n_jobs=1",
        "study.progress=false",
        "study.resample=none",
        "study.charts=false",
        "importance.methods=[olden]",
        "dataset=iris",
        "model.backend=sklearn",
        "stability.n_bootstrap=200",
        "study.resume=true",
    ]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RUN, *args],
            cwd=tmp_path,
            env=ENV,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    db, victim, host = tmp_path / "mlflow.db", None, socket.gethostname()
    try:
        deadline = time.time() + 120
        while victim is None and time.time() < deadline:
            ended = [p for p in procs if p.poll() is not None]
            assert not ended, f"a worker ended before the kill: {ended[0].stderr.read()[-3000:]}"
            done = [_by_process(db).get(f"{host}:{p.pid}", 0) for p in procs]
            if min(done) >= 1 and max(done) >= 5:  # both train, one has seeds in the store
                victim = procs[done.index(max(done))]
            time.sleep(0.05)
        assert victim is not None, "no worker finished 5 seeds in 2 minutes"
        victim.kill()
        victim.wait()  # reaped: its pid is gone, the survivor takes its claim over at once
        survivor = next(p for p in procs if p is not victim)
        out, err = survivor.communicate(timeout=180)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert survivor.returncode == 0, err[-3000:]
    killed_done = _by_process(db).get(f"{host}:{victim.pid}", 0)
    assert 5 <= killed_done < 64
    assert _children(db) == [(s, "FINISHED") for s in range(n)]  # each seed once, none missing
    again = _study_run(*args, cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"{n} runs" in again.stdout and "missing" not in again.stdout
    assert _children(db) == [(s, "FINISHED") for s in range(n)]
    with sqlite3.connect(db) as con:
        assert con.execute(
            "select status from runs r join tags t on t.run_uuid = r.run_uuid "
            "and t.key = 'study.role' and t.value = 'study'"
        ).fetchall() == [("FINISHED",)]
    assert not (tmp_path / "journal").exists()  # every journalled seed is in the store


def test_seed_ranges_round_trip():
    seeds = [0, 1, 2, 5, 7, 8, 100]
    assert _claims.ranges(seeds) == "0-2,5,7-8,100"
    assert _claims.parse_ranges(_claims.ranges(seeds)) == set(seeds)


@pytest.mark.slow
def test_a_resume_started_while_the_study_runs_leaves_each_seed_finished_once(tmp_path):
    args = [
        f"paths.root={tmp_path}",
        "study.name=live",
        "study.n_runs=12",
        "study.n_jobs=1",
        "study.progress=false",
        "study.resample=none",
        "study.charts=false",
        "importance.methods=[olden]",
        "dataset=known_truth_classification",
        "model=mlp_16_8",
        "model.max_iter=1000",
        "model.tol=0",
        "model.n_iter_no_change=100000",
        "model.backend=sklearn",
    ]  # about 1 s a seed: the resume starts while it trains
    first = subprocess.Popen(
        [sys.executable, "-c", RUN, *args],
        cwd=tmp_path,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    db = tmp_path / "mlflow.db"
    deadline = time.time() + 120
    while time.time() < deadline and first.poll() is None:  # until its claim is in the store
        try:
            with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:  # never creates it
                if con.execute(
                    "select count(*) from tags where key like 'study.claim.%'"
                ).fetchone()[0]:
                    break
        except sqlite3.Error:
            pass
        time.sleep(0.2)
    assert first.poll() is None, first.stderr.read()[-3000:]
    second = _study_run(*args, "study.resume=true", cwd=tmp_path)
    assert first.poll() is None, "the study ended before its resume did: too fast to test"
    out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err[-3000:]
    # the resume found nothing to train: every seed was claimed by the live process
    assert second.returncode == 2 and "being trained by another live process" in second.stderr
    assert "Traceback" not in second.stderr
    assert _children(db) == [(s, "FINISHED") for s in range(12)]
    with sqlite3.connect(db) as con:
        assert con.execute(
            "select status from runs r join tags t on t.run_uuid = r.run_uuid "
            "and t.key = 'study.role' and t.value = 'study'"
        ).fetchall() == [("FINISHED",)]


# --- names, damaged bundles, what study-aggregate writes ----------------------------------------


@pytest.mark.slow
def test_a_name_with_quotes_resumes_and_aggregates(tmp_path, capsys):
    out = pipeline.run(_cfg(tmp_path, "study.n_runs=2", 'study.name="it\'s"'))
    again = pipeline.run(
        _cfg(tmp_path, "study.n_runs=3", 'study.name="it\'s"', "study.resume=true")
    )
    assert again.run_id == out.run_id and again.record.seeds == [0, 1, 2]
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    aggregate_main(["--study", "it's", "--uri", uri, "--output", str(tmp_path / "agg"), "--no-log"])
    assert "3 finished seeds" in capsys.readouterr().out
    both = pipeline.run(_cfg(tmp_path, "study.n_runs=1", "study.name='it\\'s \"both\"'"))
    assert tracking.find_study(uri, name='it\'s "both"') == both.run_id


@pytest.mark.slow
def test_a_new_study_of_a_used_name_with_other_settings_is_refused(tmp_path):
    pipeline.run(_cfg(tmp_path, "study.n_runs=1", "study.name=taken"))
    with pytest.raises(
        StudyError, match=r"was run with other settings \(model.alpha: 0.0001 -> 0.01"
    ):
        pipeline.run(_cfg(tmp_path, "study.n_runs=1", "study.name=taken", "model.alpha=0.01"))
    n = _n_runs(tmp_path / "mlflow.db")
    with pytest.raises(StudyError, match="other settings"):
        pipeline.run(
            _cfg(
                tmp_path,
                "study.n_runs=1",
                "study.name=taken",
                "model.alpha=0.01",
                "study.resume=true",
            )
        )
    assert _n_runs(tmp_path / "mlflow.db") == n  # refused before anything was written


@pytest.mark.slow
def test_a_truncated_bundle_is_read_from_the_children(tmp_path, capsys):
    out = pipeline.run(_cfg(tmp_path, "study.n_runs=3", "study.name=damaged"))
    bundle = next((tmp_path / "artifacts").rglob(tracking.BUNDLE))
    bundle.write_bytes(bundle.read_bytes()[: bundle.stat().st_size // 2])
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    back = tracking.load_study(uri, out.run_id)
    assert back.seeds == [0, 1, 2] and "damaged" in back.notes[0]
    np.testing.assert_array_equal(back.values("olden"), out.record.values("olden"))
    aggregate_main(
        [
            "--study",
            "damaged",
            "--uri",
            uri,
            "--output",
            str(tmp_path / "agg"),
            "--no-log",
            "--no-charts",
        ]
    )
    assert "is damaged" in capsys.readouterr().out


@pytest.mark.slow
def test_study_aggregate_writes_every_csv_study_run_wrote(tmp_path):
    cfg = _cfg(
        tmp_path,
        "study.n_runs=3",
        "study.name=files",
        "dataset=breast_cancer_onehot",
        "importance.methods=[garson,garson_signed,olden]",
        "validate.retrain=true",
        "validate.k_max=1",
        "validate.n_seeds=1",
        "validate.n_random=1",
    )
    pipeline.run(cfg)
    aggregate_main(
        [
            "--study",
            "files",
            "--uri",
            f"sqlite:///{tmp_path / 'mlflow.db'}",
            "--output",
            str(tmp_path / "agg"),
            "--no-log",
            "--no-charts",
        ]
    )
    wrote = sorted(p.name for p in (tmp_path / "out").glob("*.csv"))
    assert {"output_layer_check.csv", "output_relations.csv", "retrain_areas.csv"} <= set(wrote)
    assert sorted(p.name for p in (tmp_path / "agg").glob("*.csv")) == wrote
    for name in wrote:
        pd.testing.assert_frame_equal(
            pd.read_csv(tmp_path / "agg" / name), pd.read_csv(tmp_path / "out" / name)
        )


@pytest.mark.slow
def test_study_aggregate_refuses_top_k_above_the_variables(tmp_path, capsys):
    pipeline.run(_cfg(tmp_path, "study.n_runs=1", "study.name=topk"))
    with pytest.raises(SystemExit) as exit_:
        aggregate_main(
            [
                "--study",
                "topk",
                "--uri",
                f"sqlite:///{tmp_path / 'mlflow.db'}",
                "--top-k",
                "100",
                "--no-log",
            ]
        )
    assert exit_.value.code == 2
    assert "--top-k 100 is more than the 13 variables" in capsys.readouterr().err


@pytest.mark.parametrize("content", [b"", b"not a database at all" * 100])
def test_an_empty_or_corrupt_database_is_one_line_and_left_as_it_is(tmp_path, capsys, content):
    db = tmp_path / "mlflow.db"
    db.write_bytes(content)
    with pytest.raises(SystemExit) as exit_:
        aggregate_main(["--study", "x", "--uri", f"sqlite:///{db}", "--no-log"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert str(db) in err and len(err.strip().splitlines()) == 1
    assert db.read_bytes() == content  # no schema written into it
    with pytest.raises(StudyError, match=str(db)):
        pipeline.run(_cfg(tmp_path, "study.n_runs=1"))
    assert db.read_bytes() == content


def test_a_read_only_output_folder_is_one_line(tmp_path):
    if os.geteuid() == 0:
        target = Path("/proc/study-cannot-write-here")  # root writes anywhere else
    else:
        target = tmp_path / "ro"
        target.mkdir()
        target.chmod(0o500)
    with pytest.raises(StudyError, match="cannot write into"):
        pipeline.run(
            config.compose(
                [
                    f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}",
                    f"paths.root={tmp_path}",
                    f"paths.output_dir={target}",
                    *ARGS,
                    "study.n_runs=1",
                ]
            )
        )
    assert _n_runs(tmp_path / "mlflow.db") == 0


# --- a store that dies, shards on several machines (real mlflow servers on 127.0.0.1) -----------


def _server(root: Path, port: int):
    from conftest import wait_healthy

    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--backend-store-uri",
            f"sqlite:///{root / 'server.db'}",
            "--artifacts-destination",
            str(root / "served"),
            "--workers",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
        start_new_session=True,  # its workers too are killed with its process group
    )
    wait_healthy(f"http://127.0.0.1:{port}", proc, seconds=120, what="mlflow server")
    return proc


def _finished_over_http(uri: str, name: str) -> list[int]:
    """Seeds of the FINISHED children of the studies called ``name`` on a server."""
    from mlflow import MlflowClient

    client = MlflowClient(uri)
    ids = [e.experiment_id for e in client.search_experiments()]
    # children carry study.name too: the parents are the runs of role study
    parents = client.search_runs(
        ids, f"tags.`study.role` = 'study' and tags.`study.name` = '{name}'"
    )
    seeds = []
    for p in parents:
        seeds += [
            int(c.data.params["seed"])
            for c in client.search_runs(
                ids,
                f"tags.`mlflow.parentRunId` = '{p.info.run_id}' and attributes.status = 'FINISHED'",
            )
        ]
    return sorted(seeds)


@pytest.mark.slow
def test_a_server_killed_mid_study_stops_it_and_the_resume_uploads_the_journal(tmp_path):
    from conftest import free_port

    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    server = _server(tmp_path, port)
    args = [
        f"tracking.uri={uri}",
        f"paths.root={tmp_path}",
        "study.name=dies",
        "study.n_runs=16",
        "study.n_jobs=1",
        "study.progress=false",
        "study.resample=none",
        "study.charts=false",
        "importance.methods=[olden]",
        "dataset=known_truth_classification",
        "model=mlp_16_8",
        "model.max_iter=1000",
        "model.tol=0",
        "model.n_iter_no_change=100000",
        "model.backend=sklearn",
    ]  # a seed at a time, about 1 s each: killed mid-study
    study = subprocess.Popen(
        [sys.executable, "-c", RUN, *args],
        cwd=tmp_path,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.time() + 180
        while time.time() < deadline and study.poll() is None:
            if len(list((tmp_path / "journal").rglob("seed-*.pkl"))) >= 3:
                break
            time.sleep(0.2)
        assert study.poll() is None, study.stderr.read()[-3000:]
        os.killpg(server.pid, signal.SIGKILL)  # the server and its workers, at once
        server.wait()
        killed = time.time()
        _, err = study.communicate(timeout=120)
        assert time.time() - killed < 30
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
    assert study.returncode == 1, err[-3000:]
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err[-3000:]
    assert "stopped answering" in err and "study.resume=true" in err
    journalled = len(list((tmp_path / "journal").rglob("seed-*.pkl")))
    assert journalled >= 3

    server = _server(tmp_path, port)  # the same store, back
    try:
        again = _study_run(*args, "study.resume=true", cwd=tmp_path, timeout=300)
        assert again.returncode == 0, again.stderr[-3000:]
        assert _finished_over_http(uri, "dies") == list(range(16))
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    uploaded = [line for line in again.stdout.splitlines() if "came from the journal" in line]
    assert uploaded and int(uploaded[0].split()[0]) > 0
    assert not (tmp_path / "journal").exists()  # all in the store: the journal is gone


@pytest.mark.slow
def test_two_shards_started_at_once_on_two_machines_end_in_one_parent(tmp_path):
    from conftest import free_port

    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    server = _server(tmp_path, port)
    try:
        for trial in range(5):
            name = f"two-machines-{trial}"
            procs = []
            for shard in (0, 1):
                home = tmp_path / f"machine{shard}"  # own HOME and TMPDIR: no shared file lock
                (home / "tmp").mkdir(parents=True, exist_ok=True)
                env = {**ENV, "HOME": str(home), "TMPDIR": str(home / "tmp")}
                procs.append(
                    subprocess.Popen(
                        [
                            sys.executable,
                            "-c",
                            RUN,
                            f"tracking.uri={uri}",
                            f"paths.root={home}",
                            f"study.name={name}",
                            "study.n_runs=4",
                            "study.n_shards=2",
                            f"study.shard={shard}",
                            "study.n_jobs=1",
                            "study.progress=false",
                            "study.resample=none",
                            "study.charts=false",
                            "importance.methods=[olden]",
                            "stability.n_bootstrap=200",
                        ],
                        cwd=home,
                        env=env,
                        stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE,
                        text=True,
                    )
                )
            for p in procs:
                _, err = p.communicate(timeout=300)
                assert p.returncode == 0, err[-3000:]
            from mlflow import MlflowClient

            client = MlflowClient(uri)
            ids = [e.experiment_id for e in client.search_experiments()]
            parents = client.search_runs(  # children carry study.name too: role study only
                ids, f"tags.`study.role` = 'study' and tags.`study.name` = '{name}'"
            )
            assert len(parents) == 1, f"trial {trial}: {len(parents)} parents"
            assert parents[0].info.status == "FINISHED"
            assert _finished_over_http(uri, name) == [0, 1, 2, 3]
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


@pytest.mark.slow
def test_sigterm_during_the_final_flush_leaves_nothing_running(tmp_path):
    from conftest import free_port
    from mlflow import MlflowClient

    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    server = _server(tmp_path, port)
    n = 40
    args = [
        f"tracking.uri={uri}",
        f"paths.root={tmp_path}",
        "study.name=flush",
        f"study.n_runs={n}",
        "study.n_jobs=1",
        "study.progress=false",
        "study.resample=none",
        "study.charts=false",
        "model.backend=batched",
        "importance.methods=[olden,garson]",
    ]
    try:
        study = subprocess.Popen(
            [sys.executable, "-c", RUN, *args],
            cwd=tmp_path,
            env=ENV,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.time() + 180
        while time.time() < deadline and study.poll() is None:  # every seed trained: flushing
            if len(list((tmp_path / "journal").rglob("seed-*.pkl"))) == n:
                break
            time.sleep(0.05)
        assert study.poll() is None, study.stderr.read()[-3000:]
        study.send_signal(signal.SIGTERM)
        _, err = study.communicate(timeout=180)
        assert study.returncode == 130, err[-3000:]
        assert "Traceback" not in err
        client = MlflowClient(uri)
        ids = [e.experiment_id for e in client.search_experiments()]
        assert client.search_runs(ids, "attributes.status = 'RUNNING'") == []
        again = _study_run(*args, "study.resume=true", cwd=tmp_path, timeout=300)
        assert again.returncode == 0, again.stderr[-3000:]
        assert _finished_over_http(uri, "flush") == list(range(n))
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


@pytest.mark.slow
def test_a_store_that_cannot_be_written_is_one_line_and_stays_unchanged(tmp_path):
    pipeline.run(_cfg(tmp_path, "study.n_runs=1", "study.name=ro"))
    db = tmp_path / "mlflow.db"
    if os.geteuid() == 0:  # root writes through file modes: make the file immutable instead
        if subprocess.run(["chattr", "+i", str(db)], capture_output=True).returncode != 0:
            pytest.skip("chattr +i is not supported here")
    else:
        db.chmod(0o444)
    before = db.read_bytes()
    try:
        proc = _study_run(
            f"tracking.uri=sqlite:///{db}",
            f"paths.root={tmp_path}",
            "study.n_runs=1",
            "study.progress=false",
            "study.resample=none",
            "study.charts=false",
            cwd=tmp_path,
        )
    finally:
        subprocess.run(["chattr", "-i", str(db)], capture_output=True)
        db.chmod(0o644)
    assert proc.returncode == 1, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "readonly database" in proc.stderr
    assert db.read_bytes() == before
