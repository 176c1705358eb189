"""Type-approval impact assessments (UN R156), checked without the database.

An assessment says, for one vehicle type (model) in one market, whether an update affects its
type approval, why, and — when it does — the RXSWIN the vehicle type carries after it."""

import re
from dataclasses import dataclass

# R156 leaves the RXSWIN's form to the approval authority: printable, short, no spaces at ends.
# Matched whole (fullmatch): `$` alone would let a trailing newline through.
RXSWIN_PATTERN = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._:/ +-]{0,62}[A-Za-z0-9])?")
RXSWIN_RULE = (
    "An RXSWIN is 1 to 64 letters, digits and . _ : / + - or spaces inside, with nothing around it."
)
MAX_RATIONALE = 5000


@dataclass(frozen=True)
class Assessment:
    model: str
    affects_type_approval: bool
    rationale: str
    new_rxswin: str = ""


class AssessmentError(ValueError):
    def __init__(self, problems: dict[str, list[str]]):
        self.problems = problems
        super().__init__(problems)


def valid_rxswin(value: str) -> bool:
    """As given: an RXSWIN with spaces around it is refused, never trimmed into another."""
    return bool(RXSWIN_PATTERN.fullmatch(value))


def check_assessments(assessments: list[Assessment], *, vehicle_types: set[str]) -> None:
    """Raise AssessmentError unless there is one assessment per vehicle type, each with a
    rationale, and a new RXSWIN exactly when type approval is affected."""
    problems: dict[str, list[str]] = {}
    seen: set[str] = set()
    for item in assessments:
        found = problems.setdefault(item.model, [])
        if item.model in seen:
            found.append("Assessed twice.")
        seen.add(item.model)
        if item.model not in vehicle_types:
            found.append("Not a vehicle type this release reaches in this market.")
        if not item.rationale.strip():
            found.append("A rationale is required.")
        if len(item.rationale) > MAX_RATIONALE:
            found.append(f"The rationale is longer than {MAX_RATIONALE} characters.")
        if item.new_rxswin and not valid_rxswin(item.new_rxswin):
            found.append(f"new_rxswin is not an RXSWIN: {RXSWIN_RULE}")
        elif item.affects_type_approval and not item.new_rxswin:
            found.append("An update that affects type approval needs the new RXSWIN.")
        elif not item.affects_type_approval and item.new_rxswin:
            found.append("A new RXSWIN is given only when type approval is affected.")
    for model in sorted(vehicle_types - seen):
        problems.setdefault(model, []).append("Not assessed.")
    problems = {model: found for model, found in problems.items() if found}
    if problems:
        raise AssessmentError(problems)
