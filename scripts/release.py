"""Version bump and release checks; run through scripts/release.

    scripts/release VERSION [--date YYYY-MM-DD]
        Turns the changelog's Unreleased section into VERSION and sets VERSION in
        manifest.json and pyproject.toml. Nothing is committed or tagged.
    scripts/release --check-tag vX.Y.Z
        Fails unless the tag, manifest.json, pyproject.toml and the newest
        changelog release all name the same version (the release workflow).
    scripts/release --notes VERSION
        Prints the changelog section of VERSION (the GitHub release's text).

Standard library only, so that it runs with any python3 >= 3.11, in CI too.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
import datetime as dt
import json
from pathlib import Path
import re
import sys
import tomllib

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = Path("custom_components/clarify/manifest.json")
PYPROJECT = Path("pyproject.toml")
CHANGELOG = Path("CHANGELOG.md")

# Plain X.Y.Z: the Marketplace, HACS and the tag pattern of the release workflow
# all accept it, and comparing it needs no library.
VERSION = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")
UNRELEASED = "## [Unreleased]"
RELEASE_HEADING = re.compile(
    r"^## \[(?P<version>[^\]]+)\] - (?P<date>\d{4}-\d{2}-\d{2})$"
)
LINK = re.compile(r"^\[(?P<name>[^\]]+)\]: (?P<url>\S+)$")
# The manifest and pyproject.toml are edited in place, line by line, so that their
# formatting (which ruff and hassfest do not rewrite) stays as it is.
MANIFEST_VERSION = re.compile(r'^(\s*"version":\s*")[^"]*(",?\s*)$')
PYPROJECT_VERSION = re.compile(r'^(version\s*=\s*")[^"]*("\s*)$')


class ReleaseError(Exception):
    """Something that stops a release; the message says what to fix."""


@dataclass(frozen=True)
class Versions:
    """The version each file names."""

    manifest: str
    pyproject: str
    changelog: str | None  # the newest release in the changelog


def parse_version(text: str) -> tuple[int, int, int]:
    """A release version as numbers, for comparing."""
    if (match := VERSION.match(text)) is None:
        raise ReleaseError(f"{text!r} is not a version of the form X.Y.Z")
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


def changelog_releases(text: str) -> list[tuple[str, str]]:
    """The (version, date) of every release heading, newest first."""
    return [
        (match["version"], match["date"])
        for line in text.splitlines()
        if (match := RELEASE_HEADING.match(line))
    ]


def read_versions(root: Path = ROOT) -> Versions:
    """What manifest.json, pyproject.toml and the changelog say."""
    manifest = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
    pyproject = tomllib.loads((root / PYPROJECT).read_text(encoding="utf-8"))
    releases = changelog_releases((root / CHANGELOG).read_text(encoding="utf-8"))
    return Versions(
        manifest=manifest["version"],
        pyproject=pyproject["project"]["version"],
        changelog=releases[0][0] if releases else None,
    )


def check_versions(root: Path = ROOT) -> list[str]:
    """Why the three files disagree about the version; empty when they agree."""
    versions = read_versions(root)
    problems = []
    if versions.pyproject != versions.manifest:
        problems.append(
            f"pyproject.toml says {versions.pyproject}, manifest.json {versions.manifest}"
        )
    if versions.changelog != versions.manifest:
        problems.append(
            f"the newest release in CHANGELOG.md is {versions.changelog},"
            f" manifest.json says {versions.manifest}"
        )
    return problems


def check_tag(tag: str, root: Path = ROOT) -> list[str]:
    """Why a tag may not be released; empty when it may."""
    problems = check_versions(root)
    manifest = read_versions(root).manifest
    if tag != f"v{manifest}":
        problems.append(f"the tag is {tag}, but manifest.json says version {manifest}")
    return problems


def release_notes(version: str, root: Path = ROOT) -> str:
    """The body of a release's changelog section, without its heading."""
    lines = (root / CHANGELOG).read_text(encoding="utf-8").splitlines()
    start = next(
        (
            i
            for i, line in enumerate(lines)
            if (match := RELEASE_HEADING.match(line)) and match["version"] == version
        ),
        None,
    )
    if start is None:
        raise ReleaseError(f"CHANGELOG.md has no section for {version}")
    end = next(
        (
            i
            for i in range(start + 1, len(lines))
            if lines[i].startswith("## ") or LINK.match(lines[i])
        ),
        len(lines),
    )
    notes = "\n".join(lines[start + 1 : end]).strip()
    if not notes:
        raise ReleaseError(f"the changelog section of {version} is empty")
    return notes + "\n"


