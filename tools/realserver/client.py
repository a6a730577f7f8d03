"""Home Assistant's REST API: onboarding, log in, states, actions, flows.

Standard library only, so it runs in any environment (the server's own, the
end-to-end driver's, a leg's) and in a synchronous test next to Playwright.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
import json
import time
from typing import Any
import urllib.error
import urllib.parse
import urllib.request


class HomeAssistantApiError(Exception):
    """Home Assistant answered with an HTTP error."""

    def __init__(self, method: str, path: str, status: int, body: str) -> None:
        """Keep what went wrong for the test's report."""
        super().__init__(f"{method} {path}: HTTP {status}: {body[:500]}")
        self.status = status
        self.body = body


def wait_for[T](
    condition: Callable[[], T | None],
    *,
    timeout: float,
    what: str,
    interval: float = 0.25,
) -> T:
    """Poll `condition` until it returns something other than None or False.

    Raises:
        TimeoutError: naming `what`, after `timeout` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result is not None and result is not False:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


class HomeAssistantClient:
    """A logged-in user of one Home Assistant, over its REST API."""

    def __init__(self, url: str, *, timeout: float = 30.0) -> None:
        """Talk to the Home Assistant at `url` (nothing is sent yet)."""
        self.url = url.rstrip("/")
        # The browser's client ID is the server's own URL, as for the frontend.
        self.client_id = f"{self.url}/"
        self.timeout = timeout
        self.access_token = ""
        self.refresh_token = ""

    # ------------------------------------------------------------------ HTTP

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: object = None,
        form: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        authenticated: bool = True,
    ) -> Any:
        """Call the API and return its decoded JSON answer (None for no body).

        A 401 with a refresh token at hand refreshes the access token once and
        tries again, so that long tests outlive a token's 30 minutes.
        """
        try:
            return self._request(
                method, path, json_body, form, params, authenticated=authenticated
            )
        except HomeAssistantApiError as err:
            if err.status != 401 or not authenticated or not self.refresh_token:
                raise
        self.refresh()
        return self._request(method, path, json_body, form, params, authenticated=True)

    def _request(
        self,
        method: str,
        path: str,
        json_body: object,
        form: Mapping[str, str] | None,
        params: Mapping[str, str] | None,
        *,
        authenticated: bool,
    ) -> Any:
        url = f"{self.url}{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        headers = {"Accept": "application/json"}
        data: bytes | None = None
        if json_body is not None:
            data = json.dumps(json_body).encode()
            headers["Content-Type"] = "application/json"
        elif form is not None:
            data = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if authenticated and self.access_token:
            headers["Authorization"] = f"Bearer {self.access_token}"
        request = urllib.request.Request(  # noqa: S310  # the URL is http://127.0.0.1
            url, data=data, headers=headers, method=method
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                body = response.read()
        except urllib.error.HTTPError as err:
            text = err.read().decode(errors="replace")
            raise HomeAssistantApiError(method, path, err.code, text) from err
        return json.loads(body) if body else None

    def is_serving(self) -> bool:
        """Whether the HTTP server answers (with anything but a server error)."""
        request = urllib.request.Request(f"{self.url}/manifest.json")  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
                return bool(response.status == 200)
        except urllib.error.HTTPError as err:
            return err.code < 500
        except OSError:
            return False

    # ------------------------------------------------------------------ auth

    def onboard(
        self,
        username: str,
        password: str,
        *,
        name: str = "Tester",
        language: str = "en",
    ) -> None:
        """Onboard a fresh Home Assistant with an owner, as the wizard does.

        All four steps: without the last three the browser lands in the wizard.
        The configuration must have core_config done already (onboarding_store).
        """
        answer = self.request(
            "POST",
            "/api/onboarding/users",
            json_body={
                "client_id": self.client_id,
                "name": name,
                "username": username,
                "password": password,
                "language": language,
            },
            authenticated=False,
        )
        self._grant("authorization_code", code=answer["auth_code"])
        self.finish_onboarding()

    def finish_onboarding(self) -> None:
        """Finish whichever onboarding steps after the user's are not done.

        Except core_config: finishing it sets up integrations that reach the
        internet (a weather forecast, a radio browser), so it must have been
        done before Home Assistant started (see onboarding_store.py).

        Raises:
            RuntimeError: core_config is not done.
        """
        steps = self._onboarding_steps()
        if not steps.get("core_config", True):
            raise RuntimeError(
                "onboarding's core_config step is not done: finishing it would set"
                " up integrations that reach the internet; start from a configuration"
                " made by `python -m tools.realserver confirm-http`"
            )
        if not steps.get("analytics", True):
            self.request("POST", "/api/onboarding/analytics")
        if not steps.get("integration", True):
            self.request(
                "POST",
                "/api/onboarding/integration",
                json_body={"client_id": self.client_id, "redirect_uri": self.client_id},
            )

    def is_onboarded(self) -> bool:
        """Whether the owner exists (the first onboarding step is done)."""
        return self._onboarding_steps().get("user", True)

    def _onboarding_steps(self) -> dict[str, bool]:
        """Each onboarding step by name, and whether it is done.

        Empty once all are done: Home Assistant then serves no onboarding API.
        """
        try:
            steps = self.request("GET", "/api/onboarding", authenticated=False)
        except HomeAssistantApiError as err:
            if err.status == 404:
                return {}
            raise
        return {step["step"]: bool(step["done"]) for step in steps}

    def log_in(self, username: str, password: str) -> None:
        """Log in with a username and password through the login flow."""
        flow = self.request(
            "POST",
            "/auth/login_flow",
            json_body={
                "client_id": self.client_id,
                "handler": ["homeassistant", None],
                "redirect_uri": self.client_id,
            },
            authenticated=False,
        )
        answer = self.request(
            "POST",
            f"/auth/login_flow/{flow['flow_id']}",
            json_body={
                "client_id": self.client_id,
                "username": username,
                "password": password,
            },
            authenticated=False,
        )
        if answer.get("type") != "create_entry":
            raise HomeAssistantApiError("POST", "/auth/login_flow", 200, str(answer))
        self._grant("authorization_code", code=answer["result"])

    def refresh(self) -> None:
        """Get a new access token with the refresh token."""
        self._grant("refresh_token", refresh_token=self.refresh_token)

    def _grant(self, grant_type: str, **values: str) -> None:
        tokens = self.request(
            "POST",
            "/auth/token",
            form={"grant_type": grant_type, "client_id": self.client_id, **values},
            authenticated=False,
        )
        self.access_token = tokens["access_token"]
        self.refresh_token = tokens.get("refresh_token", self.refresh_token)

    @property
    def tokens(self) -> dict[str, Any]:
        """The tokens as the frontend keeps them in localStorage.hassTokens."""
        return {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "token_type": "Bearer",
            "expires_in": 1800,
            "hassUrl": self.url,
            "clientId": self.client_id,
            "expires": int(time.time() * 1000) + 1_800_000,
        }

    # ------------------------------------------------------------------ core

    def wait_until_running(self, timeout: float = 120.0) -> None:
        """Wait until Home Assistant has finished starting."""

        def running() -> bool:
            try:
                return bool(self.request("GET", "/api/config")["state"] == "RUNNING")
            except (HomeAssistantApiError, OSError):
                return False

        wait_for(running, timeout=timeout, what="Home Assistant to finish starting")

    def state(self, entity_id: str) -> dict[str, Any]:
        """The current state object of an entity."""
        result: dict[str, Any] = self.request("GET", f"/api/states/{entity_id}")
        return result

    def call_service(
        self, domain: str, service: str, data: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Perform an action; returns the states it changed."""
        changed: list[dict[str, Any]] = self.request(
            "POST", f"/api/services/{domain}/{service}", json_body=dict(data or {})
        )
        return changed

    # ------------------------------------------------------------------ config entries

    def config_entries(self, domain: str | None = None) -> list[dict[str, Any]]:
        """The config entries, of one integration if given."""
        params = {"domain": domain} if domain else None
        entries: list[dict[str, Any]] = self.request(
            "GET", "/api/config/config_entries/entry", params=params
        )
        return entries

    def config_entry(self, entry_id: str) -> dict[str, Any]:
        """One config entry, by ID."""
        for entry in self.config_entries():
            if entry["entry_id"] == entry_id:
                return entry
        raise KeyError(entry_id)

    def wait_for_entry_state(
        self, entry_id: str, states: Iterable[str] = ("loaded",), timeout: float = 60.0
    ) -> dict[str, Any]:
        """Wait until an entry is in one of `states` ("loaded", "setup_retry", ...)."""
        wanted = set(states)

        def entry_in_state() -> dict[str, Any] | None:
            entry = self.config_entry(entry_id)
            return entry if entry["state"] in wanted else None

        return wait_for(
            entry_in_state,
            timeout=timeout,
            what=f"entry {entry_id} to be {' or '.join(sorted(wanted))}",
        )

    def delete_config_entry(self, entry_id: str) -> None:
        """Remove a config entry."""
        self.request("DELETE", f"/api/config/config_entries/entry/{entry_id}")

    # ------------------------------------------------------------------ flows

    def config_flow(self, handler: str, *steps: Mapping[str, Any]) -> dict[str, Any]:
        """Start a config flow and answer its steps; returns the last result."""
        return self._flow(
            "/api/config/config_entries/flow",
            {"handler": handler, "show_advanced_options": False},
            steps,
        )

    def options_flow(self, entry_id: str, *steps: Mapping[str, Any]) -> dict[str, Any]:
        """Start an entry's options flow and answer its steps; returns the last result."""
        return self._flow(
            "/api/config/config_entries/options/flow", {"handler": entry_id}, steps
        )

    def _flow(
        self, path: str, start: Mapping[str, Any], steps: Iterable[Mapping[str, Any]]
    ) -> dict[str, Any]:
        result: dict[str, Any] = self.request("POST", path, json_body=dict(start))
        for step in steps:
            result = self.request(
                "POST", f"{path}/{result['flow_id']}", json_body=dict(step)
            )
        return result
