"""Fixtures of tests/support/runs.py that the Train tab's tests use, registered for pytest."""
from tests.support.runs import fake_trainer  # noqa: F401 (a fixture)
