"""
Every relative link of the README, CONTRIBUTING, CHANGELOG and docs/*.md resolves: the file or
folder exists, and an anchor (`page.md#section`, `#section`) names a heading of its page, by
GitHub's rule for heading anchors. Plain text only: no AllenNLP import, no network.
"""
import re
from pathlib import Path
from typing import Dict, List, Set, Tuple

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted(
    [ROOT / "README.md", ROOT / "CONTRIBUTING.md", ROOT / "CHANGELOG.md"]
    + list((ROOT / "docs").glob("*.md"))
)

# [text](target) or ![alt](target); the target ends at whitespace or the closing parenthesis.
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^\s*(```|~~~)")
INLINE_CODE = re.compile(r"`[^`]*`")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def prose_lines(text: str) -> List[Tuple[int, str]]:
    """The page's lines outside fenced and indented code blocks, inline code removed."""
    lines = []
    in_fence = False
    previous_blank = True
    in_indented = False
    for number, line in enumerate(text.splitlines(), start=1):
        if FENCE.match(line):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        blank = not line.strip()
        if line.startswith("    ") and (previous_blank or in_indented) and not blank:
            in_indented = True
            previous_blank = False
            continue
        if not blank:
            in_indented = False
        previous_blank = blank
        lines.append((number, INLINE_CODE.sub("", line)))
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, markup and punctuation gone, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
    text = text.replace("`", "").replace("*", "").strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Path) -> Set[str]:
    """The anchors of a page's headings, duplicates numbered as GitHub does (`name-1`, ...)."""
    seen: Dict[str, int] = {}
    result = set()
    in_fence = False
    for line in page.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            in_fence = not in_fence
            continue
        match = None if in_fence else HEADING.match(line)
        if not match:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        result.add(base if count == 0 else f"{base}-{count}")
    return result


def relative_links(page: Path) -> List[Tuple[int, str]]:
    links = []
    for number, line in prose_lines(page.read_text(encoding="utf-8")):
        for match in LINK.finditer(line):
            target = match.group(1)
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:, ...
                continue
            links.append((number, target))
    return links


def broken_links(page: Path, root: Path = ROOT) -> List[str]:
    problems = []
    for number, target in relative_links(page):
        path_part, _, anchor = target.partition("#")
        linked = (page.parent / path_part).resolve() if path_part else page
        where = f"{page.relative_to(root)}:{number}: {target}"
        if not linked.exists():
            problems.append(f"{where}: no such file or folder")
            continue
        if anchor:
            if linked.suffix != ".md":
                problems.append(f"{where}: an anchor into a file that is not markdown")
            elif anchor not in anchors(linked):
                problems.append(f"{where}: no heading with anchor #{anchor} in {linked.name}")
    return problems


def test_the_pages_exist():
    names = {page.name for page in PAGES}
    for name in [
        "README.md",
        "installation.md",
        "usage.md",
        "configuration.md",
        "data.md",
        "method.md",
        "experiments.md",
        "benchmarks.md",
        "results.md",
    ]:
        assert name in names


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_relative_links_resolve(page):
    assert broken_links(page) == []


def test_the_checker_finds_a_broken_file_and_anchor(tmp_path):
    (tmp_path / "other.md").write_text("# Title\n\n## The `mft_stage1` initializer\n")
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n"
        "[fine](other.md#the-mft_stage1-initializer) [here](#page)\n"
        "[missing](nowhere.md) [bad anchor](other.md#no-such-section)\n"
        "[web](https://example.org/x.md) `[in code](nowhere.md)`\n"
        "\n"
        "    [indented code](nowhere.md)\n"
        "```\n[fenced](nowhere.md)\n```\n"
    )
    assert broken_links(page, root=tmp_path) == [
        "page.md:3: nowhere.md: no such file or folder",
        "page.md:3: other.md#no-such-section: no heading with anchor #no-such-section in other.md",
    ]


def test_slug_follows_githubs_rule():
    assert slug("Into your own environment (pip route, outside the clone)") == (
        "into-your-own-environment-pip-route-outside-the-clone"
    )
    assert slug("Any reader as a multi-domain reader: `mft_multi_domain`") == (
        "any-reader-as-a-multi-domain-reader-mft_multi_domain"
    )
    assert slug("Start-up of an experiment's runs") == "start-up-of-an-experiments-runs"
    assert slug("Paper → code") == "paper--code"
