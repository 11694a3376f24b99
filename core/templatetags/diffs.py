"""{% diff_page_rows %}, {% diff_rows file %}, {% diff_tree diff %} and `|ascii_html`: a
page's lines, its file tree and its paths, for templates/core/_diff.html."""

from collections.abc import Sequence
from typing import Any

from django import template
from django.http import QueryDict
from django.template.context import Context
from django.template.loader import get_template
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe

from core.diffview.pages import DiffFile, DiffPage
from core.diffview.rows import ascii_html, files_rows_html
from core.diffview.tree import tree_html

register = template.Library()

THREAD_TEMPLATE = "core/_diff.html#diff-comments"


def _rows(context: Context, files: list[DiffFile]) -> dict[str, str]:
    thread = get_template(THREAD_TEMPLATE)
    request = context.get("request")

    def render_thread(comments: Sequence[Any], outdated: bool) -> str:
        context_data = {"comments": comments, "outdated": outdated}
        return str(thread.render(context_data, request=request))

    return files_rows_html(
        files,
        view=str(context.get("diff_view") or "unified"),
        comment_url=str(context.get("comment_url") or ""),
        comments=context.get("comments_by_anchor") or {},
        render_thread=render_thread,
    )


@register.simple_tag(takes_context=True)
def diff_page_rows(context: Context, diff: DiffPage) -> dict[str, str]:
    """{% diff_page_rows diff as diff_rows_html %}: the rows of every file of the page,
    read in one cache round trip, for the {% diff_rows %} of each file."""
    return _rows(context, list(diff.files))


@register.simple_tag(takes_context=True)
def diff_rows(context: Context, file: DiffFile) -> SafeString:
    """The file's hunks in the context's `diff_view`, with the context's
    `comments_by_anchor` under their lines and an "add comment" button to `comment_url`
    (from the context's `diff_rows_html` when {% diff_page_rows %} read them)."""
    prefetched = context.get("diff_rows_html") or {}
    html = prefetched.get(file.anchor)
    if html is None:
        html = _rows(context, [file]).get(file.anchor, "")
    # Every piece of text in it went through html.escape (core/diffview/rows.py).
    return mark_safe(html)


@register.simple_tag(takes_context=True)
def diff_tree(context: Context, diff: DiffPage) -> SafeString:
    """The file tree's rows; links to other pages keep the request's query string."""
    request = context.get("request")
    query = request.GET.copy() if request is not None else QueryDict(mutable=True)
    query.pop("page", None)
    query.pop("file", None)
    # Every name went through html.escape (core/diffview/tree.py).
    return mark_safe(ascii_html(tree_html(diff, query.urlencode())))


@register.filter(name="ascii_html")
def ascii_html_filter(value: str) -> SafeString:
    """`value` escaped, every character beyond ASCII written as a character reference:
    a path in a page of rows that are all ASCII (core.diffview.rows.ascii_html)."""
    return mark_safe(ascii_html(str(conditional_escape(value))))
