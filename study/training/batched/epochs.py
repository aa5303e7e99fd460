"""The epochs of scikit-learn's ``_fit_stochastic`` for a block of networks: minibatches,
backpropagation, the Adam or SGD step, and the stopping rule per network
(:class:`Training`)."""

from __future__ import annotations

import warnings

import numpy as np

from study.training.batched._numerics import SGD, Adam, backprop
from study.training.batched.scoring import validation_score

__all__ = ["Training"]


def _batch_size(spec, n: int) -> int:
    bs = spec["batch_size"]
    if bs == "auto":
        return min(200, n)
    if bs > n:
        warnings.warn(
            "Got `batch_size` less than 1 or larger than sample size. It is going to be clipped",
            stacklevel=2,
        )
    return int(np.clip(bs, 1, n))


class Training:
    """The epochs of ``_fit_stochastic`` for the networks of a block still training: one
    :meth:`epoch` (a pass over the minibatches), then :meth:`stop` (scikit-learn's stopping rule
    per network; the networks that stop leave the block)."""

    def __init__(self, start: dict, spec, task: str, N: int):
        self.spec, self.task, self.streams = spec, task, start["streams"]
        self.shared, self.X, self.Y = start["shared"], start["X"], start["Y"]
        self.Xv, self.Yv = start["Xv"], start["Yv"]
        self.n = self.X.shape[-2]
        self.bs = _batch_size(spec, self.n)
        self.full = self.bs >= self.n
        self.params = start["coefs"] + start["intercepts"]
        self.L = len(start["coefs"])
        self.opt = (
            Adam(self.params, spec) if spec["solver"] == "adam" else SGD(self.params, spec, N)
        )
        self.ids = np.arange(N)  # global index of each network still training
        # each network's current shuffle of its rows (minibatches only)
        self.order = None if self.full else np.tile(np.arange(self.n), (N, 1))
        self.count = np.zeros(N, dtype=int)
        self.best_loss = np.full(N, np.inf)
        self.best_score = np.full(N, -np.inf)
        self.best = [p.copy() for p in self.params] if spec["early_stopping"] else None
        self.curves, self.scores = [], []  # per epoch: (ids, values)
        self.out_params = [np.empty_like(p) for p in self.params]
        self.n_iter = np.zeros(N, dtype=int)
        self.out_count = np.zeros(N, dtype=int)
        self.stalled = np.zeros(N, dtype=bool)
        self.t_ = 0

    def epoch(self) -> None:
        """One pass over the (shuffled) minibatches of every network still training."""
        n, L = self.n, self.L
        if not self.full:
            for k, j in enumerate(self.ids):
                self.order[k] = self.order[k][self.streams[j].permutation(n)]
        acc = 0.0
        for start in range(0, n, self.bs):
            stop = min(start + self.bs, n)
            if self.full:
                Xb, Yb = self.X, self.Y
            else:
                rows = self.order[:, start:stop]
                Xb = (
                    self.X[rows] if self.shared else self.X[np.arange(len(self.ids))[:, None], rows]
                )
                Yb = self.Y[np.arange(len(self.ids))[:, None], rows]
            loss, cg, ig = backprop(self.params[:L], self.params[L:], Xb, Yb, self.spec)
            acc = acc + loss * (stop - start)
            for p, u in zip(self.params, self.opt.updates(cg + ig)):
                p += u
        self.loss = acc / n
        self.t_ += n
        self.n_iter[self.ids] += 1
        self.curves.append((self.ids, self.loss))

    def stop(self, *, last: bool) -> bool:
        """scikit-learn's stopping rule after an epoch; True when no network is left."""
        spec, L = self.spec, self.L
        if spec["early_stopping"]:
            score = validation_score(
                self.task, spec, self.params[:L], self.params[L:], self.Xv, self.Yv
            )
            self.scores.append((self.ids, score))
            self.count = np.where(score < self.best_score + spec["tol"], self.count + 1, 0)
            better = score > self.best_score
            self.best_score = np.where(better, score, self.best_score)
            for b, p in zip(self.best, self.params):
                b[better] = p[better]
        else:
            self.count = np.where(self.loss > self.best_loss - spec["tol"], self.count + 1, 0)
            self.best_loss = np.where(self.loss < self.best_loss, self.loss, self.best_loss)
        self.opt.iteration_ends(self.t_)
        hit = self.count > spec["n_iter_no_change"]
        done = self.opt.stop(hit)
        self.count = np.where(hit & ~done, 0, self.count)
        if last:
            self.stalled[self.ids[~done]] = True
            done = np.ones_like(done)
        return self._leave(done) if done.any() else False

    def _leave(self, done: np.ndarray) -> bool:
        """The networks that stopped keep their (best) weights and leave the block."""
        final = self.best if self.spec["early_stopping"] else self.params
        for o, p in zip(self.out_params, final):
            o[self.ids[done]] = p[done]
        self.out_count[self.ids[done]] = self.count[done]
        keep = ~done
        if not keep.any():
            return True
        self.ids, self.count = self.ids[keep], self.count[keep]
        self.order = None if self.full else self.order[keep]
        self.best_loss, self.best_score = self.best_loss[keep], self.best_score[keep]
        self.params = [p[keep] for p in self.params]
        if self.best is not None:
            self.best = [b[keep] for b in self.best]
        self.opt.keep(keep)
        self.Y = self.Y[keep]
        if not self.shared:
            self.X = self.X[keep]
        if self.Xv is not None:
            self.Xv, self.Yv = self.Xv[keep], self.Yv[keep]
        return False
