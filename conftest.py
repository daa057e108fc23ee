"""Root conftest: what the run's header says. Fixtures live in koolivarav/conftest.py."""


def pytest_report_header(config):
    from django.conf import settings

    engine = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    return f"database: {engine}"


def pytest_terminal_summary(terminalreporter):
    """The counts of the fault, scale-out and bad-input tests (docs/security.md)."""
    from koolivarav.tests.figures import FIGURES

    if FIGURES:
        terminalreporter.section("figures")
        for name, value in sorted(FIGURES.items()):
            terminalreporter.write_line(f"{name}: {value:,}")
