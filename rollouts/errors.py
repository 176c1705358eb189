"""Why the fleet services refuse; each maps to an HTTP status through its base in ota.errors."""

from ota.errors import Conflict, Malformed, Unprocessable


class VehicleExists(Conflict):
    code = "vehicle_exists"
    message = "A vehicle with this VIN is already provisioned."


class UnknownChannel(Unprocessable):
    code = "unknown_channel"
    message = "No channel has this name."


class UnknownCohort(Unprocessable):
    code = "unknown_cohort"
    message = "No cohort has this name."


class UnknownRegion(Unprocessable):
    code = "unknown_region"
    message = "This region is not one of the configured markets."


class InvalidEcuSet(Malformed):
    code = "invalid_ecus"
    message = "A vehicle needs exactly one primary ECU and distinct ECU serials."


class TokenConflict(Conflict):
    code = "token_conflict"
    message = "The vehicle's token changed at the same time; try again."


class RolloutStateConflict(Conflict):
    code = "rollout_state_conflict"
    message = "The rollout is not in a state that allows this."


class RevertNotPossible(Conflict):
    code = "revert_not_possible"
    message = "Only a halted rollout can be reverted."


class ReleaseStateConflict(Conflict):
    code = "release_state_conflict"
    message = "The release is not in a state that allows this."
