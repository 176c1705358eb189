"""poll_after: jittered, longer when idle, stretched when the fleet polls above capacity."""

from rollouts.pacing import poll_after


def test_below_capacity_the_wait_is_the_base_with_its_jitter():
    assert poll_after(base=300, recent_polls=10, capacity=1000, ceiling=10**5) == 300
    assert poll_after(base=300, recent_polls=10, capacity=1000, ceiling=10**5, jitter=0.8) == 240


def test_above_capacity_the_wait_grows_in_proportion():
    assert poll_after(base=300, recent_polls=3000, capacity=1000, ceiling=10**5) == 900


def test_the_wait_never_exceeds_the_ceiling_nor_falls_below_a_second():
    assert poll_after(base=3600, recent_polls=10**6, capacity=10, ceiling=21600) == 21600
    assert poll_after(base=0, recent_polls=0, capacity=10, ceiling=60) == 1


def test_no_capacity_configured_means_no_stretching():
    assert poll_after(base=60, recent_polls=10**9, capacity=0, ceiling=10**5) == 60
