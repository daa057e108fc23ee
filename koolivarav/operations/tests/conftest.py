"""The process tests' fixture (real gunicorn servers and workers), for the health and metrics
tests here as for those in koolivarav/tests."""

from koolivarav.tests.conftest import site  # noqa: F401
