"""The documents stay true and self-contained.

docs/api.md (the contract for people) and src/api/openapi.json (the same for
programs) list the same routes, and those are the router's; every relative
link in the README and docs/ names a file of this repository (and a heading
of it, for a #fragment), never one outside it such as ../shared. These read
files only: no database, no server.
"""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path

from test_openapi import router_routes

ROOT = Path(__file__).resolve().parents[2]
API_MD = ROOT / "docs" / "api.md"
OPENAPI = ROOT / "src" / "api" / "openapi.json"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")

# A route's own heading in docs/api.md: "### `GET /api/v1/jobs/{id}`",
# optionally followed by "(planned)" for one that is not built yet.
ROUTE_HEADING = re.compile(r"^#{2,6} `(" + "|".join(METHODS) + r") (/[^`\s]*)`(.*)$")

Route = tuple[str, str]


def api_md_routes() -> tuple[set[Route], set[Route]]:
    """The built and the planned routes that docs/api.md documents."""
    built: set[Route] = set()
    planned: set[Route] = set()
    seen: list[Route] = []
    for line in API_MD.read_text(encoding="utf-8").splitlines():
        m = ROUTE_HEADING.match(line)
        if not m:
            continue
        route = (m.group(1), m.group(2))
        seen.append(route)
        (planned if "(planned)" in m.group(3) else built).add(route)
    assert len(seen) == len(set(seen)), "a route has two headings in docs/api.md"
    return built, planned


def openapi_routes() -> set[Route]:
    doc = json.loads(OPENAPI.read_text(encoding="utf-8"))
    return {
        (method.upper(), path)
        for path, ops in doc["paths"].items()
        for method in ops
        if method.upper() in METHODS
    }


def test_api_md_and_openapi_list_the_same_routes() -> None:
    built, _ = api_md_routes()
    documented = openapi_routes()
    assert sorted(documented - built) == [], "in openapi.json, missing from docs/api.md"
    assert sorted(built - documented) == [], "in docs/api.md, missing from openapi.json"


def test_planned_routes_are_not_built(tmp_path: Path) -> None:
    """A route that is built loses its "(planned)" mark in docs/api.md (none
    is planned today), and every route the router has is in docs/api.md."""
    built, planned = api_md_routes()
    router = router_routes(tmp_path)
    assert sorted(planned & openapi_routes()) == []
    assert sorted(planned & router) == []
    assert built == router


def markdown_files() -> list[Path]:
    files = [ROOT / "README.md"]
    for top in ("docs", "bench", "examples"):
        files += sorted((ROOT / top).rglob("*.md"))
    return files


FENCE = re.compile(r"^(```|~~~)")
CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1")
# [text](target "title") and ![alt](target); the text may hold one level of
# brackets ([`x[0]`](...)); the target stops at white space or ")".
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_DEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")


def prose_lines(path: Path) -> list[tuple[int, str]]:
    """The lines outside fenced code blocks, with code spans blanked."""
    out: list[tuple[int, str]] = []
    fence: str | None = None
    for no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        m = FENCE.match(line.lstrip())
        if m:
            if fence is None:
                fence = m.group(1)
            elif m.group(1) == fence:
                fence = None
            continue
        if fence is None:
            out.append((no, CODE_SPAN.sub("", line)))
    return out


def link_targets(path: Path) -> list[tuple[int, str]]:
    targets: list[tuple[int, str]] = []
    for no, line in prose_lines(path):
        targets += [(no, t) for t in INLINE_LINK.findall(line)]
        m = REFERENCE_DEF.match(line)
        if m:
            targets.append((no, m.group(1)))
    return targets


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip())
    text = text.lower()
    kept = []
    for ch in text:
        if ch in " -_" or unicodedata.category(ch)[0] in "LN":
            kept.append(ch)
    return "".join(kept).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found: set[str] = set()
    counts: dict[str, int] = {}
    fence: str | None = None
    for line in path.read_text(encoding="utf-8").splitlines():
        m = FENCE.match(line.lstrip())
        if m:
            fence = m.group(1) if fence is None else (None if m.group(1) == fence else fence)
            continue
        h = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if fence is None and h:
            base = slug(h.group(1))
            n = counts.get(base, 0)
            counts[base] = n + 1
            found.add(base if n == 0 else f"{base}-{n}")
    return found


