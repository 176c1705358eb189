import pytest

from rollouts.vin import check_digit, is_valid_vin, normalize_vin, with_check_digit


@pytest.mark.parametrize("vin", ["1HGCM82633A004352", "WVWZZZ1JZXW000001", "LSVAU2180N2183294"])
def test_real_vins_are_valid(vin):
    assert is_valid_vin(vin)


@pytest.mark.parametrize(
    "vin",
    [
        "1HGCM82633A00435",
        "1HGCM82633A0043521",
        "1HGCM82633A00435I",
        "1HGCM82633A00435O",
        "1HGCM82633A00435Q",
        "1hgcm82633a004352",
        "1HGCM82633A00435-",
        "",
    ],
)
def test_wrong_length_forbidden_letters_and_lowercase_are_invalid(vin):
    assert not is_valid_vin(vin)


def test_normalising_uppercases_and_strips():
    assert normalize_vin(" 1hgcm82633a004352\n") == "1HGCM82633A004352"


def test_the_north_american_check_digit_matches_a_known_vin():
    assert check_digit("1HGCM82633A004352") == "3"
    assert with_check_digit("1HGCM826X3A004352") == "1HGCM82633A004352"


def test_a_remainder_of_ten_gives_x():
    assert check_digit("1M8GDM9AXKP042788") == "X"
