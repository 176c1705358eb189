from rollouts.vin import VIN_PATTERN


class VinConverter:
    regex = VIN_PATTERN

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value
