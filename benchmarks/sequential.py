"""How few null networks can the randomisation preset train? Sequential rules replayed on the
wine preset's fixed null. Not collected by pytest.

    python benchmarks/sequential.py     # about 2 minutes on 2 cores

Runs ``study-run experiment=randomisation_test randomisation.stop_after=0`` (every one of the
38,610 null networks) into a temporary store. A sequential rule's null is a prefix of the fixed
one (:mod:`study.analysis.randomisation._sequential`), so any rule can be replayed on it: per
(variable, seed) unit, the running count of null values at least as extreme as the observed one for
each statistic the unit tests (Olden's weight and Garson's share, every class); a unit trains until
its last statistic stops. For each rule: networks trained (share of 38,610), the (variable,
class) pairs of Olden's weights significant in at least half the seeds against the fixed
design's, and the rule's power against fixed B = 99 when the true p-value is u.

Rules with early rejection use exact p-values: under the null the observed rank is uniform, so
the count after n null networks is Beta-Binomial (a path with c exceedances has probability
1 / ((n + 1) C(n, c))); a rule's terminal states are ordered (rejections first, the earlier the
more extreme, then the count at B, then acceptances, the later the more extreme) and a state's
p-value is the null probability of the states at least as extreme. Valid for any rule, and
reduces to ``(1 + c) / (B + 1)`` for the fixed design.
"""

from __future__ import annotations

import glob
import json
import subprocess
import sys
import tempfile
from math import comb
from pathlib import Path

import numpy as np

WAVES = [5, 10, 15, 22, 33, 49, 73, 99]
US = [0.001, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1]


def _states(checks, accept, reject):
    """Each terminal state ``(k, c)`` of a rule (stop at checkpoint k with count c) and its
    exact p-value; ``accept[k]``/``reject[k]``: stop when the count is at least / at most."""
    paths, prev, states = {0: 1}, 0, []
    for k, n in enumerate(checks):
        grown = {}
        for c, m in paths.items():
            for j in range(n - prev + 1):
                grown[c + j] = grown.get(c + j, 0) + m * comb(n - prev, j)
        paths, last = {}, k == len(checks) - 1
        for c, m in grown.items():
            prob = m / ((n + 1) * comb(n, c))
            if last or c <= reject[k]:
                states.append(
                    (
                        (0 if c <= reject[k] and not last else 1, k if not last else 0, c),
                        (k, c),
                        prob,
                    )
                )
            elif c >= accept[k]:
                states.append(((2, -k, c), (k, c), prob))
            else:
                paths[c] = m
        prev = n
    states.sort()
    out, total, i = {}, 0.0, 0
    while i < len(states):
        j = i
        while j < len(states) and states[j][0] == states[i][0]:
            j += 1
        total += sum(s[2] for s in states[i:j])
        out.update({s[1]: total for s in states[i:j]})
        i = j
    return out


def _stop(counts, checks, accept, reject):
    """Where one statistic's running counts stop a rule: ``(k, c)``."""
    for k, n in enumerate(checks):
        c = int(counts[n - 1])
        if k == len(checks) - 1 or c <= reject[k] or c >= accept[k]:
            return k, c
    raise AssertionError


def power(checks, accept, reject, u, alpha=0.05):
    """P(reject at alpha) when each null value is extreme with probability ``u``."""
    p_of = _states(checks, accept, reject)
    paths, prev, hit = {0: 1.0}, 0, 0.0
    for k, n in enumerate(checks):
        grown = {}
        for c, m in paths.items():
            d = n - prev
            for j in range(d + 1):
                grown[c + j] = grown.get(c + j, 0) + m * comb(d, j) * u**j * (1 - u) ** (d - j)
        paths, last = {}, k == len(checks) - 1
        for c, m in grown.items():
            if last or c <= reject[k] or c >= accept[k]:
                hit += m if p_of[(k, c)] <= alpha + 1e-12 else 0.0
            else:
                paths[c] = m
        prev = n
    return hit


def replay(counts, checks, accept, reject, alpha=0.05):
    """Networks a rule trains and its p-values: ``counts`` (units, statistics, B)."""
    p_of = _states(checks, accept, reject)
    networks, p = 0, np.empty(counts.shape[:2])
    for u, unit in enumerate(counts):
        stops = [_stop(s, checks, accept, reject) for s in unit]
        networks += max(checks[k] for k, _ in stops)
        p[u] = [p_of[s] for s in stops]
    return networks, p


