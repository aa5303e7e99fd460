"""From a study's runs to what they say. Pure functions of records and arrays.

- The tables: :mod:`~study.analysis.aggregate` (``analyse`` and ``Analysis``), with the views
  and their primary ranks (:mod:`~study.analysis.views`), the summed weights
  (:mod:`~study.analysis.weight_sums`), the tables of importances, resamples, agreement, truth
  recovery and Lek's profiles (:mod:`~study.analysis.tables`), the stability tables per view
  (:mod:`~study.analysis.stability_tables`) and the study's metrics as MLflow names them
  (:mod:`~study.analysis.run_metrics`).
- Rank stability (:mod:`~study.analysis.stability`, with :mod:`~study.analysis.rankings`,
  :mod:`~study.analysis.curves` and :mod:`~study.analysis.bootstrap`) and agreement between
  methods (:mod:`~study.analysis.agreement`).
- The answer (:mod:`~study.analysis.answer`) and its uncertainty about data and seeds
  (:mod:`~study.analysis.uncertainty`, :mod:`~study.analysis.ranks`).
- The checks (:mod:`~study.analysis.checks`), retraining on the top-k variables
  (:mod:`~study.analysis.retraining`), Olden & Jackson's randomisation test with its null
  networks (:mod:`~study.analysis.randomisation`) and the comparison of studies
  (:mod:`~study.analysis.compare`).
"""
