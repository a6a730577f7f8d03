"""Whether a configuration holds HTTP settings on trial (read from the file)."""

import json
from pathlib import Path

import pytest

from tools.realserver.http_store import STORE_PATH, trial_pending


def write(config: Path, pending: object) -> None:
    path = config / STORE_PATH
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps({"data": {"stable": {}, "pending": pending}}), encoding="utf-8"
    )


@pytest.mark.parametrize(
    ("pending", "on_trial"),
    [
        (None, False),
        ({"server_port": 8123, "error": None}, True),
        # A trial that failed is kept for inspection but never applied again.
        ({"server_port": 8123, "error": "not_promoted"}, False),
    ],
)
def test_trial_pending(tmp_path: Path, pending: object, on_trial: bool) -> None:
    write(tmp_path, pending)
    assert trial_pending(tmp_path) is on_trial


def test_no_store_is_no_trial(tmp_path: Path) -> None:
    assert trial_pending(tmp_path) is False
