"""The write-ahead journal: every accepted reading stays on disk until Clarify has it.

The buffer in memory is what gets sent; the journal is what survives a crash. It
is an SQLite database (Python's standard library, the engine Home Assistant's
own recorder trusts) in WAL mode with ``synchronous=FULL``: a commit is on disk
when it returns, and a power cut at any instant leaves the last commit intact.

- Every `WRITE_INTERVAL` seconds the readings appended since the last write
  (`SampleBuffer.drain_journal`) are committed in one transaction, so a crash
  loses at most the readings of that last window. Nothing is written when
  nothing changed.
- Readings Clarify confirmed are deleted, readings it refused are moved to a
  table of their own (kept until the user sends them again), readings the full
  buffer dropped are deleted: the journal holds what the buffer holds.
- Work per write is proportional to what changed, never to the backlog. All
  database work runs in an executor job, one job at a time, on data the event
  loop handed over and no longer touches.
- A damaged file (garbage, torn, truncated, from a newer version) never fails
  setup: whatever can still be read is kept, the file is set aside for
  inspection, and the damage is reported.

One row per input key and UTC second, the last reading of that second winning,
exactly as in the buffer; applying the buffer's log in order reproduces that.
"""

from __future__ import annotations

from array import array
import asyncio
from collections.abc import Callable, Iterable, Iterator
import contextlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
import itertools
import logging
import math
from pathlib import Path
import sqlite3
import struct
from typing import Any, Final
from zlib import crc32

import orjson

from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.event import async_track_time_interval
from homeassistant.helpers.storage import STORAGE_DIR

from .buffer import BufferFormatError, JournalBatch, Readings, SampleBuffer

_LOGGER = logging.getLogger(__name__)

# A reading reaches the disk at most this long after it was accepted, plus the
# few milliseconds of the write: within 5 seconds.
WRITE_INTERVAL: Final = 4.0
SCHEMA_VERSION: Final = 1
# Shrink the file when this share of its pages is free (after a backlog left).
_VACUUM_FREE_SHARE: Final = 0.25
_LOCK_TIMEOUT: Final = 2.0
# The WAL file is cut back to this size after each checkpoint.
_WAL_SIZE_LIMIT: Final = 4 * 1024 * 1024
_US: Final = 1_000_000
_MIN_SECOND: Final = (
    datetime(1, 1, 1, tzinfo=UTC) - datetime(1970, 1, 1, tzinfo=UTC)
) // timedelta(seconds=1)
_MAX_SECOND: Final = (
    datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC) - datetime(1970, 1, 1, tzinfo=UTC)
) // timedelta(seconds=1)

_SCHEMA: Final = (
    # Every row carries a CRC-32 of its content: SQLite checks its structure,
    # not what is in it, and a damaged row must be skipped, never sent.
    (
        "CREATE TABLE keys (id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE,"
        " crc INTEGER NOT NULL)"
    ),
    # WITHOUT ROWID: the primary key is the row, about 30 bytes a reading.
    (
        "CREATE TABLE readings (key INTEGER NOT NULL, second INTEGER NOT NULL,"
        " micro INTEGER NOT NULL, value REAL NOT NULL, crc INTEGER NOT NULL,"
        " PRIMARY KEY (key, second)) WITHOUT ROWID"
    ),
    (
        "CREATE TABLE set_aside (key INTEGER NOT NULL, second INTEGER NOT NULL,"
        " micro INTEGER NOT NULL, value REAL NOT NULL, crc INTEGER NOT NULL,"
        " PRIMARY KEY (key, second)) WITHOUT ROWID"
    ),
    "CREATE TABLE signals (key TEXT PRIMARY KEY, hash TEXT NOT NULL) WITHOUT ROWID",
    "CREATE TABLE meta (name TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID",
)
_INSERT: Final = "INSERT OR REPLACE INTO readings VALUES (?, ?, ?, ?, ?)"
# Only the exact reading: a later one in the same second may have replaced it.
_DELETE: Final = (
    "DELETE FROM readings WHERE key = ? AND second = ? AND micro = ? AND value = ?"
    " AND crc = ?"
)
_SET_ASIDE: Final = "INSERT OR REPLACE INTO set_aside VALUES (?, ?, ?, ?, ?)"
_ROW: Final = struct.Struct("<qqqd")
# Meta rows named this and an input key hold the time sending began for it.
_LIVE_SINCE: Final = "live_since/"


