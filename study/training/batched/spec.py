"""The settings the networks of a block share: the model's hyper-parameters, and its output
layer's activation and loss as scikit-learn sets them."""

from __future__ import annotations

__all__ = ["block_spec"]


def block_spec(model, task: str, lb) -> dict:
    """The hyper-parameters of ``model`` the epochs read, with ``out_activation`` and ``loss`` as
    scikit-learn sets them for ``task`` (``lb``: a classifier's fitted label binariser)."""
    p = model.get_params()
    spec = {
        k: p[k]
        for k in (
            "activation",
            "alpha",
            "learning_rate_init",
            "learning_rate",
            "momentum",
            "nesterovs_momentum",
            "power_t",
            "beta_1",
            "beta_2",
            "epsilon",
            "tol",
            "n_iter_no_change",
            "max_iter",
            "early_stopping",
            "validation_fraction",
            "batch_size",
            "solver",
        )
    }
    if task == "classification":
        spec["out_activation"] = "softmax" if lb.y_type_ == "multiclass" else "logistic"
        spec["loss"] = "log_loss" if spec["out_activation"] == "softmax" else "binary_log_loss"
    else:
        spec["out_activation"], spec["loss"] = "identity", "squared_error"
    return spec
