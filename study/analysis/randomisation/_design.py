"""The test's null designs, which null networks each one trains, and their null values.

Two choices (``randomisation.permute``, ``randomisation.init``) make four designs, and
``randomisation.tested`` says which of the study's seeds are tested (see ``methods.md``):

- ``permute: response``: null networks fit the training response permuted (Olden & Jackson's
  global null, "no variable matters"); ``variable``: each input column permuted in turn, the
  network retrained on the rest as it is (the null "x_i adds nothing"), ``n_features`` x B
  networks per group;
- ``init: fresh``: every null network has its own initial weights (the permutation's seed), so
  one group of null networks serves every tested seed; ``tested``: a tested seed's null networks
  start from its own initial weights (same ``random_state``: Glorot draw, early-stopping split,
  minibatch order), one group per tested seed.

:class:`NullSet` keeps, per group, only what the test compares: each method's primary measure
and the connection products, ``(G, B, p, ...)``; with ``permute: variable`` row i of group g's
b-th entry comes from the network trained with x_i permuted. It is the parent's null bundle.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from study.analysis.randomisation._pvalues import connection_products

__all__ = ["PERMUTE", "INIT", "Design", "NullSet"]

PERMUTE = ("response", "variable")
INIT = ("fresh", "tested")


@dataclass(frozen=True)
class Design:
    """A null design: what is permuted, where null networks start, which seeds are tested
    (``"all"``, ``"best"``: the best-scoring seed, or an integer k: the first k seeds)."""

    permute: str = "variable"
    init: str = "tested"
    tested: str | int = "all"

    @classmethod
    def of(cls, settings) -> Design:
        """The design of a study's ``randomisation`` settings (older studies: today's names
        missing mean the paper's response permutation with fresh initial weights)."""
        tested = settings.get("tested", "all")
        tested = str(tested) if str(tested) in ("all", "best") else int(tested)
        return cls(
            str(settings.get("permute", "response")), str(settings.get("init", "fresh")), tested
        )

    def settings(self) -> dict:
        return {"permute": self.permute, "init": self.init, "tested": self.tested}

    @property
    def valid_per_variable(self) -> bool:
        """Whether each variable's p-value is valid when other variables carry signal (the
        partial null): only when that variable's own column is what is permuted."""
        return self.permute == "variable"

    def describe(self, B: int, *, sequential: bool = False) -> str:
        up = "up to " if sequential else ""
        what = (
            f"each variable permuted in turn ({up}{B} networks per variable)"
            if self.permute == "variable"
            else f"the response permuted ({up}{B} networks)"
        )
        start = (
            "retrained from the tested seed's initial weights"
            if self.init == "tested"
            else "each from fresh initial weights"
        )
        return f"{what}, {start}"

    def tested_indices(self, runs) -> list[int]:
        """Positions in ``runs`` (the study's, in seed order) of the seeds this design tests."""
        if self.tested == "all":
            return list(range(len(runs)))
        if self.tested == "best":
            test = np.array([r.test_score for r in runs], float)
            return [int(np.nanargmax(test)) if np.isfinite(test).any() else 0]
        return list(range(min(int(self.tested), len(runs))))

    def groups(self, runs) -> list[int]:
        """The seed each group of null networks starts from: every tested seed (``init:
        tested``), or -1 for the one group with fresh initial weights."""
        if self.init == "fresh":
            return [-1]
        return [int(runs[i].seed) for i in self.tested_indices(runs)]

    def networks(self, n_features: int, first: int, n_permutations: int):
        """``(variable, b, permutation seed)`` of one group's null networks, in training order
        (variable None: the response is permuted)."""
        variables = range(n_features) if self.permute == "variable" else [None]
        return [(v, b, first + b) for v in variables for b in range(n_permutations)]

    def n_networks(self, n_groups: int, n_features: int, n_permutations: int) -> int:
        return n_groups * (n_features if self.permute == "variable" else 1) * n_permutations