def journal_path(hass: HomeAssistant, entry_id: str) -> Path:
    """Where an entry's journal lives, next to Home Assistant's own storage."""
    return Path(hass.config.path(STORAGE_DIR, f"clarify.{entry_id}.db"))


def legacy_path(hass: HomeAssistant, entry_id: str) -> Path:
    """Where version 0.1 saved unsent readings (a JSON store), read once."""
    return Path(hass.config.path(STORAGE_DIR, f"clarify.{entry_id}"))


async def async_remove_journal(hass: HomeAssistant, entry_id: str) -> None:
    """Delete an entry's journal with everything set aside next to it."""
    path = journal_path(hass, entry_id)
    await hass.async_add_executor_job(_remove_files, path, legacy_path(hass, entry_id))


def _remove_files(path: Path, legacy: Path) -> None:
    for item in (*_database_files(path), *_database_files(_damaged(path)), legacy):
        item.unlink(missing_ok=True)


def _database_files(path: Path) -> tuple[Path, Path, Path]:
    return path, Path(f"{path}-wal"), Path(f"{path}-shm")


def _damaged(path: Path) -> Path:
    return path.with_name(f"{path.name}.damaged")


class JournalUnavailableError(HomeAssistantError):
    """The journal cannot be created or opened at all (the disk, not the file)."""

    def __init__(self, path: str, error: str) -> None:
        """Say which file and why."""
        super().__init__(f"Cannot open the Clarify journal {path}: {error}")
        self.path = path
        self.error = error


@dataclass(slots=True)
class JournalDamage:
    """What an unreadable journal cost, for the repair issue that reports it."""

    reason: str
    salvaged: int
    kept_as: str


@dataclass(slots=True)
class SetAside:
    """Readings of one input key that Clarify refused, kept for a later resend.

    `entity` is the registry id of the entity that fed the key then, so the
    readings can follow the entity to a new input key.
    """

    count: int
    reason: str
    entity: str | None


@dataclass(slots=True)
class Restored:
    """What the journal held when the entry started."""

    buffer: SampleBuffer
    signal_hashes: dict[str, str] = field(default_factory=dict)
    set_aside: dict[str, SetAside] = field(default_factory=dict)
    # Input keys given to entities matched by a target, by registry id.
    input_keys: dict[str, str] = field(default_factory=dict)
    # Per input key, the time of the oldest reading delivered live (see
    # `Journal.live_since`).
    live_since: dict[str, int] = field(default_factory=dict)
    # Where a backfill that was under way stopped, to resume it.
    backfill: dict[str, Any] | None = None
    damage: JournalDamage | None = None


@dataclass(slots=True)
class _Batch:
    """One write: the changes, in the order they happened."""

    ops: list[tuple[str, Any]]
    dropped: tuple[int, dict[str, int]] | None


