"""State machines as data. Pure.

Each kind of record with a status declares its `Lifecycle` beside its model: every action
names the states it may start from, the states it may lead to and the checks it runs first.
Services change a status only through `Lifecycle.target`, so no path reaches a state by an
action the table does not allow from where the record stands (a neighbour of a checked path
cannot skip the check: the check belongs to the action, not to the path).
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ota.errors import Conflict


@dataclass(frozen=True)
class Move:
    starts_from: frozenset[str]
    # Empty: the status stays (an action that acts on the record without moving it).
    leads_to: frozenset[str]
    # Names of the checks the action runs before it moves (the service holds them by name).
    checks: tuple[str, ...] = ()


def move(starts_from: Iterable[str], leads_to: Iterable[str] = (), checks=()) -> Move:
    return Move(frozenset(starts_from), frozenset(leads_to), tuple(checks))


class Lifecycle:
    def __init__(
        self,
        moves: Mapping[str, Move],
        *,
        conflict: type[Conflict],
        conflicts: Mapping[str, type[Conflict]] | None = None,
    ):
        self.moves = dict(moves)
        self._conflict = conflict
        self._conflicts = dict(conflicts or {})

    @property
    def transitions(self) -> dict[str, set[str]]:
        """From each state, the states some action leads to."""
        states = {s for m in self.moves.values() for s in (*m.starts_from, *m.leads_to)}
        return {
            state: {
                to
                for m in self.moves.values()
                if state in m.starts_from
                for to in m.leads_to
                if to != state
            }
            for state in sorted(states)
        }

    def allows(self, action: str, status: str) -> bool:
        return status in self.moves[action].starts_from

    def actions_from(self, status: str) -> list[str]:
        return [name for name, m in self.moves.items() if status in m.starts_from]

    def checks(self, action: str) -> tuple[str, ...]:
        return self.moves[action].checks

    def target(self, action: str, status: str, to: str | None = None) -> str:
        """The state `action` leads to from `status` (`to` where it may lead to several), or
        the action's conflict naming the state, the action and where it may start from."""
        m = self.moves[action]
        leads_to = m.leads_to or frozenset({status})
        if to is None and len(leads_to) == 1:
            (to,) = leads_to
        if status not in m.starts_from or to not in leads_to:
            raise self._conflicts.get(action, self._conflict)(
                detail={
                    "status": status,
                    "action": action,
                    "allowed_from": sorted(m.starts_from),
                }
            )
        return to
