"""Every example of docs/testing.md runs, as a suite of its own, and passes."""

import re
from collections import defaultdict

import pytest
from django.conf import settings

pytestmark = pytest.mark.slow

EXAMPLE = re.compile(
    r"<!-- example: (?P<suite>[\w-]+)/(?P<file>[\w.]+) -->\n```\w*\n(?P<code>.*?)```", re.S
)


def examples() -> dict[str, dict[str, str]]:
    text = (settings.BASE_DIR / "docs" / "testing.md").read_text()
    suites: dict[str, dict[str, str]] = defaultdict(dict)
    for match in EXAMPLE.finditer(text):
        suites[match["suite"]][match["file"]] = match["code"]
    return dict(suites)


def test_the_guide_has_both_kinds_of_example():
    assert set(examples()) == {"over-http", "in-process"}


def test_the_example_over_http_passes_in_a_suite_without_django(suite):
    suite.files(**examples()["over-http"])

    result = suite.run("-p", "no:django")

    result.assert_outcomes(passed=2)


def test_the_example_in_a_pytest_django_suite_passes(suite):
    suite.files(**examples()["in-process"])

    result = suite.run()

    result.assert_outcomes(passed=1)
