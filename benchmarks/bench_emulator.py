"""The Clarify emulator as a process of its own, with a request log for benchmarks.

Run from the repository root::

    python -m benchmarks.bench_emulator --port 8124 --integration-id ... \
        --password ... --client-id ... --client-secret ... --pid-file emulator.pid

It is `tools.clarify_emulator` (same server, same rules, rate limit queued as
Clarify does) plus one read-only page, ``GET /bench/log``: every API request
with its method, HTTP status, body size and arrival time (wall clock), the
oldest and newest reading time of each insert, and the number of points and
signals stored. `python -m tools.clarify_emulator` has no such page, and
benchmarks must count bytes where Clarify would: at the receiving end.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
import contextlib
from datetime import UTC, datetime, timedelta
import os
from pathlib import Path
import signal
import sys
import time
from typing import Any

from aiohttp import web
import orjson

from tools.clarify_emulator import ClarifyEmulator

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_emulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--integration-id", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--client-secret", required=True)
    parser.add_argument("--pid-file", type=Path)
    return parser.parse_args(argv)


def _insert_span(body: bytes) -> tuple[int, int, int, int, int] | None:
    """(oldest, newest reading time in µs, readings, keys, times) of an insert body."""
    try:
        message = orjson.loads(body)
        data = message["params"]["data"]
        times = data["times"]
        series = data["series"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return None
    if message.get("method") != "integration.insert" or not times:
        return None
    readings = sum(
        sum(value is not None for value in values) for values in series.values()
    )
    return _time_us(times[0]), _time_us(times[-1]), readings, len(series), len(times)


def _time_us(text: str) -> int:
    return (datetime.fromisoformat(text) - _EPOCH) // timedelta(microseconds=1)


class _Log:
    """What the benchmarks read back: one row per request body received."""

    def __init__(self, emulator: ClarifyEmulator, integration_id: str) -> None:
        self.emulator = emulator
        self.integration_id = integration_id
        # Per body read: (wall clock at arrival, bytes, oldest µs, newest µs,
        # readings, keys, times); all but the first two None if not an insert.
        self.bodies: list[tuple[float, int, *tuple[int | None, ...]]] = []

    def wrap(
        self, read_body: Callable[[web.Request], Awaitable[bytes | None]]
    ) -> Callable[[web.Request], Awaitable[bytes | None]]:
        async def logged(request: web.Request) -> bytes | None:
            arrived = time.time()
            body = await read_body(request)
            if body is not None and request.path.endswith("/rpc"):
                span = _insert_span(body)
                self.bodies.append((arrived, len(body), *(span or (None,) * 5)))
            return body

        return logged

    async def handle(self, request: web.Request) -> web.StreamResponse:
        signals = self.emulator.signals(self.integration_id)
        payload: dict[str, Any] = {
            "requests": [
                {
                    "method": item.rpc_method,
                    "status": item.http_status,
                    "error": item.error_code,
                    "body_bytes": item.body_bytes,
                }
                for item in self.emulator.requests
                if item.path.endswith("/rpc")
            ],
            "bodies": self.bodies,
            "points": sum(len(item.points) for item in signals.values()),
            "signals": len(signals),
            "rate_limit_violations": self.emulator.rate_limit_violations(),
        }
        return web.Response(body=orjson.dumps(payload), content_type="application/json")


async def _serve(args: argparse.Namespace) -> None:
    emulator = ClarifyEmulator()
    emulator.add_integration(
        args.integration_id,
        password=args.password,
        client_id=args.client_id,
        client_secret=args.client_secret,
    )
    log = _Log(emulator, args.integration_id)
    # The body reader is the one place that sees every body whole; wrapping it
    # leaves the emulator's handling untouched.
    emulator._read_body = log.wrap(emulator._read_body)  # type: ignore[method-assign]  # noqa: SLF001
    emulator.app.router.add_get("/bench/log", log.handle)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    await emulator.start(args.host, args.port)
    if args.pid_file is not None:
        args.pid_file.write_text(f"{os.getpid()}\n")
    sys.stdout.write(f"Clarify emulator ready on {emulator.api_url}\n")
    sys.stdout.flush()
    try:
        await stopping.wait()
    finally:
        with contextlib.suppress(Exception):
            await emulator.stop()


def main(argv: list[str] | None = None) -> None:
    """Serve until SIGINT or SIGTERM."""
    asyncio.run(_serve(_parse_args(argv)))


if __name__ == "__main__":
    main()
