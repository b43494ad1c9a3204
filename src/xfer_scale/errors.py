"""The one exception type that means "the user asked for something we cannot do".

The CLI turns it into a one-paragraph message and exit code 2, without a traceback: a
researcher who typed a wrong language code needs the fix, not our stack.
"""


class UserError(Exception):
    """Bad configuration or input; the message names the problem and the fix."""
