"""Packaging checks that stand in for hassfest, the HACS action and the Marketplace.

hassfest and the HACS action cannot run outside GitHub, so this module checks
what they check for a custom integration: the manifest, hacs.json, the brand
images, the translations against what the code actually uses, and the services
against their strings. It also checks what a release needs: the version in
every place that names it, the changelog, the license, the quality scale
self-audit and the workflows. The Marketplace of Home Assistant 2026.11 is
checked with its own code where this Home Assistant has it, and by
scripts/test's marketplace stage otherwise.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
import importlib.util
import json
from pathlib import Path
import re
import shutil
import struct
import sys
from types import ModuleType
from typing import Any
import zlib

from awesomeversion import AwesomeVersion, AwesomeVersionStrategy
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
    for key in _translation_keys_raised() | _flush_error_kinds():
        assert "message" in exceptions.get(key, {}), f"exceptions.{key}.message missing"
    # Home Assistant reads only `message`: a plain string is never shown.
    for key, entry in exceptions.items():
        assert isinstance(entry, dict), f"exceptions.{key} is not an object"
        assert isinstance(entry.get("message"), str), f"exceptions.{key}.message"


def _flush_error_kinds() -> set[str]:
    """The kinds FlushError is raised with: translation keys of the flush action."""
    tree = ast.parse((INTEGRATION / "sender.py").read_text())
    return {
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and getattr(node.func, "id", "") == "FlushError"
        and node.args
        and isinstance(node.args[0], ast.Constant)
    }


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


# ---------------------------------------------------------------- scripts


def _script(name: str) -> ModuleType:
    """A module of scripts/ (not a package: they run as plain files)."""
    module_name = f"clarify_scripts_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(
        module_name, ROOT / "scripts" / f"{name}.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # Dataclasses look their module up in sys.modules while the class is made.
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------- versions


def test_license() -> None:
    """The license file is the MIT license pyproject.toml names."""
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License\n")
    assert "Copyright (c)" in text
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert re.search(r'^license = "MIT"$', pyproject, re.MULTILINE)


def test_versions_agree() -> None:
    """manifest.json, pyproject.toml and the newest changelog release agree."""
    release = _script("release")
    assert release.check_versions(ROOT) == []
    assert release.check_tag(f"v{release.read_versions(ROOT).manifest}", ROOT) == []


def test_changelog() -> None:
    """Keep a Changelog's shape: Unreleased first, releases newest first, linked."""
    release = _script("release")
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    headings = [line for line in text.splitlines() if line.startswith("## ")]
    assert headings[0] == "## [Unreleased]"
    assert all(release.RELEASE_HEADING.match(line) for line in headings[1:]), headings
    releases = release.changelog_releases(text)
    versions = [release.parse_version(version) for version, _ in releases]
    assert versions == sorted(versions, reverse=True)
    assert len(set(versions)) == len(versions)
    dates = [date for _, date in releases]
    assert dates == sorted(dates, reverse=True)
    links = dict(re.findall(r"^\[([^\]]+)\]: (\S+)$", text, re.MULTILINE))
    manifest = _load_json(INTEGRATION / "manifest.json")
    for name in ["Unreleased", *(version for version, _ in releases)]:
        assert links[name].startswith(manifest["documentation"]), name
    for version, _ in releases:
        assert release.release_notes(version, ROOT).strip()


def _release_copy(tmp_path: Path, unreleased: str) -> Path:
    """A copy of the files scripts/release edits, with a changelog to release."""
    for relative in ("custom_components/clarify/manifest.json", "pyproject.toml"):
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / relative, tmp_path / relative)
    version = _load_json(INTEGRATION / "manifest.json")["version"]
    base = "https://github.com/owner/repo"
    (tmp_path / "CHANGELOG.md").write_text(
        f"# Changelog\n\n## [Unreleased]\n{unreleased}\n"
        f"## [{version}] - 2026-01-02\n\n### Added\n\n- Everything.\n\n"
        f"[Unreleased]: {base}/compare/v{version}...HEAD\n"
        f"[{version}]: {base}/releases/tag/v{version}\n",
        encoding="utf-8",
    )
    return tmp_path


