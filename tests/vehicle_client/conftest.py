import pytest

from ota.inprocess import InProcessTransport
from tests.factories import make_vin
from vehicle_client.client import VehicleClient
from vehicle_client.ecu import SimEcu


def _provision(engineer_api, *, region, model, channel, hardware):
    vin = make_vin()
    ecus = [
        SimEcu(f"{hw.upper()}-{vin[-6:]}", hw, primary=(i == 0)) for i, hw in enumerate(hardware)
    ]
    body = {"vin": vin, "model": model, "region": region, "ecus": [e.provisioning() for e in ecus]}
    if channel:
        body["channel"] = channel
    answer = engineer_api.post("/api/v1/manage/vehicles", body, format="json")
    assert answer.status_code == 201, answer.json()
    return vin, answer.json()["token"], ecus


@pytest.fixture
def car(engineer_api, tmp_path, repos):
    """A vehicle provisioned through the API, driven by the reference client in-process."""

    def make(*, region="EU", model="Aurora", channel=None, hardware=("tcu-gen3", "hu-gen7")):
        vin, token, ecus = _provision(
            engineer_api, region=region, model=model, channel=channel, hardware=hardware
        )
        client = VehicleClient(
            "http://testserver", vin, token, ecus, tmp_path / vin, transport=InProcessTransport()
        )
        client.bootstrap()
        return client

    return make


@pytest.fixture
def car_over_http(live_server, engineer_api, tmp_path, repos):
    """The same, over real HTTP against the live server."""

    def make(*, region="EU", model="Aurora", channel=None, hardware=("tcu-gen3", "hu-gen7")):
        vin, token, ecus = _provision(
            engineer_api, region=region, model=model, channel=channel, hardware=hardware
        )
        client = VehicleClient(live_server.url, vin, token, ecus, tmp_path / vin)
        client.bootstrap()
        return client

    return make


def sign_director(vin: str, entries) -> None:
    """Sign Director metadata for a vehicle outside the decision (as a Director whose key was
    stolen would), and serve it as the Director serves its own: the vehicle row keeps a copy
    of the current timestamp.json."""
    from rollouts.models import Vehicle
    from signing.director import director_publish_vehicle

    published = director_publish_vehicle(vin=vin, entries=entries)
    Vehicle.objects.filter(vin=vin).update(director_timestamp=published.timestamp)
