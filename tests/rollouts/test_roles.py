import pytest
from django.contrib.auth.models import Group

from rollouts.models import Channel
from rollouts.roles import ROLES, sync_roles

pytestmark = pytest.mark.django_db


def test_the_default_pipeline_exists_in_order():
    assert list(Channel.objects.values_list("name", flat=True)) == [
        "dev",
        "forever-beta",
        "beta",
        "stable",
    ]
    assert list(Channel.objects.filter(self_service=True).values_list("name", flat=True)) == [
        "forever-beta"
    ]


def test_each_role_is_a_group_with_exactly_its_permissions():
    for name, perms in ROLES.items():
        group = Group.objects.get(name=name)
        granted = {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.all()}
        assert granted == set(perms)


def test_syncing_again_restores_a_removed_permission():
    group = Group.objects.get(name="release engineer")
    group.permissions.clear()
    sync_roles()
    assert group.permissions.count() == len(ROLES["release engineer"])
