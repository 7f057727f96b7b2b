"""Every relative link in README.md and docs/*.md points at something that exists.

External links (``http(s)://``, ``mailto:``) are not fetched: tests run offline.
A ``#fragment`` must name a heading of the target Markdown file, slugged the
way GitHub does.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest
from deploy_helpers import ROOT

FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
INLINE_LINK = re.compile(r"!?\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_DEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+\"[^\"]*\")?\s*$")
INLINE_CODE = re.compile(r"(`+)(?:(?!\1).)+?\1")
HTML_ANCHOR = re.compile(r"<a\s+(?:name|id)=\"([^\"]+)\"")
EXTERNAL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def _prose_lines(text: str) -> list[str]:
    """Lines outside fenced code blocks, inline code removed."""
    out, fenced, marker = [], False, ""
    for line in text.splitlines():
        m = FENCE.match(line)
        if m and (not fenced or m.group(1) == marker):
            fenced, marker = (not fenced), m.group(1)
            continue
        if not fenced:
            out.append(INLINE_CODE.sub("", line))
    return out


def slug(heading: str) -> str:
    """GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens.

    >>> slug("Sharding: `[sharding]`")
    'sharding-sharding'
    """
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # links keep their text
    text = text.replace("`", "").lower()
    kept = [ch for ch in text if ch in " -_" or unicodedata.category(ch)[0] in ("L", "N")]
    return "".join(kept).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every anchor a link into ``path`` may use."""
    seen: dict[str, int] = {}
    out: set[str] = set()
    text = path.read_text(encoding="utf-8")
    fenced, marker = False, ""
    for line in text.splitlines():
        m = FENCE.match(line)
        if m and (not fenced or m.group(1) == marker):
            fenced, marker = (not fenced), m.group(1)
            continue
        if fenced:
            continue
        h = HEADING.match(line)
        if h:
            base = slug(h.group(2))
            n = seen.get(base, 0)
            seen[base] = n + 1
            out.add(base if n == 0 else f"{base}-{n}")
        out.update(HTML_ANCHOR.findall(line))
    return out


def links(path: Path) -> list[str]:
    """Link targets written in ``path`` (inline and reference definitions)."""
    found: list[str] = []
    for line in _prose_lines(path.read_text(encoding="utf-8")):
        found.extend(INLINE_LINK.findall(line))
        ref = REFERENCE_DEF.match(line)
        if ref:
            found.append(ref.group(1))
    return found


def broken_links(path: Path, root: Path = ROOT) -> list[str]:
    """Problems with the relative links of one Markdown file."""
    problems = []
    for target in links(path):
        if EXTERNAL.match(target):
            continue
        file_part, _, fragment = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path.resolve()
        if not dest.is_relative_to(root.resolve()):
            problems.append(f"{target}: points outside the repository")
            continue
        if not dest.exists():
            problems.append(f"{target}: {dest.relative_to(root.resolve())} does not exist")
            continue
        if fragment and dest.suffix == ".md" and fragment not in anchors(dest):
            problems.append(f"{target}: no heading #{fragment} in {dest.name}")
    return problems


DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(path: Path) -> None:
    assert broken_links(path) == []


def test_the_index_lists_every_page() -> None:
    index = (ROOT / "docs" / "README.md").read_text(encoding="utf-8")
    for page in sorted((ROOT / "docs").glob("*.md")):
        if page.name != "README.md" and page.stat().st_size > 0:
            assert f"]({page.name})" in index, f"docs/README.md does not link {page.name}"


def test_the_checker_finds_broken_links(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# Title\n\n## Sharding: `[sharding]`\n\n## Title\n")
    page = tmp_path / "page.md"
    page.write_text(
        "\n".join(
            [
                "# Page",
                "[ok](other.md) [ok](other.md#sharding-sharding) [ok](other.md#title-1)",
                "[ok](#page) [ext](https://example.com/x) `[code](missing.md)`",
                "```",
                "[fenced](missing.md)",
                "```",
                "[bad](missing.md) [bad](other.md#nope) [bad](#nope)",
                "[ref]: gone.md",
            ]
        )
    )
    problems = broken_links(page, root=tmp_path)
    assert len(problems) == 4, problems
    assert any("missing.md" in p for p in problems)
    assert any("#nope" in p and "other.md" in p for p in problems)
    assert any("gone.md" in p for p in problems)
