"""Property tests for the GSD and Markdown importers: whatever the input (random bytes,
random text, text shaped like a plan), the result is a plan or a PlanImportError with a
message, never another exception."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planning.importers import ImportSource, PlanImportError, parse_source

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _parses_or_explains(files: dict[str, bytes], fmt: str) -> None:
    try:
        source = ImportSource(name="upload", files={})
        for name, data in files.items():
            source.files.update(ImportSource.from_bytes(name, data).files)
        document = parse_source(source, fmt)
    except PlanImportError as exc:
        assert str(exc)
    else:
        json.dumps(document.to_snapshot())
        assert all(t.name for t in document.tasks)


@FAST
@given(st.binary(max_size=300), st.sampled_from(["gsd", "markdown", "auto"]))
def test_random_bytes_give_a_plan_or_a_clear_error(data, fmt):
    name = "01-01-PLAN.md" if fmt == "gsd" else "PRD.md"
    _parses_or_explains({name: data}, fmt)


@FAST
@given(st.text(max_size=400), st.sampled_from(["gsd", "markdown", "auto"]))
def test_random_text_gives_a_plan_or_a_clear_error(text, fmt):
    _parses_or_explains({"07-03-REAL-OPERATORS-PLAN.md": text.encode()}, fmt)
    _parses_or_explains({"notes.md": text.encode()}, fmt)


scalars = st.one_of(
    st.integers(-3, 120),
    st.sampled_from(["01", "1.5", "02.1", "x", "", "07-query", "true", "[1", "{a: b}", "null"]),
    st.text(alphabet="0123456789.-abc :", max_size=6),
)
refs = st.lists(
    st.sampled_from(
        ["01-01", "01-02", "1-1", "09-04", "01-01-slug", "after Phase 16 M2M", "", "x"]
    ),
    max_size=3,
)
front_keys = st.fixed_dictionaries(
    {},
    optional={
        "phase": scalars,
        "plan": scalars,
        "wave": scalars,
        "type": st.sampled_from(["execute", "tdd", "other"]),
        "depends_on": refs.map(json.dumps) | scalars,
        "autonomous": st.sampled_from(["true", "false", "yes", "maybe", ""]),
        "files_modified": st.sampled_from(["[]", "[a.py, b.py]", "a.py", "{}"]),
        "must_haves": st.sampled_from(["{}", "[]", "x", "{truths: [a]}", "{truths: 3}"]),
        "name": st.text(max_size=30).map(json.dumps),
    },
)
fragments = st.sampled_from(
    [
        '<task type="auto">',
        '<task type="checkpoint:decision">',
        '<task type="nope">',
        "<task>",
        "</task>",
        "<tasks>",
        "</tasks>",
        "<name>- Do it:</name>",
        "<name>",
        "</name>",
        "<action>\nline one\nline two\n</action>",
        "<verify>make test</verify>",
        "<done>ok</done>",
        "<files>a.py, b.py</files>",
        "<feature><name>F</name><behavior>b</behavior></feature>",
        "<feature>",
        "<objective>Build the thing. Then more.</objective>",
        "<options><option id='a'><name>A</name></option></options>",
        "```\n<task>\n```",
        "```",
        "## Task 1: Heading task",
        "**Files:** x.py",
        "<",
        ">",
        "\u0000",
        "\ufeff",
        "caf\u00e9 \u00e2\u20ac\u201d",
    ]
)


@st.composite
def gsd_files(draw) -> dict[str, bytes]:
    front = draw(front_keys)
    head = "".join(f"{k}: {v}\n" for k, v in front.items())
    opened = draw(st.sampled_from(["---\n", "", "---\n"]))
    closed = draw(st.sampled_from(["---\n", "", "---\n"])) if opened else ""
    body = "\n".join(draw(st.lists(fragments | st.text(max_size=20), max_size=12)))
    name = draw(
        st.sampled_from(
            ["01-01-PLAN.md", "PLAN.md", "07-03-REAL-OPERATORS-PLAN.md", "x/02-1-PLAN.md", "a.md"]
        )
    )
    files = {f".planning/phases/01-a/{name}": (opened + head + closed + body).encode()}
    if draw(st.booleans()):
        lines = draw(
            st.lists(
                st.sampled_from(
                    [
                        "- [x] **Phase 1: Core** - done",
                        "- [ ] **Phase 4+: Later**",
                        "### Phase 1: Core",
                        "### Phase 2.1: Fix (INSERTED)",
                        "**Goal**: g",
                        "**Plans**: TBD",
                        "- [x] 01-02: Seed",
                        "- [ ] 01-01-PLAN.md — x",
                        "Phase 9: loose",
                    ]
                ),
                max_size=8,
            )
        )
        files[".planning/ROADMAP.md"] = "\n".join(lines).encode()
    return files


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(gsd_files(), st.sampled_from(["gsd", "auto"]))
def test_random_gsd_shaped_text_gives_a_plan_or_a_clear_error(files, fmt):
    _parses_or_explains(files, fmt)


markdown_lines = st.sampled_from(
    [
        "# Title",
        "## Feature",
        "### Sub",
        "- item",
        "- [x] done item (high)",
        "1. numbered [P0]",
        "  - nested detail",
        "- after it (after item)",
        "- second (depends on F01-T1, and nothing like it)",
        "- third (after Phase 16 M2M (2026-04-25))",
        "- loop (after loop)",
        "- [ ]",
        "-",
        "```",
        "prose",
        "",
    ]
)


@FAST
@given(st.lists(markdown_lines | st.text(max_size=15), max_size=15))
def test_random_markdown_shaped_text_gives_a_plan_or_a_clear_error(lines):
    _parses_or_explains({"PRD.md": "\n".join(lines).encode()}, "markdown")
