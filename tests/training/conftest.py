"""Fixtures of tests/support/cuda_checks.py that the CUDA checks of this folder take, registered
for pytest (the checks' own runner passes them as arguments)."""
from tests.support.cuda_checks import cuda_device  # noqa: F401 (a fixture)