def _next_minor(version: str) -> str:
    major, minor, _ = (int(part) for part in version.split("."))
    return f"{major}.{minor + 1}.0"


def test_release_bumps_every_version(tmp_path: Path) -> None:
    """scripts/release VERSION sets the version everywhere and dates the changes."""
    release = _script("release")
    root = _release_copy(tmp_path, "\n### Fixed\n\n- A bug.\n")
    old = release.read_versions(root).manifest
    new = _next_minor(old)
    manifest_before = (root / "custom_components/clarify/manifest.json").read_text()

    release.bump(new, "2026-12-24", root)

    assert release.check_versions(root) == []
    assert release.read_versions(root).manifest == new
    assert release.check_tag(f"v{new}", root) == []
    assert release.check_tag(f"v{old}", root)
    assert release.release_notes(new, root) == "### Fixed\n\n- A bug.\n"
    changelog = (root / "CHANGELOG.md").read_text(encoding="utf-8")
    assert f"## [Unreleased]\n\n## [{new}] - 2026-12-24\n" in changelog
    assert f"[Unreleased]: https://github.com/owner/repo/compare/v{new}...HEAD" in (
        changelog
    )
    assert f"[{new}]: https://github.com/owner/repo/compare/v{old}...v{new}" in (
        changelog
    )
    # Only the version line changes: the manifest keeps its formatting.
    manifest_after = (root / "custom_components/clarify/manifest.json").read_text()
    assert manifest_after == manifest_before.replace(f'"{old}"', f'"{new}"')


def test_release_refuses(tmp_path: Path) -> None:
    """No release without changes, backwards, or with a version that is not X.Y.Z."""
    release = _script("release")
    root = _release_copy(tmp_path, "\n")
    old = release.read_versions(root).manifest
    before = {path: path.read_text() for path in root.rglob("*") if path.is_file()}
    with pytest.raises(release.ReleaseError, match="empty"):
        release.bump(_next_minor(old), "2026-12-24", root)
    root = _release_copy(tmp_path, "\n- A change.\n")
    with pytest.raises(release.ReleaseError, match="not newer"):
        release.bump(old, "2026-12-24", root)
    with pytest.raises(release.ReleaseError, match=r"X\.Y\.Z"):
        release.bump("1.0", "2026-12-24", root)
    assert (root / "custom_components/clarify/manifest.json").read_text() == before[
        root / "custom_components/clarify/manifest.json"
    ]


# ---------------------------------------------------------------- quality scale

# Every rule of Home Assistant's Integration Quality Scale and its tier, as
# ALL_RULES in script/hassfest/quality_scale.py defines them for Home Assistant
# 2026.11 (the core repository; every quality_scale.yaml in the 2026.11.0 wheel
# lists exactly these 54). A new Home Assistant release may add rules: update
# this list from that file, then the self-audit.
QUALITY_SCALE_TIERS = ("bronze", "silver", "gold", "platinum")
QUALITY_SCALE_RULES = {
    "bronze": {
        "action-setup",
        "appropriate-polling",
        "brands",
        "common-modules",
        "config-flow",
        "config-flow-test-coverage",
        "dependency-transparency",
        "docs-actions",
        "docs-conditions",
        "docs-high-level-description",
        "docs-installation-instructions",
        "docs-removal-instructions",
        "docs-triggers",
        "entity-event-setup",
        "entity-unique-id",
        "has-entity-name",
        "runtime-data",
        "test-before-configure",
        "test-before-setup",
        "unique-config-entry",
    },
    "silver": {
        "action-exceptions",
        "config-entry-unloading",
        "docs-configuration-parameters",
        "docs-installation-parameters",
        "entity-unavailable",
        "integration-owner",
        "log-when-unavailable",
        "parallel-updates",
        "reauthentication-flow",
        "test-coverage",
    },
    "gold": {
        "devices",
        "diagnostics",
        "discovery",
        "discovery-update-info",
        "docs-data-update",
        "docs-examples",
        "docs-known-limitations",
        "docs-supported-devices",
        "docs-supported-functions",
        "docs-troubleshooting",
        "docs-use-cases",
        "dynamic-devices",
        "entity-category",
        "entity-device-class",
        "entity-disabled-by-default",
        "entity-translations",
        "exception-translations",
        "icon-translations",
        "reconfiguration-flow",
        "repair-issues",
        "stale-devices",
    },
    "platinum": {"async-dependency", "inject-websession", "strict-typing"},
}


