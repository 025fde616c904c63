"""The docs hold together: README is the short overview, every link and rule citation resolves, and
the generated references (the reconciler's config, the feed's options, the target file, both metrics
tables) are what the models, the parser and the metrics registries give now."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Annotated, Literal

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from pydantic import BaseModel, ConfigDict, Field

from tasks import docref
from tasks.reference import DocReferenceError, metrics_table, options_table, reference_table, splice

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
README = ROOT / "README.md"
RULES = DOCS / "rules.md"

# Where code lives whose comments may cite a rule (the docs are checked by the link test below).
CODE_DIRS = (
    "release",
    "reconciler",
    "feed",
    "schemas",
    "tasks",
    "bench",
    "tests",
    "systemd",
    "targets",
    "deploy",
)
CODE_SUFFIXES = {".py", ".yaml", ".yml", ".service", ".path", ".env", ".toml", ".conf"}

LINK = re.compile(r"\]\(([^)\s]+)\)")
CITATION = re.compile(r"docs/rules\.md#([A-Za-z0-9_-]+)")
# Our pages are lower case; `docs/RELEASE.md` is the app's own, in the app workspace the sandbox seeds.
DOC_REFERENCE = re.compile(r"(?<![\w/])docs/([a-z][a-z0-9_-]*\.md)(?:#([A-Za-z0-9_-]+))?")
# The old citations pointed at sections of documents that are not in the repository: "design §2",
# "rulebook §6", "(§2)", "rule 7", "DoD 4", "the rulebook's step B". An RFC section ("RFC 8032 §5.1.6") is a real, public reference.
STALE_CITATION = re.compile(r"(?<!\w)(?:§\s*\d|rules? \d+\b|DoD \d|rulebook's step [A-Z]\b)")
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


# A row each generated block must hold: proof the block is filled from the right source.
EXPECTED_ROWS = {
    ("docs/vm.md", "reconciler-config"): "| `alerts.webhooks[].secret_env` |",
    ("docs/feed.md", "server-health"): "| `status` | `ok` | required |",
    ("docs/feed.md", "feed-health"): "| `channels.beta.sha256` | string | required | the dmg's sha256 |",
    ("docs/feed.md", "feed-options"): "| `--max-connections` | integer | `4096` | concurrent connections;",
    ("docs/production.md", "target-file"): "| `remote.reconciler_user` | string or null | `null` |",
    ("docs/feed.md", "feed-metrics"): "| `nexy_feed_appcast_checks_total` | counter | `channel`, `version` |",
    ("docs/feed.md", "reconciler-metrics"): "| `nexy_reconciler_pass_duration_seconds` | histogram | – |",
}


def _block(text: str, name: str) -> str:
    begin = f"<!-- BEGIN GENERATED: {name} -->\n"
    return text[text.index(begin) + len(begin) : text.index(f"<!-- END GENERATED: {name} -->")]


def test_generated_references_in_the_docs_are_what_the_models_and_parsers_give() -> None:
    assert docref.stale() == [], "run ./inv schemas"
    rendered = docref.rendered()
    named = {(str(page), name) for page, sources in docref.blocks().items() for name in sources}
    assert named == set(EXPECTED_ROWS)
    for page, text in rendered.items():
        assert (ROOT / page).read_text(encoding="utf-8") == text
    for (page, name), row in EXPECTED_ROWS.items():
        assert row in _block(rendered[Path(page)], name)


def test_the_feed_options_table_lists_every_flag_nexy_feed_takes() -> None:
    from feed.cli import _build_parser

    table = _block((ROOT / "docs/feed.md").read_text(encoding="utf-8"), "feed-options")
    flags = [
        option
        for action in _build_parser()._actions
        for option in action.option_strings
        if option not in ("-h", "--help")
    ]
    assert len(flags) >= 20
    assert [flag for flag in flags if f"| `{flag}` |" not in table] == []
    # The table has its own default column: the help's "(default …)" for --help is not repeated.
    assert re.search(r"\(default \S+\) \|$", table, re.M) is None


def test_the_target_reference_has_one_table_per_variant_of_each_union() -> None:
    table = _block((ROOT / "docs/production.md").read_text(encoding="utf-8"), "target-file")
    for key, values in (
        ("store", ("github", "local")),
        ("remote", ("azure", "local")),
        ("version_files[]", ("regex", "toml", "plist")),
        ("signing.key", ("keychain", "file", "env")),
    ):
        for value in values:
            assert f"**`{key}` with `kind: {value}`**" in table
    assert "| `store.token_env` | string | `GITHUB_TOKEN` |" in table
    assert (
        "| `version_files[].keys` | list of string | `[CFBundleShortVersionString, CFBundleVersion]` |"
        in table
    )
    assert "| `signing.key.var` | string | `SPARKLE_ED_KEY_FILE` |" in table


def _empty_blocks(text: str) -> str:
    return re.sub(
        r"(<!-- BEGIN GENERATED: ([\w-]+) -->\n).*?(<!-- END GENERATED: \2 -->)", r"\1\3", text, flags=re.S
    )


def test_regenerating_a_page_changes_only_its_block_and_is_idempotent(tmp_path: Path) -> None:
    for page in docref.blocks():
        (tmp_path / page).parent.mkdir(parents=True, exist_ok=True)
        original = (ROOT / page).read_text(encoding="utf-8")
        emptied = _empty_blocks(original)
        assert emptied != original
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


class _Github(BaseModel):
    kind: Literal["github"] = Field(description="GitHub.")
    token_env: str = Field(default="GITHUB_TOKEN", description="The token's variable.")


class _Local(BaseModel):
    kind: Literal["local"] = Field(description="A directory.")
    root: str = Field(description="Where.")


class _Key(BaseModel):
    kind: Literal["file"] = Field(description="A key file.")
    path: str = Field(description="Its path.")


class _Signing(BaseModel):
    key: Annotated[_Key | _Local, Field(discriminator="kind", description="The key, by kind.")]


class _WithUnions(BaseModel):
    store: Annotated[_Github | _Local, Field(discriminator="kind", description="Where, by kind.")]
    files: tuple[Annotated[_Github | _Local, Field(discriminator="kind")], ...] = Field(
        default=(), description="Files, by kind."
    )
    signing: _Signing | None = Field(default=None, description="Optional signing.")
    service: str = Field(default="", description="Empty means all.")


class _Undiscriminated(BaseModel):
    store: _Github | _Local = Field(description="No discriminator.")


def test_a_discriminated_union_is_one_row_and_one_sub_table_per_variant() -> None:
    table = reference_table(_WithUnions)
    main, *subtables = table.split("\n\n")
    assert "| `store` | mapping by `kind`: `github` \\| `local` | required | Where, by kind. |" in main
    assert "| `files` | list of mappings by `kind`: `github` \\| `local` | `[]` | Files, by kind. |" in main
    # An optional model is walked like a required one; the union inside it gets its sub-tables too.
    assert "| `signing` | mapping or null | `null` | Optional signing. |" in main
    assert "| `signing.key` | mapping by `kind`: `file` \\| `local` | required | The key, by kind. |" in main
    # An empty default is shown as "", not as an empty code span (which would not render).
    assert '| `service` | string | `""` | Empty means all. |' in main
    headings = [part for part in subtables if part.startswith("**")]
    assert headings == [
        "**`store` with `kind: github`**",
        "**`store` with `kind: local`**",
        "**`files[]` with `kind: github`**",
        "**`files[]` with `kind: local`**",
        "**`signing.key` with `kind: file`**",
        "**`signing.key` with `kind: local`**",
    ]
    by_heading = dict(zip(subtables[::2], subtables[1::2], strict=True))
    assert by_heading["**`store` with `kind: github`**"].splitlines()[2:] == [
        "| `store.kind` | `github` | required | GitHub. |",
        "| `store.token_env` | string | `GITHUB_TOKEN` | The token's variable. |",
    ]
    assert "| `files[].root` | string | required | Where. |" in by_heading["**`files[]` with `kind: local`**"]
    assert (
        "| `signing.key.path` | string | required | Its path. |"
        in by_heading["**`signing.key` with `kind: file`**"]
    )


def test_a_union_of_models_without_a_discriminator_is_refused() -> None:
    with pytest.raises(DocReferenceError, match=r"union of _Github, _Local has no discriminator"):
        reference_table(_Undiscriminated)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="demo-cli")
    parser.add_argument("--root", type=Path, required=True, help="the tree")
    parser.add_argument("--port", type=int, default=8080, help="where it listens (default %(default)s)")
    parser.add_argument("--level", default="info", choices=("info", "debug"), help="one of %(choices)s")
    parser.add_argument("--dry-run", action="store_true", help="change nothing")
    parser.add_argument("--hidden", help=argparse.SUPPRESS)
    return parser


def test_the_options_table_reads_the_parser_as_help_does() -> None:
    table = options_table(_parser())
    assert table.splitlines() == [
        "| option | value | default | what it is |",
        "|---|---|---|---|",
        "| `--root` | path | required | the tree |",
        # The default column holds the default; the help's "(default …)" suffix is for --help.
        "| `--port` | integer | `8080` | where it listens |",
        "| `--level` | `info` \\| `debug` | `info` | one of info, debug |",
        "| `--dry-run` | flag | – | change nothing |",
    ]


def test_a_flag_without_help_is_refused() -> None:
    parser = _parser()
    parser.add_argument("--bare", default=1)
    with pytest.raises(DocReferenceError, match=r"demo-cli --bare has no help text"):
        options_table(parser)


class _Html(BaseModel):
    link: str = Field(
        default="<b>", description="Each item's <link>, as `<link>` in code; a bound < 1 stays."
    )


def test_text_that_reads_as_html_is_escaped_outside_code_spans() -> None:
    # GitHub drops an unknown tag such as <link> from the page; inside a code span it is literal.
    assert "| `link` | string | `<b>` | Each item's &lt;link>, as `<link>` in code; a bound < 1 stays. |" in (
        reference_table(_Html)
    )


def test_the_reconciler_map_names_every_module_once() -> None:
    # docs/architecture.md's "Inside reconciler/" table: one row per module, so a rename or a new
    # module cannot leave the map behind.
    text = (DOCS / "architecture.md").read_text(encoding="utf-8")
    section = text.split("## Inside `reconciler/`\n", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| (`[^|]+`) \|", section, re.M)
    named = [name for row in rows for name in re.findall(r"`(\w+)`", row) if name != "module"]
    modules = sorted(p.stem for p in (ROOT / "reconciler").glob("*.py") if p.stem != "__init__")
    assert sorted(named) == modules


def test_the_metrics_table_reads_names_types_labels_and_help_from_the_registry() -> None:
    registry = CollectorRegistry()
    # No child yet: the label names can only come from the metric's definition.
    Counter("demo_hits", "Hits, by route | status.", ["route", "status"], registry=registry)
    Gauge("demo_up", "1 when up.", registry=registry)
    Histogram("demo_seconds", "Time taken.", buckets=(0.5, 2.0), registry=registry)
    assert metrics_table(registry).splitlines() == [
        "| metric | type | labels | what it counts |",
        "|---|---|---|---|",
        "| `demo_hits_total` | counter | `route`, `status` | Hits, by route \\| status. |",
        "| `demo_up` | gauge | – | 1 when up. |",
        "| `demo_seconds` | histogram | – | Time taken. Buckets: 0.5, 2.0, +Inf. |",
    ]


def test_a_metric_without_help_is_refused() -> None:
    registry = CollectorRegistry()
    Counter("demo_documented", "Has one.", registry=registry)
    Counter("demo_bare", "", ["sink"], registry=registry)
    with pytest.raises(DocReferenceError, match=r"^metric demo_bare_total has no help text"):
        metrics_table(registry)
