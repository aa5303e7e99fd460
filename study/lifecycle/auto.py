"""``study.n_runs=auto``: how many seeds a study needs, from its seeds' Monte Carlo error against
the data's standard error of its answer."""

from __future__ import annotations

import numpy as np

from study.config.settings import Settings
from study.escape import for_terminal
from study.training.record import StudyRecord


def auto_runs(s: Settings, record: StudyRecord) -> tuple[int | None, str]:
    """``study.n_runs=auto``'s next number of seeds (None: enough, or the cap) and the reason:
    the seeds' Monte Carlo error against the data's standard error of the answer's estimate
    (:func:`study.analysis.uncertainty.seeds_or_data`), for its variable that needs most seeds. Goes
    to the seeds that the errors measured now say are enough, at least ``AUTO_RUNS[0]`` and a
    quarter more, at most twice as many (the first estimates are rough) and ``AUTO_RUNS[1]``."""
    from study.analysis import uncertainty as unc
    from study.analysis.answer import reference_method
    from study.config.settings import AUTO_RUNS

    method = reference_method(record.meta.methods)
    try:
        u = unc.estimate(
            record.values(method),
            record.resample_values(method),
            signed=record.meta.methods[method].signed,
        )
    except ValueError as err:
        return None, f"stopped at {len(record.runs)} seeds: no error to compare ({err})"
    parts = unc.seeds_or_data(u)
    worst = int(np.argmax(parts.ratio))
    ratio, name = float(parts.ratio[worst]), for_terminal(record.meta.feature_names[worst])
    tenth = f"{unc.MC_TARGET:g} of the data's standard error"
    if ratio <= unc.MC_TARGET:
        return None, (
            f"stopped at {u.n_seeds} seeds: the seeds' Monte Carlo error is below "
            f"{tenth} for every variable (at most {ratio:.3f}, {name})"
        )
    have = max(s.n_runs, len(record.runs))  # a resumed study may hold more than asked
    need = unc.seeds_needed(parts)
    if have >= AUTO_RUNS[1]:
        more = (
            f"below {unc.MC_TARGET:g} would take about {need:,.0f} seeds"
            if np.isfinite(need)
            else "its data's standard error is 0: no number of seeds gets below it"
        )
        still = (
            f"the seeds' Monte Carlo error is still {ratio:.3f} of the data's standard "
            f"error for {name}"
            if np.isfinite(ratio)
            else f"for {name}"
        )
        return None, f"stopped at {u.n_seeds} seeds, its cap being {AUTO_RUNS[1]}: {still} ({more})"
    # at least a quarter more (each round reads the study back), at most twice as many
    least = have + max(AUTO_RUNS[0], have // 4)
    n = int(min(AUTO_RUNS[1], max(least, min(2 * have, np.ceil(need)))))
    if not np.isfinite(ratio):
        return n, (
            f"at {u.n_seeds} seeds the data's standard error is 0 for {name} (its "
            "resample networks vary no more than its seeds)"
        )
    return n, (
        f"at {u.n_seeds} seeds the seeds' Monte Carlo error is {ratio:.3f} of the data's "
        f"standard error for {name} (wanted: below {unc.MC_TARGET:g})"
    )
