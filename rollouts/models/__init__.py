from rollouts.models.channels import Channel
from rollouts.models.fleet import Ecu, Vehicle, VehicleToken

__all__ = ["Channel", "Ecu", "Vehicle", "VehicleToken"]
