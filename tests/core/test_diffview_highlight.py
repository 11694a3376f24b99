"""core.diffview.highlight: Pygments colours per diff line, and the stylesheet."""

import html
import re
import shutil
from pathlib import Path

import pytest
from django.core.cache import cache
from django.core.management import CommandError, call_command

from core.diffview.highlight import highlight_lines, highlight_side, lexer_for, stylesheet
from core.diffview.pages import diff_page
from core.management.commands import pygments_css
from tests.gitrepos import commit_files, make_repo, run_git

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")

MODULE = '''"""A module.

It says what it does
over several lines.
"""

import os


def main(path: str) -> int:
    """Return 1 when `path` is a folder."""
    return 1 if os.path.isdir(path) else 0  # a comment
'''


@pytest.fixture(autouse=True)
def empty_cache():
    cache.clear()
    yield
    cache.clear()


def text_of(line_html: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", line_html))


def classes_of(line_html: str) -> set[str]:
    return set(re.findall(r'<span class="([^"]+)">', line_html))


def test_each_line_is_highlighted_alone_and_reads_as_its_text():
    source = MODULE.split("\n")[:-1]

    out = highlight_lines(source, lexer_for("pkg/module.py"))

    assert [text_of(line) for line in out] == source
    assert '<span class="kn">import</span>' in out[6]
    assert '<span class="k">def</span> <span class="nf">main</span>' in out[9]
    assert "c1" in classes_of(out[11])
    # The docstring spans lines 1-5: each of them is a docstring, and closes its span.
    assert all(classes_of(out[n]) == {"sd"} for n in (0, 2, 3, 4) if out[n])
    assert all(line.count("<span") == line.count("</span>") for line in out)


def test_markup_in_code_is_escaped():
    [out] = highlight_lines(['x = "<b>&amp;</b>"'], lexer_for("a.py"))

    assert "<b>" not in out
    assert "&lt;b&gt;&amp;amp;&lt;/b&gt;" in out


def test_a_file_pygments_does_not_know_is_plain_text():
    assert highlight_lines(["def <x>:"], lexer_for("notes.unknown-ext")) == ["def &lt;x&gt;:"]


def test_a_change_inside_a_docstring_is_coloured_as_one(tmp_path: Path):
    doc = '"""Notes.\n' + "".join(f"note {n}\n" for n in range(12)) + '"""\n\nx = 1\n'
    repo = make_repo(tmp_path / "repo", {"module.py": doc})
    base = run_git(repo, "rev-parse", "HEAD")
    head = commit_files(repo, {"module.py": doc.replace("note 8\n", "note eight\n")})

    [file] = diff_page(repo, base, head).files

    # The hunk (lines 7-13) starts inside the docstring: lexed from the file's first
    # line, its lines are still a string on both sides (Pygments' "s2").
    assert file.hunks is not None and file.hunks[0].new_start == 7
    assert classes_of(file.new_html[10]) == {"s2"}
    assert classes_of(file.old_html[10]) == {"s2"}
    assert classes_of(file.new_html[7]) == {"s2"}
    assert text_of(file.new_html[10]) == "note eight"


def test_in_a_long_file_each_hunk_is_lexed_alone_and_still_lines_up(tmp_path: Path):
    filler = "".join(f"value_{n} = {n}\n" for n in range(400))
    repo = make_repo(tmp_path / "repo", {"long.py": filler})
    base = run_git(repo, "rev-parse", "HEAD")
    changed = filler.replace("value_300 = 300\n", "value_300 = 'three hundred'\n")
    head = commit_files(repo, {"long.py": changed})

    [file] = diff_page(repo, base, head).files

    lines = changed.split("\n")
    assert sorted(file.new_html) == list(range(298, 305))
    assert all(text_of(file.new_html[n]) == lines[n - 1] for n in file.new_html)
    assert "s1" in classes_of(file.new_html[301])


def test_a_side_given_too_few_lines_is_lexed_by_hunk(tmp_path: Path):
    repo = make_repo(tmp_path / "repo", {"m.py": MODULE})
    base = run_git(repo, "rev-parse", "HEAD")
    head = commit_files(repo, {"m.py": MODULE.replace("a comment", "two comments")})
    [file] = diff_page(repo, base, head).files
    assert file.hunks is not None

    shown = highlight_side(file.hunks, "new", lexer_for("m.py"), whole=["too short"])

    assert shown.keys() == file.new_html.keys()
    assert text_of(shown[12]).endswith("# two comments")


def test_the_checked_in_stylesheet_is_what_the_command_writes(tmp_path: Path, monkeypatch):
    checked_in = Path(pygments_css.__file__).parents[3] / "static" / "css" / "pygments.css"
    assert checked_in.read_text() == stylesheet()
    assert ".theme-dark .pl-code .k {" in stylesheet()

    stale = tmp_path / "pygments.css"
    stale.write_text("/* old */")
    monkeypatch.setattr(pygments_css, "TARGET", stale)
    with pytest.raises(CommandError, match="out of date"):
        call_command("pygments_css", "--check")
    call_command("pygments_css")
    assert stale.read_text() == stylesheet()
