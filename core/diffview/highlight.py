"""Syntax highlighting of the lines a diff shows, with Pygments, as HTML per line.

Each side of a file (the base's lines, the head's lines) is lexed as one text, so a
token spanning lines (a docstring, a block comment) is coloured right on every line it
covers, and its spans are closed and reopened at each line break so every line stands
alone in its table cell. A side is lexed from its file's first line when that costs at
most about twice the lines shown (`PREFIX_FACTOR`); otherwise, in a large file with a
few small hunks, each hunk is lexed on its own, and a hunk that starts inside a
multi-line token may be coloured as code. The classes are Pygments' short ones
(`static/css/pygments.css`, written by `manage.py pygments_css`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from html import escape

import pygments
from pygments.formatters import HtmlFormatter
from pygments.lexer import Lexer
from pygments.lexers import get_lexer_for_filename
from pygments.lexers.special import TextLexer
from pygments.styles import get_style_by_name
from pygments.token import (
    STANDARD_TYPES,
    Error,
    Token,
    Whitespace,
    _TokenType,
    is_token_subtype,
)
from pygments.util import ClassNotFound

from core.git.patches import Hunk

# Lexing from line 1 is chosen while the lines before and between the hunks are at most
# this many times the lines shown, plus PREFIX_SLACK.
PREFIX_FACTOR = 2
PREFIX_SLACK = 60
# A side showing more lines than this is escaped, not highlighted: Pygments lexes about
# 10-50k lines a second, and a file this large is read for its shape, not its colours.
HIGHLIGHT_MAX_LINES = 5_000

LIGHT_STYLE = "default"
DARK_STYLE = "github-dark"
CODE_SELECTOR = ".pl-code"
# No dark theme switches on by itself yet (app.css is light): a page opts in with this class.
DARK_SELECTOR = ".theme-dark"

_LEXER_OPTIONS = {"stripnl": False, "stripall": False, "ensurenl": True}
_CLASSES: dict[_TokenType, str] = {}


@lru_cache(maxsize=2048)
def lexer_for(path: str) -> Lexer:
    """The lexer Pygments picks for a file's name, or plain text."""
    name = path.rsplit("/", 1)[-1]
    try:
        return get_lexer_for_filename(name, None, **_LEXER_OPTIONS)
    except ClassNotFound:
        return TextLexer(**_LEXER_OPTIONS)


def lexer_key(lexer: Lexer) -> str:
    """The lexer and Pygments' version, for cache keys: another version may colour the
    same lines otherwise."""
    return f"{type(lexer).__name__}-{pygments.__version__}"


def _plain_classes(style_name: str) -> set[str]:
    # The classes a style leaves as plain text: no colour of their own, no weight.
    style = get_style_by_name(style_name)
    base = style.style_for_token(Token)["color"]
    plain = set()
    for ttype, css in STANDARD_TYPES.items():
        look = style.style_for_token(ttype)
        decorated = look["bold"] or look["italic"] or look["underline"] or look["bgcolor"]
        if not decorated and not look["border"] and look["color"] in (None, base):
            plain.add(css)
    return plain


# Names and punctuation, most of a line's tokens, are plain in both styles: they get no
# span, which halves a page's HTML.
_PLAIN = _plain_classes(LIGHT_STYLE) & _plain_classes(DARK_STYLE)


def _css_class(ttype: _TokenType) -> str:
    found = _CLASSES.get(ttype)
    if found is None:
        kind: _TokenType | None = ttype
        while kind is not None and kind not in STANDARD_TYPES:
            kind = kind.parent
        found = STANDARD_TYPES[kind] if kind is not None else ""
        # An error token is usually a hunk lexed without what comes before it: no red box.
        plain = is_token_subtype(ttype, Error) or is_token_subtype(ttype, Whitespace)
        if plain or found in _PLAIN:
            found = ""
        _CLASSES[ttype] = found
    return found