class Journal:
    """An entry's journal: fed from the event loop, written in an executor job."""

    def __init__(
        self,
        hass: HomeAssistant,
        path: Path,
        connection: sqlite3.Connection,
        buffer: SampleBuffer,
        set_aside_notes: dict[str, list[str | None]],
    ) -> None:
        """Take over an open database; `async_open` is the way to get one."""
        self.hass = hass
        self.path = path
        self._db = _Database(connection, set_aside_notes)
        self._buffer = buffer
        # Changes not yet handed to a write, oldest first.
        self._ops: list[tuple[str, Any]] = []
        self._dropped_written = (buffer.dropped, dict(buffer.dropped_by_key))
        self._lock = asyncio.Lock()
        self._unsub: CALLBACK_TYPE | None = None
        self._write_task: asyncio.Task[None] | None = None
        self._closed = False
        self._failing = False
        self.on_failure: Callable[[str | None], None] = lambda _: None
        # Per input key: readings from this time on were sent. First the time
        # of the first reading Clarify confirmed (the oldest sent live; a
        # backfill fixes it for its keys before it sends anything older),
        # moved back when a backfill delivered everything before it. Backfills
        # stop at it.
        self.live_since: dict[str, int] = {}

    @classmethod
    async def async_open(
        cls, hass: HomeAssistant, entry_id: str, capacity: int
    ) -> tuple[Journal, Restored]:
        """Open (or create) the entry's journal and restore what it holds.

        Never raises for a damaged file: `Restored.damage` says what was lost.
        """
        path = journal_path(hass, entry_id)
        job = hass.async_add_executor_job(
            _open, path, legacy_path(hass, entry_id), capacity
        )
        try:
            connection, restored, notes = await asyncio.shield(job)
        except asyncio.CancelledError:
            # Setup was cancelled (Home Assistant stops): the job runs on in
            # its thread, and the connection it opens must not be left open.
            job.add_done_callback(_close_opened)
            raise
        except (OSError, sqlite3.Error) as err:
            # Not the file's fault (it would have been set aside): the disk's.
            raise JournalUnavailableError(str(path), str(err)) from err
        journal = cls(hass, path, connection, restored.buffer, notes)
        journal.live_since = dict(restored.live_since)
        return journal, restored

    # ------------------------------------------------------------ from the loop

    @callback
    def async_start(self, create_task: Callable[..., asyncio.Task[None]]) -> None:
        """Write every `WRITE_INTERVAL` seconds from now on."""
        self._create_task = create_task
        self._unsub = async_track_time_interval(
            self.hass,
            self._async_tick,
            timedelta(seconds=WRITE_INTERVAL),
            name="Clarify journal",
        )

    @callback
    def _async_tick(self, now: datetime) -> None:
        if self._write_task is None or self._write_task.done():
            self._write_task = self._create_task(
                self.async_write(), "Clarify journal write"
            )

    @callback
    def async_confirmed(self, readings: list[Readings]) -> None:
        """Forget readings Clarify has stored; note each key's first delivery."""
        self._log(("delete", readings))
        live_since = self.live_since
        first = {
            item.key: item.times[0]
            for item in readings
            if item.times and item.key not in live_since
        }
        if first:
            live_since.update(first)
            self._ops.append(("live_since", first))

    @callback
    def async_set_live_since(
        self, times: dict[str, int], *, lower: bool = False
    ) -> None:
        """Set where readings already sent begin, per key.

        Without `lower`, only keys that have no such time yet get one (a
        backfill fixes it before it sends anything older); with it, a key's
        time only moves back (a backfill delivered everything since then).
        """
        live_since = self.live_since
        new = {
            key: time
            for key, time in times.items()
            if key not in live_since or (lower and time < live_since[key])
        }
        if new:
            live_since.update(new)
            self._log(("live_since", new))

    @callback
    def async_backfill_position(self, position: dict[str, Any] | None) -> None:
        """Remember where a backfill is (None: none is under way).

        Logged after the readings it merged, so the position on disk never
        runs ahead of the readings on disk.
        """
        self._log(("meta", ("backfill", position)))

    @callback
    def async_set_aside(
        self,
        readings: list[Readings],
        reason: str,
        entities: dict[str, str | None],
    ) -> None:
        """Keep readings Clarify refused apart, with the reason and their entity."""
        forget = self._buffer.unshadowed(readings)
        self._log(("set_aside", (readings, reason, entities)))
        self._ops.append(("delete", forget))

    @callback
    def async_signal_hashes(self, hashes: dict[str, str]) -> None:
        """Remember the metadata Clarify confirmed, per input key."""
        self._log(("signals", dict(hashes)))

    @callback
    def async_input_keys(self, keys: dict[str, str]) -> None:
        """Remember the input keys given to entities matched by a target."""
        self._log(("meta", ("input_keys", dict(keys))))

    def _log(self, op: tuple[str, Any]) -> None:
        # What the buffer logged so far happened before `op`.
        self._drain_buffer()
        self._ops.append(op)

    def _drain_buffer(self) -> None:
        batch: JournalBatch = self._buffer.drain_journal()
        if batch.appended:
            self._ops.append(("insert", batch.appended))
        if batch.dropped:
            self._ops.append(("drop", batch.dropped))

    def _take_batch(self) -> _Batch | None:
        self._drain_buffer()
        buffer = self._buffer
        dropped: tuple[int, dict[str, int]] | None = None
        if buffer.dropped != self._dropped_written[0]:
            dropped = (buffer.dropped, dict(buffer.dropped_by_key))
            self._dropped_written = dropped
        if not self._ops and dropped is None:
            return None
        ops, self._ops = self._ops, []
        return _Batch(ops, dropped)

    async def async_write(self) -> None:
        """Commit every change made so far; a failed write is tried again later."""
        async with self._lock:
            if self._closed or (batch := self._take_batch()) is None:
                return
            try:
                await self.hass.async_add_executor_job(self._db.write, batch)
            except (sqlite3.Error, OSError) as err:
                # Nothing is lost yet: the changes wait for the next write.
                self._ops[:0] = batch.ops
                if not self._failing:
                    self._failing = True
                    _LOGGER.error(
                        "Cannot write the Clarify journal %s (%s); readings are kept"
                        " in memory until it can be written",
                        self.path,
                        err,
                    )
                    self.on_failure(str(err))
                return
            if self._failing:
                self._failing = False
                _LOGGER.info("The Clarify journal %s can be written again", self.path)
                self.on_failure(None)

    async def async_take_set_aside(self, rekey: dict[str, str]) -> list[Readings]:
        """Move refused readings back among those to send, and return them.

        `rekey` maps each input key whose readings go back to the key they go
        back under (the same, or the one their entity feeds now). In one
        transaction, so a crash leaves them in one place or the other.
        """
        async with self._lock:
            batch = self._take_batch()
            return await self.hass.async_add_executor_job(
                self._db.take_set_aside, batch, rekey
            )

    async def async_close(self) -> None:
        """Write what is left and close the database."""
        if self._unsub is not None:
            self._unsub()
            self._unsub = None
        await self.async_write()
        async with self._lock:
            if not self._closed:
                self._closed = True
                await self.hass.async_add_executor_job(self._db.close)

    def size_on_disk(self) -> int:
        """Bytes the journal's files take, for diagnostics."""
        return sum(
            path.stat().st_size for path in _database_files(self.path) if path.exists()
        )


