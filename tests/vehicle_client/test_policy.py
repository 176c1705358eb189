"""The car's side of install policies (vehicle_client/policy.py): pure, on its own clock."""

from datetime import UTC, datetime, timedelta

import pytest

from vehicle_client.policy import CarState, in_window, install_refused

NIGHTS = [{"start": "01:00", "end": "05:00"}]


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("moment", "inside"),
    [
        # Before summer time (CET, UTC+1): the window is 00:00–04:00 UTC.
        ("2026-03-28T03:30", True),  # 04:30 in Berlin
        ("2026-03-28T04:30", False),  # 05:30
        # After the clocks went forward on 29 March (CEST, UTC+2): 23:00–03:00 UTC.
        ("2026-03-29T23:30", True),  # 01:30 on the 30th
        ("2026-03-30T02:30", True),  # 04:30
        ("2026-03-30T03:30", False),  # 05:30: a fixed UTC+1 would still say inside
        # And back on 25 October (CET again).
        ("2026-10-26T03:30", True),  # 04:30
        ("2026-10-25T23:30", False),  # 00:30 on the 26th
    ],
)
def test_a_night_window_stays_at_night_across_a_change_of_summer_time(moment, inside):
    assert in_window(NIGHTS, "Europe/Berlin", utc(moment)) is inside


def test_a_window_past_midnight_opens_on_its_days_only():
    weekend_nights = [{"days": ["fri", "sat"], "start": "22:00", "end": "06:00"}]
    # Friday 4 December 2026, in New York (UTC-5).
    assert in_window(weekend_nights, "America/New_York", utc("2026-12-05T04:00"))  # Fri 23:00
    assert in_window(weekend_nights, "America/New_York", utc("2026-12-05T10:00"))  # Sat 05:00
    assert not in_window(weekend_nights, "America/New_York", utc("2026-12-04T04:00"))  # Thu 23:00
    assert not in_window(weekend_nights, "America/New_York", utc("2026-12-07T10:00"))  # Mon 05:00


def test_a_recall_past_its_deadline_installs_outside_its_window_but_never_while_driving():
    deadline = utc("2026-12-01T00:00")
    recall = {
        "windows": NIGHTS,
        "time_zone": "Europe/Berlin",
        "require_parked": True,
        "urgency": "safety_recall",
        "deadline": deadline.isoformat(),
        "max_driver_deferrals": 2,
    }
    noon_before, noon_after = deadline - timedelta(hours=12), deadline + timedelta(hours=12)

    assert install_refused(recall, CarState(), noon_before) == "outside_window"
    assert install_refused(recall, CarState(), noon_after) is None
    assert install_refused(recall, CarState(parked=False), noon_after) == "not_parked"


def test_a_driver_may_put_off_a_recall_only_as_often_as_it_allows():
    recall = {"urgency": "safety_recall", "deadline": "2099-01-01T00:00:00+00:00"}
    recall["max_driver_deferrals"] = 2
    later = CarState(driver_defers=True)
    now = utc("2026-12-04T12:00")

    answers = [install_refused(recall, later, now, driver_deferrals=n) for n in range(3)]

    assert answers == ["driver_deferred", "driver_deferred", None]
    assert install_refused({"require_parked": True}, later, now) == "driver_deferred"  # normal
