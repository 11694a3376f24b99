"""{% diff_rows file %}: a file's diff lines, for templates/core/_diff.html."""

from collections.abc import Sequence
from typing import Any

from django import template
from django.template.context import Context
from django.template.loader import get_template
from django.utils.safestring import SafeString, mark_safe

from core.diffview.pages import DiffFile
from core.diffview.rows import file_rows_html

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

    html = file_rows_html(
        file,
        view=str(context.get("diff_view") or "unified"),
        comment_url=str(context.get("comment_url") or ""),
        comments=context.get("comments_by_anchor") or {},
        render_thread=render_thread,
    )
    # Every piece of text in it went through html.escape (core/diffview/rows.py).
    return mark_safe(html)
