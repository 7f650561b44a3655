"""The exception tree of remessa; every error remessa raises on purpose is one of these.

    RemessaError
     ├── ConfigError(ValueError)        the configuration file is wrong (all problems at once)
     ├── BatchFileError(ValueError)     a batch file cannot be taken as a whole (reason code + sentence)
     ├── NotFound(LookupError)          a batch, profile or provider that does not exist
     ├── AlreadyRunning                 another daemon holds the store
     └── DeliveryError                  a channel call failed as a whole
          ├── TemporaryFailure          try again later (connection lost, 5xx, throttled)
          └── PermanentFailure          will not succeed until someone acts (credentials, certificate)
"""

from __future__ import annotations

from collections.abc import Sequence


class RemessaError(Exception):
    """Base of every error remessa raises on purpose."""


class ConfigError(RemessaError, ValueError):
    """The configuration is invalid; carries every problem found, each naming file and key."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("invalid configuration:\n  " + "\n  ".join(self.problems))


class BatchFileError(RemessaError, ValueError):
    """A whole batch file is refused; `code` is the stable reason, the message the human sentence."""

    def __init__(self, code: str, message: str, line: int | None = None) -> None:
        self.code = code
        self.line = line
        self.sentence = message
        where = f" (line {line})" if line is not None else ""
        super().__init__(f"{code}: {message}{where}")


class NotFound(RemessaError, LookupError):
    """A named thing (batch, profile, provider) does not exist."""


class AlreadyRunning(RemessaError):
    """Another remessa daemon holds the store; the message names it."""


class StartupError(RemessaError):
    """The daemon cannot start as configured (e.g. its HTTP listener cannot listen); exit 2 with the reason."""


class DeliveryError(RemessaError):
    """A channel call failed as a whole (as opposed to one message being refused)."""


class TemporaryFailure(DeliveryError):
    """The call may succeed later; the messages stay queued."""


class PermanentFailure(DeliveryError):
    """The call will not succeed until someone acts (credentials refused, certificate not trusted); the
    provider is paused and retried slowly, its messages wait."""
