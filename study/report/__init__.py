"""What a person reads: the terminal report (:mod:`~study.report.summary`), the study page and
the run's description (:mod:`~study.report.overview`) and the charts
(:mod:`~study.report.plots`)."""
