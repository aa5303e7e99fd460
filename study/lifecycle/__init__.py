"""A study from start to end: one from a config or a table (:mod:`~study.lifecycle.pipeline`),
the checks before anything is written (:mod:`~study.lifecycle.prepare`), the whole run and what
it hands back (:mod:`~study.lifecycle.run`), a study's steps in its store: open, claim, train,
the failure budget, gather (:mod:`~study.lifecycle.study`), how many seeds
``study.n_runs=auto`` needs (:mod:`~study.lifecycle.auto`), the local journal
(:mod:`~study.lifecycle.journal`) and the last steps shared with ``study-aggregate``
(:mod:`~study.lifecycle.publish`)."""
