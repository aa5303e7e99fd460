"""Weight sums over runs, read from the weights themselves: ``weight_sums.csv``.

Per variable the positive, negative, net and absolute sums of its first-layer weights (the input
view, blind to the output layer) and of its connection weights through the last hidden layer to
each output (the connection view), summed over runs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from study.importance import connection_sums, weight_sums
from study.training.record import StudyRecord

__all__ = ["weight_sums_table"]


def _input_and_connection(coefs):
    """Per-variable positive/negative parts of first-layer weights (the input view, as
    :func:`~study.importance.weight_sums`) and of connection weights (the connection view,
    :func:`~study.importance.connection_sums`)."""
    inputs = weight_sums(coefs)
    return (inputs.pos[:, 0], inputs.neg[:, 0]), connection_sums(coefs)


def weight_sums_table(record: StudyRecord) -> pd.DataFrame:
    """Per variable, summed over runs: positive, negative, net and absolute weights.

    Rows for the input view (first-layer weights, ``output = "all"``: blind to the output layer)
    and for the connection view, one block per output (sees the output layer). Columns:
    ``<part>_sum`` over runs, ``<part>_mean`` and ``<part>_sd`` per run (ddof=1), and
    ``rank`` by ``abs_sum`` within the block: compare the ranks of the two views to see where the
    input layer and the output layer disagree.
    """
    meta = record.meta
    parts = [_input_and_connection(r.coefs) for r in record.runs]
    blocks = [
        ("input", "all", np.stack([p[0][0] for p in parts]), np.stack([p[0][1] for p in parts]))
    ]
    pos_c = np.stack([p[1][0] for p in parts])  # (m, p, K)
    neg_c = np.stack([p[1][1] for p in parts])
    for k, out in enumerate(meta.output_names):
        blocks.append(("connection", out, pos_c[:, :, k], neg_c[:, :, k]))
    frames = []
    for view, output, pos, neg in blocks:
        series = {"pos": pos, "neg": neg, "net": pos + neg, "abs": pos - neg}
        df = pd.DataFrame({"view": view, "output": output, "feature": meta.feature_names})
        for name, arr in series.items():
            df[f"{name}_sum"] = arr.sum(axis=0)
        for name, arr in series.items():
            df[f"{name}_mean"] = arr.mean(axis=0)
            df[f"{name}_sd"] = arr.std(axis=0, ddof=1) if len(arr) > 1 else np.nan
        df["rank"] = df["abs_sum"].rank(ascending=False, method="average")
        df["n_runs"] = len(pos)
        frames.append(df)
    return pd.concat(frames, ignore_index=True)
