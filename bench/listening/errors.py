"""The one error type of the listening study: bad input the user must fix (the CLI exits 2)."""


class StudyError(Exception):
    """Bad input, named with its file (and row) and what was wrong."""
