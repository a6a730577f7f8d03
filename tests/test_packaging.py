"""Packaging checks that stand in for hassfest and the HACS action.

Neither can run outside GitHub, so this module checks what they check for a
custom integration: the manifest, hacs.json, the brand icon, the translations
against what the code actually uses, and the services against their strings.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
import json
from pathlib import Path
import re
import struct
import sys
from typing import Any

from awesomeversion import AwesomeVersion
import pytest
import yaml

ROOT = Path(__file__).parent.parent
INTEGRATION = ROOT / "custom_components" / "clarify"
DOMAIN = "clarify"

# Keys hassfest's manifest schema accepts for a custom integration.
MANIFEST_KEYS = {
    "domain",
    "name",
    "after_dependencies",
    "bluetooth",
    "codeowners",
    "config_flow",
    "dependencies",
    "dhcp",
    "documentation",
    "homekit",
    "import_executor",
    "integration_type",
    "iot_class",
    "issue_tracker",
    "loggers",
    "mqtt",
    "quality_scale",
    "requirements",
    "single_config_entry",
    "ssdp",
    "usb",
    "version",
    "zeroconf",
}
HACS_KEYS = {
    "name",
    "content_in_root",
    "country",
    "filename",
    "hacs",
    "hide_default_branch",
    "homeassistant",
    "persistent_directory",
    "render_readme",
    "zip_release",
}
# What Home Assistant itself ships and so may be imported at run time with
# `requirements: []`; anything else would fail on a user's installation.
ALLOWED_IMPORTS = {"homeassistant", "aiohttp", "voluptuous", "orjson", "yarl"}
URL = re.compile(r"https?://|www\.", re.IGNORECASE)


def _load_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(name="manifest")
def manifest_fixture() -> dict[str, Any]:
    """The integration's manifest."""
    manifest: dict[str, Any] = _load_json(INTEGRATION / "manifest.json")
    return manifest


@pytest.fixture(name="strings")
def strings_fixture() -> dict[str, Any]:
    """The English translations, the source every other language follows."""
    strings: dict[str, Any] = _load_json(INTEGRATION / "translations" / "en.json")
    return strings


def test_manifest_keys_and_order(manifest: dict[str, Any]) -> None:
    """Domain and name come first, then the rest in alphabetical order."""
    keys = list(manifest)
    assert keys[:2] == ["domain", "name"]
    assert keys[2:] == sorted(keys[2:])
    assert set(keys) <= MANIFEST_KEYS, set(keys) - MANIFEST_KEYS


def test_manifest_values(manifest: dict[str, Any]) -> None:
    """The values design.md settles, and the ones HACS needs to install it."""
    assert manifest["domain"] == DOMAIN == INTEGRATION.name
    assert manifest["name"] == "Clarify"
    assert manifest["config_flow"] is True
    assert manifest["iot_class"] == "cloud_push"
    assert manifest["integration_type"] == "service"
    # Nothing beyond what Home Assistant ships: pyclarify is synchronous.
    assert manifest["requirements"] == []
    assert manifest["codeowners"]
    assert all(owner.startswith("@") for owner in manifest["codeowners"])
    assert manifest["documentation"].startswith("https://")
    assert manifest["issue_tracker"].startswith("https://")
    # Custom integrations must carry a version Home Assistant can compare.
    version = AwesomeVersion(manifest["version"])
    assert version.valid
    assert version.strategy == "SemVer"


def test_hacs_json(manifest: dict[str, Any]) -> None:
    """hacs.json has a name, only keys HACS knows, and the oldest supported release."""
    hacs = _load_json(ROOT / "hacs.json")
    assert hacs["name"] == manifest["name"]
    assert set(hacs) <= HACS_KEYS, set(hacs) - HACS_KEYS
    assert hacs["homeassistant"] == "2025.4.0"


