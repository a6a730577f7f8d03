"""A server process signalled by the ID it writes itself, as under bubblewrap."""

from pathlib import Path
import signal
import sys

import pytest

from tools.realserver.client import wait_for
from tools.realserver.process import ServerExitedError, ServerProcess

# Stands in for a server: says when it is ready, and on SIGTERM says so and
# exits with 3, the way Home Assistant shuts down on SIGTERM.
SERVER = """
import signal, sys, time
def stop(*_):
    print("stopping gracefully", flush=True)
    sys.exit(3)
signal.signal(signal.SIGTERM, stop)
print("ready", flush=True)
while True:
    time.sleep(1)
"""


def wrapped(pid_file: Path) -> list[str]:
    """What scripts/run-in does: a shell writes its ID, then execs the server."""
    return [
        "/bin/sh",
        "-c",
        'echo $$ >"$0" && exec "$@"',
        str(pid_file),
        sys.executable,
        "-c",
        SERVER,
    ]


def started(tmp_path: Path) -> ServerProcess:
    process = ServerProcess(
        "the stand-in",
        wrapped(tmp_path / "server.pid"),
        output=tmp_path / "out.log",
        pid_file=tmp_path / "server.pid",
    )
    process.start()
    wait_for(
        lambda: "ready" in process.output.read_text(encoding="utf-8"),
        timeout=30,
        what="the stand-in",
    )
    return process


def test_stop_is_a_graceful_sigterm_to_the_server_itself(tmp_path: Path) -> None:
    process = started(tmp_path)
    assert process.pid == int((tmp_path / "server.pid").read_text(encoding="utf-8"))
    assert process.running
    assert process.stop(timeout=30) == 3
    assert "stopping gracefully" in process.output.read_text(encoding="utf-8")
    assert not process.running


def test_kill_ends_it_without_its_shutdown(tmp_path: Path) -> None:
    process = started(tmp_path)
    assert process.kill() == -signal.SIGKILL
    assert "stopping gracefully" not in process.output.read_text(encoding="utf-8")
    # Stopping what already ended only reports how it ended.
    assert process.stop() == -signal.SIGKILL


def test_a_server_that_exits_before_writing_its_id(tmp_path: Path) -> None:
    process = ServerProcess(
        "the quitter",
        [sys.executable, "-c", "print('bye')"],
        output=tmp_path / "out.log",
        pid_file=tmp_path / "never.pid",
    )
    process.start()
    with pytest.raises(ServerExitedError, match="the quitter exited with status 0"):
        _ = process.pid
    assert "bye" in process.output.read_text(encoding="utf-8")
