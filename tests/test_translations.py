"""The translations: every language says what English says; English says what the code shows.

Home Assistant core gets this from hassfest and its translation platform, which
do not run for a custom integration. So, for every file in translations/:

- it is a JSON object of non-empty strings, without duplicate keys, named for a
  language Home Assistant knows;
- it has exactly the keys en.json has (a missing key shows English, an extra one
  is a stale string nobody sees);
- each string has the same placeholders as its English one: Home Assistant
  throws away a translated string whose placeholders differ and shows English
  (helpers/translation.py, _validate_placeholders), and the test below proves
  that no string of any language falls back that way;
- it keeps English's code (`clarify.flush`), bold labels and paragraphs, and
  carries no URL (URLs are placeholders, filled in by the code).

And en.json is complete against the code: the menus, form fields and
placeholders of the flows, the entities' names, the repair issues and their
placeholders, the exceptions' placeholders, and icons.json. tests/test_packaging.py
checks the flows' steps, errors and aborts, the exceptions and the actions.

The failure messages say exactly which keys or placeholders to add or remove,
with the English text to translate.
"""

from __future__ import annotations

import ast
from collections import Counter
from collections.abc import Iterator
import importlib
import json
from pathlib import Path
import re
import string
from types import ModuleType
from typing import Any

import pytest
import yaml

from homeassistant.core import HomeAssistant
from homeassistant.generated.languages import LANGUAGES
from homeassistant.helpers import translation

ROOT = Path(__file__).parent.parent
INTEGRATION = ROOT / "custom_components" / "clarify"
TRANSLATIONS = INTEGRATION / "translations"
DOMAIN = "clarify"
PACKAGE = "custom_components.clarify"

LANGUAGE_FILES = sorted(TRANSLATIONS.glob("*.json"))
OTHER_LANGUAGE_FILES = [path for path in LANGUAGE_FILES if path.stem != "en"]
# Clarify is Norwegian: Norwegian Bokmål is a language the integration must have.
REQUIRED_LANGUAGES = {"en", "nb"}

URL = re.compile(r"https?://|www\.|\b[\w-]+\.(?:io|com|org|net|no)/", re.IGNORECASE)
CODE_SPAN = re.compile(r"`[^`\n]+`")


# ---------------------------------------------------------------- reading the files


class _DuplicateKeyError(ValueError):
    """A JSON object names the same key twice (json.loads keeps the last)."""


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = Counter(key for key, _ in pairs)
    if duplicates := sorted(key for key, count in keys.items() if count > 1):
        raise _DuplicateKeyError(
            f"the keys {duplicates} appear twice in the object with keys {list(keys)}"
        )
    return dict(pairs)


def _load(path: Path) -> dict[str, Any]:
    """A translation file, parsed strictly; the test fails with the reason if it cannot."""
    try:
        data = json.loads(
            path.read_text(encoding="utf-8"), object_pairs_hook=_no_duplicates
        )
    except (UnicodeDecodeError, ValueError) as err:
        pytest.fail(f"{path.name} is not usable JSON: {err}")
    if not isinstance(data, dict):
        pytest.fail(f"{path.name} must hold a JSON object, not {type(data).__name__}")
    return data


