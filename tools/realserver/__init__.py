"""Run a real Home Assistant server and the Clarify emulator as processes.

For tests that need what the in-process harness cannot give: the real
frontend, a real process to SIGKILL, a restart on the same configuration.
Home Assistant 2026.11.0 runs from the `server` environment of scripts/setup
(inside the Debian root when the machine has no Python 3.14); the emulator
runs with the current interpreter. Build the environment first:
`scripts/setup server`. See harness.py for an example.
"""

from .client import HomeAssistantApiError, HomeAssistantClient, wait_for
from .harness import BASE_CONFIGURATION, PASSWORD, USERNAME, RealInstallation
from .logs import LogRecord, LogReport, parse_log
from .process import ServerExitedError, ServerProcess, run_in_command
from .servers import EmulatorServer, HomeAssistantServer, free_port

__all__ = [
    "BASE_CONFIGURATION",
    "PASSWORD",
    "USERNAME",
    "EmulatorServer",
    "HomeAssistantApiError",
    "HomeAssistantClient",
    "HomeAssistantServer",
    "LogRecord",
    "LogReport",
    "RealInstallation",
    "ServerExitedError",
    "ServerProcess",
    "free_port",
    "parse_log",
    "run_in_command",
    "wait_for",
]
