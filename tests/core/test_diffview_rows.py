"""The diff fragments (templates/core/_diff.html, core.diffview.rows), rendered by
Django's template engine from real repositories."""

import re
import shutil
from dataclasses import dataclass
from html import unescape
from pathlib import Path

import pytest
from django.core.cache import cache
from django.template.loader import get_template
from django.test import RequestFactory

from core.diffview.pages import COLLAPSE_LINES, diff_page, line_anchor
from tests.gitrepos import commit_files, make_repo, run_git

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")

APP = "def total(a, b):\n    return a + b\n\n\nprint(total(1, 2))\n"


@dataclass
class Note:
    body: str
    author_label: str
    outdated: bool = False


@pytest.fixture(autouse=True)
def empty_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def review(tmp_path: Path):
    repo = make_repo(tmp_path / "repo", {"app.py": APP, "logo.png": "x"})
    base = run_git(repo, "rev-parse", "HEAD")
    head = commit_files(
        repo,
        {
            "app.py": APP.replace("a + b", "a - b"),
            "logo.png": b"\x00\x01\x02",
            "page.html": "<script>alert(1)</script>\n",
            "huge.txt": "".join(f"row {n}\n" for n in range(COLLAPSE_LINES + 1)),
            'odd "name" <b>.txt': "x\n",
        },
    )
    return repo, base, head


def render(page, *, view="unified", query=None, partial="diff-page", **context):
    request = RequestFactory().get("/review/", query or {})
    template = get_template(f"core/_diff.html#{partial}")
    return template.render({"diff": page, "diff_view": view, **context}, request=request)


def row_of(html: str, anchor: str) -> str:
    """The <tr> holding the line number whose id is `anchor`."""
    at = html.index(f'id="{anchor}"')
    return html[html.rindex("<tr", 0, at) : html.index("</tr>", at) + 5]


def test_the_unified_view_numbers_and_colours_each_line(review):
    page = diff_page(*review)

    html = render(page)

    removed = row_of(html, line_anchor("app.py", "old", 2))
    added = row_of(html, line_anchor("app.py", "new", 2))
    assert 'class="pl pl--del" data-side="old" data-line="2"' in removed
    assert 'class="pl pl--add" data-side="new" data-line="2"' in added
    assert '<span class="k">return</span> a <span class="o">-</span> b' in added
    context = row_of(html, line_anchor("app.py", "new", 1))
    assert f'id="{line_anchor("app.py", "old", 1)}"' in context  # both numbers
    assert "@@ -1,5 +1,5 @@" in html
    assert 'data-path="app.py"' in html


def test_the_split_view_puts_a_replaced_line_beside_its_replacement(review):
    html = render(diff_page(*review), view="split")

    row = row_of(html, line_anchor("app.py", "new", 2))
    assert 'class="pl-table pl-table--split"' in html
    assert f'id="{line_anchor("app.py", "old", 2)}"' in row
    assert 'class="pl-code pl-code--del" data-side="old" data-line="2"' in row
    assert 'class="pl-code pl-code--add" data-side="new" data-line="2"' in row
    added_alone = row_of(html, line_anchor("page.html", "new", 1))
    assert "pl-code--empty" in added_alone


@pytest.mark.parametrize(("view", "columns"), [("unified", 3), ("split", 4)])
def test_each_table_names_its_columns_so_line_numbers_stay_narrow(review, view, columns):
    # The tables are laid out fixed: without <col>s the columns would share the width
    # as the first row, a hunk header across all of them, does (numbers as wide as code).
    html = render(diff_page(*review), view=view)

    table = html[html.index('<table class="pl-table') :]
    colgroup = table[: table.index("</colgroup>")]
    assert table.index("<colgroup>") < table.index('<tr class="pl-hunk">')
    assert colgroup.count("<col") - 1 == columns  # "<colgroup" itself
    assert colgroup.count('class="pl-col-num"') == 2


def test_binary_collapsed_and_added_files_say_what_they_are(review):
    html = render(diff_page(*review), query={"view": "split"})

    assert "Binary file: not shown." in html
    assert f"Large diff ({COLLAPSE_LINES + 1} changed lines) hidden." in html
    assert 'href="?view=split&amp;file=huge.txt"' in html
    assert 'hx-get="?view=split&amp;file=huge.txt"' in html
    assert '<span class="pf-status pf-status--added">added</span>' in html


def test_text_and_names_from_the_repository_are_escaped(review):
    html = render(diff_page(*review), comment_url="/c/")

    assert "<script>" not in html
    row = row_of(html, line_anchor("page.html", "new", 1))
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in re.sub(r"<[^>]+>", "", row)
    assert "<b>.txt" not in html
    assert 'data-path="odd &quot;name&quot; &lt;b&gt;.txt"' in html
    assert "&quot;odd \\&quot;name\\&quot; &lt;b&gt;.txt&quot;" in html  # in hx-vals' JSON