def _quality_scale() -> dict[str, tuple[str, str | None]]:
    """Each rule's status and comment, checked against hassfest's schema.

    hassfest accepts "done" or "todo" alone, either with a comment, and "exempt"
    only with one. Here "todo" needs a comment too: it says what is missing.
    """
    data = yaml.safe_load((INTEGRATION / "quality_scale.yaml").read_text("utf-8"))
    assert set(data) == {"rules"}
    rules: dict[str, tuple[str, str | None]] = {}
    for rule, value in data["rules"].items():
        if isinstance(value, str):
            status, comment = value, None
        else:
            assert set(value) == {"status", "comment"}, rule
            status, comment = value["status"], value["comment"]
            assert isinstance(comment, str), rule
            assert comment.strip(), rule
        assert status in {"done", "todo", "exempt"}, (rule, status)
        if status != "done":
            assert comment, f"{rule}: {status} needs a comment saying why"
        rules[rule] = (status, comment)
    return rules


def _tier_reached(rules: dict[str, tuple[str, str | None]]) -> str | None:
    reached = None
    for tier in QUALITY_SCALE_TIERS:
        if any(rules[rule][0] == "todo" for rule in QUALITY_SCALE_RULES[tier]):
            break
        reached = tier
    return reached


def test_quality_scale_lists_every_rule() -> None:
    """quality_scale.yaml has a valid status for exactly the rules HA defines."""
    everything = set().union(*QUALITY_SCALE_RULES.values())
    assert len(everything) == 54
    rules = _quality_scale()
    assert set(rules) - everything == set(), "not rules of Home Assistant 2026.11"
    assert everything - set(rules) == set(), "rules without a status"


def test_quality_scale_tier_in_readme() -> None:
    """The README states the tier the self-audit reaches, no higher and no lower."""
    tier = _tier_reached(_quality_scale())
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    claimed = re.findall(r"reaches \*\*(\w+)\*\*", readme)
    assert claimed == [(tier or "no tier").capitalize()]


# ---------------------------------------------------------------- brand images

# What Home Assistant 2026.3 and later serve from a custom integration's brand/
# folder (ALLOWED_IMAGES in homeassistant/components/brands/const.py, 2026.11).
SERVED_BRAND_IMAGES = {
    "icon.png",
    "icon@2x.png",
    "logo.png",
    "logo@2x.png",
    "dark_icon.png",
    "dark_icon@2x.png",
    "dark_logo.png",
    "dark_logo@2x.png",
}
# The icon's tile reads on light and dark backgrounds alike; the logo's word is
# dark ink, so the logo needs its dark_ variant (without it Home Assistant would
# fall back to the dark-ink logo on a dark theme).
BRAND_IMAGES = {
    "icon.png",
    "icon@2x.png",
    "logo.png",
    "logo@2x.png",
    "dark_logo.png",
    "dark_logo@2x.png",
}


def _png(name: str) -> tuple[int, int, int]:
    """Width, height and the number of IDAT bytes of a brand image, checked.

    Parsed with the standard library: signature, chunk CRCs, IHDR first and
    IEND last, and image data that inflates to exactly the rows IHDR promises.
    """
    data = (INTEGRATION / "brand" / name).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", name
    offset, kinds, idat = 8, [], b""
    header = b""
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        body = data[offset + 8 : offset + 8 + length]
        (crc,) = struct.unpack(">I", data[offset + 8 + length : offset + 12 + length])
        assert zlib.crc32(kind + body) & 0xFFFFFFFF == crc, (name, kind)
        kinds.append(kind)
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        offset += 12 + length
    assert offset == len(data), name
    assert kinds[0] == b"IHDR", name
    assert kinds[-1] == b"IEND", name
    width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", header)
    # 8-bit RGBA: the transparent corners of the tile need the alpha channel.
    assert (depth, color, interlace) == (8, 6, 0), name
    assert len(zlib.decompress(idat)) == height * (1 + 4 * width), name
    return width, height, len(idat)


