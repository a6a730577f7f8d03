"""The repair issues an entry raises: what the user can see and act on.

Every issue id starts with the entry's id, so an entry's issues are found and
removed with it on every release; from Home Assistant 2026.11 they are also
linked to the entry (`config_entry_id`), which the repairs page shows.
"""

from __future__ import annotations

from functools import cache
import inspect
from typing import Any, Final

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir

from .const import DOMAIN

# The issues and their translation keys.
ISSUE_SERIES_REJECTED: Final = "series_rejected"
ISSUE_READINGS_DROPPED: Final = "readings_dropped"
ISSUE_REQUESTS_REFUSED: Final = "requests_refused"
ISSUE_JOURNAL_DAMAGED: Final = "journal_damaged"
ISSUE_JOURNAL_UNWRITABLE: Final = "journal_unwritable"
ISSUE_ENTITY_MISSING: Final = "entity_missing"


@cache
def _links_entries() -> bool:
    """Whether this release can link an issue to its config entry (2026.11+)."""
    return "config_entry_id" in inspect.signature(ir.async_create_issue).parameters


class EntryIssues:
    """Raises and clears the repair issues of one config entry."""

    def __init__(self, hass: HomeAssistant, entry_id: str) -> None:
        """Bind to the entry whose issues these are."""
        self.hass = hass
        self.entry_id = entry_id
        self._raised: set[str] = set()

    def issue_id(self, name: str) -> str:
        """The id of one of this entry's issues."""
        return f"{self.entry_id}_{name}"

    @callback
    def async_raise(
        self,
        name: str,
        translation_key: str,
        placeholders: dict[str, str],
        *,
        severity: ir.IssueSeverity = ir.IssueSeverity.WARNING,
        fixable: bool = False,
        data: dict[str, str | int | float | None] | None = None,
    ) -> bool:
        """Raise or update an issue; return whether this run raised it before."""
        issue_id = self.issue_id(name)
        known = issue_id in self._raised
        self._raised.add(issue_id)
        extra: dict[str, Any] = {}
        if _links_entries():
            extra["config_entry_id"] = self.entry_id
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            issue_id,
            is_fixable=fixable,
            data=data,
            severity=severity,
            translation_key=translation_key,
            translation_placeholders=placeholders,
            **extra,
        )
        return known

    @callback
    def async_clear(self, name: str) -> None:
        """Remove one issue, if it is there."""
        issue_id = self.issue_id(name)
        self._raised.discard(issue_id)
        ir.async_delete_issue(self.hass, DOMAIN, issue_id)

    @callback
    def async_clear_raised(self, *translation_keys: str) -> None:
        """Remove the issues this run raised whose name starts with one of these."""
        prefixes = tuple(self.issue_id(key) for key in translation_keys)
        for issue_id in [i for i in self._raised if i.startswith(prefixes)]:
            self._raised.discard(issue_id)
            ir.async_delete_issue(self.hass, DOMAIN, issue_id)


@callback
def async_remove_entry_issues(hass: HomeAssistant, entry_id: str) -> None:
    """Remove every issue an entry raised, in this run or an earlier one."""
    for domain, issue_id in list(ir.async_get(hass).issues):
        if domain == DOMAIN and issue_id.startswith(f"{entry_id}_"):
            ir.async_delete_issue(hass, DOMAIN, issue_id)
