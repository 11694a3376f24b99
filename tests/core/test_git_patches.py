"""core.git.patches: a diff's file list and hunks, from real repositories."""

import shutil
from pathlib import Path

import pytest

from core.git import GitError
from core.git.patches import (
    ADD,
    ADDED,
    CONTEXT,
    CR_SYMBOL,
    DEL,
    DELETED,
    MODIFIED,
    RENAMED,
    ZERO_ID,
    blob_sizes,
    blob_texts,
    diff_entries,
    file_patches,
    parse_patch,
)
from tests.gitrepos import make_repo, run_git

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")

NUMBERED = "".join(f"line {n}\n" for n in range(1, 21))


def commit_all(repo: Path, message: str = "change") -> str:
    run_git(repo, "add", "-A")
    run_git(repo, "commit", "-q", "-m", message)
    return run_git(repo, "rev-parse", "HEAD")


def write(repo: Path, name: str, content: str | bytes) -> None:
    path = repo / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)


def patches(repo: Path, base: str, head: str, *, ignore_whitespace: bool = False):
    entries = diff_entries(repo, base, head, ignore_whitespace=ignore_whitespace)
    found = file_patches(repo, base, head, entries, ignore_whitespace=ignore_whitespace)
    return entries, dict(zip([e.path for e in entries], found, strict=True))


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(
        tmp_path / "repo",
        {"numbers.txt": NUMBERED, "gone.txt": "bye\n", "old name.txt": NUMBERED},
    )


def test_a_modified_file_has_its_lines_numbered_on_both_sides(repo):
    base = run_git(repo, "rev-parse", "HEAD")
    write(repo, "numbers.txt", NUMBERED.replace("line 10\n", "line ten\nline 10.5\n"))
    head = commit_all(repo)

    entries, found = patches(repo, base, head)

    [entry] = entries
    assert (entry.path, entry.status, entry.additions, entry.deletions) == (
        "numbers.txt",
        MODIFIED,
        2,
        1,
    )
    [hunk] = found["numbers.txt"].hunks
    assert (hunk.old_start, hunk.old_count, hunk.new_start, hunk.new_count) == (7, 7, 7, 8)
    assert [(line.kind, line.old, line.new, line.text) for line in hunk.lines] == [
        (CONTEXT, 7, 7, "line 7"),
        (CONTEXT, 8, 8, "line 8"),
        (CONTEXT, 9, 9, "line 9"),
        (DEL, 10, None, "line 10"),
        (ADD, None, 10, "line ten"),
        (ADD, None, 11, "line 10.5"),
        (CONTEXT, 11, 12, "line 11"),
        (CONTEXT, 12, 13, "line 12"),
        (CONTEXT, 13, 14, "line 13"),
    ]


def test_added_deleted_and_renamed_files_say_so(repo):
    base = run_git(repo, "rev-parse", "HEAD")
    write(repo, "src/new.py", "print('hi')\n")
    (repo / "gone.txt").unlink()
    run_git(repo, "mv", "old name.txt", "new name.txt")
    write(repo, "new name.txt", NUMBERED.replace("line 20", "line twenty"))
    head = commit_all(repo)

    entries, found = patches(repo, base, head)

    by_path = {e.path: e for e in entries}
    added, deleted, renamed = by_path["src/new.py"], by_path["gone.txt"], by_path["new name.txt"]
    assert (added.status, added.old_path, added.new_path, added.old_blob) == (
        ADDED,
        None,
        "src/new.py",
        ZERO_ID,
    )
    assert (deleted.status, deleted.old_path, deleted.new_path, deleted.new_blob) == (
        DELETED,
        "gone.txt",
        None,
        ZERO_ID,
    )
    assert (renamed.status, renamed.old_path, renamed.new_path) == (
        RENAMED,
        "old name.txt",
        "new name.txt",
    )
    assert renamed.similarity > 50
    assert (renamed.additions, renamed.deletions) == (1, 1)
    assert [line.text for line in found["src/new.py"].hunks[0].lines] == ["print('hi')"]
    assert [(line.kind, line.old) for line in found["gone.txt"].hunks[0].lines] == [(DEL, 1)]
    rename = found["new name.txt"]
    assert (rename.status, rename.old_path, rename.new_path) == (
        RENAMED,
        "old name.txt",
        "new name.txt",
    )
    assert [line.text for line in rename.hunks[0].lines if line.kind == ADD] == ["line twenty"]
    # Sizes come from the blobs: the list knows a file's bytes before reading its lines.
    assert renamed.new_size == len(NUMBERED.replace("line 20", "line twenty"))


