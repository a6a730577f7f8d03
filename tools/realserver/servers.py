"""The two servers of a real installation: the Clarify emulator and Home Assistant.

Both run as processes of their own on free loopback ports, so two test runs
can share a machine, and each can be stopped, killed and started again on its
own. Every run of each writes its own log file.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
import json
from pathlib import Path
import re
import shutil
import socket
import sys
from typing import Any, Final
import urllib.request

from .client import HomeAssistantClient
from .http_store import STORE_PATH, trial_pending
from .logs import LogReport
from .process import REPO_ROOT, ServerProcess, run_in_command, tail, wait_until_ready

LOOPBACK: Final = "127.0.0.1"
INTEGRATION_SOURCE: Final = REPO_ROOT / "custom_components" / "clarify"
DOMAIN: Final = "clarify"


def free_port() -> int:
    """A TCP port on the loopback address that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
        return port


def _get_json(url: str, *, method: str = "GET") -> Any:
    request = urllib.request.Request(url, method=method)  # noqa: S310  # loopback
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return json.loads(response.read())


class EmulatorServer:
    """The Clarify emulator as a separate process, with fixed credentials.

    The credentials live in a file the emulator writes on its first start, so
    after a restart it accepts the same ones (its data starts empty again).
    """

    def __init__(
        self,
        run_dir: Path,
        *,
        port: int | None = None,
        environment: str | None = None,
        extra_args: Sequence[str] = (),
    ) -> None:
        """Describe the emulator; `start()` starts it.

        It runs with this interpreter (which needs aiohttp), or in a
        scripts/setup `environment` such as "server".
        """
        self.run_dir = run_dir
        self.port = port or free_port()
        self.environment = environment
        self.extra_args = list(extra_args)
        self.credentials_path = run_dir / "emulator-credentials.json"
        self.runs = 0
        self.process: ServerProcess | None = None

    @property
    def base_url(self) -> str:
        """The emulator's page, with a trailing slash."""
        return f"http://{LOOPBACK}:{self.port}/"

    @property
    def api_url(self) -> str:
        """The API URL a Clarify client is configured with."""
        return f"{self.base_url}v1/"

    @property
    def output(self) -> Path:
        """The output of the current (or last) run."""
        return self.run_dir / f"emulator.{self.runs}.log"

    def start(self, timeout: float = 60.0) -> None:
        """Start and wait until it listens."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.runs += 1
        command = [
            "python",
            "-m",
            "tools.clarify_emulator",
            "--host",
            LOOPBACK,
            "--port",
            str(self.port),
            f"--credentials-file={self.credentials_path}",
            *self.extra_args,
        ]
        if self.environment is None:
            argv, pid_file = [sys.executable, *command[1:]], None
        else:
            pid_file = self.run_dir / "emulator.pid"
            argv = run_in_command(
                self.environment, command, share=[self.run_dir], pid_file=pid_file
            )
        self.process = ServerProcess(
            "the Clarify emulator", argv, output=self.output, pid_file=pid_file
        )
        self.process.start()
        output = self.output
        wait_until_ready(
            self.process,
            lambda: "ready" in output.read_text(encoding="utf-8", errors="replace"),
            timeout=timeout,
            what="the Clarify emulator to listen",
        )

    def stop(self, timeout: float = 30.0) -> int:
        """Stop gracefully (SIGTERM); returns the exit status."""
        return self.process.stop(timeout) if self.process else 0

    def kill(self) -> int:
        """Stop with SIGKILL."""
        return self.process.kill() if self.process else 0

    @property
    def running(self) -> bool:
        """Whether the emulator runs."""
        return self.process is not None and self.process.running

    # ------------------------------------------------------------------ what it holds

    @property
    def credentials(self) -> dict[str, str]:
        """integration_id, password, client_id and client_secret."""
        result: dict[str, str] = json.loads(
            self.credentials_path.read_text(encoding="utf-8")
        )
        return result

    @property
    def integration_id(self) -> str:
        """The ID of the emulator's one integration."""
        return self.credentials["integration_id"]

    def credentials_file(self, kind: str = "client-credentials") -> str:
        """The credentials file Clarify hands out, as the text a person pastes.

        Read from the banner the emulator printed, which is what it serves.
        """
        text = self.output.read_text(encoding="utf-8")
        heading = text.index(f"Credentials file ({kind}):")
        document, _ = json.JSONDecoder().raw_decode(text, text.index("{", heading))
        return json.dumps(document, indent=2)

    def state(self) -> dict[str, Any]:
        """Everything the emulator stores (the JSON of GET /api/state)."""
        result: dict[str, Any] = _get_json(f"{self.base_url}api/state")
        return result

    def signals(self, integration_id: str | None = None) -> dict[str, Any]:
        """The signals of an integration by input key: metadata and points."""
        integrations = self.state()["integrations"]
        signals: dict[str, Any] = integrations[integration_id or self.integration_id][
            "signals"
        ]
        return signals

    def points(self, integration_id: str | None = None) -> dict[str, dict[str, float]]:
        """Every stored point: input key -> {RFC 3339 time: value}."""
        return {
            key: dict(signal["points"])
            for key, signal in self.signals(integration_id).items()
        }

    def revoke(self, integration_id: str | None = None) -> None:
        """Make the integration's credentials fail with 401, as a revoked one's do."""
        _get_json(
            f"{self.base_url}api/integrations/{integration_id or self.integration_id}/revoke",
            method="POST",
        )

    def restore(self, integration_id: str | None = None) -> None:
        """Undo `revoke`."""
        _get_json(
            f"{self.base_url}api/integrations/{integration_id or self.integration_id}/restore",
            method="POST",
        )


