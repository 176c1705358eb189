from tests.vehicle_client.conftest import car, car_over_http  # noqa: F401  (fixtures)
