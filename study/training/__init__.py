"""Training: scikit-learn's networks (:mod:`~study.training.models`), one per seed with every
importance computed (:mod:`~study.training.runner`), the batched trainer
(:mod:`~study.training.batched`), the worker processes (:mod:`~study.training.pool`), resample
networks (:mod:`~study.training.resample`) and the per-run records they produce
(:mod:`~study.training.record`)."""