class HomeAssistantServer:
    """A real Home Assistant server process on its own configuration directory."""

    def __init__(
        self, config_dir: Path, *, port: int | None = None, environment: str = "server"
    ) -> None:
        """Describe the server; `install()` then `start()`.

        A restart keeps the configuration directory, so the port is stored
        there (see http_store) and stays the same.
        """
        self.config_dir = config_dir.resolve()
        self.port = port or free_port()
        self.environment = environment
        self.runs = 0
        self.process: ServerProcess | None = None

    @property
    def url(self) -> str:
        """Where the frontend and the API are."""
        return f"http://{LOOPBACK}:{self.port}"

    def client(self) -> HomeAssistantClient:
        """A new, not yet logged-in API client."""
        return HomeAssistantClient(self.url)

    def install(
        self, configuration: str, *, integration: Path = INTEGRATION_SOURCE
    ) -> None:
        """Create the configuration directory with the integration copied into it.

        The integration is copied, not linked, as HACS and the Marketplace
        install it: custom_components/clarify holds the files of the
        repository's custom_components/clarify and nothing else.
        """
        self.config_dir.mkdir(parents=True, exist_ok=True)
        (self.config_dir / "configuration.yaml").write_text(
            configuration, encoding="utf-8"
        )
        target = self.config_dir / "custom_components" / DOMAIN
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(
            integration, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
        )
        if not (self.config_dir / STORE_PATH).exists():
            self._seed_stores()

    def _seed_stores(self) -> None:
        """Store the address as confirmed settings (see http_store: no trial).

        And mark onboarding's core_config step done, so that finishing
        onboarding sets up nothing that reaches the internet (see
        onboarding_store), and disable the Marketplace, which would fetch its
        catalog from the internet (see entries_store).
        """
        seeder = ServerProcess(
            "the store writer",
            run_in_command(
                self.environment,
                [
                    "python",
                    "-m",
                    "tools.realserver",
                    "confirm-http",
                    str(self.config_dir),
                    LOOPBACK,
                    str(self.port),
                ],
                share=[self.config_dir],
            ),
            output=self.config_dir / "http-store.out",
        )
        seeder.start()
        if seeder.wait(120) != 0:
            raise RuntimeError(seeder.describe_exit())

    @property
    def log_file(self) -> Path:
        """Home Assistant's log of the current (or last) run."""
        return self.config_dir / f"home-assistant.{self.runs}.log"

    @property
    def log_files(self) -> list[Path]:
        """The logs of every run so far, oldest first."""
        return [
            self.config_dir / f"home-assistant.{run}.log"
            for run in range(1, self.runs + 1)
        ]

    def start(self, timeout: float = 180.0) -> None:
        """Start and wait until the HTTP server answers.

        Integrations may still be setting up then; after onboarding,
        `client.wait_until_running()` waits for the rest.
        """
        self.runs += 1
        # --skip-pip: Home Assistant installs nothing at run time, so a test
        # stays on 127.0.0.1 (this integration has no requirements).
        command = [
            "hass",
            "--config",
            str(self.config_dir),
            "--log-file",
            str(self.log_file),
            "--skip-pip",
        ]
        self.process = ServerProcess(
            "Home Assistant",
            run_in_command(
                self.environment,
                command,
                share=[self.config_dir],
                pid_file=self.config_dir / "hass.pid",
            ),
            output=self.config_dir / f"hass.{self.runs}.out",
            pid_file=self.config_dir / "hass.pid",
        )
        self.process.start()
        client = self.client()
        wait_until_ready(
            self.process,
            client.is_serving,
            timeout=timeout,
            what=f"Home Assistant to serve on {self.url}",
        )
        if trial_pending(self.config_dir):
            raise RuntimeError(
                "Home Assistant holds HTTP settings on trial and would stop in five minutes"
            )

    @property
    def running(self) -> bool:
        """Whether the server runs."""
        return self.process is not None and self.process.running

    @property
    def pid(self) -> int:
        """The process ID of Home Assistant itself (not of bubblewrap)."""
        if self.process is None:
            raise RuntimeError("Home Assistant was never started")
        return self.process.pid

    def stop(self, timeout: float = 120.0) -> int:
        """Stop gracefully: SIGTERM to Home Assistant, then wait; the exit status."""
        return self.process.stop(timeout) if self.process else 0

    def kill(self) -> int:
        """End Home Assistant with SIGKILL: nothing of its shutdown runs."""
        return self.process.kill() if self.process else 0

    def restart(self, timeout: float = 180.0) -> None:
        """Stop gracefully and start again on the same configuration."""
        code = self.stop()
        if code != 0:
            raise RuntimeError(f"Home Assistant exited with status {code} on stop")
        self.start(timeout)

    def log_report(self) -> LogReport:
        """The problems in the logs of every run, split by whether they name clarify."""
        return LogReport.from_files(self.log_files, DOMAIN)

    def assert_log_clean(self, *, allow: Iterable[re.Pattern[str]] = ()) -> LogReport:
        """Fail if a log names this integration in an error or traceback.

        Records that one of the `allow` patterns finds are let through (a
        known bug a test is not about). Returns the report, whose `others` a
        test may print.
        """
        report = self.log_report()
        allowed = list(allow)
        report.about_domain = [
            record
            for record in report.about_domain
            if not any(pattern.search(record.text) for pattern in allowed)
        ]
        if report.about_domain:
            raise AssertionError(report.summary())
        return report

    def assert_stayed_on_loopback(self) -> LogReport:
        """Fail if a log shows a request beyond 127.0.0.1, by anyone.

        Only a failed request leaves a sign (a failed name lookup, a failed
        connection to another host); on a machine without internet, every
        request to it fails. Returns the report.
        """
        report = self.log_report()
        if report.outside:
            raise AssertionError(
                "Home Assistant sent requests beyond 127.0.0.1:\n"
                + "\n".join(f"  [{r.source}] {r.text}" for r in report.outside)
            )
        return report

    def log_tail(self, lines: int = 40) -> str:
        """The end of the current run's log (or its output, if it has no log yet)."""
        text = tail(self.log_file, lines)
        if not text and self.process is not None:
            text = tail(self.process.output, lines)
        return text
