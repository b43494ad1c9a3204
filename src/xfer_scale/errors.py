"""The exceptions the CLI turns into one line instead of a traceback.

`UserError`: the user asked for something we cannot do; exit code 2. A researcher who typed
a wrong language code needs the fix, not our stack. `Interrupted`: Ctrl-C; exit code 130,
saying where the run stopped and that re-running resumes.
"""


class UserError(Exception):
    """Bad configuration or input; the message names the problem and the fix."""


class Interrupted(Exception):
    """Ctrl-C (SIGINT) during a run; the message says where it stopped."""
