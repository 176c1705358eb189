"""The VINs in URLs: a car's own, exactly as its token names it; a person's, in either case."""

import functools

from django.urls import register_converter

from rollouts.vin import VIN_PATTERN, VIN_PATTERN_ANY_CASE, normalize_vin


class VinConverter:
    """The vehicle API: the VIN as the car's token names it, canonical form only."""

    regex = VIN_PATTERN

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


class ManageVinConverter(VinConverter):
    """The management API: a VIN typed in either case finds its car (rollouts.vin)."""

    regex = VIN_PATTERN_ANY_CASE

    def to_python(self, value: str) -> str:
        return normalize_vin(value)


@functools.cache
def register() -> None:
    """Once, whichever app's URLs come first: Django refuses a converter registered twice."""
    register_converter(VinConverter, "vin")
    register_converter(ManageVinConverter, "manage_vin")
