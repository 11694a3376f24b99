"""Plan text written in Markdown (task names, descriptions, objectives, checkpoint
questions), rendered for the page and sanitised, so `**bold**` and backticks read as
intended and nothing in a plan can inject markup."""

from functools import lru_cache

import nh3
from django import template
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt

register = template.Library()

# Raw HTML in the source is escaped by the parser; nh3 is the second fence, over the
# parser's own output (links, for one, keep only safe schemes and get rel attributes).
_parser = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])

BLOCK_TAGS = {
    "p", "br", "strong", "em", "code", "pre", "a", "ul", "ol", "li", "blockquote",
    "h1", "h2", "h3", "h4", "h5", "h6", "hr", "table", "thead", "tbody", "tr", "th", "td",
    "s", "del",
}  # fmt: skip
INLINE_TAGS = {"strong", "em", "code", "a", "s", "del", "br"}
ATTRIBUTES = {"a": {"href", "title"}, "th": {"align"}, "td": {"align"}}
URL_SCHEMES = {"http", "https", "mailto"}

# Titles repeat across pages and polls; rendering each once keeps long lists cheap.
CACHE_SIZE = 4096


@lru_cache(maxsize=CACHE_SIZE)
def render_block(text: str) -> str:
    html = _parser.render(text)
    return nh3.clean(
        html,
        tags=BLOCK_TAGS,
        attributes=ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
    )


@lru_cache(maxsize=CACHE_SIZE)
def render_inline(text: str) -> str:
    html = _parser.renderInline(text)
    return nh3.clean(
        html,
        tags=INLINE_TAGS,
        attributes={"a": {"href", "title"}},
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
    )


@register.filter(name="markdown")
def markdown_filter(text: object) -> SafeString:
    """Paragraphs, lists, code and tables: for descriptions and questions."""
    return mark_safe(render_block(str(text or "")))  # sanitised by nh3 above


@register.filter(name="markdown_inline")
def markdown_inline_filter(text: object) -> SafeString:
    """Emphasis, code and links only, with no paragraph: for names and titles."""
    return mark_safe(render_inline(str(text or "")))  # sanitised by nh3 above
