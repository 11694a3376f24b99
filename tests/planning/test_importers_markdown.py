"""The Markdown PRD importer's dependency phrases, done items, and size."""

from planning.importers.markdown import parse_markdown

PRD = """## Shop
- [x] Dockerfile
- Add/edit form
- Search and filter
- Deploy after Dockerfile and after Add/edit form
- Announce, after Search and filter
- Report (depends on F01-T1, task 2 and after Search)
"""


def _deps(document):
    return {t.key: t.depends_on for t in document.tasks if t.depends_on}


def test_after_x_and_after_y_names_two_dependencies():
    document = parse_markdown(PRD)
    names = {t.key: t.name for t in document.tasks}
    assert names["F01-T4"] == "Deploy"
    assert _deps(document)["F01-T4"] == ["F01-T1", "F01-T2"]


def test_a_name_holding_and_is_one_dependency():
    document = parse_markdown(PRD)
    assert _deps(document)["F01-T5"] == ["F01-T3"]
    # Keys, numbers and a unique part of a name, mixed in one phrase.
    assert _deps(document)["F01-T6"] == ["F01-T1", "F01-T2", "F01-T3"]


def test_checked_items_come_in_done():
    document = parse_markdown(PRD)
    assert [t.key for t in document.tasks if t.status == "done"] == ["F01-T1"]


def test_an_ambiguous_part_of_a_name_matches_nothing():
    document = parse_markdown("## A\n- Build API\n- Build UI\n- Ship (after Build)\n", path="p.md")
    assert _deps(document) == {}
    assert document.tasks[2].extra["dependency_notes"] == ["Build"]
    assert document.warnings == [
        "p.md:4: 'Build' in a dependency phrase matches no task; kept as a note on the task"
    ]


def test_a_dependency_that_names_no_task_is_a_note_with_a_warning():
    document = parse_markdown(
        "## A\n- one\n- two, after one and after nothing like it\n", path="requirements"
    )
    assert _deps(document) == {"F01-T2": ["F01-T1"]}
    assert document.tasks[1].extra["dependency_notes"] == ["nothing like it"]
    assert document.warnings == [
        "requirements:3: 'nothing like it' in a dependency phrase matches no task; "
        "kept as a note on the task"
    ]


def test_positions_count_per_feature_in_a_large_prd():
    # Positions and prose are decided per feature as the items come (not by recounting
    # the items before each one): the 3,000th item of its feature is its 3,000th.
    lines = []
    for feature in range(3):
        lines += [f"## Area {feature}", f"About area {feature}."]
        lines += [f"- Part {n} of {feature}" for n in range(1, 3001)]
    document = parse_markdown("\n".join(lines))
    last = document.tasks[-1]
    assert (last.key, last.position, last.name) == ("F03-T3000", 3000, "Part 3000 of 2")
    assert [f.description for f in document.features] == [f"About area {n}." for n in range(3)]
