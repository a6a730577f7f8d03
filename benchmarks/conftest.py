"""The benchmarks run with the test suite's fixtures (Home Assistant, the emulator)."""

# Imported for pytest, which finds fixtures by name.
from tests.conftest import auto_enable_custom_integrations, emulator, integration  # noqa: F401
