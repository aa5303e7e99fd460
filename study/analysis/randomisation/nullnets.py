"""Training the randomisation test's null networks (:mod:`study.analysis.randomisation` designs
them and tests against them): one group of networks per tested seed, or one for all with fresh
weights; with ``randomisation.stop_after`` in waves, each unit stopping once its p-values are
decided (:mod:`study.analysis.randomisation._sequential`)."""

from __future__ import annotations

import contextlib
import sys
from dataclasses import dataclass

import numpy as np

from study.analysis.randomisation._design import Design
from study.training import runner

__all__ = ["NullTest", "train", "train_for_study"]

# null networks handed to the workers at a time: the workers' finished records wait in memory
# until read, so a whole design (38,610 networks on wine) at once would hold them all
_CHUNK = 2048
MANY = 100_000  # null networks from which the count is said even without progress bars


@dataclass(frozen=True)
class NullTest:
    """The randomisation test of a study: its null networks' values (a
    :class:`~study.analysis.randomisation.NullSet`) and the test's settings as it ran
    (``permute``, ``init``, ``tested``, ``alternative``, ``alpha``, ``chance``, ``seed``, ...)."""

    networks: object
    settings: dict


def train(
    plan: runner.Plan,
    design,
    runs,
    *,
    n_permutations: int,
    first: int,
    methods,
    n_jobs: int = 1,
    bars=None,
    stop_after: int = 0,
    alternative: str = "two-sided",
):
    """Train the null networks of ``design`` (:class:`~study.analysis.randomisation.Design`) for the
    study's ``runs`` and keep what the test compares of each: a
    :class:`~study.analysis.randomisation.NullSet`. ``methods``: the study's method layouts;
    ``bars(total, desc, **tqdm options)``: a progress bar. ``stop_after``: Besag & Clifford's
    h (0: every unit trains all ``n_permutations``); ``alternative``: how the rule counts a null
    value as extreme. Each wave trains every unit still going, every group together (with the
    batched backend, blocks of many starts)."""
    from study.analysis import randomisation
    from study.analysis.randomisation._sequential import waves

    p, B = len(plan.dataset.feature_names), n_permutations
    groups = design.groups(runs)
    null = randomisation.NullSet.empty(design, groups, B, p)
    primaries = {m: layout.primary for m, layout in methods.items()}
    variables = list(range(p)) if design.permute == "variable" else [None]
    going = [(g, v) for g in range(len(groups)) for v in variables]  # the units still training
    observed = _observed(design, runs, groups, primaries)
    bars = bars or (lambda n, desc, **kw: contextlib.nullcontext(_NoBar()))
    with bars(null.n_planned, "null networks") as bar:
        done = 0
        for upto in waves(stop_after, B):
            jobs = [(g, v, b) for g, v in going for b in range(done, upto)]
            for part in range(0, len(jobs), _CHUNK):  # what waits to be read stays bounded
                chunk = jobs[part : part + _CHUNK]
                nets = [
                    runner.Null(
                        permutation=first + b, variable=v, init=None if groups[g] < 0 else groups[g]
                    )
                    for g, v, b in chunk
                ]
                for (g, v, b), rec in zip(chunk, runner.run_many(plan, nets, n_jobs=n_jobs)):
                    runner.check_stop()
                    null.add(g, v, b, rec, primaries)
                    bar.update()
            done = upto
            if upto < B:
                going = [
                    (g, v)
                    for g, v in going
                    if not _decided(null, observed, g, v, upto, stop_after, alternative)
                ]
            if not going:
                break
        bar.total = null.n_networks  # the bar ends full where units stopped early
        bar.refresh()
    return null


def _observed(design, runs, groups, primaries) -> dict:
    """Per group, the statistics its null networks test: ``{method: (T, p, K)}`` of its tested
    seeds (with fresh weights, one group for every tested seed)."""
    tested = [runs[i] for i in design.tested_indices(runs)]
    out = []
    for start in groups:
        mine = tested if start < 0 else [r for r in runs if int(r.seed) == int(start)]
        out.append(
            {
                m: np.stack([np.asarray(r.importances[m][k], float) for r in mine])
                for m, k in primaries.items()
            }
        )
    return out


def _decided(null, observed, g: int, v, n: int, h: int, alternative: str) -> bool:
    """Whether unit ``(g, v)`` may stop after its first ``n`` null networks: every method's
    statistic of its variable (all of them with a permuted response), every output, every
    tested seed, has ``h`` null values at least as extreme."""
    from study.analysis.randomisation._sequential import decided

    rows = slice(None) if v is None else v
    for method, obs in observed[g].items():
        nul = null.values[method][g, :n, rows]  # (n, K) or (n, p, K)
        if not decided(obs[:, rows], nul[:, None], h=h, alternative=alternative):
            return False
    return True


class _NoBar:
    total = 0

    def update(self, n: int = 1) -> None:
        pass

    def refresh(self) -> None:
        pass


def train_for_study(settings, plan, record, bars):
    """The randomisation test's null networks of a study (``settings``: its
    :class:`~study.config.settings.Settings`; ``plan``: its training plan; ``record``: its
    seeds), saying first how many it trains; ``bars(total, desc, **kw)`` makes a progress bar."""
    test = settings.randomisation
    design = Design.of(test)
    groups, B = design.groups(record.runs), test["n_permutations"]
    p = len(record.meta.feature_names)
    total = design.n_networks(len(groups), p, B)
    if settings.progress or total > MANY:
        many = (
            "; that is many: randomisation.tested=best (or a number of seeds) or fewer "
            "randomisation.n_permutations cut it"
            if total > MANY
            else ""
        )
        upto = "up to " if 0 < test["stop_after"] < B else ""
        print(
            f"null networks of the randomisation test: {design.describe(B)}: {upto}{total:,} "
            f"networks ({len(groups)} group(s) x {total // len(groups):,}){many}",
            file=sys.stderr,
        )
    return train(
        plan,
        design,
        record.runs,
        n_permutations=B,
        first=test["seed"],
        methods=record.meta.methods,
        n_jobs=settings.n_jobs,
        bars=bars,
        stop_after=test["stop_after"],
        alternative=test["alternative"],
    )
