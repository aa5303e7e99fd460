"""Exception types: StudyError for problems the user can fix (config, data, arguments), and
SeedsFailed for a study whose seeds raised."""


class StudyError(ValueError):
    """A user error: the command line reports it in one line and exits with status 2.

    Errors the code causes are bugs; they are not StudyError and keep their traceback.
    """


class SeedsFailed(Exception):
    """Too many seeds of a study raised (``study.max_failures``), or all of them did: the study
    stops, its parent run ends FAILED, and ``study-run`` exits with status 1 (not a user error:
    the cause is in each FAILED child's ``error.txt``)."""


class StoreUnavailable(Exception):
    """The tracking store stopped answering mid-study: what was trained is in the journal, and
    ``study.resume=true`` goes on once the store answers again (exit status 1, one line)."""
