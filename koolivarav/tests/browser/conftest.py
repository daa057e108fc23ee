"""A real Chromium (Debian's, driven by Playwright) against the live server, with checks
of accessibility (axe-core) and HTML validity (the Nu HTML Checker) on every page."""

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
VNU_JAR = Path(settings.BASE_DIR) / "node_modules" / "vnu-jar" / "build" / "dist" / "vnu.jar"
SCREENSHOTS = Path(settings.BASE_DIR) / "test-results" / "screenshots"
PHONE = {"width": 360, "height": 780}
DESKTOP = {"width": 1280, "height": 900}

# Playwright's sync API runs an event loop in this thread; the ORM calls the tests make
# around it are ordinary blocking ones.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def pytest_collection_modifyitems(config, items):
    missing = []
    if not Path(CHROMIUM).exists():
        missing.append(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    if not VNU_JAR.exists():
        missing.append("no Nu HTML Checker (npm ci)")
    if not shutil.which("java"):
        missing.append("no Java for the HTML checker (apt-get install default-jre-headless)")
    if missing:
        reason = "browser journeys not run: " + "; ".join(missing)
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            # CI installs all of these: there, a missing tool is a broken build, not a skip.
            raise pytest.UsageError(reason)
        skip = pytest.mark.skip(reason=reason)
        for item in items:
            if "tests/browser" in str(item.fspath):
                item.add_marker(skip)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-quic",
            "--disable-default-apps",
            "--disable-extensions",
        ],
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "locale": "et-EE", "viewport": DESKTOP}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def html_checker():
    """The Nu HTML Checker as a local service (one JVM for the whole run)."""
    port = _free_port()
    process = subprocess.Popen(
        [
            "java",
            "-Xss4m",
            "-Dnu.validator.servlet.bind-address=127.0.0.1",
            "-cp",
            str(VNU_JAR),
            "nu.validator.servlet.Main",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/?out=json"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            time.sleep(0.3)
    else:
        process.kill()
        pytest.fail("the Nu HTML Checker did not start within 60 s")

    def check(html: str) -> list[dict]:
        request = urllib.request.Request(
            url, data=html.encode(), headers={"Content-Type": "text/html; charset=utf-8"}
        )
        for attempt in range(20):
            try:
                with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                    messages = json.load(response)["messages"]
                return [m for m in messages if m.get("type") == "error"]
            except OSError:
                if attempt == 19:
                    raise
                time.sleep(0.5)
        return []

    yield check
    process.terminate()
    process.wait(timeout=10)


class PageChecker:
    """Runs every check on the page the browser shows now, and keeps screenshots."""

    def __init__(self, html_checker, prefix: str) -> None:
        self.html_checker = html_checker
        self.prefix = prefix
        self.seen: list[str] = []

    def __call__(self, page, name: str) -> None:
        from axe_playwright_python.sync_playwright import Axe

        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        stem = f"{self.prefix}-{len(self.seen) + 1:02d}-{name}"
        page.screenshot(path=SCREENSHOTS / f"{stem}-desktop.png", full_page=True)
        page.set_viewport_size(PHONE)
        page.screenshot(path=SCREENSHOTS / f"{stem}-phone.png", full_page=True)
        wide = page.evaluate("document.documentElement.scrollWidth")
        page.set_viewport_size(DESKTOP)
        assert wide <= PHONE["width"], f"{name}: the page is {wide}px wide on a 360px phone"

        results = Axe().run(page)
        serious = [
            v for v in results.response["violations"] if v["impact"] in ("serious", "critical")
        ]
        assert serious == [], f"{name}: " + "; ".join(f"{v['id']}: {v['help']}" for v in serious)

        errors = self.html_checker(page.content())
        assert errors == [], f"{name}: " + "; ".join(e["message"] for e in errors)
        self.seen.append(name)


@pytest.fixture
def check(html_checker, request):
    return PageChecker(html_checker, request.node.originalname.removeprefix("test_"))
