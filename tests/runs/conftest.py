"""Fixtures of tests/support/runs.py that the tests of this folder use, registered for pytest."""
from tests.support.runs import fake_trainer  # noqa: F401 (a fixture)
