"""Why the compliance services refuse; each maps to an HTTP status by its base (ota.errors)."""

from ota.errors import Conflict


class ExportStateConflict(Conflict):
    code = "export_state_conflict"
    message = "The evidence export is not in a state that allows this."
