"""Every length an input serializer allows fits the column the value goes to.

SQLite stores a string of any length in a varchar(64); PostgreSQL refuses it, and the
request would end in a 500 there only. Each text field a client can send is placed below: in
the column it is stored in, or nowhere (compared, looked up, or kept inside a larger text). A
new field fails the first test until it is placed, and a bound larger than its column fails
the second."""

import importlib
import pkgutil

import pytest
from django.apps import apps
from rest_framework import serializers

API_MODULES = ["rollouts.api", "signing.api", "accounts"]

STORED_IN = {
    ("ActionInputSerializer", "reason"): "audit.AuditEvent.reason",
    ("ActionInputSerializer", "override_reason"): "rollouts.Rollout.gate_override_reason",
    ("BundleFieldsSerializer", "path"): "signing.Bundle.path",
    ("BundleFieldsSerializer", "hardware_id"): "signing.Bundle.hardware_id",
    ("BundleFieldsSerializer", "version"): "signing.Bundle.version",
    ("BundleUploadSerializer", "path"): "signing.Bundle.path",  # the same, as the schema shows
    ("BundleUploadSerializer", "hardware_id"): "signing.Bundle.hardware_id",
    ("BundleUploadSerializer", "version"): "signing.Bundle.version",
    ("JsonBundleFieldsSerializer", "path"): "signing.Bundle.path",
    ("JsonBundleFieldsSerializer", "hardware_id"): "signing.Bundle.hardware_id",
    ("JsonBundleFieldsSerializer", "version"): "signing.Bundle.version",
    ("ChannelInputSerializer", "channel"): "rollouts.Channel.name",  # looked up by name
    ("ManageChannelInputSerializer", "channel"): "rollouts.Channel.name",
    ("RolloutInputSerializer", "channel"): "rollouts.Channel.name",
    ("VehicleInputSerializer", "channel"): "rollouts.Channel.name",
    ("RolloutInputSerializer", "cohort"): "rollouts.Cohort.name",
    ("CohortInputSerializer", "name"): "rollouts.Cohort.name",
    ("CohortInputSerializer", "description"): "rollouts.Cohort.description",
    ("CohortChangeSerializer", "description"): "rollouts.Cohort.description",
    ("ConsentSerializer", "terms_version"): "rollouts.ChannelChange.terms_version",
    ("ConsentSerializer", "by"): "rollouts.ChannelChange.consent_by",
    ("EcuInputSerializer", "serial"): "rollouts.Ecu.serial",
    ("EcuInputSerializer", "hardware_id"): "rollouts.Ecu.hardware_id",
    ("VehicleInputSerializer", "vin"): "rollouts.Vehicle.vin",
    ("VehicleInputSerializer", "model"): "rollouts.Vehicle.model",
    ("VehicleInputSerializer", "region"): "rollouts.Vehicle.region",
    ("VehicleInputSerializer", "time_zone"): "rollouts.Vehicle.time_zone",
    ("EventSerializer", "correlation_id"): "rollouts.InstallEvent.correlation_id",
    ("EventSerializer", "ecu_serial"): "rollouts.InstallEvent.ecu_serial",
    ("EventSerializer", "error_code"): "rollouts.InstallEvent.error_code",
    ("EventSerializer", "detail"): "rollouts.InstallEvent.detail",
    ("EventSerializer", "delta"): "rollouts.InstallEvent.delta",
    ("ReasonInputSerializer", "reason"): "audit.AuditEvent.reason",
    ("ReleaseInputSerializer", "version"): "rollouts.Release.version",
    ("ReleaseInputSerializer", "notes"): "rollouts.Release.notes",
    # The manifest is kept whole as text; of its reports only the installed image has columns.
    ("ManifestSignedSerializer", "vin"): None,  # compared with the token's vehicle
    ("ManifestSignedSerializer", "primary_ecu_serial"): None,  # compared with the ECUs
    ("EcuReportSignedSerializer", "ecu_serial"): "rollouts.ManifestProblem.ecu_serial",
    ("EcuReportSignedSerializer", "hardware_id"): None,  # compared with the ECU's
    ("EcuReportSignedSerializer", "attacks_detected"): None,
    ("InstalledImageSerializer", "filepath"): "rollouts.Ecu.installed_path",
    ("SignatureSerializer", "keyid"): None,  # compared with the ECU's key
    ("SignatureSerializer", "sig"): None,
}
# Bounds a validator sets below the field's own: the VIN is normalised, then exactly 17.
VALIDATED_TO = {("VehicleInputSerializer", "vin"): 17}


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def input_text_fields() -> dict[tuple[str, str], serializers.CharField]:
    for name in API_MODULES:
        package = importlib.import_module(name)
        for module in pkgutil.iter_modules(getattr(package, "__path__", [])):
            importlib.import_module(f"{name}.{module.name}")
    found = {}
    for cls in set(_subclasses(serializers.Serializer)):
        ours = cls.__module__.startswith(tuple(API_MODULES))
        answers = cls.__name__.endswith("OutputSerializer")  # the house's name for answers
        if not ours or answers or issubclass(cls, serializers.ModelSerializer):
            continue  # a ModelSerializer takes its lengths from the model itself
        for field_name, field in cls().fields.items():
            if isinstance(field, serializers.CharField) and not field.read_only:
                found[(cls.__name__, field_name)] = field
    return found


def column(dotted: str):
    app, model, field = dotted.split(".")
    return apps.get_model(app, model)._meta.get_field(field)


def test_every_text_field_a_client_sends_is_placed():
    unplaced = sorted(set(input_text_fields()) - set(STORED_IN))
    assert not unplaced, f"place these in STORED_IN (a column, or None): {unplaced}"


@pytest.mark.parametrize(
    ("where", "target"), [(k, v) for k, v in STORED_IN.items() if v], ids=lambda v: str(v)
)
def test_what_a_serializer_allows_fits_its_column(where, target):
    field = input_text_fields()[where]
    allowed = VALIDATED_TO.get(where, field.max_length)
    limit = column(target).max_length
    assert allowed is not None, f"{where} has no max_length: bound it"
    assert limit is None or allowed <= limit, f"{where} allows {allowed}, {target} holds {limit}"