# ---------------------------------------------------------------- the database
# Everything below runs in an executor job, one at a time.


class _Database:
    """The open database with its cache of key ids."""

    def __init__(
        self, connection: sqlite3.Connection, notes: dict[str, list[str | None]]
    ) -> None:
        self.connection = connection
        self.key_ids: dict[str, int] = {
            key: key_id
            for key_id, key, crc in connection.execute("SELECT id, key, crc FROM keys")
            if crc == _key_crc(key_id, key)
        }
        (self.last_key_id,) = connection.execute(
            "SELECT coalesce(max(id), 0) FROM keys"
        ).fetchone()
        # Per set-aside input key: [reason, entity registry id].
        self.notes = notes

    def _key_id(self, key: str) -> int:
        if (key_id := self.key_ids.get(key)) is None:
            key_id = self.last_key_id = self.last_key_id + 1
            self.connection.execute(
                "INSERT OR REPLACE INTO keys VALUES (?, ?, ?)",
                (key_id, key, _key_crc(key_id, key)),
            )
            self.key_ids[key] = key_id
        return key_id

    def rows(self, readings: Readings) -> Iterator[tuple[int, int, int, float, int]]:
        """The table rows of some readings, with their checks."""
        key_id = self._key_id(readings.key)
        pack = _ROW.pack
        for time_us, value in zip(readings.times, readings.values, strict=True):
            second, micro = divmod(time_us, _US)
            yield (
                key_id,
                second,
                micro,
                value,
                crc32(pack(key_id, second, micro, value)),
            )

    def write(self, batch: _Batch) -> None:
        connection = self.connection
        with _transaction(connection):
            self._apply(batch)
        self._compact()

    def _apply(self, batch: _Batch) -> None:
        connection = self.connection
        for kind, payload in batch.ops:
            if kind == "insert":
                for readings in payload:
                    connection.executemany(_INSERT, self.rows(readings))
            elif kind == "delete":
                for readings in payload:
                    connection.executemany(_DELETE, self.rows(readings))
            elif kind == "set_aside":
                group, reason, entities = payload
                for readings in group:
                    connection.executemany(_SET_ASIDE, self.rows(readings))
                    self.notes[readings.key] = [reason, entities.get(readings.key)]
                _put_meta(connection, "set_aside", self.notes)
            elif kind == "drop":
                for key, time_us, value in payload:
                    connection.executemany(
                        _DELETE,
                        self.rows(
                            Readings(key, array("q", [time_us]), array("d", [value]))
                        ),
                    )
            elif kind == "meta":
                _put_meta(connection, *payload)
            elif kind == "live_since":
                _put_live_since(connection, payload)
            elif kind == "signals":
                connection.executemany(
                    "INSERT OR REPLACE INTO signals VALUES (?, ?)", payload.items()
                )
        if batch.dropped is not None:
            total, by_key = batch.dropped
            _put_meta(connection, "dropped", {"total": total, "by_key": by_key})

    def take_set_aside(
        self, batch: _Batch | None, rekey: dict[str, str]
    ) -> list[Readings]:
        connection = self.connection
        taken: list[Readings] = []
        with _transaction(connection):
            if batch is not None:
                self._apply(batch)
            for key, new_key in rekey.items():
                if (key_id := self.key_ids.get(key)) is None:
                    continue
                rows = connection.execute(
                    "SELECT key, second, micro, value, crc FROM set_aside"
                    " WHERE key = ? ORDER BY second",
                    (key_id,),
                ).fetchall()
                self.notes.pop(key, None)
                connection.execute("DELETE FROM set_aside WHERE key = ?", (key_id,))
                readings = _valid_readings(new_key, rows)
                if not readings.times:
                    continue
                # A reading of the same second already waiting stays: it is newer.
                connection.executemany(
                    "INSERT OR IGNORE INTO readings VALUES (?, ?, ?, ?, ?)",
                    self.rows(readings),
                )
                taken.append(readings)
            _put_meta(connection, "set_aside", self.notes)
        return taken

    def _compact(self) -> None:
        """Give back the space of delivered backlogs (cheap when there is none)."""
        connection = self.connection
        free = connection.execute("PRAGMA freelist_count").fetchone()[0]
        pages = connection.execute("PRAGMA page_count").fetchone()[0]
        if free > 64 and free > pages * _VACUUM_FREE_SHARE:
            connection.execute("PRAGMA incremental_vacuum")
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self.connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.connection.close()


