"""User-facing errors: one line, actionable, no traceback (unless `--debug`)."""


class UserError(Exception):
    """A mistake the user can fix (bad path, bad option, missing device). The message is one line."""

    exit_code = 2


class NotBuiltYet(UserError):
    """A command of the contract whose implementation has not landed yet."""

    def __init__(self, command: str, issue: int):
        super().__init__(f"`vaesynth {command}` is not built yet (tracked in issue {issue})")
