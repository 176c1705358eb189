"""The permission groups and what each may do, declared here and synced after every migrate.

Groups cannot be filled by a data migration alone: Django creates permissions only after
migrations have run (post_migrate), so a migration never sees the permissions of models
that later migrations add. Syncing from this table keeps every group current.
"""

import logging

from django.contrib.auth.models import Group, Permission

logger = logging.getLogger(__name__)

RELEASE_ENGINEER = "release engineer"
APPROVER = "approver"
KEY_CUSTODIAN = "key custodian"
HOMOLOGATION = "homologation"

_READ_FLEET = [
    "rollouts.view_vehicle",
    "rollouts.view_ecu",
    "rollouts.view_channel",
    "rollouts.view_release",
    "rollouts.view_rollout",
    "rollouts.view_assignment",
    "rollouts.view_channelchange",
    "rollouts.view_cohort",
    "rollouts.view_cohortmember",
    "audit.view_auditevent",
    "compliance.view_marketapproval",
    "compliance.view_impactassessment",
    "compliance.view_rxswinentry",
    "compliance.view_vehiclerxswin",
]

ROLES: dict[str, list[str]] = {
    RELEASE_ENGINEER: [
        *_READ_FLEET,
        "rollouts.add_vehicle",
        "rollouts.change_vehicle",
        "rollouts.add_ecu",
        "rollouts.change_ecu",
        "rollouts.view_vehicletoken",
        "rollouts.change_vehicletoken",
        "signing.view_bundle",
        "signing.view_delta",
        "signing.view_bundlecopy",
        "signing.add_bundle",
        "signing.publish_bundle",
        "signing.view_rolemetadata",
        "rollouts.add_release",
        "rollouts.add_cohort",
        "rollouts.change_cohort",
        "rollouts.delete_cohort",
        "rollouts.add_rollout",
        "rollouts.change_rollout",
        "rollouts.view_evaluation",
        "rollouts.view_webhookdelivery",
        "rollouts.view_webhookendpoint",
        "rollouts.add_webhookendpoint",
    ],
    APPROVER: [
        *_READ_FLEET,
        "signing.view_bundle",
        "signing.view_delta",
        "signing.view_bundlecopy",
        "signing.view_rolemetadata",
        "rollouts.approve_release",
        "rollouts.approve_rollout",
        "rollouts.override_promotion_gate",
        "rollouts.change_rollout",
    ],
    HOMOLOGATION: [
        *_READ_FLEET,
        "signing.view_bundle",
        "signing.view_bundlecopy",
        "compliance.approve_market",
        "compliance.add_rxswinentry",
        "compliance.view_evidencerecord",
        "compliance.view_evidenceexport",
        "compliance.add_evidenceexport",
        "compliance.view_exportkey",
    ],
    KEY_CUSTODIAN: [
        *_READ_FLEET,
        "signing.view_bundle",
        "signing.view_delta",
        "signing.view_bundlecopy",
        "signing.view_rolemetadata",
        "signing.view_signingkey",
        "signing.view_repository",
    ],
}


def sync_roles(sender=None, using: str = "default", **kwargs) -> None:
    """Create the groups and give each exactly the permissions of ROLES (idempotent)."""
    for name, perms in ROLES.items():
        group, _ = Group.objects.using(using).get_or_create(name=name)
        wanted = []
        for dotted in perms:
            app_label, codename = dotted.split(".")
            found = Permission.objects.using(using).filter(
                content_type__app_label=app_label, codename=codename
            )
            if not found:
                logger.warning("Role %r names unknown permission %s", name, dotted)
            wanted.extend(found)
        group.permissions.set(wanted)
