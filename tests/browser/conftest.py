"""Headless Chromium (Debian's package) driven by Playwright, against the live server."""

import os
import shutil
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connections

CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = shutil.which("chromium")
    if path is None:
        message = "Debian's chromium is not installed (apt-get install chromium)"
        if os.environ.get("CI") or os.environ.get("OTA_REQUIRE_BROWSER"):
            pytest.fail(message)  # CI installs it: its absence there is a failure, not a skip
        pytest.skip(message)
    return path


@pytest.fixture
def page(chromium_path, monkeypatch):
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the test's ORM calls are safe.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        # Each launch gets a fresh, temporary profile (user data dir) from Playwright.
        browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_FLAGS)
        try:
            yield browser.new_page(viewport={"width": 1280, "height": 900})
        finally:
            browser.close()
            # With Playwright's loop running, the test's ORM calls opened their own
            # context-local connection; close it here, in that same context.
            connections.close_all()


@pytest.fixture
def logged_in(page, live_server, make_user):
    """A release engineer logged into the admin through the login form."""
    make_user("rita", "release engineer", is_staff=True)
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "rita")
    page.fill("#id_password", "pw-rita")
    page.click("input[type=submit]")
    page.wait_for_selector("#site-name")
    return page


@pytest.fixture
def screenshot(page, request):
    """Save the page as a PNG a person can look at: $OTA_SCREENSHOT_DIR, else var/screenshots."""
    folder = Path(os.environ.get("OTA_SCREENSHOT_DIR") or settings.BASE_DIR / "var" / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)

    def save(name: str) -> Path:
        path = folder / f"{request.node.name}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return save