def test_brand_images() -> None:
    """The icon and logo Home Assistant shows, in the sizes its brands rules ask."""
    names = {path.name for path in (INTEGRATION / "brand").iterdir()}
    assert names == BRAND_IMAGES
    assert names <= SERVED_BRAND_IMAGES
    sizes = {name: _png(name)[:2] for name in names}
    assert sizes["icon.png"] == (256, 256)
    assert sizes["icon@2x.png"] == (512, 512)
    width, height = sizes["logo.png"]
    # Landscape, trimmed: the shortest side 128-256 px, and @2x twice that.
    assert 128 <= height <= 256 <= width
    assert sizes["logo@2x.png"] == (2 * width, 2 * height)
    for dark in names - {"icon.png", "icon@2x.png"}:
        if dark.startswith("dark_"):
            assert sizes[dark] == sizes[dark.removeprefix("dark_")], dark


def test_brand_images_match_their_script() -> None:
    """The images are what scripts/brand_images.py draws, to the pixel."""
    brand_images = _script("brand_images")
    assert set(brand_images.IMAGES) == BRAND_IMAGES
    for name in sorted(BRAND_IMAGES):
        committed = brand_images.decode_png((INTEGRATION / "brand" / name).read_bytes())
        assert committed == brand_images.render(name), (
            f"{name} differs: run python3 scripts/brand_images.py"
        )


# ---------------------------------------------------------------- Marketplace


def _has_marketplace() -> bool:
    return importlib.util.find_spec("homeassistant.components.marketplace") is not None


def test_marketplace_accepts_the_repository() -> None:
    """Home Assistant's own Marketplace code reads hacs.json and the manifest cleanly.

    The Marketplace came with Home Assistant 2026.11; the harness legs run
    2025.4 and 2026.10. There scripts/test's marketplace stage runs the same
    check (scripts/marketplace_check.py) with the real 2026.11.0, and CI runs
    scripts/test, so the check never goes missing, even though it skips here.
    """
    if not _has_marketplace():
        pytest.skip(
            "this Home Assistant has no Marketplace: scripts/test's marketplace"
            " stage checks with 2026.11.0"
        )
    found, checked = _script("marketplace_check").problems(ROOT)
    assert found == []
    assert len(checked) == 5


def test_marketplace_rules_offline() -> None:
    """What the Marketplace of 2026.11 requires, checked without its code.

    The same rules as scripts/marketplace_check.py, written out here so that
    every leg checks them: each hacs.json key it reads has its type (it drops
    any other), the manifest's domain is a slug naming the only folder in
    custom_components/, the loader accepts the version, the release tag is a
    usable ref, and there is no zip_release (catalog installs refuse it).
    """
    hacs = _load_json(ROOT / "hacs.json")
    types = {
        "content_in_root": bool,
        "filename": str,
        "hacs": str,
        "hide_default_branch": bool,
        "homeassistant": str,
        "name": str,
        "persistent_directory": str,
        "zip_release": bool,
    }
    for key, value in hacs.items():
        if key in types:
            assert isinstance(value, types[key]), key
    assert AwesomeVersion(hacs["homeassistant"]).valid
    assert not hacs.get("zip_release")
    assert not hacs.get("content_in_root")

    folders = sorted(
        path.name
        for path in (ROOT / "custom_components").iterdir()
        if path.is_dir() and path.name != "__pycache__"
    )
    assert folders == [DOMAIN]
    manifest = _load_json(INTEGRATION / "manifest.json")
    assert re.fullmatch(r"[a-z0-9_-]+", manifest["domain"])
    assert isinstance(manifest["codeowners"], list)
    assert all(isinstance(owner, str) for owner in manifest["codeowners"])
    assert isinstance(manifest["config_flow"], bool)
    assert isinstance(manifest["name"], str)
    # The loader's strategies for a custom integration's version.
    AwesomeVersion(
        manifest["version"],
        ensure_strategy=[
            AwesomeVersionStrategy.CALVER,
            AwesomeVersionStrategy.SEMVER,
            AwesomeVersionStrategy.SIMPLEVER,
            AwesomeVersionStrategy.BUILDVER,
            AwesomeVersionStrategy.PEP440,
        ],
    )
    assert not re.search(r"(^|/)\.|[?#%\\\s]", f"v{manifest['version']}")


