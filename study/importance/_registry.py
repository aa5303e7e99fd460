"""The registry of importance methods: one record per method, looked up by name.

The runner knows method names, never internals. A method receives a :class:`Network` (the fitted
weights, and the model and held-out data for the methods that need them) and returns a mapping
``measure -> ndarray (n_inputs, n_columns)``; ``primary`` names the measure that ranks variables.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from study.config.spec import default
from study.importance._derivatives import partial_derivatives
from study.importance._lek import lek_profile
from study.importance._permutation import permutation
from study.importance._weights import garson, garson_signed, olden, weight_sums

__all__ = ["Network", "Method", "METHODS", "get_method", "compute", "method_names"]


@dataclass(frozen=True)
class Network:
    """What an importance method may look at: one fitted network, and optionally data.

    ``coefs``/``intercepts`` in scikit-learn order; ``model`` the fitted scikit-learn estimator;
    ``X``/``y`` held-out data in the space the network saw (standardised); ``X_train`` the
    training inputs (Lek's profile sweeps their ranges); ``seed`` the explicit integer for any
    randomness (permutations).
    """

    coefs: list
    intercepts: list
    model: Any = None
    X: np.ndarray | None = None
    y: np.ndarray | None = None
    seed: int = 0
    X_train: np.ndarray | None = None


@dataclass(frozen=True)
class Method:
    """A registered importance method.

    name : key used in configs, metric names and tables.
    compute : ``(network, **options) -> {measure: (n_inputs, n_columns)}``.
    primary : the measure that ranks the variables.
    signed : rank by ``|value|`` (True) or by value (False).
    needs_data : needs the fitted model and held-out data, not only the weights.
    summary : one line for tables and the docs.
    measures : every measure ``compute`` returns, ``primary`` first.
    pooled_for_classifiers : one column for a classifier whatever its number of outputs
        (permutation importance scores accuracy, not a class); otherwise one column per output.
    extras : arrays ``compute`` also returns that are stored with the run but are not
        ``(n_inputs, n_columns)`` measures and are never ranked (Lek's response curves).
    output_layer : what the formula takes from the hidden->output weights: ``"used"``,
        ``"signs"`` (only their signs: signed Garson) or ``"ignored"`` (classic Garson, input-weight
        sums: every output column is the same vector).
    """

    name: str
    compute: Callable[..., Mapping[str, np.ndarray]]
    primary: str
    signed: bool
    needs_data: bool
    summary: str
    measures: tuple[str, ...]
    pooled_for_classifiers: bool = False
    extras: tuple[str, ...] = ()
    output_layer: str = "used"

    @property
    def options(self) -> tuple[str, ...]:
        """The keyword options this method takes (``importance.options.<name>.<option>``)."""
        return _keyword_options(self.compute)

    def check_options(self, options: Mapping) -> None:
        """ValueError naming an option this method does not take, and those it takes."""
        unknown = sorted(set(options or {}) - set(self.options))
        if unknown:
            takes = ", ".join(self.options) or "none"
            raise ValueError(
                f"unknown option(s) {', '.join(unknown)} of method {self.name!r}; it takes: {takes}"
            )

    def n_columns(self, task: str, n_outputs: int) -> int:
        """How many columns this method returns for a network with ``n_outputs`` output units."""
        return 1 if self.pooled_for_classifiers and task == "classification" else n_outputs


@functools.lru_cache(maxsize=None)
def _keyword_options(compute) -> tuple[str, ...]:
    # read once per function: inspect.signature cost 30 us a call, 0.5 s of the checks of a
    # 1000-seed study (16,000 computations)
    import inspect

    return tuple(
        n for n, p in inspect.signature(compute).parameters.items() if p.kind is p.KEYWORD_ONLY
    )


def _garson(net):
    return {"value": garson(net.coefs)}


def _garson_signed(net):
    return {"value": garson_signed(net.coefs)}


def _olden(net):
    return {"value": olden(net.coefs)}


def _weight_sums(net):
    ws = weight_sums(net.coefs)
    return {"abs": ws.abs, "pos": ws.pos, "neg": ws.neg, "net": ws.net}


# the methods' options default to the config's (study.config.spec), stated there once
_OPTIONS = default("importance.options")


def _permutation(net, *, n_repeats=_OPTIONS["permutation"]["n_repeats"]):
    res = permutation(net.model, net.X, net.y, n_repeats=int(n_repeats), seed=net.seed)
    return {"mean": res.mean, "std": res.std}


def _partial_derivatives(net):
    pd_ = partial_derivatives(
        net.coefs,
        net.intercepts,
        net.X,
        activation=net.model.activation,
        out_activation=net.model.out_activation_,
    )
    return {"rms": pd_.rms, "mean": pd_.mean, "std": pd_.std}


def _lek(
    net,
    *,
    steps=_OPTIONS["lek"]["steps"],
    group_vals=tuple(_OPTIONS["lek"]["group_vals"]),
    kmeans_seed=_OPTIONS["lek"]["kmeans_seed"],
):
    X = net.X_train if net.X_train is not None else net.X
    prof = lek_profile(
        net.coefs,
        net.intercepts,
        X,
        activation=net.model.activation,
        out_activation=net.model.out_activation_,
        steps=int(steps),
        group_vals=group_vals if isinstance(group_vals, int) else list(group_vals),
        seed=int(kmeans_seed),
    )
    # the curves are kept in single precision: 13 inputs x 6 groups x 100 steps x 3 outputs are
    # 94 kB per seed, and they feed medians and 10-90% bands, not ranks
    return {
        "sensitivity": prof.sensitivity,
        "response": prof.response.astype(np.float32),
        "x": prof.x,
        "groups": prof.groups,
    }


_REGISTRY = (
    Method(
        "garson",
        _garson,
        "value",
        False,
        False,
        "Garson/Goh: share of |input weight| x |output weight|; the output layer cancels",
        ("value",),
        output_layer="ignored",
    ),
    Method(
        "garson_signed",
        _garson_signed,
        "value",
        True,
        False,
        "Garson with signs kept: only the signs of the output weights survive",
        ("value",),
        output_layer="signs",
    ),
    Method(
        "olden",
        _olden,
        "value",
        True,
        False,
        "Olden connection weights W1 @ ... @ WL: uses every layer, output included",
        ("value",),
    ),
    Method(
        "weight_sums",
        _weight_sums,
        "abs",
        False,
        False,
        "sums of positive, negative, net and absolute first-layer weights (ranked by abs)",
        ("abs", "pos", "neg", "net"),
        output_layer="ignored",
    ),
    Method(
        "permutation",
        _permutation,
        "mean",
        False,
        True,
        "scikit-learn permutation_importance on the test split (score drop)",
        ("mean", "std"),
        pooled_for_classifiers=True,
    ),
    Method(
        "partial_derivatives",
        _partial_derivatives,
        "rms",
        False,
        True,
        "partial derivatives dy/dx over the test split: mean, std, rms (ranked by rms)",
        ("rms", "mean", "std"),
    ),
    Method(
        "lek",
        _lek,
        "sensitivity",
        False,
        True,
        "Lek's profile on the training data: range of the response as one input sweeps its "
        "range, mean over groups of the others",
        ("sensitivity",),
        extras=("response", "x", "groups"),
    ),
)

METHODS: dict[str, Method] = {m.name: m for m in _REGISTRY}


def method_names() -> list[str]:
    """Names of every registered method, in registry order."""
    return list(METHODS)


def get_method(name: str) -> Method:
    """The registered method called ``name``; an unknown name raises ValueError listing them."""
    try:
        return METHODS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown importance method {name!r}; valid methods: {', '.join(METHODS)}"
        ) from None


def compute(
    names, network: Network, *, options: Mapping[str, Mapping] | None = None
) -> dict[str, dict[str, np.ndarray]]:
    """Compute several methods on one network: ``{method: {measure: (n_inputs, n_columns)}}``.

    ``options`` maps a method name to keyword options for it (e.g. ``{"permutation":
    {"n_repeats": 10}}``); an option the method does not take is a ValueError.
    """
    options = options or {}
    out = {}
    for name in names:
        method = get_method(name)
        if method.needs_data and (network.model is None or network.X is None or network.y is None):
            raise ValueError(f"method {name!r} needs the fitted model and held-out data (X and y)")
        method.check_options(options.get(name) or {})
        values = method.compute(network, **dict(options.get(name) or {}))
        out[name] = {
            k: np.asarray(v) if k in method.extras else np.asarray(v, dtype=float)
            for k, v in values.items()
        }
    return out
