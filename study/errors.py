"""The one exception type for problems the user can fix (config, data, arguments)."""


class StudyError(ValueError):
    """A user error: the command line reports it in one line and exits with status 2.

    Errors the code causes are bugs; they are not StudyError and keep their traceback.
    """
