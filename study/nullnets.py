"""Training the randomisation test's null networks (:mod:`study.randomisation` designs them and
tests against them): one group of networks per tested seed, or one for all with fresh weights."""

from __future__ import annotations

import contextlib

from . import runner

__all__ = ["train"]


def train(plan: runner.Plan, design, runs, *, n_permutations: int, first: int, methods,
                  n_jobs: int = 1, bars=None):  # fmt: skip
    """Train the null networks of ``design`` (:class:`~study.randomisation.Design`) for the
    study's ``runs``, one group at a time (every network of a group shares its initial weights:
    with the batched backend they train as blocks of one start), and keep what the test compares
    of each: a :class:`~study.randomisation.NullSet`. ``methods``: the study's method layouts;
    ``bars(total, desc, **tqdm options)``: progress bars (one for all, one per group)."""
    from . import randomisation

    p = len(plan.dataset.feature_names)
    groups = design.groups(runs)
    null = randomisation.NullSet.empty(design, groups, n_permutations, p)
    primaries = {m: layout.primary for m, layout in methods.items()}
    keys = design.networks(p, first, n_permutations)
    bars = bars or (lambda n, desc, **kw: contextlib.nullcontext(_NoBar()))
    with bars(len(groups) * len(keys), "null networks") as bar:
        for g, start in enumerate(groups):
            init = None if start < 0 else start
            jobs = [runner.Null(permutation=seed, variable=v, init=init) for v, _, seed in keys]
            label = "" if init is None else f"seed {start}: "
            with bars(len(jobs), f"  {label}group {g + 1}/{len(groups)}", leave=False, position=1,
                      disable=len(groups) == 1 or None) as inner:  # fmt: skip
                for (v, b, _), rec in zip(keys, runner.run_many(plan, jobs, n_jobs=n_jobs)):
                    runner.check_stop()
                    null.add(g, v, b, rec, primaries)
                    bar.update()
                    inner.update()
    return null


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass
