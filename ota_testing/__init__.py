"""A test harness for suites that ship software through an OTA server: a pytest plugin
(`ota_testing.plugin`, registered as `ota`) with a real server, a simulated fleet of reference
vehicles and factories for bundles, releases, rollouts and the server's clock.

Free of Django at import: a suite that is not a Django project uses it over HTTP. Only
`ota_testing.inprocess` (the pytest-django variant) imports Django. Guide: docs/testing.md.
"""

from ota_testing.api import ApiError, ManagementClient
from ota_testing.fleet import SimulatedFleet
from ota_testing.harness import OtaServer, Rollout

__all__ = ["ApiError", "ManagementClient", "OtaServer", "Rollout", "SimulatedFleet"]
