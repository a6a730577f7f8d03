"""The onboarding store a fresh configuration gets: core_config done, nothing else."""

import json
from pathlib import Path
import stat

from tools.realserver.onboarding_store import STORE_PATH, write_store


def test_a_fresh_configuration_gets_core_config_done(tmp_path: Path) -> None:
    path = write_store(tmp_path)
    assert path == tmp_path / STORE_PATH
    document = json.loads(path.read_text(encoding="utf-8"))
    # As Home Assistant's own Store writes it, for its onboarding integration.
    assert document["key"] == "onboarding"
    assert isinstance(document["version"], int)
    assert document["data"] == {"done": ["core_config"]}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_store_already_there_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / STORE_PATH
    path.parent.mkdir(parents=True)
    path.write_text('{"data": {"done": ["user"]}}', encoding="utf-8")
    assert write_store(tmp_path) is None
    assert json.loads(path.read_text(encoding="utf-8")) == {"data": {"done": ["user"]}}