@contextlib.contextmanager
def _transaction(connection: sqlite3.Connection) -> Iterator[None]:
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


def _put_meta(connection: sqlite3.Connection, name: str, value: object) -> None:
    connection.execute(
        "INSERT OR REPLACE INTO meta VALUES (?, ?)", (name, orjson.dumps(value))
    )


def _put_live_since(connection: sqlite3.Connection, times: dict[str, int]) -> None:
    """One meta row per input key: only what changed is written."""
    connection.executemany(
        "INSERT OR REPLACE INTO meta VALUES (?, ?)",
        ((f"{_LIVE_SINCE}{key}", orjson.dumps(time)) for key, time in times.items()),
    )


def _key_crc(key_id: object, key: object) -> int:
    if not isinstance(key_id, int) or not isinstance(key, str):
        return -1
    return crc32(f"{key_id}\x00{key}".encode(errors="surrogatepass"))


def _valid_readings(key: str, rows: Iterable[tuple[Any, ...]]) -> Readings:
    """The readings of rows whose content matches their check, in order."""
    times: array[int] = array("q")
    values: array[float] = array("d")
    pack = _ROW.pack
    last = _MIN_SECOND - 1
    for key_id, second, micro, value, crc in rows:
        try:
            valid = crc == crc32(pack(key_id, second, micro, value))
        except (struct.error, TypeError):
            valid = False
        # A valid check on a wrong type or range is a damaged row, too.
        if (
            valid
            and last < second <= _MAX_SECOND
            and 0 <= micro < _US
            and math.isfinite(value)
        ):
            times.append(second * _US + micro)
            values.append(value)
            last = second
    return Readings(key, times, values)


# ------------------------------------------------------------------- opening


def _connect(path: Path) -> sqlite3.Connection:
    # Autocommit mode: transactions are begun and committed explicitly.
    # Waits this long for a lock another program holds (a backup reading it).
    connection = sqlite3.connect(
        path, check_same_thread=False, isolation_level=None, timeout=_LOCK_TIMEOUT
    )
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit is on disk (the WAL synced) before it returns.
        connection.execute("PRAGMA synchronous=FULL")
        connection.execute(f"PRAGMA journal_size_limit={_WAL_SIZE_LIMIT}")
    except BaseException:
        connection.close()
        raise
    return connection


def _create(path: Path) -> sqlite3.Connection:
    connection = _connect(path)
    # Must precede the first table; lets deleted space be handed back.
    connection.execute("PRAGMA auto_vacuum=INCREMENTAL")
    with _transaction(connection):
        for statement in _SCHEMA:
            connection.execute(statement)
        connection.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
    return connection


@dataclass(slots=True)
class _Contents:
    series: dict[str, Readings] = field(default_factory=dict)
    set_aside: dict[str, Readings] = field(default_factory=dict)
    signal_hashes: dict[str, str] = field(default_factory=dict)
    notes: dict[str, list[str | None]] = field(default_factory=dict)
    input_keys: dict[str, str] = field(default_factory=dict)
    live_since: dict[str, int] = field(default_factory=dict)
    backfill: dict[str, Any] | None = None
    dropped: int = 0
    dropped_by_key: dict[str, int] = field(default_factory=dict)
    # Rows that could not be read or made no sense; None when none were lost.
    damage: str | None = None


