"""Hooks this plugin declares for other plugins to implement."""

from hub.hookspecs import hookspec


@hookspec
def journal_entry_written(kind: str, detail: str) -> None:
    """A journal entry was written. Other plugins may mirror it somewhere."""
