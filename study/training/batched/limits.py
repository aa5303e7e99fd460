"""What the batched trainer reproduces (:func:`unsupported`) and how many networks one block
holds in its memory budget (:func:`block_size`)."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["unsupported", "block_size"]

_ACTIVATIONS = ("identity", "logistic", "tanh", "relu")
# Bytes the arrays of one block may take (weights, optimiser state, activations, stacked data).
_BLOCK_BYTES = 256 * 2**20


def unsupported(model) -> str | None:
    """Why ``model`` (an unfitted MLP) cannot be trained here, or None if it can."""
    p = model.get_params()
    if p["solver"] not in ("adam", "sgd"):
        return f"solver={p['solver']}"
    if p["warm_start"]:
        return "warm_start=True"
    if not p["shuffle"]:
        return "shuffle=False"
    if p["activation"] not in _ACTIVATIONS:
        return f"activation={p['activation']}"
    if p.get("loss", "squared_error") not in ("squared_error", "log_loss"):
        return f"loss={p['loss']}"
    if not hasattr(model, "_validate_input"):
        return "this scikit-learn version's MLP internals"
    return None


def block_size(n_samples: int, n_features: int, layer_sizes: Sequence[int]) -> int:
    """How many networks of this shape fit in one block's memory budget (at least 1)."""
    units = [n_features, *layer_sizes]
    n_params = sum((a + 1) * b for a, b in zip(units[:-1], units[1:]))
    per_network = 8 * (7 * n_params + 4 * n_samples * sum(units))
    return max(1, _BLOCK_BYTES // per_network)
