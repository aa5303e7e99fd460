"""A prototype of the batched trainer on a GPU, for the README's performance section (what a GPU
backend would need). Not collected by pytest; nothing in ``study`` uses it.

    python benchmarks/gpu.py --check            # here: the prototype on numpy equals
    study.training.batched python benchmarks/gpu.py                    # on a machine with CuPy and
    a CUDA GPU

It trains the default network (8 tanh units, Adam, minibatches of 200) on section 7's table
(2000 x 30, 3 classes) for blocks of N seeds with :mod:`study.training.batched`'s own arithmetic
(``_numerics.backprop`` and ``Adam``, run on CuPy arrays through numpy's dispatch) and
scikit-learn's initial weights and per-epoch shuffles from each seed's ``RandomState`` (drawn on
the CPU, as scikit-learn draws them). It prints networks per second, the share of that time the
CPU spends drawing the shuffles, and how far the GPU's weights are from the same prototype's on
the CPU in float64 (seeds whose weights agree to 1e-6 and their number of epochs).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from study.training.batched import _numerics, initial_weights

SPEC = {
    "activation": "tanh",
    "out_activation": "softmax",
    "loss": "log_loss",
    "alpha": 1e-4,
    "learning_rate_init": 0.01,
    "beta_1": 0.9,
    "beta_2": 0.999,
    "epsilon": 1e-8,
    "tol": 1e-4,
    "n_iter_no_change": 10,
    "max_iter": 2000,
}


def table():
    """Section 7's table, its fixed split (seed 0, a quarter held out), one-hot targets."""
    from sklearn.datasets import make_classification
    from sklearn.model_selection import train_test_split

    X, y = make_classification(
        n_samples=2000, n_features=30, n_informative=6, n_redundant=0, n_classes=3, random_state=0
    )
    X_train, _, y_train, _ = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    return X_train, np.eye(3)[y_train]


def train(xp, X, Y, seeds, spec=SPEC):
    """Train one network per seed on ``(X, Y)`` with the array module ``xp`` (numpy or cupy);
    returns the final parameters (numpy, per network), epochs per network and the seconds spent
    drawing shuffles."""
    from sklearn.utils import check_random_state

    N, (n, p), K = len(seeds), X.shape, Y.shape[1]
    units = [p, 8, K]
    streams, coefs, intercepts = (
        [],
        [np.empty((N, a, b)) for a, b in zip(units, units[1:])],
        [np.empty((N, b)) for b in units[1:]],
    )
    for j, seed in enumerate(seeds):
        rs = check_random_state(seed)
        for i, (w, b) in enumerate(initial_weights(rs, units, spec["activation"])):
            coefs[i][j], intercepts[i][j] = w, b
        streams.append(rs)
    Xd, Yd = xp.asarray(X), xp.asarray(Y)
    params = [xp.asarray(a) for a in coefs + intercepts]
    L, bs = len(coefs), min(200, n)
    opt = _numerics.Adam(params, spec)
    ids, order = np.arange(N), np.tile(np.arange(n), (N, 1))
    count, best = np.zeros(N, dtype=int), np.full(N, np.inf)
    out = [np.empty((N, *a.shape[1:])) for a in params]
    n_iter, shuffling = np.zeros(N, dtype=int), 0.0
    for epoch in range(spec["max_iter"]):
        t0 = time.perf_counter()
        for k, j in enumerate(ids):
            order[k] = order[k][streams[j].permutation(n)]
        rows_all = xp.asarray(order)
        shuffling += time.perf_counter() - t0
        acc = 0.0
        for start in range(0, n, bs):
            rows = rows_all[:, start : start + bs]
            loss, cg, ig = _numerics.backprop(params[:L], params[L:], Xd[rows], Yd[rows], spec)
            acc = acc + loss * rows.shape[1]
            for q, u in zip(params, opt.updates(cg + ig)):
                q += u
        loss = np.asarray(acc.get() if hasattr(acc, "get") else acc) / n  # one sync an epoch
        n_iter[ids] += 1
        count = np.where(loss > best - spec["tol"], count + 1, 0)
        best = np.where(loss < best, loss, best)
        done = count > spec["n_iter_no_change"]
        if epoch + 1 == spec["max_iter"]:
            done[:] = True
        if done.any():
            for o, q in zip(out, params):
                o[ids[done]] = q[xp.asarray(done)].get() if hasattr(q, "get") else q[done]
            keep = ~done
            if not keep.any():
                break
            mask = xp.asarray(keep)
            ids, order, count, best = ids[keep], order[keep], count[keep], best[keep]
            params = [q[mask] for q in params]
            opt.keep(mask)
    return out, n_iter, shuffling


