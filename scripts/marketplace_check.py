"""Check the repository with Home Assistant's own Marketplace code (2026.11+).

    python scripts/marketplace_check.py [REPOSITORY_ROOT]

Runs in an environment with Home Assistant 2026.11 or later, which has HACS
built in as the Marketplace; scripts/test runs it in the server environment
(its "marketplace" stage). It feeds this repository's hacs.json, manifest.json,
file tree, brand images and release tag to the functions the Marketplace itself
uses to read a catalog repository, so that a value the Marketplace would ignore
or refuse fails here instead of on a user's installation. The harness legs
(2025.4 and 2026.10) have no Marketplace; tests/test_packaging.py calls
`problems()` in-process whenever Home Assistant has one.

Everything the Marketplace would log and skip ("Ignoring ... in hacs.json") is
collected as a problem.
"""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import json
import logging
from pathlib import Path
import sys
from typing import Any

REPOSITORY = Path(__file__).resolve().parent.parent


class _Collect(logging.Handler):
    """Keeps the warnings the Marketplace logs while it reads our files."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextlib.contextmanager
def _warnings_of(logger: logging.Logger) -> Iterator[list[str]]:
    handler = _Collect()
    logger.addHandler(handler)
    try:
        yield handler.messages
    finally:
        logger.removeHandler(handler)


def _message(err: Exception) -> str:
    """An error's English message, without the running Home Assistant that str() needs.

    The Marketplace's errors are translated: their text lives in its
    strings.json under the error's translation key.
    """
    from homeassistant.components import marketplace

    key = getattr(err, "translation_key", None)
    placeholders = getattr(err, "translation_placeholders", None) or {}
    strings = json.loads(
        (Path(marketplace.__file__).parent / "strings.json").read_text(encoding="utf-8")
    )
    template = strings.get("exceptions", {}).get(key, {}).get("message")
    if template is None:
        return f"{key} {placeholders}"
    try:
        return str(template.format(**placeholders))
    except (KeyError, IndexError, ValueError):
        return f"{template} {placeholders}"


def _tree(root: Path) -> list[Any]:
    """The repository's custom_components tree as GitHub's tree API lists it.

    Git trees are sorted by path; only custom_components/ matters to the
    Marketplace's choice of the integration's folder. Python caches are left
    out, as .gitignore leaves them out of the repository.
    """
    from aiogithubapi.models.git_tree import GitHubGitTreeEntryModel

    entries = [
        GitHubGitTreeEntryModel(
            {
                "path": path.relative_to(root).as_posix(),
                "type": "tree" if path.is_dir() else "blob",
            }
        )
        for path in sorted((root / "custom_components").rglob("*"))
        if "__pycache__" not in path.parts and path.suffix != ".pyc"
    ]
    return sorted(entries, key=lambda entry: entry.path)


def problems(root: Path = REPOSITORY) -> tuple[list[str], list[str]]:
    """What the Marketplace would refuse or ignore, and what was checked."""
    # Imported here so that this module can be loaded (by the tests) where
    # Home Assistant has no Marketplace; the caller checks for it first.
    import probatio

    from homeassistant.components.brands.const import ALLOWED_IMAGES
    from homeassistant.components.marketplace.exceptions import MarketplaceError
    from homeassistant.components.marketplace.repositories import integration
    from homeassistant.components.marketplace.repositories.base import (
        RepositoryManifest,
    )
    from homeassistant.components.marketplace.utils.filters import (
        get_first_directory_in_directory,
    )
    from homeassistant.components.marketplace.utils.logger import LOGGER
    from homeassistant.components.marketplace.utils.validate import (
        INTEGRATION_MANIFEST_VALUES,
        REPOSITORY_MANIFEST_VALUES,
        is_valid_ref,
    )

    found: list[str] = []
    checked: list[str] = []

    def report(ok: str, failed: list[str]) -> None:
        found.extend(failed)
        if not failed:
            checked.append(ok)

    # hacs.json, read the way the Marketplace reads it: every key it knows
    # must pass its validator (it drops, with a warning, any that does not).
    hacs = json.loads((root / "hacs.json").read_text(encoding="utf-8"))
    with _warnings_of(LOGGER) as warnings:
        parsed = RepositoryManifest.from_dict(hacs)
    failed = [f"hacs.json: {warning}" for warning in warnings]
    if not warnings:
        failed += [
            f"hacs.json: the Marketplace reads {key} as {getattr(parsed, key)!r}"
            for key in sorted(set(hacs) & set(REPOSITORY_MANIFEST_VALUES))
            if getattr(parsed, key) != hacs[key]
        ]
    if parsed.name is None:
        failed.append("hacs.json: no name")
    if parsed.zip_release and not (parsed.filename or "").endswith(".zip"):
        failed.append("hacs.json: zip_release needs the filename of a .zip asset")
    ignored = sorted(set(hacs) - set(REPOSITORY_MANIFEST_VALUES))
    report(
        f"hacs.json: {', '.join(sorted(set(hacs) - set(ignored)))} valid"
        + (f" ({', '.join(ignored)}: read by HACS only)" if ignored else ""),
        failed,
    )

    # Where the Marketplace looks for the integration: the first folder in
    # custom_components/ of the repository tree.
    folder = get_first_directory_in_directory(_tree(root), "custom_components")
    failed = []
    if parsed.content_in_root:
        failed.append(
            "hacs.json: content_in_root, but the integration is in custom_components/"
        )
    if folder is None:
        failed.append("custom_components/ holds no folder")
    report(f"the Marketplace installs custom_components/{folder}/", failed)
    content = root / "custom_components" / (folder or "")

    # manifest.json: the domain names the folder it installs to, the values it
    # shows must have their types, and the loader must accept the version.
    manifest = json.loads((content / "manifest.json").read_text(encoding="utf-8"))
    failed = []
    try:
        domain = integration._validated_domain(manifest.get("domain"))  # noqa: SLF001
    except MarketplaceError as err:
        failed.append(f"manifest.json: {_message(err)}")
        domain = None
    if domain is not None and domain != folder:
        failed.append(
            f"manifest.json: domain {domain} is not the folder's name {folder}"
        )
    for key, validator in INTEGRATION_MANIFEST_VALUES.items():
        if key not in manifest:
            failed.append(f"manifest.json: no {key}")
            continue
        try:
            validator(manifest[key])
        except probatio.Invalid as err:
            failed.append(f"manifest.json: {key}: {err}")
    if domain is not None:
        try:
            integration._check_loadable_manifest(content, domain)  # noqa: SLF001
        except MarketplaceError as err:
            failed.append(f"manifest.json: {_message(err)}")
    report(
        f"manifest.json: domain {domain}, {', '.join(INTEGRATION_MANIFEST_VALUES)}"
        f" valid, version {manifest.get('version')} loadable",
        failed,
    )

    # The release the catalog points at is the tag vX.Y.Z of that version.
    tag = f"v{manifest.get('version')}"
    report(
        f"the release tag {tag} is installable",
        [] if is_valid_ref(tag) else [f"{tag} is not a tag the Marketplace installs"],
    )

    # Brand images the Marketplace shows before the integration is installed.
    brand = sorted(path.name for path in (content / "brand").glob("*"))
    unknown = sorted(set(brand) - ALLOWED_IMAGES)
    report(
        f"brand/: {', '.join(brand)} served",
        [f"brand/: Home Assistant serves none of {', '.join(unknown)}"]
        if unknown
        else [],
    )
    return found, checked


def main(argv: list[str] | None = None) -> int:
    """Print what was checked; exit 1 if the Marketplace would object."""
    args = sys.argv[1:] if argv is None else argv
    root = Path(args[0]).resolve() if args else REPOSITORY
    from homeassistant.const import __version__

    found, checked = problems(root)
    print(f"Home Assistant {__version__}'s Marketplace:")
    for line in checked:
        print(f"  ok: {line}")
    for line in found:
        print(f"  FAILED: {line}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