def fixed_counts(root: Path) -> tuple[np.ndarray, int, int]:
    """The preset's running counts (units, statistics, B), seeds and variables."""
    from study import tracking
    from study.analysis import randomisation

    info = json.loads(Path(glob.glob(f"{root}/hydra/*/*/study_run.json")[0]).read_text())
    uri = f"sqlite:///{root}/mlflow.db"
    record = tracking.load_study(uri, info["run_id"])
    null = randomisation.NullSet.from_arrays(*tracking.load_null(uri, info["run_id"]), record.meta)
    methods = {m: layout.primary for m, layout in record.meta.methods.items()}
    units = []
    for r in record.runs:
        g = null.group_of(r.seed)
        for v in range(len(record.meta.feature_names)):
            stats = []
            for m, key in methods.items():
                o = np.asarray(r.importances[m][key], float)[v]  # (K,)
                ex = np.abs(null.values[m][g, :, v]) >= np.abs(o)[None]  # two-sided, (B, K)
                stats += list(np.cumsum(ex, axis=0).T)
            units.append(stats)
    return np.asarray(units), len(record.runs), len(record.meta.feature_names)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="study-bench-") as tmp:
        subprocess.run(
            [
                str(Path(sys.executable).with_name("study-run")),
                "experiment=randomisation_test",
                "randomisation.stop_after=0",
                f"paths.root={tmp}",
                "study.progress=false",
                "study.charts=false",
            ],
            check=True,
            capture_output=True,
        )
        counts, n_seeds, p = fixed_counts(Path(tmp))
    total = counts.shape[0] * counts.shape[2]
    K = counts.shape[1] // 2  # Olden's K classes first, then Garson's columns

    def pairs(pv):
        share = (pv <= 0.05).reshape(n_seeds, p, -1)[:, :, :K].mean(axis=0)
        return set(zip(*np.nonzero(share >= 0.5)))

    fixed = pairs((counts[:, :, -1] + 1) / (counts.shape[2] + 1))
    none = [-1] * len(WAVES)
    rules = {
        "fixed B = 99": ([99], [10**9], [-1]),
        "Besag-Clifford h = 5 (the default)": (WAVES, [5] * 8, none),
        "h = 3": (WAVES, [3] * 8, none),
        "h = 5, reject at 49 if 0, at 73 if <= 1": (WAVES, [5] * 8, [-1] * 5 + [0, 1, -1]),
        "h = 5, reject at 33/49 if 0, at 73 if <= 1": (WAVES, [5] * 8, [-1] * 4 + [0, 0, 1, -1]),
        "h = 5, reject from 22 if 0": (WAVES, [5] * 8, [-1] * 3 + [0] * 4 + [-1]),
    }
    print(
        f"Wine randomisation preset: {counts.shape[0]} units x {counts.shape[1]} statistics, "
        f"{total:,} null networks fixed; {len(fixed)} pairs significant in half the seeds"
    )
    print(f"  power at u = {', '.join(map(str, US))}")
    for label, (checks, accept, reject) in rules.items():
        networks, pv = replay(counts, checks, accept, reject)
        found = pairs(pv)
        pw = ", ".join(f"{power(checks, accept, reject, u):.3f}" for u in US)
        print(
            f"  {label:<44} {networks:>6,} ({networks / total:.0%}) | pairs {len(found & fixed)} "
            f"of {len(fixed)}, {len(found - fixed)} new | power {pw}",
            flush=True,
        )
    # a bound no valid rule beats: a rejection needs 1 / (n + 1) <= alpha, n >= 19 null networks
    sig = counts[:, :, -1] + 1 <= 0.05 * (counts.shape[2] + 1)
    for h in (1, 3, 5):
        first = np.where(counts >= h, np.arange(1, counts.shape[2] + 1), 10**9).min(axis=2)
        need = np.where(sig, 19, np.minimum(first, counts.shape[2])).max(axis=1).sum()
        print(
            f"  oracle: the fixed design's rejections after 19 networks, acceptance at the "
            f"{h} extreme value(s): {need:,} ({need / total:.0%})"
        )


if __name__ == "__main__":
    main()
