import os
from dataclasses import dataclass

import pytest
from django.conf import settings


@dataclass
class Suite:
    """A suite of its own in a temporary folder, run by pytest in a subprocess with the
    plugin, as a downstream team's is: none of this suite's settings, database or fixtures."""

    pytester: pytest.Pytester

    def files(self, **contents: str) -> None:
        """Files by name; a name without a suffix is a Python module."""
        for name, text in contents.items():
            path = self.pytester.path / (name if "." in name else f"{name}.py")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)

    def run(self, *args: str) -> pytest.RunResult:
        return self.pytester.runpytest_subprocess(
            "-p",
            "ota_testing.plugin",
            "-p",
            "no:cacheprovider",
            "-W",  # a server thread that fails after its test is a failure too
            "error::pytest.PytestUnhandledThreadExceptionWarning",
            *args,
            timeout=600,
        )


@pytest.fixture
def suite(pytester, monkeypatch) -> Suite:
    for name in list(os.environ):
        if name.startswith(("OTA_", "DJANGO_", "DATABASE_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PYTHONPATH", str(settings.BASE_DIR))  # the checkout is the package
    monkeypatch.setenv("OTA_VAR_DIR", str(pytester.path / "var"))
    return Suite(pytester)
