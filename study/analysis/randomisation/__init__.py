"""Olden & Jackson's randomisation test: which variables and connections beat chance?

Olden & Jackson (2002), "Illuminating the black box: a randomization approach for understanding
variable contributions in artificial neural networks", Ecological Modelling 154: 135-150.

The null distribution of a statistic T (any method's primary measure; for weight-based methods
also the connection products ``c_ijk = w_ij v_jk``) comes from B networks trained with the
study's architecture on the training data with something permuted: the response (the paper's
global null), or each variable in turn (the per-variable null), each null network from fresh
initial weights or from those of the seed it tests (:class:`Design`; the runner trains them like
any seed, see :class:`study.training.runner.Null`). Each tested seed is compared with its null::

    two-sided      p = (1 + #{b : |T_b| >= |T_obs|}) / (B + 1)
    greater        p = (1 + #{b : T_b >= T_obs}) / (B + 1)
    less           p = (1 + #{b : T_b <= T_obs}) / (B + 1)
    observed-sign  greater where T_obs >= 0, less elsewhere (the paper's convention)

Across the variables of one method and output, Holm's step-down adjustment (family-wise error)
and Benjamini-Hochberg's (false discovery rate, :func:`scipy.stats.false_discovery_control`).
Everything here is a pure function of arrays: :mod:`._pvalues` the formulas, :mod:`._design`
the designs and the null values they keep (:class:`NullSet`), :func:`analyse` the tables,
metrics and summary lines.
"""

from study.analysis.randomisation._analysis import RandomisationResult, analyse, validity_warning
from study.analysis.randomisation._design import INIT, PERMUTE, Design, NullSet
from study.analysis.randomisation._pvalues import (
    ALTERNATIVES,
    benjamini_hochberg,
    chance_score,
    connection_products,
    grouped_p_values,
    holm,
    p_values,
)

__all__ = [
    "ALTERNATIVES",
    "PERMUTE",
    "INIT",
    "p_values",
    "grouped_p_values",
    "holm",
    "benjamini_hochberg",
    "connection_products",
    "chance_score",
    "Design",
    "NullSet",
    "analyse",
    "RandomisationResult",
    "validity_warning",
]
