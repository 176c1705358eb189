"""Requests generated from the OpenAPI schema (schemathesis), sent to the app in-process.

Over the management API with a superuser's token and over the vehicle API with a vehicle's
own token (its VIN in every path): no answer may be a 5xx, every status must be one the
schema documents for the operation, every body must match the schema, and a request the
schema calls valid is not refused but for a business rule listed below. The cases are
derived from a fixed seed, so a failure reproduces; their number is bounded to keep the run
within a minute on each database."""

import dataclasses
import re

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck, assume, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from accounts.services import user_token_create
from ota.wsgi import application

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


@dataclasses.dataclass(frozen=True)
class Rule:
    operation: str  # "METHOD /path", or "*": any
    code: str
    field: str | None = None  # a path in `detail`, list indexes as *; None: the code says it
    message: str | tuple[str, ...] = ""  # how the field's message starts
    # No field given: entries the detail must hold, for a code that covers more than the rule.
    detail: dict = dataclasses.field(default_factory=dict)
    why: str = ""


# Requests the schema calls valid that the server may still refuse: rules about the state of
# the world (data, the deployment, the server's clock, whose token it is) and rules across
# fields that JSON Schema cannot reasonably say. A rule naming a field allows only that
# problem there: a refusal that names anything else besides still fails, so a shape error
# cannot hide behind a business rule. Any other refusal of a valid request means the schema
# promises more than the server takes, or the server refuses what it should take.
BUSINESS_RULES = [
    Rule(
        "*",
        "malformed_request",
        detail={"in": "key"},
        why="OpenAPI 3.0 has no propertyNames: that an object's keys hold no NUL (the JSON "
        "parser refuses it anywhere) cannot be said of a free-form object",
    ),
    Rule(
        "POST /api/v1/manage/bundles/uploads",
        "direct_upload_unavailable",
        why="the deployment's: direct uploads need S3 storage, and the tests store locally",
    ),
    Rule(
        "POST /api/v1/manage/cohorts",
        "invalid_cohort",
        "kind",
        why="across fields: a filter has at least one part, a static cohort none",
    ),
    Rule(
        "POST /api/v1/manage/cohorts",
        "invalid_cohort",
        "installed[*]",
        "min_counter is at most max_counter",
        why="across fields: a rule's counter range is not upside down",
    ),
    Rule(
        "POST /api/v1/manage/evidence/exports",
        "invalid_export_scope",
        why="across fields: a market's period starts before it ends (what each scope names "
        "is in the schema)",
    ),
    *(
        Rule("POST /api/v1/manage/evidence/exports", code, why=f"data: {what}")
        for code, what in [
            ("unknown_vin", "the VIN is of no vehicle and in no evidence"),
            ("unknown_release", "no such release"),
            ("unknown_market", "no such market now, and no evidence of one dropped"),
        ]
    ),
    Rule(
        "POST /api/v1/manage/releases",
        "invalid_install_policy",
        "windows",
        "Window ",
        why="across fields: a window closes at another time than it opens",
    ),
    Rule(
        "POST /api/v1/manage/releases",
        "invalid_install_policy",
        "deadline",
        "A real date",
        why="the server's clock: a recall's deadline is at most ten years ahead",
    ),
    Rule(
        "POST /api/v1/manage/releases",
        "invalid_request",
        "requires",
        "Keys are bundle ids.",
        why="OpenAPI 3.0 has no propertyNames: that the keys are bundle ids cannot be said",
    ),
    Rule(
        "POST /api/v1/manage/releases",
        "bundle_not_published",
        why="data: no published bundle has this id",
    ),
    *(
        Rule(operation, "unknown_channel", why="data: no such channel")
        for operation in [
            "POST /api/v1/manage/rollouts",
            "POST /api/v1/manage/vehicles",
            "POST /api/v1/manage/vehicles/bulk",
            "PUT /api/v1/vehicles/{vin}/channel",
        ]
    ),
    *(
        rule
        for operation, where in [
            ("POST /api/v1/manage/vehicles", ""),
            ("POST /api/v1/manage/vehicles/bulk", "vehicles.*."),
        ]
        for rule in [
            Rule(
                operation,
                "invalid_request",
                f"{where}ecus.*.public_key",
                ("an ecdsa public key", "the ecdsa public key"),
                why="whether the PEM block holds a P-256 key no schema can say",
            ),
            Rule(
                operation,
                "invalid_request",
                f"{where}ecus",
                ("Exactly one ECU must be primary.", "ECU serials must be distinct"),
                why="across items: OpenAPI 3.0 has no `contains`, and uniqueItems compares "
                "whole items, not their serials",
            ),
        ]
    ),
    Rule(
        "POST /api/v1/manage/vehicles/bulk",
        "invalid_request",
        "vehicles",
        "VINs appear more than once",
        why="across items: uniqueItems compares whole items, not their VINs",
    ),
    Rule(
        "POST /api/v1/vehicles/{vin}/events",
        "invalid_request",
        "events.*.delta",
        "Only a download_completed names a delta.",
        why="across fields: a delta belongs to a download_completed event",
    ),
    Rule(
        "POST /api/v1/vehicles/{vin}/events",
        "out_of_range",
        "items.at",
        "In the future by more than",
        why="the server's clock: a car's may run ahead of it by minutes, not more",
    ),
    Rule(
        "POST /api/v1/vehicles/{vin}/health",
        "invalid_request",
        "windows.*.end",
        "A window ends after it starts.",
        why="across fields: a window's end is after its start",
    ),
    *(
        Rule("POST /api/v1/vehicles/{vin}/health", "out_of_range", where, message, why=why)
        for where, message, why in [
            ("items.end", "In the future by more than", "the server's clock"),
            ("items.end", "A window is at most", "across fields: from its start to its end"),
            ("items.driving_seconds", "More than the window's length", "across fields"),
            ("items.start", "Overlaps", "across items, and data: windows reported before"),
        ]
    ),
    Rule(
        "PUT /api/v1/vehicles/{vin}/manifest",
        "manifest_vin_mismatch",
        why="whose token it is: a car's manifest names its own VIN",
    ),
]


