"""The syncs plugins declare (``hub_register_syncs``), collected once and reached by name.

The core knows no plugin's syncs. ``GET /api/syncs`` lists what the loaded plugins declare,
``POST /api/syncs/{plugin}/{word}`` queues one (Sync Now), the admin's Jobs page has a button
for each, and ``hub sync <word>`` goes through that route. A word two plugins declare is
reached on the command line as ``<plugin>.<word>``; every sync also answers to that name.

A declaration that breaks the rules (a bad word, a word twice in one plugin, an unknown role)
is left out and puts its plugin in ``error`` with the reason; the others are served.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hub.errors import InputError
from hub.types import JobRecord, SyncKind

if TYPE_CHECKING:
    from hub.plugins import PluginHost

log = logging.getLogger("hub.syncs")

HOOK = "hub_register_syncs"
WORD = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
ROLES = ("staff", "admin")
OPTIONS = ("full", "dry_run")


@dataclass(frozen=True)
class Sync:
    """A declared sync and the plugin that declared it."""

    plugin: str
    kind: SyncKind

    @property
    def word(self) -> str:
        return self.kind.word

    @property
    def path(self) -> str:
        return f"/api/syncs/{self.plugin}/{self.kind.word}"

    def options(self) -> dict[str, bool]:
        return {"full": self.kind.full, "dry_run": self.kind.dry_run}


def problem(kind: Any, taken: set[str]) -> str | None:
    """Why a declaration cannot be served, or ``None`` when it can."""
    if not isinstance(kind, SyncKind):
        return f"{kind!r} is not a hub.types.SyncKind"
    if not isinstance(kind.word, str) or not WORD.match(kind.word):
        return (
            f"sync word {kind.word!r} must be 1 to 40 lowercase letters, digits, '-' or '_', "
            "starting with a letter"
        )
    if kind.word in taken:
        return f"sync word {kind.word!r} is declared twice"
    if not kind.label or not kind.ledger_kind:
        return f"sync {kind.word!r} needs a label and a ledger kind"
    if kind.min_role not in ROLES:
        return f"sync {kind.word!r}: min_role must be one of {', '.join(ROLES)}"
    if not isinstance(kind.full, bool) or not isinstance(kind.dry_run, bool):
        return f"sync {kind.word!r}: full and dry_run must be True or False"
    if not callable(kind.request):
        return f"sync {kind.word!r}: request is not callable"
    return None


class SyncRegistry:
    """Every declared sync, in plugin order, then in each plugin's order."""

    def __init__(self, host: PluginHost, syncs: Iterable[Sync]) -> None:
        self.host = host
        self.syncs = list(syncs)
        self._by_path = {(s.plugin, s.word): s for s in self.syncs}

    @classmethod
    def collect(cls, host: PluginHost) -> SyncRegistry:
        syncs: list[Sync] = []
        # In the order the config enables the plugins (pluggy calls the last one first).
        order = list(host.plugins)
        answers = sorted(host.call(HOOK), key=lambda answer: order.index(answer[0]))
        for plugin, declared in answers:
            taken: set[str] = set()
            for kind in declared if isinstance(declared, list | tuple) else [declared]:
                reason = problem(kind, taken)
                if reason is not None:
                    log.error("plugin %s: %s; that sync is not served", plugin, reason)
                    host.record_failure(plugin, HOOK, f"{HOOK}: {reason}")
                    continue
                taken.add(kind.word)
                syncs.append(Sync(plugin, kind))
        return cls(host, syncs)

    def get(self, plugin: str, word: str) -> Sync:
        sync = self._by_path.get((plugin, word))
        if sync is None:
            raise InputError("sync", f"no sync {plugin}/{word} (see GET /api/syncs)", 404)
        return sync

    def command_names(self) -> list[tuple[Sync, str]]:
        """Each sync with the name it goes by on the command line: its word, unless shared."""
        counts = Counter(s.word for s in self.syncs)
        return [(s, s.word if counts[s.word] == 1 else f"{s.plugin}.{s.word}") for s in self.syncs]

    def request(
        self, sync: Sync, *, full: bool, dry_run: bool, trigger: str, supersede: bool = True
    ) -> JobRecord:
        """Queue ``sync``'s job through its plugin; an option it does not offer is refused."""
        for option, wanted in (("full", full), ("dry_run", dry_run)):
            if wanted and not sync.options()[option]:
                offered = [o for o in OPTIONS if sync.options()[o]]
                raise InputError(
                    option,
                    f"{sync.plugin}/{sync.word} has no {option.replace('_', ' ')} option "
                    f"(it takes {', '.join(offered) if offered else 'none'})",
                )
        hub = self.host.plugins[sync.plugin].hub
        assert hub is not None, "plugins are bound to their Hub before routes are served"
        try:
            job = sync.kind.request(
                hub, trigger=trigger, full=full, dry_run=dry_run, supersede=supersede
            )
        except InputError:
            raise
        except Exception as exc:
            log.error("plugin %s raised queueing %s", sync.plugin, sync.word, exc_info=True)
            where = f"sync {sync.word}"
            self.host.record_failure(sync.plugin, where, f"{where} raised {type(exc).__name__}")
            raise SyncFailed(sync) from exc
        if not isinstance(getattr(job, "id", None), int):
            log.error("plugin %s queued %s but returned no job: %r", sync.plugin, sync.word, job)
            raise SyncFailed(sync)
        self.host.record_success(sync.plugin, f"sync {sync.word}")
        return job


class SyncFailed(Exception):
    """The plugin's request callable raised or returned no job; the reason is in its log."""

    def __init__(self, sync: Sync) -> None:
        super().__init__(
            f"plugin {sync.plugin} could not queue {sync.word}; its state in /api/health "
            "and the hub's log say why"
        )
        self.sync = sync


def resolve(name: str, listing: list[dict[str, Any]]) -> dict[str, Any]:
    """The sync that ``hub sync <name>`` means, from ``GET /api/syncs``'s list.

    Raises ``LookupError`` with a message that names the words that exist.
    """
    for sync in listing:
        if name in (sync["command"], f"{sync['plugin']}.{sync['word']}"):
            return sync
    shared = [s for s in listing if s["word"] == name]
    if shared:
        names = " or ".join(s["command"] for s in shared)
        raise LookupError(f"more than one plugin offers {name!r}: say {names}")
    raise LookupError(f"this hub has no sync {name!r}; {available(listing)}")


def available(listing: list[dict[str, Any]]) -> str:
    if not listing:
        return "its plugins declare no syncs"
    return "it offers: " + ", ".join(s["command"] for s in listing)
