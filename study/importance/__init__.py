"""Variable importance of multilayer perceptrons, as pure functions of weights (and data).

Weight-based methods take ``coefs``, the weight matrices in scikit-learn order, and return arrays
of shape ``(n_inputs, n_outputs)``. Methods are registered by name in :data:`METHODS`; configs and
the runner refer to them by name.
"""

from study.importance._derivatives import PartialDerivatives, jacobian, partial_derivatives
from study.importance._lek import LekProfile, lek_groups, lek_profile, lek_sensitivity
from study.importance._neuralnettools import from_neuralnettools, to_neuralnettools
from study.importance._permutation import PermutationImportance, permutation
from study.importance._registry import METHODS, Method, Network, compute, get_method, method_names
from study.importance._weights import (
    WeightSums,
    connection_sums,
    garson,
    garson_signed,
    olden,
    weight_sums,
)

__all__ = [
    "garson",
    "garson_signed",
    "olden",
    "weight_sums",
    "connection_sums",
    "WeightSums",
    "permutation",
    "PermutationImportance",
    "jacobian",
    "partial_derivatives",
    "PartialDerivatives",
    "lek_profile",
    "lek_groups",
    "lek_sensitivity",
    "LekProfile",
    "from_neuralnettools",
    "to_neuralnettools",
    "METHODS",
    "Method",
    "Network",
    "compute",
    "get_method",
    "method_names",
]
