"""Run the Clarify emulator from a shell: ``python -m tools.clarify_emulator``.

Prints ready-to-paste credentials for one integration, then a line containing
"ready" once the server listens (scripts wait for that line).
"""

import argparse
import asyncio
import contextlib
import json
import os
from pathlib import Path
import signal
import sys

from .model import IntegrationCredentials
from .server import ClarifyEmulator

# Options whose values are secrets or IDs. Such a value may begin with "-",
# which argparse would take for an option ("expected one argument"): these are
# joined with their value before argparse sees them.
_VALUE_OPTIONS = ("--integration-id", "--password", "--client-id", "--client-secret")


def _join_values(argv: list[str]) -> list[str]:
    """Turn `--password -x` into `--password=-x` for the options above."""
    joined: list[str] = []
    words = iter(argv)
    for word in words:
        if word == "--":
            joined.append(word)
            joined.extend(words)
            break
        if word in _VALUE_OPTIONS:
            value = next(words, None)
            joined.append(word if value is None else f"{word}={value}")
        else:
            joined.append(word)
    return joined


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tools.clarify_emulator",
        description="Serve a local stand-in for Clarify's integration API.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind")
    parser.add_argument("--port", type=int, default=0, help="port (0: any free)")
    parser.add_argument("--integration-id", help="ID of the pre-created integration")
    parser.add_argument("--password", help="its basic-auth password")
    parser.add_argument("--client-id", help="its OAuth client ID")
    parser.add_argument("--client-secret", help="its OAuth client secret")
    parser.add_argument(
        "--credentials-file",
        type=Path,
        help="read the integration's ID and credentials from this JSON file, or"
        " generate them and write it if it does not exist, so that a restarted"
        " emulator accepts the same credentials (keeps secrets off the command line)",
    )
    parser.add_argument("--name", default="Home Assistant", help="its name")
    parser.add_argument(
        "--rate-limit",
        choices=("queue", "record", "off"),
        default="queue",
        help="queue requests over 1/s per method (default), or only record them",
    )
    parser.add_argument(
        "--token-lifetime", type=float, default=3600.0, help="seconds a token lives"
    )
    parser.add_argument(
        "--lenient-times",
        action="store_true",
        help="accept unsorted and repeated times in inserts",
    )
    parser.add_argument(
        "--state-file", type=Path, help="write the state as JSON here periodically"
    )
    parser.add_argument(
        "--state-interval",
        type=float,
        default=5.0,
        help="seconds between state-file writes",
    )
    args = parser.parse_args(_join_values(list(sys.argv[1:] if argv is None else argv)))
    given = [
        option
        for option in _VALUE_OPTIONS
        if getattr(args, option.removeprefix("--").replace("-", "_")) is not None
    ]
    if args.credentials_file is not None and given:
        parser.error(f"--credentials-file excludes {', '.join(given)}")
    return args


def _load_or_create(path: Path) -> IntegrationCredentials:
    """The credentials in `path`; new ones, written there, if it does not exist.

    Raises:
        ValueError: the file exists but holds no credentials.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        credentials = IntegrationCredentials.generate()
        # Created private from the start: the file holds secrets.
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            json.dump(credentials.to_json(), file, indent=2)
            file.write("\n")
        return credentials
    try:
        return IntegrationCredentials.from_json(json.loads(text))
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from err


def _banner(emulator: ClarifyEmulator, credentials: IntegrationCredentials) -> str:
    api_url = emulator.api_url
    oauth_file = credentials.credentials_file(api_url, "client-credentials")
    basic_file = credentials.credentials_file(api_url, "basic-auth")
    return "\n".join(
        [
            f"Page:            {emulator.base_url}",
            f"API URL:         {api_url}",
            f"Integration ID:  {credentials.integration_id}",
            f"Basic auth:      username {credentials.integration_id}",
            f"                 password {credentials.password}",
            f"OAuth client:    client id {credentials.client_id}",
            f"                 client secret {credentials.client_secret}",
            "Credentials file (client-credentials):",
            json.dumps(oauth_file, indent=2),
            "Credentials file (basic-auth):",
            json.dumps(basic_file, indent=2),
            "Clarify emulator ready",
            "",
        ]
    )


def _write_state(emulator: ClarifyEmulator, path: Path) -> None:
    """Write the state atomically, so readers never see half a file."""
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(json.dumps(emulator.state.to_json()), encoding="utf-8")
    partial.replace(path)


async def _save_periodically(
    emulator: ClarifyEmulator, path: Path, interval: float
) -> None:
    while True:
        await asyncio.to_thread(_write_state, emulator, path)
        await asyncio.sleep(interval)


async def _serve(args: argparse.Namespace) -> None:
    emulator = ClarifyEmulator(
        token_lifetime=args.token_lifetime,
        rate_limit=args.rate_limit,
        strict_times=not args.lenient_times,
    )
    try:
        if args.credentials_file is not None:
            stored = _load_or_create(args.credentials_file)
            credentials = emulator.add_integration(
                stored.integration_id,
                password=stored.password,
                client_id=stored.client_id,
                client_secret=stored.client_secret,
                name=args.name,
            )
        else:
            credentials = emulator.add_integration(
                args.integration_id,
                password=args.password,
                client_id=args.client_id,
                client_secret=args.client_secret,
                name=args.name,
            )
    except ValueError as err:
        raise SystemExit(f"error: {err}") from err
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    await emulator.start(args.host, args.port)
    saver = None
    if args.state_file is not None:
        saver = asyncio.create_task(
            _save_periodically(emulator, args.state_file, args.state_interval)
        )
    sys.stdout.write(_banner(emulator, credentials))
    sys.stdout.flush()
    try:
        await stopping.wait()
    finally:
        if saver is not None:
            saver.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await saver
            _write_state(emulator, args.state_file)
        await emulator.stop()


def main(argv: list[str] | None = None) -> None:
    """Run until SIGINT or SIGTERM."""
    asyncio.run(_serve(_parse_args(argv)))


if __name__ == "__main__":
    main()