def highlight_lines(lines: Sequence[str], lexer: Lexer) -> list[str]:
    """Each of `lines` as HTML: escaped text in `<span class="…">` per run of tokens of
    one class. Falls back to escaped plain text when the lexer fails or its tokens do
    not line up."""
    if not lines:
        return []
    out: list[str] = []  # finished lines
    parts: list[str] = []  # the current line's finished runs
    run: list[str] = []  # the current run's text
    run_css = ""
    try:
        for ttype, value in lexer.get_tokens("\n".join(lines) + "\n"):
            css = _CLASSES.get(ttype)
            if css is None:
                css = _css_class(ttype)
            if css != run_css:
                if run:
                    parts.append(_span(run_css, "".join(run)))
                    run = []
                run_css = css
            if "\n" in value:
                pieces = value.split("\n")
                for piece in pieces[:-1]:
                    if piece:
                        run.append(piece)
                    if run:
                        parts.append(_span(run_css, "".join(run)))
                        run = []
                    out.append("".join(parts))
                    parts = []
                value = pieces[-1]
            if value:
                run.append(value)
    except Exception:  # a lexer is third-party code: a bug there costs colour, not the page
        return plain_lines(lines)
    if run:
        parts.append(_span(run_css, "".join(run)))
    if parts:
        out.append("".join(parts))
    if len(out) != len(lines):
        return plain_lines(lines)
    return out


def _span(css: str, text: str) -> str:
    return f'<span class="{css}">{escape(text, False)}</span>' if css else escape(text, False)


def plain_lines(lines: Sequence[str]) -> list[str]:
    """`lines` escaped, without colour."""
    return [escape(line, False) for line in lines]


def side_numbers(hunks: Sequence[Hunk], side: str) -> list[int]:
    """The line numbers the hunks show on `side` ("old" or "new"), in order."""
    attr = "old" if side == "old" else "new"
    return [n for hunk in hunks for line in hunk.lines if (n := getattr(line, attr)) is not None]


def wants_whole_side(numbers: Sequence[int]) -> bool:
    """Whether lexing this side from its first line is worth its cost (and needed: a
    side showing lines 1..n in one piece is whole already)."""
    if not numbers or numbers[-1] == len(numbers):
        return False
    return numbers[-1] <= PREFIX_FACTOR * len(numbers) + PREFIX_SLACK


def highlight_side(
    hunks: Sequence[Hunk],
    side: str,
    lexer: Lexer,
    whole: Sequence[str] | None = None,
) -> dict[int, str]:
    """The HTML of each line the hunks show on `side`, by line number. `whole` is the
    side's file as lines, when `wants_whole_side` asked for it; without it each hunk is
    lexed on its own."""
    numbers = side_numbers(hunks, side)
    if not numbers:
        return {}
    if len(numbers) > HIGHLIGHT_MAX_LINES:
        return dict(zip(numbers, plain_lines(_side_texts(hunks, side)), strict=True))
    if whole is not None and len(whole) >= numbers[-1]:
        html = highlight_lines(whole[: numbers[-1]], lexer)
        return {n: html[n - 1] for n in numbers}
    shown: dict[int, str] = {}
    for hunk in hunks:
        texts = _side_texts((hunk,), side)
        start = hunk.old_start if side == "old" else hunk.new_start
        for offset, html_line in enumerate(highlight_lines(texts, lexer)):
            shown[start + offset] = html_line
    return shown


def _side_texts(hunks: Sequence[Hunk], side: str) -> list[str]:
    skip = "add" if side == "old" else "del"
    return [line.text for hunk in hunks for line in hunk.lines if line.kind != skip]


def highlight_hunks(
    hunks: Sequence[Hunk],
    lexer: Lexer,
    whole: Callable[[str], Sequence[str] | None],
) -> tuple[dict[int, str], dict[int, str]]:
    """Both sides' HTML by line number; `whole(side)` gives a side's file lines when
    `wants_whole_side` asked for them (or None)."""
    sides = []
    for side in ("old", "new"):
        lines = whole(side) if wants_whole_side(side_numbers(hunks, side)) else None
        sides.append(highlight_side(hunks, side, lexer, lines))
    return sides[0], sides[1]


def stylesheet() -> str:
    """static/css/pygments.css: the token colours of the light style in code cells, and
    of the dark one under `.theme-dark`. `manage.py pygments_css` writes it."""
    # The token rules only: a cell's background is the diff's (added, deleted).
    light = HtmlFormatter(style=LIGHT_STYLE).get_token_style_defs(CODE_SELECTOR)  # type: ignore[no-untyped-call]
    dark = HtmlFormatter(style=DARK_STYLE).get_token_style_defs(  # type: ignore[no-untyped-call]
        f"{DARK_SELECTOR} {CODE_SELECTOR}"
    )
    return "\n".join(
        [
            "/* Syntax colours for diffs, from Pygments' "
            f'"{LIGHT_STYLE}" and "{DARK_STYLE}" styles.',
            "   Generated by `manage.py pygments_css`: do not edit by hand. */",
            *light,
            "",
            f"/* {DARK_SELECTOR}: the dark style. */",
            *dark,
            "",
        ]
    )
