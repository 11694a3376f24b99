"""Text helpers shared by the importers: decoding, mojibake repair, tag scanning."""

import codecs
import re
from dataclasses import dataclass

from core.text import NUL
from planning.importers.document import Origin, PlanImportError


def _cp1252_byte(char: str) -> int | None:
    try:
        return char.encode("cp1252")[0]
    except UnicodeEncodeError:
        # cp1252 leaves 0x81, 0x8D, 0x8F, 0x90 and 0x9D undefined; decoders pass them through.
        return ord(char) if 0x80 <= ord(char) <= 0x9F else None


_CONTINUATION = "".join(
    chr(c) for c in range(0x80, 0x2200) if (b := _cp1252_byte(chr(c))) and 0x80 <= b <= 0xBF
)
# A UTF-8 lead byte seen as cp1252 (Â..ô), then the continuation bytes it needs.
_MOJIBAKE = re.compile(
    "[\u00c2-\u00df][{c}]|[\u00e0-\u00ef][{c}]{{2}}|[\u00f0-\u00f4][{c}]{{3}}".format(
        c=re.escape(_CONTINUATION)
    )
)
# U+FE0F (an emoji's variation selector) is EF B8 8F; 0x8F has no cp1252 character, so a
# misread file keeps only U+00EF U+00B8.
_LOST_VARIATION_SELECTOR = "\u00ef\u00b8"


def decode(data: bytes, *, name: str) -> str:
    """The text of file `name`: UTF-16 or UTF-32 when it starts with their byte order mark
    (as Windows PowerShell writes files), else UTF-8 (with or without BOM), else cp1252;
    then mojibake repaired and line ends made `\n`. Raises PlanImportError for a file
    that is not text: one with NUL characters, which no plan file has (and PostgreSQL
    could not store)."""
    for bom, encoding in _BYTE_ORDER_MARKS:
        if data.startswith(bom):
            text = data.decode(encoding, errors="replace")
            break
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = data.decode("cp1252", errors="replace")
    if NUL in text:
        line = text.count("\n", 0, text.index(NUL)) + 1
        raise PlanImportError(
            "not a text file (it contains NUL characters): expected UTF-8, or UTF-16 or "
            "UTF-32 with a byte order mark",
            origin=Origin(name, line),
        )
    return repair_mojibake(text).replace("\r\n", "\n").replace("\r", "\n")


# UTF-32's marks first: UTF-32-LE's begins with UTF-16-LE's.
_BYTE_ORDER_MARKS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def repair_mojibake(text: str) -> str:
    """Undo UTF-8 that was read as cp1252 (`â€”` → `—`) where that is unambiguous.

    Each run of characters that spells a complete UTF-8 sequence in cp1252 is decoded;
    anything that does not decode cleanly is left as it was.
    """

    def fix(match: re.Match[str]) -> str:
        encoded = bytearray()
        for char in match.group(0):
            byte = _cp1252_byte(char)
            if byte is None:
                return match.group(0)
            encoded.append(byte)
        try:
            return encoded.decode("utf-8")
        except UnicodeDecodeError:
            return match.group(0)

    repaired = _MOJIBAKE.sub(fix, text)
    if repaired != text:
        repaired = repaired.replace(_LOST_VARIATION_SELECTOR, "\ufe0f")
    return repaired


FENCE = re.compile(r"^[ \t]*(```|~~~)", re.MULTILINE)


def mask_code_fences(text: str) -> str:
    """The text with fenced code blocks blanked out (same length, newlines kept).

    Tag scanning runs on the masked text, so `<task>` inside a code sample is not a tag.
    """
    out = list(text)
    inside: str | None = None
    start = 0
    for match in FENCE.finditer(text):
        marker = match.group(1)
        if inside is None:
            inside, start = marker, match.end()
        elif marker == inside:
            for i in range(start, match.start()):
                if out[i] != "\n":
                    out[i] = " "
            inside = None
    if inside is not None:  # an unclosed fence runs to the end of the file
        for i in range(start, len(out)):
            if out[i] != "\n":
                out[i] = " "
    return "".join(out)


@dataclass(frozen=True)
class Element:
    name: str
    attrs: dict[str, str]
    start: int  # offset of the opening tag
    inner_start: int
    inner_end: int
    end: int  # offset just past the closing tag


ATTR = re.compile(r'([A-Za-z_:][-\w:.]*)\s*=\s*(?:"([^"]*)"|\'([^\']*)\')')


def find_elements(masked: str, name: str, start: int = 0, end: int | None = None) -> list[Element]:
    """Non-overlapping `<name ...>...</name>` elements in masked[start:end].

    Nested elements of the same name are not expected in plan files; the first closing
    tag ends the element. An opening tag without a closing tag is skipped.
    """
    end = len(masked) if end is None else end
    opening = re.compile(rf"<{re.escape(name)}(\s[^<>]*)?>", re.IGNORECASE)
    closing = re.compile(rf"</{re.escape(name)}\s*>", re.IGNORECASE)
    found = []
    pos = start
    while True:
        open_match = opening.search(masked, pos, end)
        if not open_match:
            break
        close_match = closing.search(masked, open_match.end(), end)
        if not close_match:
            break
        attrs = {
            m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3)
            for m in ATTR.finditer(open_match.group(1) or "")
        }
        found.append(
            Element(
                name=name.lower(),
                attrs=attrs,
                start=open_match.start(),
                inner_start=open_match.end(),
                inner_end=close_match.start(),
                end=close_match.end(),
            )
        )
        pos = close_match.end()
    return found


def line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def dedent_block(text: str) -> str:
    """Strip the common indentation and surrounding blank lines of a tag's content."""
    import textwrap

    return textwrap.dedent(text.strip("\n")).strip()
