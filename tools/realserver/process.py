"""A server process known by its own process ID, wherever it runs.

Home Assistant may run inside the Debian root (scripts/run-in): then the
process this module starts is bubblewrap, which on SIGTERM dies itself and
ends the server with SIGKILL. So signals go to the server's own ID, which it
writes into a PID file as it starts; bubblewrap exits when the server does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
import os
from pathlib import Path
import shutil
import signal
import subprocess
from typing import IO, Final

from .client import wait_for

# The repository this package belongs to (the scripts and the integration).
REPO_ROOT: Final = Path(__file__).resolve().parents[2]
RUN_IN: Final = REPO_ROOT / "scripts" / "run-in"
# A server must not outlive the test that started it, even one killed with
# SIGKILL: util-linux's setpriv asks the kernel to send it SIGTERM when its
# parent dies (and keeps its process ID: it execs the command).
_PARENT_DEATH_SIGNAL: Final = (
    ["setpriv", "--pdeathsig", "TERM"] if shutil.which("setpriv") else []
)


class ServerExitedError(RuntimeError):
    """The server ended while it was expected to start or run."""


def run_in_command(
    environment: str,
    command: Sequence[str],
    *,
    share: Sequence[Path] = (),
    pid_file: Path | None = None,
) -> list[str]:
    """The command line that runs `command` in a scripts/setup environment."""
    options: list[str] = []
    for directory in share:
        options += ["--share", str(directory)]
    if pid_file is not None:
        options += ["--pid-file", str(pid_file)]
    return [str(RUN_IN), environment, *options, "--", *command]


class ServerProcess:
    """One run of a server: started, signalled and waited for by its own ID."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        output: Path,
        pid_file: Path | None = None,
        cwd: Path = REPO_ROOT,
    ) -> None:
        """Describe the run; `start()` starts it.

        `pid_file` is where the server writes its own ID (scripts/run-in
        --pid-file); without one the started process is the server itself.
        Its standard output and error go to `output`.
        """
        self.name = name
        self.argv = list(argv)
        self.output = output
        self.pid_file = pid_file
        self.cwd = cwd
        self._popen: subprocess.Popen[bytes] | None = None
        self._output_file: IO[bytes] | None = None
        self._pid: int | None = None

    def start(self) -> None:
        """Start the process (returns at once; the caller waits for readiness)."""
        if self.running:
            raise RuntimeError(f"{self.name} is already running")
        if self.pid_file is not None:
            self.pid_file.unlink(missing_ok=True)
        self._pid = None
        self.output.parent.mkdir(parents=True, exist_ok=True)
        self._output_file = self.output.open("ab")
        # A session of its own: a Ctrl+C meant for the test run reaches the
        # test, which then stops the server in order, rather than the server.
        self._popen = subprocess.Popen(  # noqa: S603  # a fixed command line
            [*_PARENT_DEATH_SIGNAL, *self.argv],
            cwd=self.cwd,
            stdin=subprocess.DEVNULL,
            stdout=self._output_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def running(self) -> bool:
        """Whether the process started last is still running."""
        return self._popen is not None and self._popen.poll() is None

    @property
    def returncode(self) -> int | None:
        """The exit status of the last run, once it ended."""
        return None if self._popen is None else self._popen.poll()

    @property
    def pid(self) -> int:
        """The server's own process ID (waits for its PID file if needed).

        Raises:
            ServerExitedError: the process ended before it wrote its ID.
        """
        if self._pid is not None:
            return self._pid
        popen = self._require_started()
        if self.pid_file is None:
            self._pid = popen.pid
            return self._pid
        pid_file = self.pid_file

        def written() -> int | None:
            if popen.poll() is not None:
                raise ServerExitedError(self.describe_exit())
            try:
                text = pid_file.read_text(encoding="ascii").strip()
            except FileNotFoundError:
                return None
            return int(text) if text.isdigit() else None

        self._pid = wait_for(written, timeout=60, what=f"{self.name}'s PID file")
        return self._pid

    def signal(self, signum: signal.Signals) -> None:
        """Send a signal to the server itself, if it still runs."""
        pid = self.pid
        # Only while the process started here is alive: after that the ID may
        # belong to some other process.
        if self.running:
            os.kill(pid, signum)

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the run to end; return its exit status.

        Raises:
            subprocess.TimeoutExpired: it did not end within `timeout`.
        """
        code = self._require_started().wait(timeout)
        self._close_output()
        return code

    def stop(self, timeout: float = 120.0) -> int:
        """Stop gracefully: SIGTERM, then wait (SIGKILL after `timeout`).

        Returns the exit status; after a SIGKILL that is -9 or 137.
        """
        if not self.running:
            return self.wait()
        self.signal(signal.SIGTERM)
        try:
            return self.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return self.wait()

    def kill(self) -> int:
        """End the server at once with SIGKILL (no shutdown code runs) and reap it."""
        if self.running:
            self.signal(signal.SIGKILL)
        return self.wait()

    def describe_exit(self) -> str:
        """How the run ended, with the end of its output."""
        return (
            f"{self.name} exited with status {self.returncode}; its output ends:\n"
            + tail(self.output, 30)
        )

    def _require_started(self) -> subprocess.Popen[bytes]:
        if self._popen is None:
            raise RuntimeError(f"{self.name} was never started")
        return self._popen

    def _close_output(self) -> None:
        if self._output_file is not None:
            self._output_file.close()
            self._output_file = None


def tail(path: Path, lines: int) -> str:
    """The last lines of a text file ("" if it does not exist)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def wait_until_ready(
    process: ServerProcess, ready: Callable[[], object], *, timeout: float, what: str
) -> None:
    """Wait for `ready()` to be true while the process runs.

    Raises:
        ServerExitedError: the process ended first.
    """

    def check() -> bool:
        if not process.running:
            raise ServerExitedError(process.describe_exit())
        return bool(ready())

    wait_for(check, timeout=timeout, what=what)
