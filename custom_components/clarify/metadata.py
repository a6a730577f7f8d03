"""Signal metadata on its way to Clarify: sent when it changed, and only then.

`integration.saveSignals` replaces every field it is given, so each signal's
full metadata is sent, and only when its digest differs from the one Clarify
last confirmed (kept in the journal across restarts). Metadata never holds
readings back: what fails is offered again later, what Clarify calls invalid
waits until the metadata changes.
"""

from __future__ import annotations

from typing import Any, Final

from .signals import metadata_hash

# Signals per saveSignals request: a few hundred bytes each, well under the limit.
BATCH_SIZE: Final = 500


class SignalMetadataQueue:
    """The metadata Clarify does not have yet, per input key."""

    def __init__(self, confirmed: dict[str, str]) -> None:
        """Start from the digests Clarify confirmed in earlier runs."""
        self.confirmed = confirmed
        # Per key: the metadata to send and its digest.
        self._pending: dict[str, tuple[dict[str, Any], str]] = {}
        # Digests of metadata Clarify refused as invalid: not sent again.
        self._refused: dict[str, str] = {}

    def __len__(self) -> int:
        """How many signals wait for their metadata to be sent."""
        return len(self._pending)

    def waiting(self) -> list[str]:
        """The input keys whose metadata waits, sorted."""
        return sorted(self._pending)

    def offer(self, key: str, metadata: dict[str, Any]) -> None:
        """Queue a signal's metadata unless Clarify already has (or refused) it."""
        digest = metadata_hash(metadata)
        if digest in (self.confirmed.get(key), self._refused.get(key)):
            self._pending.pop(key, None)
        else:
            self._pending[key] = (metadata, digest)

    def retain(self, keys: set[str]) -> None:
        """Forget waiting metadata of keys no longer sent (so no empty signal)."""
        for key in [key for key in self._pending if key not in keys]:
            del self._pending[key]

    def take(self, limit: int = BATCH_SIZE) -> dict[str, dict[str, Any]]:
        """Take up to `limit` signals' metadata for one request."""
        keys = list(self._pending)[:limit]
        return {key: self._pending[key][0] for key in keys}

    def settled(
        self, sent: dict[str, dict[str, Any]], *, refused: frozenset[str] = frozenset()
    ) -> dict[str, str]:
        """Record Clarify's answer to a request that carried `sent`.

        The keys in `refused` were refused as invalid; the others were saved.
        Return the new digests of the saved ones. Metadata offered again while
        the request was under way stays queued.
        """
        saved: dict[str, str] = {}
        for key, metadata in sent.items():
            entry = self._pending.get(key)
            digest = metadata_hash(metadata)
            if entry is not None and entry[1] == digest:
                del self._pending[key]
            if key in refused:
                self._refused[key] = digest
            else:
                saved[key] = self.confirmed[key] = digest
        return saved
