"""Root conftest: what the run's header says. Fixtures live in koolivarav/conftest.py."""


def pytest_report_header(config):
    from django.conf import settings

    engine = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    return f"database: {engine}"