def test_a_binary_file_is_flagged_and_not_parsed(repo):
    base = run_git(repo, "rev-parse", "HEAD")
    write(repo, "logo.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    head = commit_all(repo)

    entries, found = patches(repo, base, head)

    [entry] = entries
    assert entry.binary and (entry.additions, entry.deletions) == (0, 0)
    assert found["logo.png"].binary
    assert found["logo.png"].hunks == ()
    assert found["logo.png"].status == ADDED


def test_bytes_that_are_not_utf8_read_as_replacement_characters(repo):
    base = run_git(repo, "rev-parse", "HEAD")
    write(repo, "latin1.txt", "café = 1\n".encode("latin-1"))
    head = commit_all(repo)

    _, found = patches(repo, base, head)

    [line] = found["latin1.txt"].hunks[0].lines
    assert line.text == "caf\ufffd = 1"


def test_a_missing_final_newline_is_marked_on_its_line(repo):
    write(repo, "tail.txt", "a\nb")
    base = commit_all(repo, "no newline")
    write(repo, "tail.txt", "a\nb\nc")
    head = commit_all(repo)

    _, found = patches(repo, base, head)

    lines = found["tail.txt"].hunks[0].lines
    assert [(line.kind, line.text, line.no_newline) for line in lines] == [
        (CONTEXT, "a", False),
        (DEL, "b", True),  # the base ended without a newline after "b"
        (ADD, "b", False),
        (ADD, "c", True),
    ]


def test_whitespace_only_changes_hide_when_whitespace_is_ignored(repo):
    write(repo, "code.py", "def f():\n    return 1\n")
    base = commit_all(repo, "code")
    write(repo, "code.py", "def f():\n\treturn 1\n")
    write(repo, "numbers.txt", NUMBERED.replace("line 3\n", "line  3\nline three\n"))
    head = commit_all(repo)

    shown_entries, shown = patches(repo, base, head)
    hidden_entries, hidden = patches(repo, base, head, ignore_whitespace=True)

    assert {e.path: e.changed_lines for e in shown_entries} == {"code.py": 2, "numbers.txt": 3}
    assert shown["code.py"] is not None
    code = next(e for e in hidden_entries if e.path == "code.py")
    assert code.whitespace_only and code.changed_lines == 0
    assert hidden["code.py"] is None
    # In a file with other changes, only the whitespace change goes: "line  3" stays.
    numbers = hidden["numbers.txt"]
    assert [(line.kind, line.text) for line in numbers.hunks[0].lines if line.kind != CONTEXT] == [
        (ADD, "line three")
    ]


def test_names_with_spaces_and_accents_are_read_back(repo):
    base = run_git(repo, "rev-parse", "HEAD")
    write(repo, "docs/read me.md", "# hi\n")
    write(repo, "docs/café ☕.txt", "x\n")
    write(repo, 'quote"d.txt', "y\n")
    head = commit_all(repo)

    entries, found = patches(repo, base, head)

    assert {e.path for e in entries} == {"docs/read me.md", "docs/café ☕.txt", 'quote"d.txt'}
    assert all(found[path] is not None and found[path].hunks for path in found)
    assert found["docs/café ☕.txt"].new_path == "docs/café ☕.txt"


def test_lines_that_look_like_headers_stay_lines(repo):
    write(repo, "notes.txt", "-- a/x\n++ b/y\ndiff --git a b\nkeep\n")
    base = commit_all(repo, "notes")
    write(repo, "notes.txt", "keep\n++ b/z\n")
    head = commit_all(repo)

    _, found = patches(repo, base, head)

    lines = [(line.kind, line.text) for line in found["notes.txt"].hunks[0].lines]
    assert lines == [
        (DEL, "-- a/x"),
        (DEL, "++ b/y"),
        (DEL, "diff --git a b"),
        (CONTEXT, "keep"),
        (ADD, "++ b/z"),
    ]


def test_carriage_returns_are_dropped_at_line_ends_and_shown_inside_lines(repo):
    base = run_git(repo, "rev-parse", "HEAD")
    write(repo, "dos.txt", b"one\r\ntwo\rhalf\r\n")
    head = commit_all(repo)

    _, found = patches(repo, base, head)

    assert [line.text for line in found["dos.txt"].hunks[0].lines] == [
        "one",
        f"two{CR_SYMBOL}half",
    ]


def test_a_mode_change_alone_has_no_hunks(repo):
    base = run_git(repo, "rev-parse", "HEAD")
    (repo / "numbers.txt").chmod(0o755)
    head = commit_all(repo)

    entries, found = patches(repo, base, head)

    [entry] = entries
    assert (entry.old_mode, entry.new_mode, entry.changed_lines) == ("100644", "100755", 0)
    assert found["numbers.txt"].hunks == ()
    assert (found["numbers.txt"].old_mode, found["numbers.txt"].new_mode) == ("100644", "100755")


def test_only_the_files_asked_for_are_read(repo):
    base = run_git(repo, "rev-parse", "HEAD")
    write(repo, "a.txt", "a\n")
    write(repo, "b.txt", "b\n")
    head = commit_all(repo)
    entries = diff_entries(repo, base, head)

    [only_b] = file_patches(repo, base, head, [e for e in entries if e.path == "b.txt"])

    assert only_b is not None and only_b.path == "b.txt"


def test_a_revision_that_looks_like_an_option_is_refused(repo):
    with pytest.raises(GitError, match="is not a revision"):
        diff_entries(repo, "--output=/tmp/x", "HEAD")


def test_blobs_are_read_by_id_in_one_call(repo):
    head = run_git(repo, "rev-parse", "HEAD")
    blob = run_git(repo, "rev-parse", f"{head}:numbers.txt")

    assert blob_texts(repo, [blob, ZERO_ID]) == {blob: NUMBERED.encode()}
    assert blob_sizes(repo, [blob, "f" * 40]) == {blob: len(NUMBERED)}


def test_a_long_patch_parses_to_the_counts_git_gives(repo):
    # Correctness on a large input: 300 files, 30,000 changed lines, one pass.
    base = run_git(repo, "rev-parse", "HEAD")
    for n in range(300):
        write(repo, f"gen/file_{n:03}.txt", "".join(f"row {n} {k}\n" for k in range(100)))
    head = commit_all(repo)
    entries = diff_entries(repo, base, head)
    text = run_git(repo, "diff", "--no-color", base, head)

    parsed = parse_patch(text)

    assert len(parsed) == len(entries) == 300
    assert sum(p.additions for p in parsed) == sum(e.additions for e in entries) == 30_000
    assert parsed[-1].hunks[0].lines[-1].text == "row 299 99"
