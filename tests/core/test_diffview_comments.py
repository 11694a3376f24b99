"""core.diffview.comments: a review comment stays on its line, or is outdated."""

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.core.cache import cache

from core.diffview.comments import comment_outdated, comments_by_anchor, line_text_at
from core.diffview.pages import diff_page
from tests.gitrepos import commit_files, make_repo, run_git

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")

SOURCE = "".join(f"line {n}\n" for n in range(1, 31))


@dataclass
class Comment:
    path: str
    side: str
    line: int
    line_text: str


@pytest.fixture(autouse=True)
def empty_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def review(tmp_path: Path):
    """A base, and a head that changes line 10 of app.txt."""
    repo = make_repo(tmp_path / "repo", {"app.txt": SOURCE})
    base = run_git(repo, "rev-parse", "HEAD")
    head = commit_files(repo, {"app.txt": SOURCE.replace("line 10\n", "line ten\n")})
    return repo, base, head


def only_file(repo, base, head):
    [file] = diff_page(repo, base, head).files
    return file


def test_a_line_shown_gives_its_text_on_either_side(review):
    file = only_file(*review)

    assert line_text_at(file, side="new", line=10) == "line ten"
    assert line_text_at(file, side="old", line=10) == "line 10"
    assert line_text_at(file, side="new", line=8) == "line 8"  # context
    assert line_text_at(file, side="new", line=25) is None  # not in the diff
    assert line_text_at(file, side="sideways", line=10) is None
    assert line_text_at(None, side="new", line=10) is None


def test_a_comment_stays_on_its_line_while_the_line_reads_the_same(review):
    repo, base, _ = review
    written = Comment("app.txt", "new", 10, line_text_at(only_file(*review), side="new", line=10))
    # A later commit changes another line, far from this one.
    later = commit_files(
        repo, {"app.txt": SOURCE.replace("line 10\n", "line ten\n").replace("line 29", "x")}
    )

    file = only_file(repo, base, later)

    assert not comment_outdated(file, side="new", line=10, line_text=written.line_text)


def test_a_comment_is_outdated_once_its_line_changes_or_leaves_the_diff(review):
    repo, base, _ = review
    written = Comment("app.txt", "new", 10, "line ten")
    rewritten = commit_files(repo, {"app.txt": SOURCE.replace("line 10\n", "line 10!\n")})
    # A line added above shifts "line ten" down: line 10 now holds other text.
    shifted = commit_files(
        repo, {"app.txt": "new first\n" + SOURCE.replace("line 10\n", "line ten\n")}
    )

    assert comment_outdated(
        only_file(repo, base, rewritten), side="new", line=10, line_text=written.line_text
    )
    assert comment_outdated(
        only_file(repo, base, shifted), side="new", line=10, line_text=written.line_text
    )
    assert comment_outdated(None, side="new", line=10, line_text="line ten")


def test_comments_are_grouped_by_line_and_outdated_ones_apart(review):
    repo, base, head = review
    page = diff_page(repo, base, head)
    current = Comment("app.txt", "new", 10, "line ten")
    on_old_side = Comment("app.txt", "old", 10, "line 10")
    outdated = Comment("app.txt", "new", 9, "what line 9 said before")
    elsewhere = Comment("other.txt", "new", 1, "x")

    grouped = comments_by_anchor(page, [current, on_old_side, outdated, elsewhere])

    assert grouped == {
        ("app.txt", "new", 10): [current],
        ("app.txt", "old", 10): [on_old_side],
        ("app.txt", "new", 0): [outdated],
    }