def problems(detail, path: tuple[str, ...] = ()):
    """Each (field path, message) a refusal's detail names; list indexes as *. An item that
    names its field and problem (rollouts/telemetry_bounds.py) is read as that field's."""
    if isinstance(detail, dict) and {"field", "problem"} <= detail.keys():
        yield ".".join((*path[:-1], detail["field"])), detail["problem"]
    elif isinstance(detail, dict):
        for key, value in detail.items():
            key = re.sub(r"\[\d+\]", "[*]", str(key))
            yield from problems(value, (*path, "*" if key.isdigit() else key))
    elif isinstance(detail, list) and all(isinstance(item, str) for item in detail):
        for message in detail:
            yield ".".join(path), message
    elif isinstance(detail, list):
        for item in detail:
            yield from problems(item, (*path, "*"))
    else:
        yield ".".join(path), str(detail)


def is_business_rule(operation: str, code: str, detail) -> bool:
    """The refusal is one of BUSINESS_RULES: its code alone, or each problem it names."""
    rules = [r for r in BUSINESS_RULES if r.operation in (operation, "*") and r.code == code]
    given = detail if isinstance(detail, dict) else {}
    if any(r.field is None and r.detail.items() <= given.items() for r in rules):
        return True
    named = list(problems(detail))
    return bool(named) and all(
        any(r.field == where and message.startswith(r.message) for r in rules)
        for where, message in named
    )


def valid_requests_accepted(ctx, response, case):
    """A request generated as valid is not refused as malformed or invalid, but for a
    business rule above."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return None
    if response.status_code not in (400, 413, 422):
        return None
    error = response.json().get("error", {})
    if is_business_rule(case.operation.label, error.get("code"), error.get("detail")):
        return None
    raise AssertionError(
        f"valid request rejected: {case.operation.label}: {response.status_code} "
        f"{error.get('code')} {error.get('detail')}"
    )


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    valid_requests_accepted,
]
BOUNDED = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,  # the same cases every run
    database=None,
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture
def world(django_user_model, publish, provision):
    """Something of each kind to read: a bundle, a vehicle, and a superuser's token."""
    publish(hardware_id="hu-gen7")
    vehicle, vehicle_token = provision()
    admin = django_user_model.objects.create_superuser("fuzz-admin", password="pw-fuzz-admin")
    _, user_token = user_token_create(user=admin, name="generated requests")
    world = {"vin": vehicle["vin"], "vehicle_token": vehicle_token, "user_token": user_token}
    # The app is called as a server calls it, which closes the database connection after
    # each request; the test's transaction lives on that connection, so, as Django's test
    # client does, it is kept open (after the setup above: the test client reconnects them).
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield world
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


# Loaded at collection: the schema is generated by the app itself (no database needed).
api_schema = schemathesis.openapi.from_wsgi("/api/schema/", application)
management = api_schema.include(path_regex=r"^/api/v1/manage/")
vehicle = api_schema.include(path_regex=r"^/api/v1/(vehicles/|tuf/)")


def an_empty_file(case) -> bool:
    """Werkzeug, which carries these requests to the app, encodes an empty file as a
    multipart part with no body, which Django's parser does not take for a file; a client on
    the network (curl, requests) sends the empty body, and the upload is taken. Such a case
    tells nothing about the server, so it is not sent."""
    return isinstance(case.body, dict) and getattr(case.body.get("file"), "data", None) == b""


@management.parametrize()
@BOUNDED
def test_the_management_api_answers_every_generated_request_as_documented(case, world):
    assume(not an_empty_file(case))
    case.call_and_validate(headers={"Authorization": f"Token {world['user_token']}"}, checks=CHECKS)


@vehicle.parametrize()
@BOUNDED
def test_the_vehicle_api_answers_every_generated_request_as_documented(case, world):
    if "vin" in (case.path_parameters or {}):
        case.path_parameters = {**case.path_parameters, "vin": world["vin"]}
    case.call_and_validate(
        headers={"Authorization": f"Bearer {world['vehicle_token']}"}, checks=CHECKS
    )


def test_a_business_rule_lets_through_its_own_problem_and_no_other():
    events = "POST /api/v1/vehicles/{vin}/events"
    delta = {"delta": ["Only a download_completed names a delta."]}
    assert is_business_rule(events, "invalid_request", {"events": {"0": delta}})
    wrong_time = {**delta, "at": ["Datetime has wrong format."]}
    assert not is_business_rule(events, "invalid_request", {"events": {"3": wrong_time}})
    rollouts = "POST /api/v1/manage/rollouts"
    assert is_business_rule(rollouts, "malformed_request", {"pointer": "/policy", "in": "key"})
    assert not is_business_rule(rollouts, "malformed_request", {"pointer": "/x", "in": "value"})
    too_many = {
        "index": 0,
        "id": "w",
        "field": "crashes",
        "problem": "At most 100000 in one window.",
    }
    health = "POST /api/v1/vehicles/{vin}/health"
    assert not is_business_rule(health, "out_of_range", {"items": [too_many]})