class _UnreadableError(Exception):
    """The journal cannot be used as it is."""


class _NewerVersionError(_UnreadableError):
    """A newer version of the integration wrote the journal."""


def _close_opened(
    job: asyncio.Future[
        tuple[sqlite3.Connection, Restored, dict[str, list[str | None]]]
    ],
) -> None:
    """Close the connection an abandoned open made, in a thread of its own."""
    if job.cancelled() or job.exception() is not None:
        return
    connection = job.result()[0]
    asyncio.get_running_loop().run_in_executor(None, connection.close)


def _open(
    path: Path, legacy: Path, capacity: int
) -> tuple[sqlite3.Connection, Restored, dict[str, list[str | None]]]:
    path.parent.mkdir(parents=True, exist_ok=True)
    damage: JournalDamage | None = None
    if path.exists():
        contents, connection, damage = _open_existing(path)
    else:
        contents, connection = _Contents(), _create(path)
    if legacy.exists():
        _migrate_legacy(connection, legacy, contents)
    buffer = SampleBuffer(capacity)
    for readings in contents.series.values():
        buffer.load_series(readings.key, readings.times, readings.values)
    buffer.restore_drop_counts(contents.dropped, contents.dropped_by_key)
    restored = Restored(
        buffer=buffer,
        signal_hashes=contents.signal_hashes,
        set_aside={
            key: SetAside(len(readings.times), *_note(contents.notes.get(key)))
            for key, readings in contents.set_aside.items()
        },
        input_keys=contents.input_keys,
        live_since=contents.live_since,
        backfill=contents.backfill,
        damage=damage,
    )
    return connection, restored, contents.notes


def _note(note: list[str | None] | None) -> tuple[str, str | None]:
    if note is None:
        return "", None
    return note[0] or "", note[1]


def _open_existing(
    path: Path,
) -> tuple[_Contents, sqlite3.Connection, JournalDamage | None]:
    # A damaged file can fail in more ways than sqlite3.Error (SQLite's own
    # messages quote the file's bytes and may not decode): whatever reading an
    # existing file raises, it is damage, and the file is kept aside.
    try:
        connection = _connect(path)
    except Exception as err:  # noqa: BLE001
        return _recover(path, _describe(err))
    try:
        contents = _read(connection)
    except _NewerVersionError as err:
        connection.close()
        # Its layout is unknown here: keep all of it for a newer version.
        contents = _Contents(damage=str(err))
        return _rewrite(path, contents)
    except Exception as err:  # noqa: BLE001
        connection.close()
        return _recover(path, _describe(err))
    if contents.damage is None:
        return contents, connection, None
    connection.close()
    return _rewrite(path, contents)


def _describe(err: Exception) -> str:
    if isinstance(err, UnicodeError):
        return "unreadable file"
    return str(err) or type(err).__name__


def _recover(
    path: Path, reason: str
) -> tuple[_Contents, sqlite3.Connection, JournalDamage]:
    contents = _salvage(path)
    contents.damage = contents.damage or reason
    return _rewrite(path, contents)


def _rewrite(
    path: Path, contents: _Contents
) -> tuple[_Contents, sqlite3.Connection, JournalDamage]:
    connection = _create_replacing(path, contents)
    return contents, connection, _damage_report(path, contents)


def _read(connection: sqlite3.Connection) -> _Contents:
    (version,) = connection.execute("PRAGMA user_version").fetchone()
    if version > SCHEMA_VERSION:
        raise _NewerVersionError(
            f"written by a newer version (journal version {version})"
        )
    if version != SCHEMA_VERSION:
        # Version 0 is an empty file: a journal cut off, since a new one is
        # created with its tables in one transaction.
        raise _UnreadableError(f"no journal in the file (version {version})")
    check = connection.execute("PRAGMA quick_check").fetchone()[0]
    if check != "ok":
        raise _UnreadableError(f"integrity check failed: {check}")
    contents = _Contents()
    keys = _read_keys(contents, connection)
    for table, target in (
        ("readings", contents.series),
        ("set_aside", contents.set_aside),
    ):
        rows = connection.execute(
            f"SELECT key, second, micro, value, crc FROM {table} ORDER BY key, second"  # noqa: S608
        )
        for key_id, group in itertools.groupby(rows, key=lambda row: row[0]):
            _collect(contents, target, keys.get(key_id), group)
    contents.signal_hashes = {
        key: hash_
        for key, hash_ in connection.execute("SELECT key, hash FROM signals")
        if isinstance(key, str) and isinstance(hash_, str)
    }
    meta = dict(connection.execute("SELECT name, value FROM meta").fetchall())
    _read_meta(contents, meta)
    return contents


