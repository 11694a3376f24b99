"""core.diffview.pages: a diff a page of files at a time, from real repositories."""

import shutil
from pathlib import Path

import pytest
from django.core.cache import cache

from core.diffview import pages
from core.diffview.pages import (
    COLLAPSE_LINES,
    PAGE_FILES,
    DiffFileNotFound,
    diff_options,
    diff_page,
    diff_warm,
)
from core.git import GitError
from tests.gitrepos import commit_files, make_repo, run_git

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")


@pytest.fixture(autouse=True)
def empty_cache():
    # What is cached is keyed by commit and blob ids, which tests share when they write
    # the same files: each test starts from nothing read.
    cache.clear()
    yield
    cache.clear()


def lines(prefix: str, count: int) -> str:
    return "".join(f"{prefix} {n}\n" for n in range(count))


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo", {"README.md": "hello\n"})


def head_of(repo: Path) -> str:
    return run_git(repo, "rev-parse", "HEAD")


def test_sixty_files_come_twenty_to_a_page_with_the_whole_tree_on_each(repo):
    base = head_of(repo)
    head = commit_files(repo, {f"src/f{n:02}.txt": lines(f"file {n}", 10) for n in range(60)})

    second = diff_page(repo, base, head, page=2)

    assert (second.number, second.page_count, second.file_count) == (2, 3, 60)
    assert [f.path for f in second.files] == [f"src/f{n:02}.txt" for n in range(20, 40)]
    assert all(f.hunks and len(f.hunks[0].lines) == 10 for f in second.files)
    # The tree lists every file with its counts; only this page's files were read.
    assert len([row for row in second.tree if row.file]) == 60
    assert (second.tree[0].name, second.tree[0].additions) == ("src", 600)
    assert all(f.hunks is None for f in second.entries)
    assert second.has_previous and second.has_next
    assert (second.additions, second.deletions) == (600, 0)


def test_a_page_ends_when_its_changed_lines_would_pass_the_budget(repo):
    base = head_of(repo)
    head = commit_files(repo, {f"big{n}.txt": lines("row", 400) for n in range(10)})

    first = diff_page(repo, base, head)

    # 7 files of 400 lines fit in 3,000; an eighth would not.
    assert [f.path for f in first.files] == [f"big{n}.txt" for n in range(7)]
    assert first.page_count == 2
    assert len(first.files) < PAGE_FILES


def test_a_page_past_the_last_is_the_last(repo):
    base = head_of(repo)
    head = commit_files(repo, {"a.txt": "a\n"})

    page = diff_page(repo, base, head, page=99)

    assert (page.number, page.page_count, [f.path for f in page.files]) == (1, 1, ["a.txt"])


def test_two_equal_commits_make_one_empty_page(repo):
    head = head_of(repo)

    page = diff_page(repo, head, head)

    assert (page.number, page.page_count, page.files, page.tree) == (1, 1, (), ())


def test_a_big_file_is_collapsed_and_opens_on_its_own(repo):
    base = head_of(repo)
    head = commit_files(
        repo, {"huge.txt": lines("row", COLLAPSE_LINES + 100), "small.txt": "small\n"}
    )

    page = diff_page(repo, base, head)
    alone = diff_page(repo, base, head, only_path="huge.txt")

    huge = next(f for f in page.files if f.path == "huge.txt")
    assert huge.collapsed and huge.hunks is None
    assert next(f for f in page.files if f.path == "small.txt").hunks
    [opened] = alone.files
    assert not opened.collapsed
    assert opened.hunks is not None and len(opened.hunks[0].lines) == COLLAPSE_LINES + 100
    assert not alone.has_next and alone.only_path == "huge.txt"


def test_a_file_of_few_lines_but_many_bytes_is_collapsed(repo):
    base = head_of(repo)
    head = commit_files(repo, {"bundle.min.js": "x" * 500_000 + "\n"})

    [bundle] = diff_page(repo, base, head).files

    assert bundle.collapsed and bundle.hunks is None
    assert bundle.entry.new_size == 500_001


def test_a_file_too_large_even_alone_is_not_read(repo, monkeypatch):
    monkeypatch.setattr(pages, "MAX_LINES", 50)
    base = head_of(repo)
    head = commit_files(repo, {"data.csv": lines("cell", 80)})

    [data] = diff_page(repo, base, head, only_path="data.csv").files

    assert data.too_large and data.hunks is None


def test_a_file_not_in_the_diff_cannot_be_opened(repo):
    base = head_of(repo)
    head = commit_files(repo, {"a.txt": "a\n"})

    with pytest.raises(DiffFileNotFound, match=r"nowhere\.txt"):
        diff_page(repo, base, head, only_path="nowhere.txt")


def test_binary_and_whitespace_only_files_are_listed_but_not_read(repo):
    base = commit_files(repo, {"code.py": "x = 1\n", "logo.png": b"\x00\x01"})
    head = commit_files(repo, {"code.py": "x  =  1\n", "logo.png": b"\x00\x02"})

    page = diff_page(repo, base, head, ignore_whitespace=True)

    files = {f.path: f for f in page.files}
    assert files["logo.png"].binary and files["logo.png"].hunks is None
    assert files["code.py"].whitespace_only and files["code.py"].hunks is None
    assert diff_page(repo, base, head).files[0].hunks  # shown when whitespace counts


def test_folders_with_one_folder_inside_merge_in_the_tree(repo):
    base = head_of(repo)
    head = commit_files(
        repo,
        {"src/app/a.py": "a\n", "src/app/b.py": "b\nb\n", "docs/guide.md": "g\n"},
    )

    tree = diff_page(repo, base, head).tree

    assert [(row.name, row.depth, row.additions, row.file is None) for row in tree] == [
        ("docs", 0, 1, True),
        ("guide.md", 1, 1, False),
        ("src/app", 0, 3, True),
        ("a.py", 1, 1, False),
        ("b.py", 1, 2, False),
    ]


def test_a_page_seen_before_needs_no_git(repo, tmp_path):
    base = head_of(repo)
    head = commit_files(repo, {f"f{n}.py": f"x = {n}\n" for n in range(30)})
    first = diff_page(repo, base, head, page=1)

    shutil.rmtree(repo)  # no repository: only the cache can answer
    again = diff_page(repo, base, head, page=1)

    assert again.files == first.files
    with pytest.raises(GitError):
        diff_page(repo, base, head, page=2)


def test_warming_reads_every_page_ahead(repo):
    base = head_of(repo)
    head = commit_files(repo, {f"f{n:02}.py": f"x = {n}\n" for n in range(45)})

    assert diff_warm(repo, base, head) == 3

    shutil.rmtree(repo)
    assert [len(diff_page(repo, base, head, page=n).files) for n in (1, 2, 3)] == [20, 20, 5]


def test_revisions_by_name_are_resolved_to_commit_ids(repo):
    base = head_of(repo)
    run_git(repo, "branch", "before")
    head = commit_files(repo, {"a.txt": "a\n"})

    page = diff_page(repo, "before", "main")

    assert (page.base, page.head) == (base, head)


def test_the_query_string_picks_the_options():
    assert diff_options({"view": "split", "ws": "ignore", "page": "3", "file": "a b.py"}) == (
        pages.DiffOptions(view="split", ignore_whitespace=True, page=3, only_path="a b.py")
    )
    assert diff_options({"view": "sideways", "page": "-1"}) == pages.DiffOptions()
    assert diff_options({"page": "99999999999"}).page == 1