def _flatten(node: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Every leaf by its dotted key path (leaves that are not strings included)."""
    flat: dict[str, Any] = {}
    for key, value in node.items():
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, path))
        else:
            flat[path] = value
    return flat


def _strings(path: Path) -> dict[str, str]:
    """A language's strings by key path, every one checked to be a string."""
    flat = _flatten(_load(path))
    wrong = {key: value for key, value in flat.items() if not isinstance(value, str)}
    assert not wrong, f"{path.name}: these keys must hold text: {wrong}"
    return flat


def _placeholders(text: str) -> set[str]:
    """The placeholders of a string, parsed the way Home Assistant compares them."""
    return {
        name for _, name, _, _ in string.Formatter().parse(text) if name is not None
    }


@pytest.fixture(name="english", scope="module")
def english_fixture() -> dict[str, str]:
    """The English strings by key path: the source every language follows."""
    return _strings(TRANSLATIONS / "en.json")


@pytest.fixture(name="english_tree", scope="module")
def english_tree_fixture() -> dict[str, Any]:
    """en.json as it is nested."""
    return _load(TRANSLATIONS / "en.json")


def _count(keys: list[str]) -> str:
    return f"{len(keys)} string" + ("" if len(keys) == 1 else "s")


def _english_hint(english: dict[str, str], keys: list[str]) -> str:
    return "".join(f"\n  {key}: {english[key]!r}" for key in keys)


# ---------------------------------------------------------------- every language


def test_required_languages_are_there() -> None:
    """English, and Norwegian Bokmål (Clarify is Norwegian); nb, as Home Assistant names it."""
    languages = {path.stem for path in LANGUAGE_FILES}
    missing = REQUIRED_LANGUAGES - languages
    assert not missing, f"translations/ lacks {sorted(missing)}"


@pytest.mark.parametrize("path", LANGUAGE_FILES, ids=lambda path: path.name)
def test_language_file_is_well_formed(path: Path) -> None:
    """Valid JSON of non-empty, trimmed strings, placeholders that parse, no URL."""
    assert path.stem in LANGUAGES, (
        f"{path.name}: Home Assistant has no language {path.stem!r}"
        " (Norwegian Bokmål is nb)"
    )
    problems: list[str] = []
    for key, text in _strings(path).items():
        if not text.strip():
            problems.append(f"{key}: empty")
        elif text != text.strip():
            problems.append(f"{key}: leading or trailing white space")
        if URL.search(text):
            problems.append(f"{key}: a URL (pass it as a placeholder instead)")
        if "[%key:" in text:
            problems.append(
                f"{key}: a [%key:...%] reference (only core's strings.json resolves"
                " those; write the text out)"
            )
        try:
            fields = list(string.Formatter().parse(text))
        except ValueError as err:
            problems.append(
                f"{key}: braces that are not a placeholder ({err}); write {{name}}"
                " placeholders only"
            )
            continue
        for _, name, spec, conversion in fields:
            if name is not None and (not name.isidentifier() or spec or conversion):
                problems.append(f"{key}: placeholder {{{name}}} is not a plain name")
    assert not problems, f"{path.name}:\n  " + "\n  ".join(problems)


@pytest.mark.parametrize("path", OTHER_LANGUAGE_FILES, ids=lambda path: path.name)
def test_language_has_exactly_the_english_keys(
    path: Path, english: dict[str, str]
) -> None:
    """Missing keys would show English; extra keys are stale strings."""
    other = _strings(path)
    missing = sorted(set(english) - set(other))
    extra = sorted(set(other) - set(english))
    message = []
    if missing:
        message.append(
            f"{path.name} lacks {_count(missing)}; translate and add them"
            f" (English shown):{_english_hint(english, missing)}"
        )
    if extra:
        message.append(
            f"{path.name} has {_count(extra)} English does not have; remove them:"
            + "".join(f"\n  {key}" for key in extra)
        )
    assert not message, "\n".join(message)


@pytest.mark.parametrize("path", OTHER_LANGUAGE_FILES, ids=lambda path: path.name)
def test_language_has_the_english_placeholders(
    path: Path, english: dict[str, str]
) -> None:
    """Home Assistant would drop a string whose placeholders differ and show English."""
    problems = []
    for key, text in sorted(_strings(path).items()):
        if key not in english:
            continue
        try:
            theirs = _placeholders(text)
        except ValueError:
            continue  # reported by test_language_file_is_well_formed
        ours = _placeholders(english[key])
        if theirs != ours:
            change = []
            if add := sorted(ours - theirs):
                change.append("add " + ", ".join(f"{{{name}}}" for name in add))
            if remove := sorted(theirs - ours):
                change.append("remove " + ", ".join(f"{{{name}}}" for name in remove))
            problems.append(
                f"{key}: {'; '.join(change)}\n    English: {english[key]!r}"
            )
    assert not problems, (
        f"{path.name}: placeholders differ from English:\n  " + "\n  ".join(problems)
    )


@pytest.mark.parametrize("path", OTHER_LANGUAGE_FILES, ids=lambda path: path.name)
def test_language_keeps_the_english_markup(path: Path, english: dict[str, str]) -> None:
    """Code such as `clarify.flush` stays as it is; bold labels and paragraphs stay."""
    problems = []
    for key, text in sorted(_strings(path).items()):
        if key not in english:
            continue
        source = english[key]
        if Counter(CODE_SPAN.findall(text)) != Counter(CODE_SPAN.findall(source)):
            problems.append(
                f"{key}: keep exactly the code of English,"
                f" {CODE_SPAN.findall(source)}, not {CODE_SPAN.findall(text)}"
            )
        if text.count("**") != source.count("**"):
            problems.append(
                f"{key}: English has {source.count('**') // 2} **bold** labels,"
                f" this has {text.count('**') / 2:g}"
            )
        if text.count("\n\n") != source.count("\n\n"):
            problems.append(
                f"{key}: English has {source.count(chr(10) * 2) + 1} paragraphs,"
                f" this has {text.count(chr(10) * 2) + 1}"
            )
    assert not problems, f"{path.name}:\n  " + "\n  ".join(problems)


async def test_home_assistant_uses_every_translated_string(
    hass: HomeAssistant, caplog: pytest.LogCaptureFixture
) -> None:
    """Home Assistant loads each language whole: no string falls back to English."""
    categories = list(_load(TRANSLATIONS / "en.json"))
    for path in LANGUAGE_FILES:
        ours = {
            f"component.{DOMAIN}.{key}": text for key, text in _strings(path).items()
        }
        loaded: dict[str, str] = {}
        for category in categories:
            loaded.update(
                await translation.async_get_translations(
                    hass, path.stem, category, [DOMAIN]
                )
            )
        loaded = {
            key: text
            for key, text in loaded.items()
            if key.startswith(f"component.{DOMAIN}.")
        }
        replaced = sorted(key for key in ours if loaded.get(key) != ours[key])
        assert not replaced, (
            f"Home Assistant shows another text than {path.name} for {replaced}"
            " (placeholders that differ from English make it fall back to English)"
        )
        fallback = sorted(set(loaded) - set(ours))
        assert not fallback, f"Home Assistant shows English for {fallback}"
    assert "Validation of translation placeholders" not in caplog.text


# ---------------------------------------------------------------- English against the code


def _module(stem: str) -> ModuleType:
    return importlib.import_module(f"{PACKAGE}.{stem}")


def _trees() -> Iterator[tuple[str, ast.Module]]:
    for path in sorted(INTEGRATION.glob("*.py")):
        yield path.stem, ast.parse(path.read_text(encoding="utf-8"), str(path))


def _value(node: ast.expr, module: ModuleType) -> Any:
    """A constant, or a name the module defines or imports; None when neither."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        return getattr(module, node.id, None)
    if isinstance(node, ast.List | ast.Tuple):
        return [_value(element, module) for element in node.elts]
    return None


def _call_name(node: ast.Call) -> str:
    return str(getattr(node.func, "attr", getattr(node.func, "id", "")))


def _keyword(node: ast.Call, name: str) -> ast.expr | None:
    return next((kw.value for kw in node.keywords if kw.arg == name), None)


def _dict_keys(node: ast.expr | None, module: ModuleType) -> set[str] | None:
    """The keys of a dict literal (None when it is not one, or a key is unknown)."""
    if not isinstance(node, ast.Dict):
        return None
    keys = [_value(key, module) if key is not None else None for key in node.keys]
    if not all(isinstance(key, str) for key in keys):
        return None
    return set(keys)


def test_entity_strings_match_the_code(english_tree: dict[str, Any]) -> None:
    """Each entity's translation key has its name, and no entity string is stale."""
    used: dict[str, set[str]] = {}
    for stem, tree in _trees():
        module = _module(stem)
        for node in ast.walk(tree):
            key: Any = None
            if isinstance(node, ast.Call) and _call_name(node).endswith(
                "EntityDescription"
            ):
                if (value := _keyword(node, "translation_key")) is not None:
                    key = _value(value, module)
            elif isinstance(node, ast.Assign | ast.AnnAssign) and node.value:
                targets = (
                    node.targets if isinstance(node, ast.Assign) else [node.target]
                )
                if any(
                    isinstance(target, ast.Name)
                    and target.id == "_attr_translation_key"
                    for target in targets
                ):
                    key = _value(node.value, module)
            if isinstance(key, str):
                used.setdefault(stem, set()).add(key)
    strings = english_tree.get("entity", {})
    missing = [
        f"entity.{platform}.{key}.name"
        for platform, keys in sorted(used.items())
        for key in sorted(keys)
        if "name" not in strings.get(platform, {}).get(key, {})
    ]
    stale = [
        f"entity.{platform}.{key}"
        for platform, keys in sorted(strings.items())
        for key in sorted(keys)
        if key not in used.get(platform, set())
    ]
    assert not missing, f"en.json lacks the names of these entities: {missing}"
    assert not stale, f"en.json names entities the code does not have: {stale}"


def test_icons_match_the_strings(english_tree: dict[str, Any]) -> None:
    """icons.json has an icon for each action, and icons only for real entities."""
    icons = _load(INTEGRATION / "icons.json")
    services = yaml.safe_load((INTEGRATION / "services.yaml").read_text("utf-8"))
    assert set(icons.get("services", {})) == set(services or {}), (
        "icons.json must have an icon for exactly the actions of services.yaml"
    )
    for service, icon in icons.get("services", {}).items():
        assert set(icon) <= {"service", "sections"}, service
        assert icon.get("service", "").startswith("mdi:"), service
    strings = english_tree.get("entity", {})
    stale = [
        f"entity.{platform}.{key}"
        for platform, keys in sorted(icons.get("entity", {}).items())
        for key in sorted(keys)
        if key not in strings.get(platform, {})
    ]
    assert not stale, f"icons.json has icons for entities en.json lacks: {stale}"


def test_issue_strings_match_the_code(english_tree: dict[str, Any]) -> None:
    """Each repair issue the code raises has its text with placeholders it is given."""
    used: dict[str, list[set[str] | None]] = {}
    for stem, tree in _trees():
        module = _module(stem)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = _call_name(node)
            if name == "async_raise" and len(node.args) >= 3:
                # EntryIssues.async_raise(name, translation_key, placeholders)
                key = _value(node.args[1], module)
                placeholders = _dict_keys(node.args[2], module)
            elif name == "async_create_issue":
                key_node = _keyword(node, "translation_key")
                if key_node is None:
                    continue
                key = _value(key_node, module)
                placeholders = _dict_keys(
                    _keyword(node, "translation_placeholders"), module
                )
            else:
                continue
            if isinstance(key, str):
                used.setdefault(key, []).append(placeholders)
    issues_module = _module("issues")
    for constant, key in vars(issues_module).items():
        if constant.startswith("ISSUE_") and isinstance(key, str):
            used.setdefault(key, [])
    assert used, "found no repair issue in the code"
    strings = english_tree.get("issues", {})
    problems = []
    for key, calls in sorted(used.items()):
        issue = strings.get(key)
        if not issue or "title" not in issue:
            problems.append(f"issues.{key}.title is missing")
            continue
        if "description" not in issue and "fix_flow" not in issue:
            problems.append(f"issues.{key}.description is missing")
            continue
        needed = _placeholders(issue["title"]) | _placeholders(
            issue.get("description", "")
        )
        problems.extend(
            f"issues.{key} uses {sorted(needed - given)}, which the code does not give"
            for given in calls
            if given is not None and needed - given
        )
    problems += [
        f"issues.{key} is raised nowhere: remove it"
        for key in sorted(set(strings) - set(used))
    ]
    assert not problems, "\n".join(problems)


def test_exception_placeholders_are_given(english_tree: dict[str, Any]) -> None:
    """A translated exception's message uses only the placeholders the raise gives."""
    exceptions = english_tree.get("exceptions", {})
    problems = []
    for stem, tree in _trees():
        module = _module(stem)
        for node in ast.walk(tree):
            # raise SomeError(translation_domain=..., translation_key=..., ...)
            if not isinstance(node, ast.Call) or None in (
                _keyword(node, "translation_domain"),
                _keyword(node, "translation_key"),
            ):
                continue
            key_node = _keyword(node, "translation_key")
            key = None if key_node is None else _value(key_node, module)
            if not isinstance(key, str) or key not in exceptions:
                continue  # a missing message is test_packaging's to report
            given_node = _keyword(node, "translation_placeholders")
            given = set() if given_node is None else _dict_keys(given_node, module)
            if given is None:
                continue
            if lacking := _placeholders(exceptions[key].get("message", "")) - given:
                problems.append(
                    f"{stem}.py line {node.lineno}: exceptions.{key}.message uses"
                    f" {sorted(lacking)}, which the raise does not give"
                )
    assert not problems, "\n".join(problems)


class _Step:
    """What one flow method shows: its step, menu, fields and placeholders.

    A method that shows no form or menu has no step_id; the placeholders it gives
    an abort still count for the flow's abort texts.
    """

    def __init__(self) -> None:
        self.step_id: str | None = None
        self.menu: list[Any] | None = None
        self.fields: set[str] = set()
        self.placeholders: set[str] = set()


def _flow_steps() -> dict[str, list[_Step]]:
    """The steps of the config flow ("config") and the options flow ("options")."""
    module = _module("config_flow")
    tree = ast.parse((INTEGRATION / "config_flow.py").read_text(encoding="utf-8"))
    sections: dict[str, list[_Step]] = {"config": [], "options": []}
    for cls in tree.body:
        if not isinstance(cls, ast.ClassDef):
            continue
        bases = {
            str(getattr(base, "id", getattr(base, "attr", ""))) for base in cls.bases
        }
        section = (
            "options" if any("OptionsFlow" in base for base in bases) else "config"
        )
        for method in cls.body:
            if isinstance(method, ast.AsyncFunctionDef | ast.FunctionDef):
                sections[section].append(_flow_step(method, module))
    return sections


def _flow_step(
    method: ast.AsyncFunctionDef | ast.FunctionDef, module: ModuleType
) -> _Step:
    step = _Step()
    placeholder_names: set[str] = set()
    for node in ast.walk(method):
        if isinstance(node, ast.Call):
            name = _call_name(node)
            if name in {"async_show_form", "async_show_menu"} or "abort" in name:
                if (step_id := _keyword(node, "step_id")) is not None:
                    step.step_id = _value(step_id, module)
                if (menu := _keyword(node, "menu_options")) is not None:
                    step.menu = _value(menu, module)
                given = _keyword(node, "description_placeholders")
                if isinstance(given, ast.Name):
                    placeholder_names.add(given.id)
                elif (keys := _dict_keys(given, module)) is not None:
                    step.placeholders |= keys
            elif (
                name in {"Required", "Optional"}
                and node.args
                and isinstance(field := _value(node.args[0], module), str)
            ):
                step.fields.add(field)
    # placeholders = {...} / placeholders[KEY] = ... in the same method
    for node in ast.walk(method):
        if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name) and target.id in placeholder_names:
                    step.placeholders |= _dict_keys(node.value, module) or set()
                elif (
                    isinstance(target, ast.Subscript)
                    and isinstance(target.value, ast.Name)
                    and target.value.id in placeholder_names
                    and isinstance(key := _value(target.slice, module), str)
                ):
                    step.placeholders.add(key)
    return step