@pytest.mark.parametrize("view", ["unified", "split"])
def test_text_and_paths_beyond_ascii_are_shown_as_written_by_an_ascii_page(tmp_path, view):
    text = 'def greet():\n    return "Grüße — ✓ 日本"  # naïve\n'
    repo = make_repo(tmp_path / "repo", {"greet.py": "def greet():\n    return 1\n"})
    base = run_git(repo, "rev-parse", "HEAD")
    head = commit_files(repo, {"greet.py": text, "notes/café.md": "½ ∑\n"})

    html = render(diff_page(repo, base, head), view=view, comment_url="/c/")

    # One character beyond ASCII would make the whole page's text wider to copy and
    # encode; a browser reads the character references as the characters.
    assert html.isascii()
    shown = unescape(re.sub(r"<[^>]+>", "", html))
    assert 'return "Grüße — ✓ 日本"  # naïve' in shown
    assert "½ ∑" in shown and "café.md" in shown


def test_nothing_the_content_policy_blocks(review):
    html = render(diff_page(*review), comment_url="/c/", view="split")

    assert " style=" not in html
    assert "<script" not in html
    assert "hx-on" not in html


def test_the_toolbar_and_tree_keep_the_query_string(review):
    repo, base, head = review
    page = diff_page(repo, base, head)

    html = render(page, query={"view": "split", "tab": "files"}, view="split")

    assert 'href="?view=split&amp;tab=files&amp;ws=ignore"' in html
    assert 'href="?tab=files"' in html  # unified is the default: no view= at all
    assert "5 files changed" in html
    assert f'href="#{page.files[0].anchor}"' in html
    ignored = render(diff_page(repo, base, head, ignore_whitespace=True), query={"ws": "ignore"})
    assert "Show whitespace changes" in ignored


def test_other_pages_are_linked_from_the_tree_and_the_pager(tmp_path):
    repo = make_repo(tmp_path / "repo", {"README.md": "x\n"})
    base = run_git(repo, "rev-parse", "HEAD")
    head = commit_files(repo, {f"f{n:02}.txt": "x\n" for n in range(25)})

    html = render(diff_page(repo, base, head, page=1))
    split = render(diff_page(repo, base, head, page=1), query={"view": "split", "page": "1"})

    later = diff_page(repo, base, head, page=2).files[0]
    assert f'href="?page=2#{later.anchor}"' in html
    assert f'href="?view=split&amp;page=2#{later.anchor}"' in split
    assert 'href="?page=2" rel="next">Next files &rarr;</a>' in html
    assert "Page 1 of 2" in html


def test_comments_show_under_their_line_and_outdated_ones_after_the_file(review):
    page = diff_page(*review)
    comments = {
        ("app.py", "new", 2): [Note("Why <minus>?", "alice")],
        ("app.py", "new", 0): [Note("Old remark", "bob", outdated=True)],
    }

    html = render(page, comments_by_anchor=comments)

    row = row_of(html, line_anchor("app.py", "new", 2))
    after = html[html.index(row) + len(row) :]
    thread = after[: after.index("</tr>")]
    assert thread.startswith('<tr class="pl-thread">')
    assert "Why &lt;minus&gt;?" in thread and "alice" in thread
    leftovers = html[html.index("pl-leftovers") :]
    assert "Old remark" in leftovers and "Outdated" in leftovers
    assert html.count("pl-thread") == 1


def test_each_line_offers_a_comment_only_with_a_comment_url(review):
    page = diff_page(*review)

    with_url = render(page, comment_url="/reviews/7/comment/")
    without = render(page)

    row = row_of(with_url, line_anchor("app.py", "old", 2))
    assert 'hx-get="/reviews/7/comment/?side=old&amp;line=2"' in row
    assert 'hx-target="#comment-form" hx-vals="{&quot;path&quot;: &quot;app.py&quot;}"' in with_url
    assert 'id="comment-form"' in with_url
    assert "pl-comment" not in without


def test_one_file_renders_alone_for_htmx(review):
    page = diff_page(*review, only_path="huge.txt")

    html = render(page, partial="diff-file", file=page.files[0])

    assert html.strip().startswith(f'<section class="pf pf--added" id="{page.files[0].anchor}"')
    assert len(re.findall(r'class="pl pl--add"', html)) == COLLAPSE_LINES + 1


def test_rows_kept_from_an_earlier_view_never_hide_new_comments_or_links(review):
    page = diff_page(*review)
    render(page)  # cached: no comments, no comment link
    comments = {("app.py", "new", 2): [Note("Now commented", "alice")]}

    commented = render(page, comments_by_anchor=comments)
    linked = render(diff_page(*review), comment_url="/c/")

    assert "Now commented" in commented
    assert 'hx-get="/c/?side=new&amp;line=2"' in linked
    assert "pl-comment" not in render(diff_page(*review))


@pytest.mark.parametrize("view", ["unified", "split"])
def test_every_id_on_the_page_is_unique(review, view):
    html = render(diff_page(*review), view=view, comment_url="/c/")

    ids = re.findall(r' id="([^"]+)"', html)
    assert len(ids) > 15
    assert len(ids) == len(set(ids))


def test_a_folder_cut_short_in_the_tree_keeps_its_whole_name_in_a_title(tmp_path):
    repo = make_repo(tmp_path / "repo", {"README.md": "x\n"})
    base = run_git(repo, "rev-parse", "HEAD")
    folder = "src/integrations/payment_providers_with_long_names"
    head = commit_files(repo, {f"{folder}/handler.py": "pass\n"})

    html = render(diff_page(repo, base, head), partial="diff-tree")

    assert f'<span class="pd-tree-dir" title="{folder}/">{folder}/</span>' in html