# ---------------------------------------------------------------- workflows


def _workflow(name: str) -> dict[str, Any]:
    workflow: dict[str, Any] = yaml.safe_load(
        (ROOT / ".github" / "workflows" / name).read_text(encoding="utf-8")
    )
    # YAML 1.1 reads the key `on` as the boolean true.
    workflow["on"] = workflow.pop(True, workflow.get("on"))
    return workflow


def _steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def _github_glob(pattern: str) -> re.Pattern[str]:
    """A GitHub Actions filter pattern as a regular expression (enough for tags)."""
    regex = ""
    for char in pattern:
        if char == "*":
            regex += "[^/]*"
        elif char in "[]+-":
            regex += char
        else:
            regex += re.escape(char)
    return re.compile(regex)


def test_workflow_actions_are_pinned() -> None:
    """Third-party actions run at a fixed commit, except the two moving refs.

    hassfest and the HACS action are meant to be followed at their branch:
    they carry the newest rules of Home Assistant and HACS.
    """
    moving = {"home-assistant/actions/hassfest@master", "hacs/action@main"}
    for path in sorted((ROOT / ".github" / "workflows").glob("*.yml")):
        for step in _steps(_workflow(path.name)):
            uses = step.get("uses")
            if uses is None or uses.startswith("./") or uses in moving:
                continue
            assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", uses), (path, uses)


def test_validate_workflow() -> None:
    """hassfest and the HACS action (category integration) on pushes, PRs, daily."""
    workflow = _workflow("validate.yml")
    assert {"push", "pull_request", "schedule", "workflow_call"} <= set(workflow["on"])
    hassfest = workflow["jobs"]["hassfest"]["steps"]
    assert hassfest[0]["uses"].startswith("actions/checkout@")
    assert hassfest[-1]["uses"] == "home-assistant/actions/hassfest@master"
    (hacs,) = [
        step for step in _steps(workflow) if step.get("uses") == "hacs/action@main"
    ]
    assert hacs["with"]["category"] == "integration"


def test_tests_workflow() -> None:
    """CI runs .ci/run (so scripts/test) with both Pythons the legs need."""
    workflow = _workflow("tests.yml")
    assert {"push", "pull_request", "workflow_call"} <= set(workflow["on"])
    steps = _steps(workflow)
    assert any(step.get("run") == ".ci/run" for step in steps)
    assert "exec scripts/test" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    (python,) = [
        step
        for step in steps
        if step.get("uses", "").startswith("actions/setup-python@")
    ]
    assert python["with"]["python-version"].split() == ["3.13", "3.14"]


def test_release_workflow() -> None:
    """A tag vX.Y.Z, after validation and tests, checked, becomes a GitHub release."""
    workflow = _workflow("release.yml")
    (tags,) = workflow["on"]["push"]["tags"]
    assert _github_glob(tags).fullmatch("v1.22.333")
    assert not _github_glob(tags).fullmatch("v1.2")
    assert not _github_glob(tags).fullmatch("1.2.3")
    jobs = workflow["jobs"]
    assert jobs["validate"]["uses"] == "./.github/workflows/validate.yml"
    assert jobs["tests"]["uses"] == "./.github/workflows/tests.yml"
    release = jobs["release"]
    assert set(release["needs"]) == {"validate", "tests"}
    assert release["permissions"] == {"contents": "write"}
    commands = " ".join(step.get("run", "") for step in release["steps"])
    assert "scripts/release --check-tag" in commands
    assert "scripts/release --notes" in commands
    assert "gh release create" in commands
