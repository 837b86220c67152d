"""What a configuration reload changes, and which of the changes a running daemon can take.

Routing (channels, rules, mutes), delivery knobs and logging apply at once; everything the
running parts were started with (the store, the HTTP listener, what is polled and how,
LlamaCloud's connection, the native webhook endpoint) keeps its running value until a
restart, and the reload says so instead of ignoring it silently. A section this module does
not know is restart-only: the safe default for a section added later.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Sections a reload applies to the running daemon.
LIVE_SECTIONS = frozenset({"channels", "rules", "mutes", "delivery", "log"})


@dataclass(frozen=True, slots=True)
class ReloadPlan:
    """The changed keys of a reload: `applied` now, `needs_restart` kept as running."""

    applied: tuple[str, ...] = ()
    needs_restart: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.applied or self.needs_restart)

    def sections(self) -> frozenset[str]:
        """The top-level sections whose applied keys changed."""
        return frozenset(key.split(".", 1)[0] for key in self.applied)


def changed_keys(section: str, old: Any, new: Any) -> list[str]:
    """`section` or its changed keys one level down (`polling.interval`), in order."""
    if old == new:
        return []
    if isinstance(old, Mapping) and isinstance(new, Mapping):  # a section, or channels by name
        keys = list(dict.fromkeys([*old, *new]))
        return [f"{section}.{key}" for key in keys if old.get(key) != new.get(key)]
    return [section]


def plan_reload(old: Mapping[str, Any], new: Mapping[str, Any]) -> ReloadPlan:
    """Compare two configurations, section by section (values as `model_dump` gives them;
    secrets compare by value and are never part of the plan, only their key names)."""
    applied: list[str] = []
    restart: list[str] = []
    for section in dict.fromkeys([*old, *new]):
        keys = changed_keys(section, old.get(section), new.get(section))
        (applied if section in LIVE_SECTIONS else restart).extend(keys)
    if _digests(old.get("rules")) != _digests(new.get("rules")):
        restart.append("rules[].digest")  # digest schedules are set up when the daemon starts
    return ReloadPlan(tuple(applied), tuple(restart))


def _digests(rules: Any) -> dict[Any, Any]:
    """The digest of each rule that has one: what the digest scheduler was started with."""
    if not isinstance(rules, list):
        return {}
    return {r.get("name"): r["digest"] for r in rules if isinstance(r, Mapping) and r.get("digest")}