def test_flow_menus_match_the_strings(english_tree: dict[str, Any]) -> None:
    """Each menu's options have their text, and no menu text is stale."""
    problems = []
    menus = 0
    for section, steps in _flow_steps().items():
        for step in steps:
            if step.menu is None:
                continue
            menus += 1
            assert all(isinstance(option, str) for option in step.menu), (
                f"cannot read the menu options of {section}.step.{step.step_id}"
            )
            texts = (
                english_tree.get(section, {})
                .get("step", {})
                .get(step.step_id, {})
                .get("menu_options", {})
            )
            prefix = f"{section}.step.{step.step_id}.menu_options"
            problems += [
                f"{prefix}.{option} is missing"
                for option in step.menu
                if option not in texts
            ]
            problems += [
                f"{prefix}.{option} is not in the menu: remove it"
                for option in texts
                if option not in step.menu
            ]
    assert menus, "found no menu in the flows"
    assert not problems, "\n".join(problems)


def test_flow_fields_have_labels(english_tree: dict[str, Any]) -> None:
    """Every form field has its label (and, per test_packaging, its description)."""
    problems = []
    for section, steps in _flow_steps().items():
        for step in steps:
            if step.step_id is None:
                continue
            data = (
                english_tree.get(section, {})
                .get("step", {})
                .get(step.step_id, {})
                .get("data", {})
            )
            problems += [
                f"{section}.step.{step.step_id}.data.{field} is missing"
                for field in sorted(step.fields)
                if field not in data
            ]
    assert not problems, "\n".join(problems)


def test_flow_placeholders_are_given(english_tree: dict[str, Any]) -> None:
    """A step's texts use only the placeholders its method gives the form or menu.

    An error's text may use those of any step of its flow: the method that sets
    an error also gives its placeholders.
    """
    problems = []
    for section, steps in _flow_steps().items():
        strings = english_tree.get(section, {})
        given_anywhere: set[str] = set()
        for step in steps:
            given_anywhere |= step.placeholders
            if step.step_id is None:
                continue
            texts = _flatten(strings.get("step", {}).get(step.step_id, {}))
            for key, text in sorted(texts.items()):
                if lacking := _placeholders(text) - step.placeholders:
                    problems.append(
                        f"{section}.step.{step.step_id}.{key} uses {sorted(lacking)},"
                        " which the step does not give"
                    )
        for kind in ("error", "abort"):
            for key, text in sorted(strings.get(kind, {}).items()):
                if lacking := _placeholders(text) - given_anywhere:
                    problems.append(
                        f"{section}.{kind}.{key} uses {sorted(lacking)},"
                        " which no step or abort gives"
                    )
    assert not problems, "\n".join(problems)
