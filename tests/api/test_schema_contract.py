"""The schema is the contract: what the generated requests found, held as plain tests."""

import copy
import sys

import jsonschema_rs
import pytest

from compliance.rxswin import RXSWIN_PATTERN
from ota.text import NO_NUL_PATTERN, NOT_BLANK_PATTERN
from rollouts import install_policy, plans
from rollouts.manifest_checks import manifest_problems
from rollouts.telemetry_bounds import MAX_COUNT
from rollouts.vin import VIN_PATTERN_ANY_CASE
from signing.names import HARDWARE_ID_PATTERN, TARGET_PATH_PATTERN
from signing.public_keys import SUPPORTED
from tests.rollouts.test_manifest_checks import BREAKAGES, GOOD

pytestmark = pytest.mark.django_db


@pytest.fixture
def schema(client):
    return client.get("/api/schema/?format=json").json()


TUF_PATHS = (
    "/api/v1/tuf/director/{vin}/metadata/{filename}",
    "/api/v1/tuf/image/metadata/{filename}",
    "/api/v1/tuf/image/targets/{target}",
)


def test_the_tuf_repositories_are_described_too(schema):
    for path in TUF_PATHS:
        assert "get" in schema["paths"][path]


def test_the_director_metadata_states_its_refusals_in_the_error_format(schema):
    operation = schema["paths"]["/api/v1/tuf/director/{vin}/metadata/{filename}"]["get"]
    assert operation["security"] == [{"vehicleToken": []}]
    for status in ("401", "403", "404", "429"):
        body = operation["responses"][status]["content"]["application/json"]["schema"]
        assert body == {"$ref": "#/components/schemas/Error"}


def test_every_operation_documents_the_error_answers_in_the_error_format(schema):
    for path, methods in schema["paths"].items():
        if path in TUF_PATHS:
            continue  # plain views: each lists the refusals it can give
        for method, operation in methods.items():
            for status in ("400", "401", "403", "404", "429", "503"):
                documented = operation["responses"].get(status)
                assert documented, f"{method.upper()} {path} leaves out {status}"
                body = documented["content"]["application/json"]["schema"]
                assert body == {"$ref": "#/components/schemas/Error"}