def test_brand_icon() -> None:
    """The icon Home Assistant shows for the integration is a square PNG."""
    for name, size in (("icon.png", 256), ("icon@2x.png", 512)):
        data = (INTEGRATION / "brand" / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n", name
        width, height = struct.unpack(">II", data[16:24])
        assert (width, height) == (size, size), name


def _modules() -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted(INTEGRATION.glob("*.py")):
        yield path, ast.parse(path.read_text(encoding="utf-8"), str(path))


def _imported_roots(tree: ast.Module) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_runtime_imports() -> None:
    """At run time the integration imports only what Home Assistant ships."""
    for path, tree in _modules():
        third_party = _imported_roots(tree) - sys.stdlib_module_names - {"__future__"}
        assert third_party <= ALLOWED_IMPORTS, (path.name, third_party)


def test_api_client_is_home_assistant_free() -> None:
    """The API client stays usable (and testable) without Home Assistant."""
    tree = ast.parse((INTEGRATION / "api.py").read_text(encoding="utf-8"))
    assert "homeassistant" not in _imported_roots(tree)
    relative = [
        node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.level > 0
    ]
    assert set(relative) <= {"const"}, relative


def _strings_of(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for value in node.values():
            yield from _strings_of(value)
    elif isinstance(node, str):
        yield node


def test_translation_strings_have_no_urls(strings: dict[str, Any]) -> None:
    """URLs go into description placeholders, never into translated text."""
    for translations in sorted((INTEGRATION / "translations").glob("*.json")):
        for text in _strings_of(_load_json(translations)):
            assert not URL.search(text), (translations.name, text)


def test_other_languages_follow_english(strings: dict[str, Any]) -> None:
    """Every other language has exactly the keys English has (no stale strings)."""

    def keys(node: Any, prefix: str = "") -> set[str]:
        if not isinstance(node, dict):
            return {prefix}
        return {
            k for key, value in node.items() for k in keys(value, f"{prefix}.{key}")
        }

    english = keys(strings)
    for translations in sorted((INTEGRATION / "translations").glob("*.json")):
        other = keys(_load_json(translations))
        assert other <= english, (translations.name, other - english)


class _FlowUsage(ast.NodeVisitor):
    """Collects the steps, errors, aborts and progress a flow class shows."""

    def __init__(self) -> None:
        self.steps: set[str] = set()
        self.errors: set[str] = set()
        self.aborts: set[str] = set()

    def visit_Call(self, node: ast.Call) -> None:
        name = getattr(node.func, "attr", getattr(node.func, "id", ""))
        keywords = {
            kw.arg: kw.value.value
            for kw in node.keywords
            if isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, str)
        }
        if name in {"async_show_form", "async_show_menu"} and "step_id" in keywords:
            self.steps.add(keywords["step_id"])
        elif name == "async_abort" and "reason" in keywords:
            self.aborts.add(keywords["reason"])
        elif name == "async_abort" and node.args:
            if isinstance(node.args[0], ast.Constant):
                self.aborts.add(node.args[0].value)
        elif name == "_abort_if_unique_id_configured":
            self.aborts.add("already_configured")
        elif name == "_abort_if_unique_id_mismatch":
            self.aborts.add(keywords.get("reason", "unique_id_mismatch"))
        elif name.startswith("async_update") and "reason" in keywords:
            self.aborts.add(keywords["reason"])
        self.generic_visit(node)

    def visit_Assign(self, node: ast.Assign) -> None:
        # errors["base"] = "cannot_connect" / errors[CONF_X] = "invalid_x"
        for target in node.targets:
            if (
                isinstance(target, ast.Subscript)
                and isinstance(target.value, ast.Name)
                and target.value.id == "errors"
                and isinstance(node.value, ast.Constant)
                and isinstance(node.value.value, str)
            ):
                self.errors.add(node.value.value)
        self.generic_visit(node)


def _flow_usage() -> dict[str, _FlowUsage]:
    """Usage per translation section: "config" for the config flow, "options" for options."""
    tree = ast.parse((INTEGRATION / "config_flow.py").read_text(encoding="utf-8"))
    usage = {"config": _FlowUsage(), "options": _FlowUsage()}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            bases = {
                getattr(base, "id", getattr(base, "attr", "")) for base in node.bases
            }
            section = (
                "options" if any("OptionsFlow" in base for base in bases) else "config"
            )
            usage[section].visit(node)
        else:
            usage["config"].visit(node)
    return usage


def test_flow_strings_complete(strings: dict[str, Any]) -> None:
    """Every step, error and abort reason the flows use has its English text."""
    for section, usage in _flow_usage().items():
        translated = strings.get(section, {})
        for step in usage.steps:
            step_strings = translated.get("step", {}).get(step)
            assert step_strings, f"{section}.step.{step} missing"
            assert "title" in step_strings or section == "options", (section, step)
            data = step_strings.get("data", {})
            descriptions = step_strings.get("data_description", {})
            # The quality scale asks for a description of every field.
            assert set(data) == set(descriptions), (
                section,
                step,
                set(data) ^ set(descriptions),
            )
        for error in usage.errors:
            assert error in translated.get("error", {}), (
                f"{section}.error.{error} missing"
            )
        for reason in usage.aborts:
            assert reason in translated.get("abort", {}), (
                f"{section}.abort.{reason} missing"
            )


def _translation_keys_raised() -> set[str]:
    keys: set[str] = set()
    for _, tree in _modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                for kw in node.keywords:
                    if (
                        kw.arg == "translation_key"
                        and isinstance(kw.value, ast.Constant)
                        and _is_exception_call(node)
                    ):
                        keys.add(kw.value.value)
    return keys


def _is_exception_call(node: ast.Call) -> bool:
    name = getattr(node.func, "id", getattr(node.func, "attr", ""))
    return name.endswith(("Error", "Exception", "NotReady", "AuthFailed"))


def test_exception_strings_complete(strings: dict[str, Any]) -> None:
    """Every translated exception the code raises has its message."""
    exceptions = strings.get("exceptions", {})
    for key in _translation_keys_raised():
        assert "message" in exceptions.get(key, {}), f"exceptions.{key}.message missing"


def test_services_match_strings(strings: dict[str, Any]) -> None:
    """Each action in services.yaml has a name, a description and its fields' strings."""
    services_file = INTEGRATION / "services.yaml"
    services = (
        yaml.safe_load(services_file.read_text(encoding="utf-8")) or {}
        if services_file.exists()
        else {}
    )
    translated = strings.get("services", {})
    assert set(services) == set(translated)
    for service, spec in services.items():
        assert translated[service].get("name"), service
        assert translated[service].get("description"), service
        for field in (spec or {}).get("fields", {}):
            field_strings = translated[service].get("fields", {}).get(field, {})
            assert field_strings.get("name"), (service, field)
            assert field_strings.get("description"), (service, field)
