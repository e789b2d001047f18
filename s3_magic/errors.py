"""Error types. ``S3Error`` and its subclasses are user-facing: one line that says how to fix it.

The magics turn them into IPython ``UsageError`` and the CLI prints them on one line and exits 2;
anything else is a real failure and propagates with its traceback.
"""

from __future__ import annotations


class S3Error(Exception):
    """A mistake the user can fix; the message says how."""


class ConfigError(S3Error):
    """The task spec or an option is invalid."""


class DataError(S3Error):
    """Labelled data is missing, unreadable or inconsistent."""


class BackendError(S3Error):
    """An LLM backend cannot be created or a call failed for good."""


class StoreError(S3Error):
    """The run store or a run in it cannot be used as asked."""


class BudgetExceeded(S3Error):
    """The token budget of the run is spent; resume with a higher budget to go on."""
