from tests.vehicle_client.conftest import car  # noqa: F401 (the reference vehicle, in-process)