def _replace_one(text: str, pattern: re.Pattern[str], version: str, name: str) -> str:
    lines = text.splitlines(keepends=True)
    hits = [i for i, line in enumerate(lines) if pattern.match(line.rstrip("\n"))]
    if len(hits) != 1:
        raise ReleaseError(f"expected one version line in {name}, found {len(hits)}")
    line = lines[hits[0]]
    ending = line[len(line.rstrip("\n")) :]
    lines[hits[0]] = pattern.sub(rf"\g<1>{version}\g<2>", line.rstrip("\n")) + ending
    return "".join(lines)


def _bump_changelog(text: str, old: str, new: str, date: str) -> str:
    lines = text.splitlines()
    if lines.count(UNRELEASED) != 1:
        raise ReleaseError(f"CHANGELOG.md needs exactly one '{UNRELEASED}' heading")
    start = lines.index(UNRELEASED)
    end = next(
        (
            i
            for i in range(start + 1, len(lines))
            if lines[i].startswith("## ") or LINK.match(lines[i])
        ),
        len(lines),
    )
    if not "\n".join(lines[start + 1 : end]).strip():
        raise ReleaseError(
            "the Unreleased section of CHANGELOG.md is empty: write down what changed"
        )
    lines[start + 1 : start + 1] = ["", f"## [{new}] - {date}"]

    # Keep a Changelog's link references: Unreleased compares against the new
    # tag, and the new version compares against the one before it.
    links = {
        match["name"]: (i, match["url"])
        for i, line in enumerate(lines)
        if (match := LINK.match(line))
    }
    if "Unreleased" in links:
        i, url = links["Unreleased"]
        if f"v{old}...HEAD" not in url:
            raise ReleaseError(f"the [Unreleased] link should compare v{old}...HEAD")
        lines[i] = f"[Unreleased]: {url.replace(f'v{old}...HEAD', f'v{new}...HEAD')}"
        base = url.split("/compare/")[0]
        lines.insert(i + 1, f"[{new}]: {base}/compare/v{old}...v{new}")
    return "\n".join(lines) + "\n"


def bump(version: str, date: str, root: Path = ROOT) -> None:
    """Set the version everywhere and date the Unreleased changes as that release."""
    new = parse_version(version)
    if problems := check_versions(root):
        raise ReleaseError("; ".join(problems))
    old = read_versions(root).manifest
    if new <= parse_version(old):
        raise ReleaseError(f"{version} is not newer than the current version {old}")
    dt.date.fromisoformat(date)

    # Everything is computed before anything is written: a failure leaves no
    # half-bumped files behind.
    manifest = _replace_one(
        (root / MANIFEST).read_text(encoding="utf-8"),
        MANIFEST_VERSION,
        version,
        "manifest.json",
    )
    pyproject = _replace_one(
        (root / PYPROJECT).read_text(encoding="utf-8"),
        PYPROJECT_VERSION,
        version,
        "pyproject.toml",
    )
    changelog = _bump_changelog(
        (root / CHANGELOG).read_text(encoding="utf-8"), old, version, date
    )
    if json.loads(manifest)["version"] != version:
        raise ReleaseError("the manifest's version line is not its top-level version")
    if tomllib.loads(pyproject)["project"]["version"] != version:
        raise ReleaseError("pyproject.toml's version line is not [project] version")
    (root / MANIFEST).write_text(manifest, encoding="utf-8")
    (root / PYPROJECT).write_text(pyproject, encoding="utf-8")
    (root / CHANGELOG).write_text(changelog, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    """Command line: bump, --check-tag or --notes."""
    parser = argparse.ArgumentParser(
        prog="scripts/release", description=__doc__.split("\n\n")[0]
    )
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("version", nargs="?", help="the new version, X.Y.Z")
    group.add_argument("--check-tag", metavar="TAG", help="check a tag such as v1.2.3")
    group.add_argument("--notes", metavar="VERSION", help="print a release's notes")
    parser.add_argument(
        "--date",
        default=dt.datetime.now(dt.UTC).date().isoformat(),
        help="the release date (default: today, UTC)",
    )
    args = parser.parse_args(argv)
    try:
        if args.check_tag:
            if problems := check_tag(args.check_tag):
                for problem in problems:
                    print(f"error: {problem}", file=sys.stderr)
                return 1
            print(
                f"{args.check_tag} matches manifest.json, pyproject.toml and CHANGELOG.md"
            )
        elif args.notes:
            sys.stdout.write(release_notes(args.notes))
        else:
            bump(args.version, args.date)
            print(
                f"Version {args.version} set in {MANIFEST}, {PYPROJECT} and {CHANGELOG}."
                "\nNext: scripts/test, then\n"
                f"  git commit -am 'Release {args.version}'\n"
                f"  git tag -a v{args.version} -m 'Release {args.version}'\n"
                f"  git push origin HEAD v{args.version}\n"
                "The release workflow publishes the GitHub release for the tag."
            )
    except ReleaseError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