def check() -> None:
    """The prototype on numpy against study.training.batched.fit_block on the same seeds:
    identical."""
    from sklearn.neural_network import MLPClassifier

    from study.training import batched

    X, Y = table()
    y = Y.argmax(axis=1)
    seeds = list(range(8))
    models = [
        MLPClassifier(
            hidden_layer_sizes=[8],
            activation="tanh",
            learning_rate_init=0.01,
            max_iter=2000,
            random_state=s,
        )
        for s in seeds
    ]
    batched.fit_block(models, [X] * len(seeds), [y] * len(seeds))
    out, n_iter, _ = train(np, X, Y, seeds)
    diff = max(
        float(np.abs(out[i][j] - (m.coefs_ + m.intercepts_)[i]).max())
        for j, m in enumerate(models)
        for i in range(4)
    )
    same = all(n_iter[j] == m.n_iter_ for j, m in enumerate(models))
    print(
        f"prototype on numpy vs study.training.batched, {len(seeds)} seeds: epochs equal {same}, "
        f"largest weight difference {diff:.1e}"
    )
    assert same and diff == 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="numpy prototype vs study.training.batched"
    )
    parser.add_argument("--sizes", default="32,320,3200", help="networks per block")
    args = parser.parse_args()
    if args.check:
        check()
        return
    import cupy
    import cupyx.scipy.special

    on_cpu = _numerics.xlogy  # scipy's ufunc does not dispatch to CuPy
    _numerics.xlogy = lambda a, b: (
        cupyx.scipy.special.xlogy if isinstance(b, cupy.ndarray) else on_cpu
    )(a, b)
    X, Y = table()
    print(f"GPU: {cupy.cuda.runtime.getDeviceProperties(0)['name'].decode()}", flush=True)
    ref_seeds = list(range(32))
    t0 = time.perf_counter()
    ref, ref_iter, _ = train(np, X, Y, ref_seeds)
    cpu = time.perf_counter() - t0
    print(
        f"  CPU (this machine, numpy float64, one process), 32 seeds: {cpu:.1f} s, "
        f"{32 / cpu:.1f} networks/s, mean {ref_iter.mean():.0f} epochs",
        flush=True,
    )
    train(cupy, X, Y, [0, 1])  # compile the kernels
    for N in [int(s) for s in args.sizes.split(",")]:
        seeds = list(range(N))
        cupy.cuda.Device().synchronize()
        t0 = time.perf_counter()
        out, n_iter, shuffling = train(cupy, X, Y, seeds)
        cupy.cuda.Device().synchronize()
        t = time.perf_counter() - t0
        line = (
            f"  GPU float64, block of {N}: {t:.1f} s, {N / t:.1f} networks/s, mean "
            f"{n_iter.mean():.0f} epochs; drawing the shuffles on the CPU {shuffling:.1f} s"
        )
        if N >= 32:
            close = [
                n_iter[j] == ref_iter[j]
                and all(np.allclose(out[i][j], ref[i][j], rtol=1e-6, atol=1e-12) for i in range(4))
                for j in range(32)
            ]
            diff = max(
                float(np.abs(out[i][j] - ref[i][j]).max())
                for j in range(32)
                for i in range(4)
                if n_iter[j] == ref_iter[j]
            )
            line += (
                f"; vs the CPU: {sum(close)}/32 seeds with the same epochs and weights to "
                f"1e-6, largest difference where the epochs agree {diff:.1e}"
            )
        print(line, flush=True)


if __name__ == "__main__":
    main()
