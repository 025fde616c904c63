"""The docs hold together: README is the short overview, every link and rule citation resolves, and
the generated config reference is what the models give now."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict, Field

from schemas.reference import DocReferenceError, reference_table, splice
from tasks import docref

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
README = ROOT / "README.md"
RULES = DOCS / "rules.md"

# Where code lives whose comments may cite a rule (the docs are checked by the link test below).
CODE_DIRS = ("release", "reconciler", "feed", "schemas", "tasks", "bench", "tests", "systemd", "targets")
CODE_SUFFIXES = {".py", ".yaml", ".yml", ".service", ".path", ".env", ".toml"}

LINK = re.compile(r"\]\(([^)\s]+)\)")
CITATION = re.compile(r"docs/rules\.md#([A-Za-z0-9_-]+)")
# Our pages are lower case; `docs/RELEASE.md` is the app's own, in the app workspace the sandbox seeds.
DOC_REFERENCE = re.compile(r"(?<![\w/])docs/([a-z][a-z0-9_-]*\.md)(?:#([A-Za-z0-9_-]+))?")
# The old citations pointed at sections of documents that are not in the repository: "design §2",
# "rulebook §6", "(§2)", "rule 7". An RFC section ("RFC 8032 §5.1.6") is a real, public reference.
STALE_CITATION = re.compile(r"(?<!\w)(?:§\s*\d|rules? \d+\b)")
RFC_SECTION = re.compile(r"RFC \d+,? §\s*\d")


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = page.read_text(encoding="utf-8")
    out = {_slug(m.group(1)) for m in re.finditer(r"^#{1,6} (.+)$", text, re.M)}
    out |= set(re.findall(r'<a id="([^"]+)"></a>', text))
    return out


def _code_files() -> list[Path]:
    files = []
    for folder in CODE_DIRS:
        files += [p for p in (ROOT / folder).rglob("*") if p.is_file() and p.suffix in CODE_SUFFIXES]
    # This file names the patterns it looks for.
    return sorted(p for p in files if p != Path(__file__).resolve())


def test_readme_is_the_short_overview_and_links_every_docs_page() -> None:
    data = README.read_bytes()
    assert len(data) < 10 * 1024, f"README is {len(data)} bytes; move detail into docs/"
    text = data.decode()
    assert text.startswith("# nexy-release\n\n```\n./inv demo\n./inv test\n```\n")
    assert "## Platforms" in text
    linked = {Path(target.split("#")[0]) for target in LINK.findall(text)}
    pages = {page.relative_to(ROOT) for page in DOCS.glob("*.md")}
    assert pages >= {
        Path("docs", name)
        for name in (
            "runbook.md",
            "vm.md",
            "production.md",
            "feed.md",
            "architecture.md",
            "rules.md",
            "performance.md",
        )
    }
    assert pages - linked == set(), "every docs/ page is linked from README"


@pytest.mark.parametrize("page", [README, *sorted(DOCS.glob("*.md"))], ids=lambda p: p.name)
def test_every_relative_link_and_anchor_resolves(page: Path) -> None:
    broken = []
    for target in LINK.findall(page.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            broken.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            broken.append(f"{target}: no heading #{anchor} in {dest.name}")
    assert broken == []


def test_each_rule_has_a_stable_anchor_on_its_heading() -> None:
    text = RULES.read_text(encoding="utf-8")
    pairs = re.findall(r'^<a id="(r\d+)"></a>\n## (R\d+): .+$', text, re.M)
    assert len(pairs) >= 10
    assert all(anchor == heading.lower() for anchor, heading in pairs)
    assert len(pairs) == len(re.findall(r"^## ", text, re.M)), "every rule heading carries its anchor"


def test_every_rule_citation_in_the_code_names_a_heading_in_rules_md() -> None:
    anchors = _anchors(RULES)
    cited: dict[str, list[str]] = {}
    for path in _code_files():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for anchor in CITATION.findall(line):
                cited.setdefault(anchor, []).append(f"{path.relative_to(ROOT)}:{number}")
    assert cited, "the code cites rules as docs/rules.md#rN"
    missing = {anchor: where for anchor, where in cited.items() if anchor not in anchors}
    assert missing == {}


def test_every_docs_reference_in_the_code_resolves() -> None:
    broken = []
    for path in _code_files():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for page, anchor in DOC_REFERENCE.findall(line):
                dest = DOCS / page
                if not dest.exists() or (anchor and anchor not in _anchors(dest)):
                    broken.append(f"{path.relative_to(ROOT)}:{number}: docs/{page}#{anchor}")
    assert broken == []


def test_no_comment_cites_a_section_that_is_not_in_the_repository() -> None:
    stale = []
    for path in _code_files():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if STALE_CITATION.search(RFC_SECTION.sub("", line)):
                stale.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert stale == [], "cite docs/rules.md#rN instead"


def test_config_reference_in_the_docs_is_what_the_models_give() -> None:
    assert docref.stale() == [], "run ./inv schemas"
    for page, text in docref.rendered().items():
        assert (ROOT / page).read_text(encoding="utf-8") == text
        assert "| `alerts.webhooks[].secret_env` |" in text


def test_regenerating_a_page_changes_only_its_block_and_is_idempotent(tmp_path: Path) -> None:
    for page in docref.blocks():
        (tmp_path / page).parent.mkdir(parents=True, exist_ok=True)
        original = (ROOT / page).read_text(encoding="utf-8")
        begin = original.index("<!-- BEGIN GENERATED:")
        end = original.index("<!-- END GENERATED:")
        emptied = original[: original.index("\n", begin) + 1] + original[end:]
        (tmp_path / page).write_text(emptied, encoding="utf-8")
    assert docref.stale(tmp_path) == [str(page) for page in docref.blocks()]
    assert docref.export(tmp_path) == [str(page) for page in docref.blocks()]
    for page in docref.blocks():
        assert (tmp_path / page).read_text(encoding="utf-8") == (ROOT / page).read_text(encoding="utf-8")
    assert docref.export(tmp_path) == []


class _Documented(BaseModel):
    model_config = ConfigDict(extra="forbid")

    port: int = Field(default=8080, ge=1, le=65535, description="Where it listens.")
    mode: str = Field(default="a|b", description="A pipe | inside.")


class _Undocumented(BaseModel):
    documented: int = Field(default=1, description="Has one.")
    bare: int = 2


def test_the_reference_lists_type_bounds_default_and_description() -> None:
    table = reference_table(_Documented)
    assert "| `port` | integer, ≥ 1 and ≤ 65535 | `8080` | Where it listens. |" in table
    # A pipe in a cell is escaped, or it would split the row.
    assert "| `mode` | string | `a\\|b` | A pipe \\| inside. |" in table


def test_a_field_without_a_description_is_refused() -> None:
    with pytest.raises(DocReferenceError, match=r"_Undocumented\.bare has no description"):
        reference_table(_Undocumented)


def test_splice_replaces_only_the_marked_block_and_refuses_a_page_without_one() -> None:
    page = "intro\n<!-- BEGIN GENERATED: x -->\nold\n<!-- END GENERATED: x -->\noutro\n"
    assert (
        splice(page, "x", "new\n")
        == "intro\n<!-- BEGIN GENERATED: x -->\nnew\n<!-- END GENERATED: x -->\noutro\n"
    )
    with pytest.raises(DocReferenceError):
        splice(page, "y", "new\n")