def test_paginated_lists_are_documented_as_pages(schema):
    for path in ("/api/v1/manage/vehicles", "/api/v1/manage/cohorts/{name}/members"):
        answer = schema["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]
        page = answer["schema"]["$ref"].rsplit("/", 1)[1]
        assert set(schema["components"]["schemas"][page]["properties"]) == {
            "next",
            "previous",
            "results",
        }


def test_a_drafts_approver_is_documented_as_nullable(schema):
    approved_by = schema["components"]["schemas"]["ReleaseOutput"]["properties"]["approved_by"]
    assert approved_by.get("nullable") is True


def test_a_release_naming_a_bundle_twice_is_refused(engineer_api, publish):
    bundle, _ = publish()
    answer = engineer_api.post(
        "/api/v1/manage/releases",
        {"version": "v1", "bundles": [bundle.pk, bundle.pk]},
        format="json",
    )
    assert answer.status_code == 400
    assert "bundles" in answer.json()["error"]["detail"]


@pytest.mark.parametrize("size", ["0", "-1", "abc", "1001", "null"])
def test_a_page_size_out_of_range_is_400_not_quietly_replaced(engineer_api, size):
    answer = engineer_api.get(f"/api/v1/manage/vehicles?page_size={size}")
    assert answer.status_code == 400
    assert "page_size" in answer.json()["error"]["detail"]


def test_request_schemas_are_as_strict_as_the_server(schema):
    components = schema["components"]["schemas"]
    release = components["ReleaseInputRequest"]
    assert release["additionalProperties"] is False  # unknown fields are refused
    assert (
        release["properties"]["bundles"]["minItems"],
        release["properties"]["bundles"]["maxItems"],
    ) == (1, 64)
    events = components["EventBatchRequest"]["properties"]["events"]
    assert (events["minItems"], events["maxItems"]) == (1, 500)
    assert components["VehicleInputRequest"]["properties"]["ecus"]["minItems"] == 1


def test_an_id_no_bigint_holds_is_400_not_an_overflow(engineer_api):
    answer = engineer_api.post(
        "/api/v1/manage/releases", {"version": "v1", "bundles": [2**70]}, format="json"
    )
    assert answer.status_code == 400
    assert "bundles" in answer.json()["error"]["detail"]


def test_the_docs_group_every_operation_as_vehicle_tuf_or_management(schema):
    assert [tag["name"] for tag in schema["tags"]] == ["vehicle", "tuf", "management"]
    for path, methods in schema["paths"].items():
        for operation in methods.values():
            assert operation["tags"] in (["vehicle"], ["tuf"], ["management"]), path


@pytest.mark.parametrize(
    ("path", "largest"),
    [("/api/v1/manage/vehicles", 1000), ("/api/v1/manage/cohorts/{name}/members", 5000)],
)
def test_a_page_size_is_documented_with_the_bounds_the_paginator_holds_it_to(schema, path, largest):
    (page_size,) = [
        p for p in schema["paths"][path]["get"]["parameters"] if p["name"] == "page_size"
    ]
    assert page_size["schema"] == {"type": "integer", "minimum": 1, "maximum": largest}


def test_a_request_string_says_it_may_not_hold_nul_nor_be_blank_once_trimmed(schema):
    components = schema["components"]["schemas"]
    release = components["ReleaseInputRequest"]["properties"]
    assert release["version"]["pattern"] == NOT_BLANK_PATTERN
    assert release["notes"]["pattern"] == NO_NUL_PATTERN  # blank allowed, NUL not
    assert release["models"]["items"]["pattern"] == NOT_BLANK_PATTERN
    export = components["ExportInputRequest"]["properties"]
    assert export["market"]["pattern"] == NO_NUL_PATTERN  # not trimmed: spaces are not blank
    upload = components["BundleUploadRequest"]["properties"]
    assert upload["version"]["pattern"] == NOT_BLANK_PATTERN
    # A pattern of the field's own says more, and is kept.
    assert components["EcuInputRequest"]["properties"]["serial"]["pattern"] != NO_NUL_PATTERN
    # What the server answers is not a request: no pattern there.
    assert "pattern" not in components["ReleaseOutput"]["properties"]["version"]


def test_an_object_that_may_not_be_empty_says_so(schema):
    signed = schema["components"]["schemas"]["ManifestSignedRequest"]["properties"]
    assert signed["ecu_version_reports"]["minProperties"] == 1


def test_a_bundle_upload_states_the_rules_of_its_fields(schema):
    upload = schema["components"]["schemas"]["BundleUploadRequest"]
    assert upload["additionalProperties"] is False
    assert upload["properties"]["path"]["pattern"] == TARGET_PATH_PATTERN
    assert upload["properties"]["hardware_id"]["pattern"] == HARDWARE_ID_PATTERN
    assert upload["properties"]["file"] == {"type": "string", "format": "binary"}


@pytest.mark.parametrize("component", ["ReleaseInputRequest", "RolloutInputRequest"])
def test_an_install_policy_is_documented_in_full_and_closed(schema, component):
    policy = schema["components"]["schemas"][component]["properties"]["install_policy"]
    assert policy["additionalProperties"] is False
    assert set(policy["properties"]) == install_policy.KEYS
    window = policy["properties"]["windows"]["items"]
    assert window["additionalProperties"] is False
    assert window["required"] == ["start", "end"]


def text(pattern: str):
    return jsonschema_rs.Draft4Validator({"type": "string", "pattern": pattern})


def test_the_text_patterns_refuse_what_the_server_refuses_read_as_ecma_regexps():
    no_nul, not_blank = text(NO_NUL_PATTERN), text(NOT_BLANK_PATTERN)
    assert no_nul.is_valid("") and no_nul.is_valid(" a\n") and not no_nul.is_valid("a\x00")
    assert not_blank.is_valid(" a ") and not not_blank.is_valid("a\x00")
    # Blank is what str.strip() trims (DRF trims with it), in ECMA's reading of the pattern.
    for space in (chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()):
        assert not not_blank.is_valid(space * 2), hex(ord(space))
        assert not_blank.is_valid(f"{space}x{space}")


def request_validator(schema, component: str):
    """The component as JSON Schema (ECMA regular expressions, as schemathesis reads them)."""
    document = {"$ref": f"#/components/schemas/{component}", "components": schema["components"]}
    return jsonschema_rs.Draft4Validator(document, validate_formats=True)


def test_the_documented_manifest_takes_a_good_one(schema):
    assert request_validator(schema, "ManifestRequest").is_valid(copy.deepcopy(GOOD))


@pytest.mark.parametrize("breakage", BREAKAGES.values(), ids=BREAKAGES.keys())
def test_the_documented_manifest_refuses_what_the_check_refuses(schema, breakage):
    manifest = copy.deepcopy(GOOD)
    breakage(manifest)
    assert not request_validator(schema, "ManifestRequest").is_valid(manifest)


def test_a_vin_a_person_gives_may_be_in_either_case(schema):
    components = schema["components"]["schemas"]
    for component in ("VehicleInputRequest", "ExportInputRequest"):
        vin = components[component]["properties"]["vin"]
        assert vin["pattern"] == f"^{VIN_PATTERN_ANY_CASE}$", component


def test_an_rxswin_is_documented_with_the_pattern_the_register_holds_it_to(schema):
    components = schema["components"]["schemas"]
    pattern = f"^(?:{RXSWIN_PATTERN.pattern})$"
    assert components["RxswinInputRequest"]["properties"]["rxswin"]["pattern"] == pattern
    new_rxswin = components["AssessmentRequest"]["properties"]["new_rxswin"]
    assert new_rxswin["oneOf"][0]["pattern"] == pattern  # or blank: not affected


def referenced(schema, property_schema: dict) -> dict:
    ref = property_schema.get("$ref") or property_schema["allOf"][0]["$ref"]
    return schema["components"]["schemas"][ref.rsplit("/", 1)[1]]


def test_markets_are_the_configured_ones_read_when_the_schema_is_generated(client, settings):
    settings.OTA_REGIONS = ["EU", "JP"]
    schema = client.get("/api/schema/?format=json").json()
    components = schema["components"]["schemas"]
    for component, name in [("VehicleInputRequest", "region"), ("RxswinInputRequest", "market")]:
        market = components[component]["properties"][name]
        assert referenced(schema, market)["enum"] == ["EU", "JP"], component


def test_consent_is_documented_as_given_only(schema):
    consent = schema["components"]["schemas"]["ConsentRequest"]["properties"]["accepted"]
    assert referenced(schema, consent) == {"type": "boolean", "enum": [True]}


def test_a_time_zone_is_one_this_server_knows(schema):
    zone = schema["components"]["schemas"]["VehicleInputRequest"]["properties"]["time_zone"]
    zones = referenced(schema, zone["oneOf"][0])["enum"]  # or blank: its market's
    assert "Europe/Paris" in zones and "UTC" in zones
    assert not set(zones) & install_policy.NOT_ZONES


def test_an_ecu_key_is_documented_in_each_form_the_server_takes(schema):
    key = schema["components"]["schemas"]["EcuInputRequest"]["properties"]["public_key"]
    assert key["additionalProperties"] is False
    forms = {
        (form["properties"]["keytype"]["enum"][0], form["properties"]["scheme"]["enum"][0])
        for form in key["oneOf"]
    }
    assert forms == SUPPORTED


def test_a_cohort_filter_states_each_parts_rules(schema, settings):
    cohort = schema["components"]["schemas"]["CohortInputRequest"]["properties"]
    assert referenced(schema, cohort["regions"]["items"])["enum"] == settings.OTA_REGIONS
    assert cohort["hardware_ids"]["items"]["pattern"] == HARDWARE_ID_PATTERN
    assert cohort["models"]["maxItems"] == 100
    rule = cohort["installed"]["items"]
    assert rule["additionalProperties"] is False
    assert rule["properties"]["hardware_id"]["pattern"] == HARDWARE_ID_PATTERN
    assert [branch["required"] for branch in rule["anyOf"]] == [
        ["versions"],
        ["min_counter"],
        ["max_counter"],
    ]


def test_a_rollouts_plan_and_health_policy_are_documented_in_full_and_closed(schema):
    rollout = schema["components"]["schemas"]["RolloutInputRequest"]["properties"]
    assert rollout["stages"]["items"]["additionalProperties"] is False
    assert rollout["stages"]["maxItems"] == plans.MAX_STAGES
    assert rollout["policy"]["additionalProperties"] is False
    assert rollout["policy"]["properties"]["confidence"] == {
        "type": "number",
        "minimum": 0.5,
        "maximum": 0.9999,
    }


def test_a_release_names_each_bundle_once(schema):
    release = schema["components"]["schemas"]["ReleaseInputRequest"]["properties"]
    assert release["bundles"]["uniqueItems"] is True


def test_an_evidence_export_names_what_its_scope_needs(schema):
    export = request_validator(schema, "ExportInputRequest")
    period = {"from": "2026-01-01T00:00:00Z", "to": "2026-02-01T00:00:00Z"}
    assert export.is_valid({"scope": "market", "market": "EU", **period})
    assert not export.is_valid({"scope": "market", "market": "EU"})
    assert not export.is_valid({"scope": "release", "vin": "1HGCM82633A004352"})
    assert export.is_valid({"scope": "release", "release": 7})


def test_a_health_window_states_the_counts_a_car_can_reach(schema):
    window = schema["components"]["schemas"]["HealthWindowRequest"]["properties"]
    for name in ("ignition_cycles", "crashes", "reboots"):
        assert window[name]["maximum"] == MAX_COUNT, name
    assert window["dtcs"]["additionalProperties"]["maximum"] == MAX_COUNT
    assert window["dtcs"]["maxProperties"] == window["metrics"]["maxProperties"] == 200


def test_every_string_parameter_says_it_may_not_hold_nul(schema):
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            for parameter in operation.get("parameters", []):
                if parameter["in"] in ("path", "query") and parameter["schema"]["type"] == "string":
                    assert parameter["schema"].keys() & {"pattern", "enum", "format"}, (
                        f"{method.upper()} {path} {parameter['name']}"
                    )
            if path.startswith("/api/v1/"):
                assert "400" in operation["responses"], f"{method.upper()} {path}"


def test_where_a_request_is_open_any_json_without_nul_is_documented(schema):
    manifest = request_validator(schema, "ManifestRequest")
    extra = copy.deepcopy(GOOD)
    extra["signed"]["timeserver_time"] = {"at": ["2026-12-07T00:00:00Z", 7, None]}
    assert manifest.is_valid(extra) and not manifest_problems(extra)  # extras are taken
    extra["signed"]["state"]["note"] = ["a\x00"]  # the parser refuses NUL anywhere
    assert not manifest.is_valid(extra)
