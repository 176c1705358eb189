from rollouts.models.channels import Channel
from rollouts.models.cohorts import Cohort, CohortKind, CohortMember
from rollouts.models.consent import ChangeVia, ChannelChange
from rollouts.models.counters import RolloutCounter
from rollouts.models.evaluations import Evaluation, Outcome
from rollouts.models.fleet import Ecu, Vehicle, VehicleToken, VehicleType
from rollouts.models.manifests import InstalledChange, ManifestProblem
from rollouts.models.notifications import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from rollouts.models.releases import Release, ReleaseBundle, ReleaseStatus
from rollouts.models.rollouts import Assignment, AssignmentStatus, Rollout, RolloutStatus
from rollouts.models.telemetry import EventType, HealthWindow, InstallEvent

__all__ = [
    "Assignment",
    "AssignmentStatus",
    "ChangeVia",
    "Channel",
    "ChannelChange",
    "Cohort",
    "CohortKind",
    "CohortMember",
    "DeliveryStatus",
    "Ecu",
    "Evaluation",
    "EventType",
    "HealthWindow",
    "InstallEvent",
    "InstalledChange",
    "ManifestProblem",
    "Outcome",
    "Release",
    "ReleaseBundle",
    "ReleaseStatus",
    "Rollout",
    "RolloutCounter",
    "RolloutStatus",
    "Vehicle",
    "VehicleToken",
    "VehicleType",
    "WebhookDelivery",
    "WebhookEndpoint",
]
