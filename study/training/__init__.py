"""Training: scikit-learn's networks (:mod:`~study.training.models`), one per seed with every
importance computed (:mod:`~study.training.runner`: what a network is trained on in
:mod:`~study.training.plan`, training one or a block in :mod:`~study.training.train`, its record
in :mod:`~study.training.scoring`, blocks over workers in :mod:`~study.training.workers`), the
batched trainer (:mod:`~study.training.batched`), the worker processes
(:mod:`~study.training.pool`), resample networks (:mod:`~study.training.resample`) and the per-run
records they produce (:mod:`~study.training.record`)."""