def _collect(
    contents: _Contents,
    target: dict[str, Readings],
    key: object,
    rows: Iterable[tuple[Any, ...]],
) -> None:
    """Keep the rows whose check matches; count the others as damage."""
    rows = list(rows)
    if not isinstance(key, str):
        contents.damage = f"{len(rows)} readings of an unreadable input key"
        return
    readings = _valid_readings(key, rows)
    if bad := len(rows) - len(readings.times):
        contents.damage = f"{bad} unreadable readings of {key}"
    if readings.times:
        target[key] = readings


def _read_keys(contents: _Contents, connection: sqlite3.Connection) -> dict[int, str]:
    keys: dict[int, str] = {}
    for key_id, key, crc in connection.execute("SELECT id, key, crc FROM keys"):
        if crc == _key_crc(key_id, key):
            keys[key_id] = key
        else:
            contents.damage = "an unreadable input key"
    return keys


def _read_meta(contents: _Contents, meta: dict[str, Any]) -> None:
    try:
        dropped = orjson.loads(meta.get("dropped", b"{}"))
        notes = orjson.loads(meta.get("set_aside", b"{}"))
        input_keys = orjson.loads(meta.get("input_keys", b"{}"))
        backfill = orjson.loads(meta.get("backfill", b"null"))
    except (orjson.JSONDecodeError, TypeError):
        contents.damage = "unreadable counters"
        return
    for name, value in meta.items():
        if isinstance(name, str) and name.startswith(_LIVE_SINCE):
            # A row that cannot be read only costs a resend of its key's history.
            with contextlib.suppress(orjson.JSONDecodeError, TypeError):
                if type(time := orjson.loads(value)) is int:
                    contents.live_since[name.removeprefix(_LIVE_SINCE)] = time
    if isinstance(backfill, dict):
        contents.backfill = backfill
    if isinstance(input_keys, dict):
        contents.input_keys = {
            entity: key
            for entity, key in input_keys.items()
            if isinstance(entity, str) and isinstance(key, str)
        }
    if isinstance(dropped, dict):
        total = dropped.get("total", 0)
        by_key = dropped.get("by_key", {})
        if isinstance(total, int) and total >= 0:
            contents.dropped = total
        if isinstance(by_key, dict):
            contents.dropped_by_key = {
                key: count
                for key, count in by_key.items()
                if isinstance(count, int) and count >= 0
            }
    if isinstance(notes, dict):
        contents.notes = {
            key: [note[0], note[1]]
            for key, note in notes.items()
            if isinstance(note, list)
            and len(note) == 2
            and all(item is None or isinstance(item, str) for item in note)
        }


def _salvage(path: Path) -> _Contents:
    """Read what can still be read of a damaged journal, key by key.

    Each key's rows are read from the oldest until an error, then from the
    newest back until an error: one damaged region loses only itself.
    """
    contents = _Contents()
    try:
        connection = sqlite3.connect(path, isolation_level=None)
    except Exception as err:  # noqa: BLE001  # see _open_existing
        contents.damage = _describe(err)
        return contents
    try:
        try:
            keys = _read_keys(contents, connection)
        except Exception as err:  # noqa: BLE001
            contents.damage = f"no input key readable: {_describe(err)}"
            return contents
        for table, target in (
            ("readings", contents.series),
            ("set_aside", contents.set_aside),
        ):
            for key_id, key in keys.items():
                rows, cut = _salvage_rows(connection, table, key_id)
                if cut:
                    contents.damage = f"some readings of {key} unreadable"
                _collect(contents, target, key, rows)
        with contextlib.suppress(Exception):
            contents.signal_hashes = {
                key: hash_
                for key, hash_ in connection.execute("SELECT key, hash FROM signals")
                if isinstance(key, str) and isinstance(hash_, str)
            }
        with contextlib.suppress(Exception):
            _read_meta(
                contents,
                dict(connection.execute("SELECT name, value FROM meta").fetchall()),
            )
    finally:
        connection.close()
    return contents


