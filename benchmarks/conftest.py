"""The benchmarks run with the test suite's fixtures (Home Assistant, the emulator)."""

from tests.conftest import (  # noqa: F401  # fixtures, found by name
    auto_enable_custom_integrations,
    emulator,
    integration,
)
