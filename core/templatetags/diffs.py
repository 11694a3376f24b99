"""{% diff_rows file %} and {% diff_tree diff %}: a file's lines and the file tree, for
templates/core/_diff.html."""

from collections.abc import Sequence
from typing import Any

from django import template
from django.http import QueryDict
from django.template.context import Context
from django.template.loader import get_template
from django.utils.safestring import SafeString, mark_safe

from core.diffview.pages import DiffFile, DiffPage
from core.diffview.rows import cached_file_rows_html
from core.diffview.tree import tree_html

register = template.Library()

THREAD_TEMPLATE = "core/_diff.html#diff-comments"


@register.simple_tag(takes_context=True)
def diff_rows(context: Context, file: DiffFile) -> SafeString:
    """The file's hunks in the context's `diff_view`, with the context's
    `comments_by_anchor` under their lines and an "add comment" link to `comment_url`."""
    thread = get_template(THREAD_TEMPLATE)

    def render_thread(comments: Sequence[Any], outdated: bool) -> str:
        context_data = {"comments": comments, "outdated": outdated}
        return str(thread.render(context_data, request=context.get("request")))

    html = cached_file_rows_html(
        file,
        view=str(context.get("diff_view") or "unified"),
        comment_url=str(context.get("comment_url") or ""),
        comments=context.get("comments_by_anchor") or {},
        render_thread=render_thread,
    )
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
    return mark_safe(tree_html(diff, query.urlencode()))
