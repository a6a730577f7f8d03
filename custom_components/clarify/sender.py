"""From the buffer to Clarify: frames, pacing, and what each answer means.

One request at a time, each leaving at least `REQUEST_SPACING` after the one
before, whatever asked for it (the interval, a backlog, the flush action).

What an answer does to the readings in the request:

- Clarify stored them: they leave the buffer and the journal.
- Clarify says a series is invalid (-32602 naming it, or a request of that
  series alone refused with -32602): that series' readings are set aside, kept
  in the journal to be sent again, and the user is told. When Clarify refuses
  a request without naming the series, halves are sent apart until the bad
  series is alone, so one bad series never holds up the others.
- The request was too large (413): the same readings go again in smaller frames.
- The credentials were refused: everything is kept, sending pauses, and Home
  Assistant asks the user to re-authenticate.
- Anything else (Clarify or the network away, a proxy's page, an answer that
  is not Clarify's, an unknown error code, even a bug here): everything is
  kept and sent again after a backoff; an answer that keeps coming back and
  that waiting will not fix is reported as a repair issue.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace
import logging
import random
from typing import Any, Final

from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers.event import async_call_later
from homeassistant.util import dt as dt_util

from .api import (
    ClarifyAuthError,
    ClarifyClient,
    ClarifyError,
    ClarifyInvalidDataError,
    ClarifyPayloadTooLargeError,
    ClarifyRetryableError,
)
from .buffer import (
    DEFAULT_FRAME_BYTES,
    Frame,
    Pace,
    Readings,
    SampleBuffer,
    datetime_to_us,
)
from .const import CONF_FLUSH_INTERVAL, DEFAULT_FLUSH_INTERVAL
from .entry import ClarifyConfigEntry
from .issues import ISSUE_REQUESTS_REFUSED, ISSUE_SERIES_REJECTED, EntryIssues
from .journal import Journal
from .metadata import SignalMetadataQueue
from .status import ExporterStatus, SetAsideSeries

_LOGGER = logging.getLogger(__name__)

# Clarify allows one request per second per method; every request here leaves
# at least this long after the previous one of its method ended.
REQUEST_SPACING: Final = 1.0
_INSERT: Final = "integration.insert"
_SAVE_SIGNALS: Final = "integration.saveSignals"
# Transient failures back off exponentially, with jitter so that many
# installations do not return to Clarify in lockstep after an outage.
BACKOFF_INITIAL: Final = 1.0
BACKOFF_MAX: Final = 300.0
# After this many answers in a row that are not Clarify's (a proxy's page, a
# wrong URL, an unknown error) the user is told, in a repair issue. They back
# off like any failure: a single garbled reply is no reason to wait long.
REFUSALS_BEFORE_REPAIR: Final = 3
# A 413 halves the frame size down to this; smaller frames would not help.
MIN_FRAME_BYTES: Final = 16 * 1024
# Metadata that failed for a reason other than its content waits this long.
METADATA_RETRY: Final = 60.0
# On unload and Home Assistant stop, the last request is bounded by this.
FINAL_SEND_TIMEOUT: Final = 10.0


class FlushError(Exception):
    """Why the flush action could not send now; `kind` names the translation."""

    def __init__(self, kind: str, reason: str | None = None, retry_in: int = 0) -> None:
        """Say what stood in the way."""
        super().__init__(kind)
        self.kind = kind
        self.reason = reason or ""
        self.retry_in = retry_in


class Sender:
    """Sends the buffer's readings, and the signals' metadata, to Clarify."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ClarifyConfigEntry,
        client: ClarifyClient,
        *,
        buffer: SampleBuffer,
        journal: Journal,
        metadata: SignalMetadataQueue,
        status: ExporterStatus,
        issues: EntryIssues,
        on_update: CALLBACK_TYPE,
        entity_of: Callable[[str], tuple[str | None, str]],
    ) -> None:
        """Wire the sender to what it reads and what it reports to."""
        self.hass = hass
        self.entry = entry
        self.client = client
        self.buffer = buffer
        self.journal = journal
        self.metadata = metadata
        self.status = status
        self.issues = issues
        self._on_update = on_update
        # The entity an input key belongs to: its registry id, and a name to
        # show in a repair issue.
        self._entity_of = entity_of
        self.max_frame_bytes = DEFAULT_FRAME_BYTES
        # Groups of input keys sent apart after Clarify refused a request
        # without naming the series at fault; the first group goes next.
        self._suspects: list[tuple[str, ...]] = []
        self._task: asyncio.Task[None] | None = None
        self._unsub_later: CALLBACK_TYPE | None = None
        self._backoff = 0.0
        self._refusals = 0
        # Per method: when its next request may leave (event loop time).
        self._next_request_at: dict[str, float] = {}
        # When the scheduled send is due (event loop time).
        self._retry_at = 0.0
        self._metadata_due_at = 0.0
        self._metadata_batch = 500
        self._stopped = False
        self._crashed = False
        # Frames as full as the work allows rather than paced for bytes, until
        # the buffer is empty: the flush action asked to send now.
        self._fill = False
        # Builds the metadata of signals that changed, before it is sent.
        self.prepare_metadata: Callable[[], Awaitable[None]] = _nothing_to_prepare
        # Hears of the readings Clarify confirmed, per input key.
        self.on_delivered: Callable[[list[Readings]], None] = lambda _: None

    @property
    def suspects(self) -> list[tuple[str, ...]]:
        """Groups of input keys under suspicion, for diagnostics."""
        return list(self._suspects)

    # ------------------------------------------------------------- scheduling

    @callback
    def async_request_send(self) -> None:
        """Start sending unless a send runs, a retry is scheduled, or auth failed."""
        if (
            self._stopped
            or self._task is not None
            or self._unsub_later is not None
            or self.status.auth_failed
        ):
            return
        # Not eager: the task must be recorded before its first step can end it.
        self._task = self.entry.async_create_background_task(
            self.hass, self._async_run(), "Clarify send", eager_start=False
        )

    async def async_flush(self) -> None:
        """Send now, for the flush action, and report how the attempt went.

        Until the buffer is empty, frames are as full as one may be rather
        than paced for bytes. Waits for the requests that can leave now (the
        rest leave a second apart, on their own). Never overrides a backoff:
        Clarify asked to wait, or is away, and the readings are kept either way.

        Raises:
            FlushError: credentials refused, backing off, or a request failed.

        """
        if self.status.auth_failed:
            raise FlushError("flush_needs_reauth")
        if self._unsub_later is not None and self._backoff > 0:
            raise FlushError(
                "flush_backing_off",
                self.status.last_error,
                max(0, round(self._retry_at - self.hass.loop.time())),
            )
        self._fill = True
        if self._task is None and self._unsub_later is None:
            self.async_request_send()
        if (task := self._task) is None:
            return
        failures = self.status.failed_requests
        await asyncio.wait({task})
        if self.status.failed_requests > failures:
            raise FlushError("flush_failed", self.status.last_error)

    @callback
    def _async_send_later(self, delay: float) -> None:
        if self._unsub_later is not None:
            self._unsub_later()
            self._unsub_later = None
        if self._stopped:
            return
        self._unsub_later = async_call_later(self.hass, delay, self._async_send_due)
        self._retry_at = self.hass.loop.time() + delay

    @callback
    def _async_send_due(self, now: Any) -> None:
        self._unsub_later = None
        self.async_request_send()

    async def _async_run(self) -> None:
        try:
            await self._async_send(final=False)
        except Exception:
            # A bug here must not stop sending for good: the frame went back
            # (see _async_send_frame), and sending resumes after a backoff.
            if not self._crashed:
                self._crashed = True
                _LOGGER.exception("Unexpected error while sending to Clarify")
            self.status.failed_requests += 1
            self._async_backoff(BACKOFF_INITIAL, None)
        finally:
            self._task = None
            self._on_update()

    async def async_stop(self) -> None:
        """Stop for good, after one last bounded attempt to send the backlog.

        What is not delivered stays in the journal for the next start.
        """
        if self._stopped:
            return
        self._stopped = True
        backing_off = self._unsub_later is not None and self._backoff > 0
        if self._unsub_later is not None:
            self._unsub_later()
            self._unsub_later = None
        if self._task is not None:
            # A send in progress is the last attempt: let it finish, bounded.
            task, self._task = self._task, None
            await asyncio.wait({task}, timeout=FINAL_SEND_TIMEOUT)
            if not task.done():
                task.cancel()
                await asyncio.wait({task})
            return
        if self.status.auth_failed or backing_off:
            # Clarify is known to be away: the journal keeps everything.
            return
        try:
            async with asyncio.timeout(FINAL_SEND_TIMEOUT):
                await self._async_send(final=True)
        except TimeoutError:
            _LOGGER.debug("The last send to Clarify did not finish in time")
        except Exception:
            _LOGGER.exception("Unexpected error in the last send to Clarify")

    # ------------------------------------------------------------- sending

    async def _async_send(self, *, final: bool) -> None:
        """Send metadata when due, then frames, until nothing is left or one fails.

        The task ends whenever it must wait for its turn, and a timer starts
        the next one: between requests nothing runs. The final send (at stop)
        is one request at most, and none if it is not its turn: what is left
        waits in the journal, and stopping Home Assistant never waits for it.
        """
        loop_time = self.hass.loop.time
        if not final:
            await self.prepare_metadata()
        if len(self.metadata) and loop_time() >= self._metadata_due_at and not final:
            if not await self._async_turn(_SAVE_SIGNALS, final):
                return
            await self._async_save_metadata()
        # Nothing is in flight here, so the buffer's count is what waits.
        while len(self.buffer):
            if not await self._async_turn(_INSERT, final):
                return
            if (frame := self._take_frame(fill=self._fill or final)) is None:
                return
            if not await self._async_send_frame(frame):
                self._fill = False
                return
            if final:
                return
        self._fill = False

    async def _async_turn(self, method: str, final: bool) -> bool:
        """Whether a request may leave now; if not, come back when it may."""
        wait = self._next_request_at.get(method, 0.0) - self.hass.loop.time()
        if wait <= 0:
            return True
        if not final:
            self._async_send_later(wait)
        return False

    def _request_done(self, method: str) -> None:
        self._next_request_at[method] = self.hass.loop.time() + REQUEST_SPACING

    def _take_frame(self, *, fill: bool) -> Frame | None:
        """The next frame: of the first group under suspicion, if there is one.

        Paced: a frame holds as few keys as sending every reading within two
        intervals at one request per `REQUEST_SPACING` allows, so that it carries
        few nulls; the loop asks again a spacing later for as long as one comes.
        With `fill`, as much as one frame may take, whatever the nulls.
        """
        pace = Pace.for_sender(
            datetime_to_us(dt_util.utcnow()),
            self.entry.options.get(CONF_FLUSH_INTERVAL, DEFAULT_FLUSH_INTERVAL),
            REQUEST_SPACING,
        )
        if fill:
            pace = replace(pace, fill=True)
        while self._suspects:
            frame = self.buffer.take_frame(
                self.max_frame_bytes, keys=self._suspects[0], pace=pace
            )
            if frame is not None:
                return frame
            self._suspects.pop(0)
        return self.buffer.take_frame(self.max_frame_bytes, pace=pace)

    async def _async_send_frame(self, frame: Frame) -> bool:
        """Send one frame and settle it; return whether sending may go on."""
        self.status.requests += 1
        try:
            await self.client.insert_encoded(frame.data_json)
        except ClarifyError as err:
            self._request_done(_INSERT)
            return self._async_settle_failure(frame, err)
        except BaseException:
            self._request_done(_INSERT)
            self.buffer.release(frame)
            raise
        self._request_done(_INSERT)
        confirmed = self.buffer.confirm(frame)
        self.journal.async_confirmed(confirmed)
        self.on_delivered(confirmed)
        if self._suspects and set(frame.keys) >= set(self._suspects[0]):
            self._suspects.pop(0)
        self._async_succeeded(frame.sample_count)
        return True

    @callback
    def _async_settle_failure(self, frame: Frame, err: ClarifyError) -> bool:
        """Apply the error policy to a failed frame; return whether to go on."""
        if isinstance(err, ClarifyInvalidDataError):
            named = err.invalid_keys & set(frame.keys)
            if named:
                self._async_set_aside(frame, named, err)
            elif len(frame.keys) == 1:
                # Sent alone and still refused: this series is the bad one.
                self._async_set_aside(frame, frame.keys, err)
            else:
                # Clarify did not say which series it refuses: send the halves
                # apart (a request a second, as always) until the bad ones are
                # alone.
                self.buffer.release(frame)
                group = self._suspects.pop(0) if self._suspects else frame.keys
                rest = tuple(key for key in group if key not in frame.keys)
                half = len(frame.keys) // 2
                self._suspects[:0] = [
                    keys
                    for keys in (frame.keys[:half], frame.keys[half:], rest)
                    if keys
                ]
            return True
        self.buffer.release(frame)
        if isinstance(err, ClarifyPayloadTooLargeError) and (
            self.max_frame_bytes > MIN_FRAME_BYTES
        ):
            self.max_frame_bytes = max(MIN_FRAME_BYTES, self.max_frame_bytes // 2)
            _LOGGER.info(
                "Clarify found a request too large; sending at most %d bytes per request",
                self.max_frame_bytes,
            )
            return True
        self._async_failed(err)
        if isinstance(err, ClarifyAuthError):
            self.status.auth_failed = True
            _LOGGER.warning(
                "Clarify rejected the credentials; readings are kept until you"
                " re-authenticate"
            )
            self.entry.async_start_reauth(self.hass)
        elif isinstance(err, ClarifyRetryableError):
            self._async_backoff(BACKOFF_INITIAL, err.retry_after)
        else:
            self._async_refused(err)
        return False

    @callback
    def _async_set_aside(
        self, frame: Frame, keys: frozenset[str] | tuple[str, ...], err: ClarifyError
    ) -> None:
        """Keep refused series apart, and tell the user which entity and why."""
        rejected = self.buffer.reject(frame, keys)
        reason = str(err)
        entities = {
            readings.key: self._entity_of(readings.key) for readings in rejected
        }
        self.journal.async_set_aside(
            rejected, reason, {key: entity[0] for key, entity in entities.items()}
        )
        _LOGGER.warning(
            "Clarify refused the readings of %s; they are kept and can be sent"
            " again with the clarify.resend_rejected action: %s",
            ", ".join(sorted(readings.key for readings in rejected)),
            reason,
        )
        for readings in rejected:
            key = readings.key
            entity, shown = entities[key]
            series = self.status.set_aside.setdefault(key, SetAsideSeries(0, reason))
            series.count += len(readings.times)
            series.reason = reason
            series.entity = entity
            self.issues.async_raise(
                f"{ISSUE_SERIES_REJECTED}_{key}",
                ISSUE_SERIES_REJECTED,
                {
                    "entity": shown,
                    "input_key": key,
                    "count": str(series.count),
                    "reason": reason,
                },
                fixable=True,
                data={
                    "entry_id": self.entry.entry_id,
                    "kind": ISSUE_SERIES_REJECTED,
                    "input_key": key,
                },
            )

    @callback
    def _async_succeeded(self, readings: int) -> None:
        if self.status.connected is False:
            _LOGGER.info("Clarify is reachable again; sending the buffered readings")
        if self._refusals:
            self.issues.async_clear(ISSUE_REQUESTS_REFUSED)
        self.status.connected = True
        self.status.last_success = dt_util.utcnow()
        self.status.last_error = None
        self.status.sent_readings += readings
        self._backoff = 0.0
        self._refusals = 0
        self._crashed = False

    @callback
    def _async_failed(self, err: ClarifyError) -> None:
        self.status.failed_requests += 1
        self.status.last_error = str(err)
        if self.status.connected is not False and isinstance(
            err, ClarifyRetryableError
        ):
            _LOGGER.info(
                "Clarify is unreachable (%s); readings are kept and sent when it is back",
                err,
            )
        self.status.connected = False

    @callback
    def _async_refused(self, err: ClarifyError) -> None:
        """An answer that is not about the data and that waiting will not fix."""
        self._refusals += 1
        trace = getattr(err, "trace_id", None) or ""
        if self._refusals == 1:
            _LOGGER.warning(
                "Clarify refused a request (%s%s); readings are kept and sent again later",
                err,
                f", trace {trace}" if trace else "",
            )
        if self._refusals >= REFUSALS_BEFORE_REPAIR:
            self.issues.async_raise(
                ISSUE_REQUESTS_REFUSED,
                ISSUE_REQUESTS_REFUSED,
                {
                    "title": self.entry.title,
                    "reason": str(err),
                    "trace": trace or "-",
                    "count": str(self._refusals),
                },
            )
        self._async_backoff(BACKOFF_INITIAL, err.retry_after)

    @callback
    def _async_backoff(self, initial: float, retry_after: float | None) -> None:
        self._backoff = min(BACKOFF_MAX, max(initial, self._backoff * 2))
        delay = self._backoff * random.uniform(0.5, 1.0)  # noqa: S311  # jitter
        if retry_after is not None:
            delay = max(delay, retry_after)
        self._async_send_later(delay)

    # ------------------------------------------------------------- metadata

    async def _async_save_metadata(self) -> None:
        """Give Clarify the names, units and enum labels of the signals.

        Readings never wait for metadata: whatever happens, frames go next.
        """
        sent = self.metadata.take(self._metadata_batch)
        try:
            await self.client.save_signals(sent)
        except ClarifyInvalidDataError as err:
            named = err.invalid_keys & sent.keys()
            if named or len(sent) == 1:
                refused = frozenset(named or sent)
                self.metadata.settled(
                    {key: sent[key] for key in refused}, refused=refused
                )
                _LOGGER.warning(
                    "Clarify refused the metadata of %s: %s",
                    ", ".join(sorted(refused)),
                    err,
                )
            else:
                # Not said which: from now on one signal per request finds it.
                self._metadata_batch = 1
            return
        except ClarifyError as err:
            # Sending readings tells whether Clarify is reachable; metadata
            # tries again a little later.
            _LOGGER.debug("Signal metadata not saved (%s); trying again later", err)
            self._metadata_due_at = self.hass.loop.time() + METADATA_RETRY
            return
        finally:
            self._request_done(_SAVE_SIGNALS)
        self.journal.async_signal_hashes(self.metadata.settled(sent))


async def _nothing_to_prepare() -> None:
    """The default of `Sender.prepare_metadata`: metadata is offered directly."""
