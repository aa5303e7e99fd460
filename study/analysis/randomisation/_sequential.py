"""Besag & Clifford's (1991) sequential null: stop a test's null networks once its p-value is
decided, instead of always training B of them.

A *unit* is what one null network serves: with ``permute: variable`` one variable of one group
(the group's tested seeds), with ``permute: response`` the whole group. Its null networks come
in waves, in the fixed design's order (b = 0, 1, ...), so a unit's null is always a prefix of
the fixed design's. After each wave a unit stops when every statistic it tests (each method's
primary measure for its variable(s), every output, every tested seed of the group) has at least
``h`` null values at least as extreme as the observed one (:func:`decided`); otherwise it goes
on, up to B.

p-values stay valid. For a statistic whose unit stopped after l null networks with c >= h
extreme ones, :func:`~._pvalues.p_values` gives ``(1 + c) / (1 + l)``, at least Besag &
Clifford's valid ``h / l``; one that ran to B is the fixed design's. With
``h > alpha (B + 1) - 1`` (5 for B = 99 and alpha = 0.05) the rule rejects at ``alpha`` exactly
what B null networks reject: a unit stops only with ``h`` extreme values, where the fixed
p-value is already above ``alpha``. The connection products are not in the rule: theirs are
the plain Monte Carlo p-values of the null networks the unit trained.

Reference: Besag, J. & Clifford, P. (1991). Sequential Monte Carlo p-values. Biometrika 78(2),
301-304.
"""

from __future__ import annotations

import numpy as np

from study.analysis.randomisation._pvalues import exceeds

__all__ = ["waves", "decided"]


def waves(h: int, B: int) -> list[int]:
    """How many null networks each unit has after each wave: ``h`` (none can stop before), then
    half as many again (at least ``h`` more) each time, up to ``B`` (5, 10, 15, 22, 33, 49, 73,
    99 for h = 5, B = 99: a unit overshoots its stopping point by a third at most, in 8 waves);
    ``[B]`` when ``h`` is 0 (no sequential rule) or at least ``B``."""
    if h <= 0 or h >= B:
        return [B]
    out, n = [], h
    while n < B:
        out.append(n)
        n += max(h, n // 2)
    return out + [B]


def decided(observed, null, *, h: int, alternative: str) -> bool:
    """Whether a unit may stop: ``observed`` (*shape) its statistics (NaN: not tested), ``null``
    (n, *shape) its null values so far; True when every tested statistic has at least ``h``
    null values at least as extreme (as :func:`~._pvalues.p_values` counts them)."""
    o = np.asarray(observed, float)
    tested = np.isfinite(o)
    if not tested.any():
        return True
    count = exceeds(o, null, alternative).sum(axis=0)
    return bool((count[tested] >= h).all())
