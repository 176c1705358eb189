import pytest

from tests.factories import make_vin
from vehicle_client.client import VehicleClient
from vehicle_client.ecu import SimEcu


@pytest.fixture
def car(live_server, engineer_api, tmp_path, repos):
    """A vehicle provisioned through the API, driven by the reference client over HTTP."""

    def make(
        *,
        region: str = "EU",
        model: str = "Aurora",
        channel: str | None = None,
        hardware=("tcu-gen3", "hu-gen7"),
    ) -> VehicleClient:
        vin = make_vin()
        ecus = [
            SimEcu(f"{hw.upper()}-{vin[-6:]}", hw, primary=(i == 0))
            for i, hw in enumerate(hardware)
        ]
        body = {
            "vin": vin,
            "model": model,
            "region": region,
            "ecus": [ecu.provisioning() for ecu in ecus],
        }
        if channel:
            body["channel"] = channel
        answer = engineer_api.post("/api/v1/manage/vehicles", body, format="json")
        assert answer.status_code == 201, answer.json()
        client = VehicleClient(live_server.url, vin, answer.json()["token"], ecus, tmp_path / vin)
        client.bootstrap()
        return client

    return make
