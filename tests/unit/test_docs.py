"""The documentation stays whole: the configuration reference is the settings' own, every
relative link leads to a file (and a heading) that exists, and the README stays a front
door rather than the manual."""

from __future__ import annotations

import re
from pathlib import Path

from vodstack import settings_doc

ROOT = Path(__file__).resolve().parents[2]
README_MOST_LINES = 250
_FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
_CODE = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)


def _pages() -> list[Path]:
    return [ROOT / "README.md", ROOT / "bench" / "README.md", *sorted(ROOT.glob("docs/*.md"))]


def _prose(path: Path) -> str:
    """The page without its code, where brackets are not links."""
    return _CODE.sub("", _FENCE.sub("", path.read_text()))


def anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation gone, spaces as hyphens."""
    text = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    return {anchor(match) for match in _HEADING.findall(_FENCE.sub("", path.read_text()))}


def broken_links(page: Path, root: Path = ROOT) -> list[str]:
    broken = []
    for target in _LINK.findall(_prose(page)):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):
            continue  # a URL elsewhere, not a file of this repository
        file_part, _, fragment = target.partition("#")
        linked = (page.parent / file_part).resolve() if file_part else page
        where = f"{page.relative_to(root)}: {target}"
        if not linked.exists():
            broken.append(f"{where} (no such file)")
        elif fragment and linked.suffix == ".md" and fragment not in _anchors(linked):
            broken.append(f"{where} (no such heading)")
    return broken


def test_every_relative_link_in_the_docs_leads_somewhere() -> None:
    broken = [problem for page in _pages() for problem in broken_links(page)]
    assert not broken, "broken links:\n" + "\n".join(broken)


def test_the_link_check_finds_a_missing_file_and_a_missing_heading(tmp_path: Path) -> None:
    (tmp_path / "there.md").write_text("# A heading, with `code`\n")
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](there.md#a-heading-with-code) [gone](missing.md) [bad](there.md#nope)\n"
        "`[in code](missing.md)` [web](https://example.com/x.md)\n"
    )
    assert broken_links(page, tmp_path) == [
        "page.md: missing.md (no such file)",
        "page.md: there.md#nope (no such heading)",
    ]


def test_the_configuration_reference_is_in_step_with_the_settings() -> None:
    committed = (ROOT / settings_doc.REFERENCE).read_text()
    assert committed == settings_doc.render(), (
        f"{settings_doc.REFERENCE} is not in step with src/vodstack/settings.py: "
        f"run `.venv/bin/{settings_doc.COMMAND}` (or `make config-reference`) and commit it"
    )


def test_every_setting_says_what_it_does() -> None:
    assert not settings_doc.undescribed(), (
        "give these settings a description in src/vodstack/settings.py, for the "
        f"configuration reference: {', '.join(settings_doc.undescribed())}"
    )


def test_the_readme_is_a_front_door_not_the_manual() -> None:
    lines = (ROOT / "README.md").read_text().count("\n")
    assert lines <= README_MOST_LINES, (
        f"README.md has {lines} lines: keep it under {README_MOST_LINES} and move the "
        "detail into a page of docs/"
    )
