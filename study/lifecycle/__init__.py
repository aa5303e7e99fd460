"""A study from start to end: one from a config or a table (:mod:`~study.lifecycle.pipeline`),
the checks before anything is written (:mod:`~study.lifecycle.prepare`), its steps
(:mod:`~study.lifecycle.steps`), the local journal (:mod:`~study.lifecycle.journal`) and the
last steps shared with ``study-aggregate`` (:mod:`~study.lifecycle.publish`)."""
