"""Train a block of scikit-learn MLPs at once: the same algorithm, every seed in one numpy loop.

One ``MLPClassifier.fit`` / ``MLPRegressor.fit`` of a study's small network runs a few hundred
epochs of tiny matrix products in Python, so its cost is interpreter overhead, not arithmetic.
Here the weights of the N networks of a block are stacked on a leading axis and every step of
scikit-learn's stochastic solvers (``_fit_stochastic``, ``backprop``, ``AdamOptimizer``,
``SGDOptimizer``, ``_update_no_improvement_count``) is applied to all of them with one numpy call:

- the same Glorot initialisation, drawn from the same ``RandomState(seed)`` stream in the same
  order; the same early-stopping split (scikit-learn's ``train_test_split`` on that stream) and,
  for minibatches, the same per-epoch shuffles;
- the same forward pass, loss (with its L2 term), deltas, gradients, Adam/SGD updates and
  learning-rate schedules, written as the same floating-point expressions;
- the same stopping rule per network (``tol``, ``n_iter_no_change``, ``max_iter``, the validation
  score with early stopping, and its best weights). A network that stops leaves the block.

Full-batch epochs (``batch_size`` at least the training rows, the default on small data) do not
shuffle: scikit-learn's shuffle there only reorders the rows being summed, so it changes nothing
but rounding; the networks then share one input matrix. Sums of the same numbers in another
order differ in the last bit, and a few chaotic seeds amplify that over hundreds of epochs: the
tests measure how many seeds match scikit-learn to 1e-6 and compare the rest as distributions.

Each network comes back as an ordinary fitted scikit-learn estimator (``coefs_``,
``intercepts_``, ``n_iter_``, ``loss_curve_``, ``classes_``, ...): prediction, scoring and every
importance method use scikit-learn's own code afterwards. :func:`unsupported` names the
configurations this does not reproduce; the caller trains those with scikit-learn.

The modules: :mod:`~study.training.batched.block` fits a block (validation, initial weights,
what ``fit`` sets), :mod:`~study.training.batched.epochs` runs its epochs and stopping rule,
:mod:`~study.training.batched._numerics` holds their arithmetic,
:mod:`~study.training.batched.scoring` scores a block in one forward pass,
:mod:`~study.training.batched.spec` reads the settings a block shares and
:mod:`~study.training.batched.limits` says what can be trained here and how many at once.
"""

from study.training.batched.block import fit_block, initial_weights
from study.training.batched.limits import block_size, unsupported
from study.training.batched.scoring import scores

__all__ = ["unsupported", "fit_block", "block_size", "initial_weights", "scores"]
