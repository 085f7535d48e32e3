"""The one exception type that means "the user gave us bad input"."""


class InputError(Exception):
    """Bad input from the user: a file, field or value we cannot use.

    The message is one line that names the file, field and value; the CLI
    prints it and exits with code 2, without a traceback.
    """
