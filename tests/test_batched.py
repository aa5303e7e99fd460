"""The batched backend reproduces scikit-learn's MLP training, seed for seed.

Oracles: scikit-learn itself (initial weights bit for bit; n_iter_, weights, loss curves and every
importance method on the same seeds), invariances (the block a seed trains in, n_jobs), and the
two-sample comparison of the seeds that do not match exactly. The 200-seed version of the main
comparison runs in ``benchmarks/benchmark.py``.
"""

import warnings

import numpy as np
import pytest
from scipy import stats
from sklearn.neural_network import MLPClassifier, MLPRegressor

from study import config
from study.config.settings import Settings
from study.datasets import load_dataset, split
from study.errors import StudyError
from study.training import batched, models, runner

DEFAULT = dict(
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


def _sklearn(cls, params, seeds, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [cls(**params, random_state=s).fit(X, y) for s in seeds]


def _batched(cls, params, seeds, X, y):
    fitted = [cls(**params, random_state=s) for s in seeds]
    out = batched.fit_block(fitted, [X] * len(fitted), [y] * len(fitted))
    return fitted, out


def _rel(a, b):
    return max(
        float(np.max(np.abs(x - y) / np.maximum(np.abs(x), 1e-12)))
        for x, y in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_)
    )


def _matches(a, b) -> bool:
    return a.n_iter_ == b.n_iter_ and _rel(a, b) < 1e-6


@pytest.fixture(scope="module")
def wine():
    return split(load_dataset("wine"), test_size=0.25, seed=0)


def test_initial_weights_are_scikit_learns_bit_for_bit(wine, monkeypatch):
    seen = {}

    def capture(self, *args, **kwargs):  # scikit-learn's weights just before its first epoch
        seen[self.random_state] = [w.copy() for w in self.coefs_ + self.intercepts_]
        raise StopIteration

    monkeypatch.setattr(MLPClassifier, "_fit_stochastic", capture)
    for activation in ("tanh", "logistic"):
        for seed in range(5):
            with pytest.raises(StopIteration):
                MLPClassifier(
                    **{**DEFAULT, "hidden_layer_sizes": (8, 4), "activation": activation},
                    random_state=seed,
                ).fit(wine.X_train, wine.y_train)
            ours = batched.initial_weights(np.random.RandomState(seed), [13, 8, 4, 3], activation)
            ours = [w for w, _ in ours] + [b for _, b in ours]
            for a, b in zip(seen[seed], ours):
                np.testing.assert_array_equal(a, b)


def test_default_study_matches_scikit_learn(wine):
    """n_iter_ identical and weights to 1e-6 on at least 90% of seeds; fitted attributes alike."""
    seeds = range(40)
    sk = _sklearn(MLPClassifier, DEFAULT, seeds, wine.X_train, wine.y_train)
    ours, warns = _batched(MLPClassifier, DEFAULT, seeds, wine.X_train, wine.y_train)
    same = [_matches(a, b) for a, b in zip(sk, ours)]
    assert sum(same) >= 0.9 * len(same), f"{sum(same)}/{len(same)} seeds match"
    for a, b, w in zip(sk, ours, warns):
        assert w == [] and a.n_iter_ < 2000  # all converge, as scikit-learn's do
        assert a.n_iter_ == b.n_iter_ and a.t_ == b.t_
        np.testing.assert_allclose(a.loss_curve_, b.loss_curve_, rtol=1e-9)
        assert b.loss_ == b.loss_curve_[-1] and b.best_loss_ == min(b.loss_curve_)
        np.testing.assert_array_equal(a.classes_, b.classes_)
        np.testing.assert_array_equal(a.predict(wine.X_test), b.predict(wine.X_test))
        assert a.n_features_in_ == b.n_features_in_ and a.out_activation_ == b.out_activation_
    missing = set(vars(sk[0])) - set(vars(ours[0])) - {"_optimizer"}
    assert not missing, f"attributes fit sets and the batched backend does not: {missing}"


CONFIGS = [  # (dataset, overrides): every solver, activation, output and stopping rule we cover
    ("wine", dict(early_stopping=True, n_iter_no_change=50)),
    ("wine", dict(batch_size=32)),
    ("wine", dict(solver="sgd", learning_rate="adaptive", learning_rate_init=0.1)),
    (
        "wine",
        dict(
            solver="sgd",
            learning_rate="invscaling",
            batch_size=16,
            learning_rate_init=0.1,
            max_iter=60,
        ),
    ),
    ("iris", dict(solver="sgd", learning_rate="constant", nesterovs_momentum=False, max_iter=50)),
    ("diabetes", dict(activation="relu", max_iter=300)),
    ("linnerud", dict(activation="logistic", early_stopping=True)),
    ("breast_cancer", dict(activation="identity", hidden_layer_sizes=(16, 8))),
    ("breast_cancer", dict(early_stopping=True, batch_size=50)),
    ("breast_cancer_onehot", dict(max_iter=100)),
]


@pytest.mark.parametrize("name, overrides", CONFIGS, ids=lambda v: str(v))
def test_every_covered_configuration_matches_scikit_learn(name, overrides):
    if name == "breast_cancer_onehot":
        ds = load_dataset("breast_cancer", one_hot=True)
    else:
        ds = load_dataset(name)
    data = split(ds, test_size=0.25, seed=0)
    cls = MLPClassifier if ds.task == "classification" else MLPRegressor
    params = {**DEFAULT, **overrides}
    seeds = range(6)
    sk = _sklearn(cls, params, seeds, data.X_train, data.y_train)
    ours, warns = _batched(cls, params, seeds, data.X_train, data.y_train)
    assert sum(_matches(a, b) for a, b in zip(sk, ours)) >= 5
    for a, b, w in zip(sk, ours, warns):
        assert a.n_iter_ == b.n_iter_
        assert bool(w) == (a.n_iter_ == params["max_iter"])  # the ConvergenceWarning, per network
        if params["early_stopping"]:
            np.testing.assert_allclose(a.validation_scores_, b.validation_scores_, rtol=1e-9)
            assert a.best_validation_score_ == pytest.approx(b.best_validation_score_)
        assert a.score(data.X_test, data.y_test) == pytest.approx(
            b.score(data.X_test, data.y_test), abs=1e-9
        )


def test_what_it_does_not_reproduce_falls_back_and_says_so():
    assert batched.unsupported(MLPClassifier(solver="lbfgs")) == "solver=lbfgs"
    assert batched.unsupported(MLPClassifier(warm_start=True)) == "warm_start=True"
    assert batched.unsupported(MLPRegressor(loss="poisson")) == "loss=poisson"
    assert batched.unsupported(MLPClassifier()) is None
    cfg = {"hidden_layer_sizes": [4], "solver": "lbfgs", "backend": "batched", "max_iter": 50}
    assert "solver=lbfgs" in models.backend_note("classification", cfg)
    assert models.backend_note("classification", {**cfg, "solver": "adam"}) is None
    assert models.backend_note("classification", {**cfg, "backend": "sklearn"}) is None
    ds = load_dataset("wine")
    plan = runner.Plan(ds, cfg, ("olden",))
    fell_back = sorted(runner.run_many(plan, [0, 1]), key=lambda r: r.seed)
    plain = [
        runner.run_one(runner.Plan(ds, {**cfg, "backend": "sklearn"}, ("olden",)), s)
        for s in (0, 1)
    ]
    for a, b in zip(fell_back, plain):
        np.testing.assert_array_equal(
            a.importances["olden"]["value"], b.importances["olden"]["value"]
        )
    with pytest.raises(StudyError, match="unknown model.backend 'gpu'; valid: sklearn, batched"):
        models.backend({"backend": "gpu"})


def _plan(backend, methods=None, **kw):
    settings = Settings.from_config(config.compose([f"model.backend={backend}"]))
    return runner.Plan(
        load_dataset("wine"),
        settings.model,
        methods or settings.methods,
        settings.method_options,
        0.25,
        0,
        **kw,
    )


def test_runner_records_match_scikit_learns_for_every_method():
    """Through the runner: every importance method equal to 1e-6 on the seeds that match."""
    seeds = list(range(12))
    ours = runner.run_block(_plan("batched"), seeds)
    theirs = [runner.run_one(_plan("sklearn"), s) for s in seeds]
    matched = 0
    for a, b in zip(ours, theirs):
        assert a.seed == b.seed and a.n_iter == b.n_iter and a.converged == b.converged
        if max(np.max(np.abs(x - y)) for x, y in zip(a.coefs, b.coefs)) > 1e-8:
            continue
        matched += 1
        assert a.test_score == b.test_score and a.train_score == b.train_score
        for method, measures in b.importances.items():
            for key, value in measures.items():
                np.testing.assert_allclose(
                    a.importances[method][key],
                    value,
                    rtol=1e-6,
                    atol=1e-12,
                    err_msg=f"{method}/{key}",
                )
    assert matched >= 11


@pytest.mark.parametrize("name", ["wine", "breast_cancer", "linnerud"])
def test_block_scores_are_model_score_bit_for_bit(name):
    # a block's train and test scores come from one forward pass (batched.scores), not from
    # model.score: the same numbers for a multi-class, a binary and a multi-target network
    ds = load_dataset(name)
    model = {"hidden_layer_sizes": [8], "max_iter": 200, "learning_rate_init": 0.01}
    plan = runner.Plan(ds, model, (), {}, 0.25, 0)
    records = runner.run_block(plan, list(range(16)))
    d = split(ds, test_size=0.25, seed=0)
    fitted = [models.make_model(ds.task, model, seed=rec.seed) for rec in records]
    models.fit_many(fitted, [d.X_train] * 16, [d.y_train] * 16)  # the same block, by hand
    for rec, net in zip(records, fitted):
        for a, b in zip(rec.coefs, net.coefs_):
            np.testing.assert_array_equal(a, b)
        assert rec.test_score == net.score(d.X_test, d.y_test)
        assert rec.train_score == net.score(d.X_train, d.y_train)


def test_the_null_networks_of_the_randomisation_test_match_too():
    # every design: the response or a variable permuted, fresh or the tested seed's weights
    jobs = [
        runner.Null(5),
        runner.Null(6),
        runner.Null(7, variable=2),
        runner.Null(8, init=3),
        runner.Null(9, variable=0, init=3),
        runner.Null(10, variable=4, init=3),
    ]
    ours = runner.run_block(_plan("batched", methods=("olden",)), jobs)
    theirs = [runner.run_one(_plan("sklearn", methods=("olden",)), j) for j in jobs]
    for a, b in zip(ours, theirs):
        assert a.n_iter == b.n_iter
        np.testing.assert_allclose(
            a.importances["olden"]["value"], b.importances["olden"]["value"], rtol=1e-6
        )


def test_blocks_and_workers_do_not_change_a_number(monkeypatch):
    """A network's arithmetic does not depend on its block-mates: any cut, any n_jobs."""
    plan = _plan("batched", methods=("olden", "garson"))
    seeds = list(range(10))
    whole = runner.run_block(plan, seeds)
    monkeypatch.setattr(batched.limits, "_BLOCK_BYTES", 1)  # one network per block
    assert runner.blocks(plan, seeds, 1) == [[s] for s in seeds]
    monkeypatch.undo()
    parts = runner.run_block(plan, seeds[:3]) + runner.run_block(plan, seeds[3:])
    parallel = sorted(runner.run_many(plan, seeds, n_jobs=2), key=lambda r: r.seed)
    for a, b, c in zip(whole, parts, parallel):
        for x, y, z in zip(a.coefs, b.coefs, c.coefs):
            np.testing.assert_array_equal(x, y)
            np.testing.assert_array_equal(x, z)


def test_block_sizes_follow_workers_and_memory():
    plan = _plan("batched")
    assert [len(b) for b in runner.blocks(plan, range(300), 2)] == [75] * 4
    assert [len(b) for b in runner.blocks(plan, range(20), 2)] == [16, 4]
    assert runner.blocks(plan, range(5), 2) == [list(range(5))]
    wide = batched.block_size(10_000, 500, [256, 128, 10])
    assert 1 <= wide < batched.block_size(133, 13, [8, 3])


def test_seeds_that_drift_still_agree_in_distribution(wine):
    """Over seeds, test score and each variable's Olden value: no difference at 0.01."""
    seeds = list(range(60, 100))
    ours = runner.run_block(_plan("batched", methods=("olden",)), seeds)
    theirs = [runner.run_one(_plan("sklearn", methods=("olden",)), s) for s in seeds]
    a = np.array([r.test_score for r in ours])
    b = np.array([r.test_score for r in theirs])
    if not np.array_equal(a, b):
        assert stats.mannwhitneyu(a, b).pvalue > 0.01
    oa = np.stack([r.importances["olden"]["value"] for r in ours])
    ob = np.stack([r.importances["olden"]["value"] for r in theirs])
    for i in range(oa.shape[1]):
        for c in range(oa.shape[2]):
            assert stats.ks_2samp(oa[:, i, c], ob[:, i, c]).pvalue > 0.01


def test_a_network_that_diverges_fails_alone():
    ds = load_dataset("diabetes")
    data = split(ds, test_size=0.25, seed=0)
    params = {
        **DEFAULT,
        "activation": "relu",
        "solver": "sgd",
        "learning_rate_init": 10.0,
        "max_iter": 20,
        "momentum": 0.0,
    }
    sk_errors = []
    for s in range(4):
        try:
            _sklearn(MLPRegressor, params, [s], data.X_train, data.y_train)
            sk_errors.append(None)
        except ValueError as err:
            sk_errors.append(str(err))
    _, out = _batched(MLPRegressor, params, range(4), data.X_train, data.y_train)
    assert any(sk_errors)
    for err, res in zip(sk_errors, out):
        assert (err is None) == (not isinstance(res, Exception))
        if err:
            assert str(res) == err


# ---------------------------------------------------------------------------------------------
# forked workers (study.training.pool): what study-run uses where forking is safe

_FORKED = """
import os, signal, sys
import numpy as np
from study.training import pool as _pool, runner
from study import config
from study.datasets import load_dataset
from study.config.settings import Settings

s = Settings.from_config(config.compose(["model.max_iter=30", "model.backend=batched"]))
plan = runner.Plan(load_dataset("wine"), s.model, ("olden", "garson"), {}, 0.25, 0)
seeds = list(range(40))
here = runner.run_block(plan, seeds)
_pool._MARK = "set here before the fork"
assert runner.warm_up(2, plan) is None  # forked: no thread to wait for
pool = _pool.current(2)
assert pool is not None
mark = pool.submit(eval, "__import__('study.training.pool', fromlist=['_'])._MARK").result()
assert mark == "set here before the fork"
assert pool.submit(os.getppid).result() == os.getpid()
{body}
"""


def _in_a_fresh_process(body: str) -> str:
    import subprocess
    import sys

    code = _FORKED.replace("{body}", body)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


@pytest.mark.slow
def test_forked_workers_train_the_same_networks_in_order():
    # the workers are forked from this process (they see what it set before the fork, and it is
    # their parent) and give, block by block and in order, the networks trained here
    out = _in_a_fresh_process(
        "there = list(runner.run_many(plan, seeds, n_jobs=2))\n"
        "assert [r.seed for r in there] == seeds\n"
        "for a, b in zip(here, there):\n"
        "    for x, y in zip(a.coefs, b.coefs):\n"
        "        np.testing.assert_array_equal(x, y)\n"
        "    np.testing.assert_array_equal(a.importances['olden']['value'],\n"
        "                                  b.importances['olden']['value'])\n"
        "runner.release_workers()\n"
        "assert _pool.current(2) is None\n"
        "print('ok')\n"
    )
    assert out.strip() == "ok"


@pytest.mark.slow
def test_a_dead_worker_hands_the_rest_to_joblib_workers():
    # a worker killed (the OOM killer, say) breaks the forked pool: the blocks not yet handed
    # back are trained by joblib's workers, and every seed comes back once, with its numbers
    out = _in_a_fresh_process(
        "os.kill(pool.submit(os.getpid).result(), signal.SIGKILL)\n"
        "there = list(runner.run_many(plan, seeds, n_jobs=2))\n"
        "assert [r.seed for r in there] == seeds\n"
        "for a, b in zip(here, there):\n"
        "    np.testing.assert_array_equal(a.coefs[0], b.coefs[0])\n"
        "assert _pool.current(2) is None\n"
        "print('ok')\n"
    )
    assert out.strip() == "ok"


def test_no_fork_while_another_thread_runs():
    # a thread of this process (a notebook's kernel, a store's client) could hold a lock the
    # forked copy would wait on forever: no forked pool then, joblib's workers instead
    import threading

    from study.training import pool as _pool

    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert not _pool._fork_safe()
        assert _pool.start(2) is None or _pool.current(2) is not None  # one made before stays
    finally:
        stop.set()
        thread.join()


@pytest.mark.slow
def test_no_forked_pool_for_a_study_scikit_learn_trains():
    # the scikit-learn backend trains through joblib's workers: warm_up starts those (a thread
    # to join), and forks no pool that nothing would use
    import subprocess
    import sys

    code = (
        "from study import config\nfrom study.training import pool as _pool, runner\n"
        "from study.datasets import load_dataset\n"
        "from study.config.settings import Settings\n"
        "s = Settings.from_config(config.compose(['model.backend=sklearn']))\n"
        "plan = runner.Plan(load_dataset('wine'), s.model, ('olden',), {}, 0.25, 0)\n"
        "warm = runner.warm_up(2, plan)\n"
        "assert warm is not None and _pool.current(2) is None\n"
        "warm.join()\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-3000:]
