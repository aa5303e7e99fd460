"""From a study's runs to what they say: the tables (:mod:`~study.analysis.aggregate`), rank
stability (:mod:`~study.analysis.stability`) and agreement (:mod:`~study.analysis.agreement`),
the answer (:mod:`~study.analysis.answer`) and its uncertainty about data and seeds
(:mod:`~study.analysis.uncertainty`, :mod:`~study.analysis.ranks`), the checks
(:mod:`~study.analysis.checks`), retraining (:mod:`~study.analysis.retraining`), the
randomisation test with its null networks (:mod:`~study.analysis.randomisation`) and the
comparison of studies (:mod:`~study.analysis.compare`). Pure functions of records and arrays."""