def _salvage_rows(
    connection: sqlite3.Connection, table: str, key_id: int
) -> tuple[list[tuple[Any, ...]], bool]:
    """One key's readable rows, sorted, and whether an error cut some off."""
    forward: list[tuple[Any, ...]] = []
    query = (
        f"SELECT key, second, micro, value, crc FROM {table}"  # noqa: S608
        " WHERE key = ? ORDER BY second"
    )
    cut = False
    try:
        forward.extend(connection.execute(query, (key_id,)))
    except Exception:  # noqa: BLE001  # see _open_existing
        cut = True
    if not cut:
        return forward, False
    backward: list[tuple[Any, ...]] = []
    with contextlib.suppress(Exception):
        for row in connection.execute(f"{query} DESC", (key_id,)):
            if forward and row[1] <= forward[-1][1]:
                break
            backward.append(row)
    return [*forward, *reversed(backward)], True


def _create_replacing(path: Path, contents: _Contents) -> sqlite3.Connection:
    """Keep the damaged file aside and start a new one with what was salvaged."""
    damaged = _damaged(path)
    for source, target in zip(
        _database_files(path), _database_files(damaged), strict=True
    ):
        if source.exists():
            source.replace(target)
        else:
            target.unlink(missing_ok=True)
    connection = _create(path)
    database = _Database(connection, contents.notes)
    with _transaction(connection):
        for readings in contents.series.values():
            connection.executemany(_INSERT, database.rows(readings))
        for readings in contents.set_aside.values():
            connection.executemany(_SET_ASIDE, database.rows(readings))
        connection.executemany(
            "INSERT OR REPLACE INTO signals VALUES (?, ?)",
            contents.signal_hashes.items(),
        )
        _put_meta(connection, "set_aside", contents.notes)
        _put_meta(connection, "input_keys", contents.input_keys)
        _put_live_since(connection, contents.live_since)
        _put_meta(connection, "backfill", contents.backfill)
        _put_meta(
            connection,
            "dropped",
            {"total": contents.dropped, "by_key": contents.dropped_by_key},
        )
    return connection


def _damage_report(path: Path, contents: _Contents) -> JournalDamage:
    salvaged = sum(len(r.times) for r in contents.series.values()) + sum(
        len(r.times) for r in contents.set_aside.values()
    )
    return JournalDamage(
        reason=contents.damage or "unknown",
        salvaged=salvaged,
        kept_as=str(_damaged(path)),
    )


def _migrate_legacy(
    connection: sqlite3.Connection, legacy: Path, contents: _Contents
) -> None:
    """Move what version 0.1 saved into the journal, then delete its file."""
    try:
        stored = orjson.loads(legacy.read_bytes())
        data = stored["data"]
        saved = SampleBuffer.from_dict(data["buffer"], 2**62).readings()
        hashes = data.get("signal_hashes", {})
        if not isinstance(hashes, dict):
            hashes = {}
    except (
        OSError,
        orjson.JSONDecodeError,
        KeyError,
        TypeError,
        BufferFormatError,
    ) as err:
        _LOGGER.warning(
            "The readings saved by an earlier version in %s cannot be read (%s);"
            " the file is kept as %s.corrupt",
            legacy,
            err,
            legacy,
        )
        with contextlib.suppress(OSError):
            legacy.replace(f"{legacy}.corrupt")
        return
    database = _Database(connection, contents.notes)
    with _transaction(connection):
        for readings in saved:
            # Readings journalled since are newer: the saved ones never replace them.
            connection.executemany(
                "INSERT OR IGNORE INTO readings VALUES (?, ?, ?, ?, ?)",
                database.rows(readings),
            )
            contents.series[readings.key] = _merged(
                contents.series.get(readings.key), readings
            )
        for key, hash_ in hashes.items():
            if isinstance(key, str) and isinstance(hash_, str):
                connection.execute(
                    "INSERT OR IGNORE INTO signals VALUES (?, ?)", (key, hash_)
                )
                contents.signal_hashes.setdefault(key, hash_)
    legacy.unlink()
    _LOGGER.info("Moved the readings saved by an earlier version into the journal")


def _merged(kept: Readings | None, extra: Readings) -> Readings:
    """Both sets of readings, one per second, `kept` winning a shared second."""
    by_second = {
        time_us // _US: (time_us, value)
        for time_us, value in zip(extra.times, extra.values, strict=True)
    }
    if kept is not None:
        by_second.update(
            (time_us // _US, (time_us, value))
            for time_us, value in zip(kept.times, kept.values, strict=True)
        )
    ordered = sorted(by_second.values())
    return Readings(
        extra.key,
        array("q", [time_us for time_us, _ in ordered]),
        array("d", [value for _, value in ordered]),
    )