def broken_links(path: Path, root: Path = ROOT) -> list[str]:
    """What is wrong with path's relative links, one line per link."""
    problems: list[str] = []
    where = path.relative_to(root)
    for no, target in link_targets(path):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):
            continue  # https:, mailto: and the like
        file_part, _, fragment = target.partition("#")
        if "shared" in Path(file_part).parts and ".." in Path(file_part).parts:
            problems.append(f"{where}:{no}: {target} points at ../shared")
            continue
        if file_part.startswith("/"):
            problems.append(f"{where}:{no}: {target} is absolute; link relative to the file")
            continue
        resolved = (path.parent / file_part).resolve() if file_part else path
        if root not in resolved.parents and resolved != root:
            problems.append(f"{where}:{no}: {target} leaves the repository")
        elif not resolved.exists():
            problems.append(f"{where}:{no}: {target} does not exist")
        elif fragment and resolved.suffix == ".md" and fragment not in anchors(resolved):
            problems.append(f"{where}:{no}: {target}: no heading has the anchor #{fragment}")
    return problems


def test_relative_links_name_files_of_the_repository() -> None:
    files = markdown_files()
    assert API_MD in files and len(files) > 10
    problems = [p for f in files for p in broken_links(f)]
    assert problems == []


def test_no_document_mentions_shared() -> None:
    """Not even in prose: ../shared is not in a clone of the repository."""
    hits = [
        f"{f.relative_to(ROOT)}:{no}"
        for f in markdown_files()
        for no, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1)
        if "../shared" in line or re.search(r"\bAPI\.md\b|\bCONVENTIONS\.md\b|\bDESIGN\.md\b", line)
    ]
    assert hits == []


def test_the_link_checker_sees_a_broken_link(tmp_path: Path) -> None:
    """The checker itself can fail: a page with each kind of bad link."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "api.md").write_text("# API\n", encoding="utf-8")
    page = tmp_path / "docs" / "page.md"
    page.write_text(
        "# Title\n\n## A heading: with `code`\n\n"
        "[ok](api.md) [ok](#a-heading-with-code) [ok](https://example.com/x.md)\n"
        "[shared](../shared/API.md) [missing](nothing-here.md) [anchor](api.md#no-such-part)\n"
        "[outside](../../x.md) [absolute](/docs/api.md)\n"
        "```\n[in code](missing-in-code.md)\n```\n"
        "`[span](missing-in-span.md)`\n",
        encoding="utf-8",
    )
    problems = broken_links(page, tmp_path)
    text = "\n".join(problems)
    assert len(problems) == 5, text
    for needle in ("../shared", "nothing-here.md", "#no-such-part", "leaves", "absolute"):
        assert needle in text


def test_architecture_draws_the_layering_that_checksrc_enforces() -> None:
    """docs/architecture.md's table of includes is scripts/checksrc.sh's."""
    script = (ROOT / "scripts" / "checksrc.sh").read_text(encoding="utf-8")
    enforced = {
        m.group(1): set(m.group(2).split())
        for m in re.finditer(r"^\s*\[(\w+)\]=\"([^\"]*)\"", script, re.M)
    }
    assert "core" in enforced and "main" in enforced
    drawn: dict[str, set[str]] = {}
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    section = text.split("## Modules and layers", 1)[1].split("\n## ", 1)[0]
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 2 or not cells[0].startswith("`"):
            continue
        deps = set() if cells[1].startswith("nothing") else set(cells[1].split(", "))
        for name in cells[0].split(", "):
            drawn[name.strip("`").removesuffix(".c")] = deps
    assert drawn == enforced