@dataclass
class NullSet:
    """The null values of every group of null networks (see the module docstring).

    ``groups`` (G,): the seed whose initial weights group g starts from (-1: fresh weights, one
    group for every tested seed); ``values[method]`` (G, B, p, K): the method's primary measure;
    ``connections`` (G, B, p, H, K): the connection products; ``train_score`` (G, B, R): the
    null networks' training scores (R = p with ``permute: variable``, else 1)."""

    design: Design
    groups: np.ndarray
    values: dict
    connections: np.ndarray | None
    train_score: np.ndarray
    trained: np.ndarray | None = None  # (G, B, R): which null networks were trained (None: all)

    @classmethod
    def empty(cls, design: Design, groups, n_permutations: int, n_features: int) -> NullSet:
        R = n_features if design.permute == "variable" else 1
        shape = (len(groups), n_permutations, R)
        return cls(
            design,
            np.asarray(groups, np.int64),
            {},
            None,
            np.full(shape, np.nan),
            np.zeros(shape, bool),
        )

    @property
    def n_permutations(self) -> int:
        return int(self.train_score.shape[1])

    @property
    def n_networks(self) -> int:
        """The null networks trained (a sequential null stops some units before B)."""
        return int(self.train_score.size if self.trained is None else self.trained.sum())

    @property
    def n_planned(self) -> int:
        """The null networks the fixed design trains: every unit's B."""
        return int(self.train_score.size)

    def group_of(self, seed: int) -> int | None:
        """The group a tested seed is compared with (None: it has no null networks)."""
        if self.design.init == "fresh":
            return 0
        hit = np.flatnonzero(self.groups == int(seed))
        return int(hit[0]) if hit.size else None

    def add(self, g: int, variable: int | None, b: int, rec, primaries) -> None:
        """Keep what the test needs of null network ``(g, variable, b)`` (a RunRecord);
        ``primaries``: ``{method: primary measure}``."""
        G, B = self.train_score.shape[:2]
        rows = slice(None) if variable is None else variable
        for method, measure in primaries.items():
            value = np.asarray(rec.importances[method][measure], float)
            if method not in self.values:
                self.values[method] = np.full((G, B, *value.shape), np.nan)
            self.values[method][g, b, rows] = value[rows]
        conn = connection_products(rec.coefs)
        if self.connections is None:
            self.connections = np.full((G, B, *conn.shape), np.nan)
        self.connections[g, b, rows] = conn[rows]
        self.train_score[g, b, 0 if variable is None else variable] = rec.train_score
        if self.trained is not None:
            self.trained[g, b, 0 if variable is None else variable] = True

    def arrays(self) -> dict:
        """The null bundle's arrays (:meth:`from_arrays` reads them back)."""
        out = {
            "groups": self.groups,
            "train_score": self.train_score,
            "connections": self.connections,
        }
        if self.trained is not None:
            out["trained"] = self.trained
        out.update({f"values/{m}": v for m, v in self.values.items()})
        return out

    @classmethod
    def from_arrays(cls, arrays, settings, meta) -> NullSet:
        """A null bundle read back; one written before the designs (one record per null network
        of the response permuted with fresh weights) is converted."""
        design = Design.of(settings)
        if "groups" in arrays:
            return cls(
                design,
                np.asarray(arrays["groups"], np.int64),
                {
                    k.removeprefix("values/"): np.asarray(v, float)
                    for k, v in arrays.items()
                    if k.startswith("values/")
                },
                np.asarray(arrays["connections"], float),
                np.asarray(arrays["train_score"], float),
                np.asarray(arrays["trained"], bool) if "trained" in arrays else None,
            )
        n_layers = len(meta.layer_sizes) - 1
        coefs = [np.asarray(arrays[f"coef_{i}"], float) for i in range(n_layers)]
        conn = np.stack([connection_products([c[b] for c in coefs]) for b in range(len(coefs[0]))])
        values = {
            m: np.asarray(arrays[f"{m}/{layout.primary}"], float)[None]
            for m, layout in meta.methods.items()
        }
        return cls(
            design,
            np.array([-1]),
            values,
            conn[None],
            np.asarray(arrays["train_score"], float)[None, :, None],
        )
