"""Printable notice slips: an A4 PDF, eight slips a page with cut lines, for workers to hand over.

What must hold:
- the QR code carries only ``DS1:`` + the opaque invitation token — never a name, an ID
  number or a phone number, because a slip lost on the road must not leak who was invited
  to which check-up;
- Chinese prints without font files: reportlab's built-in CID font ``STSong-Light`` is
  resolved by the PDF viewer or printer, so the server needs no CJK font installed;
- the QR is drawn as vector rectangles from segno's module matrix rather than as an
  embedded image: it stays sharp on any printer resolution, needs no image encoder, and
  keeps a 200-slip PDF small.
"""
from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, time
from io import BytesIO
from pathlib import Path

import segno
from babel.dates import format_date
from flask import has_app_context
from reportlab.lib.pagesizes import A4
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen.canvas import Canvas

QR_PREFIX = "DS1:"
CJK_FONT = "STSong-Light"
CODE_FONT = "Helvetica-Bold"
MM = 72 / 25.4

# Two layouts: eight slips a page, and six taller ones when a slip's text does not fit in eight.
LAYOUTS = ((2, 4), (2, 3))
PAGE_MARGIN = 8 * MM
PAD = 7
QR_BOX = 84  # points (about 30 mm) including the quiet zone
QR_BORDER = 4  # modules of quiet zone the QR standard asks for
BODY_SIZES = (9.5, 9, 8.5, 8, 7.5, 7, 6.5)

_DARK_RUN = re.compile(rb"\x01+")
_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")
_BREAK_AFTER = ("、", "，", "；", "。", " ", ",", ";", "/")
_NO_LINE_START = "、，。；：！？）》,.;:!?)"
_WORD_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-'"


@dataclass(frozen=True)
class Slip:
    """One person's slip. ``services`` are already translated names; ``bring`` may be empty
    (the line is left out). ``token`` goes into the QR code, ``code`` is printed under it for
    typing at the desk. With ``certificate`` the slip asks someone living away to send a
    certificate of a check-up done where they live to ``station`` by ``day`` (the time
    window is not printed)."""

    name: str
    village: str
    group: str
    day: date
    start: time
    end: time
    station: str
    services: tuple[str, ...]
    bring: str
    token: str
    code: str
    certificate: bool = False


def qr_payload(token: str) -> str:
    """What the slip's QR code holds: a versioned prefix and the token, nothing else."""
    if not _TOKEN.fullmatch(token):
        raise ValueError("an invitation token is 16-64 URL-safe characters")
    return QR_PREFIX + token


def token_from_qr(text: str) -> str | None:
    """The token in a scanned slip QR, or None when the code is not one of our slips."""
    text = text.strip()
    if not text.startswith(QR_PREFIX):
        return None
    token = text[len(QR_PREFIX):]
    return token if _TOKEN.fullmatch(token) else None


def render_slips_pdf(slips: Sequence[Slip], *, title: str, locale: str = "zh_CN") -> bytes:
    """One slip per person, in the order given. ``title`` heads every notice slip and names
    the PDF (it must not hold personal data). Raises ValueError when there is nothing to print."""
    if not slips:
        raise ValueError("there are no slips to print")
    for slip in slips:
        qr_payload(slip.token)  # fail before drawing anything
    _register_fonts()
    with _translator(locale) as _:
        drawn = [_SlipText.build(slip, title, locale, _) for slip in slips]
    cols, rows, size = _choose_layout(drawn)
    buf = BytesIO()
    canvas = Canvas(buf, pagesize=A4, invariant=1, pageCompression=1)
    canvas.setTitle(title)
    canvas.setCreator("Doorstep")
    per_page = cols * rows
    for first in range(0, len(drawn), per_page):
        page = drawn[first:first + per_page]
        _draw_cut_lines(canvas, cols, rows)
        for i, text in enumerate(page):
            x, y, w, h = _cell(i, cols, rows)
            _draw_slip(canvas, text, x, y, w, h, size)
        canvas.showPage()
    canvas.save()
    return buf.getvalue()


# --- words on a slip -------------------------------------------------------------------------

@dataclass(frozen=True)
class _SlipText:
    header: str
    name: str
    where: str
    fields: tuple[str, ...]  # wrapped to the text column
    footer: str
    qr: str
    code: str
    code_label: str

    @classmethod
    def build(cls, slip: Slip, title: str, locale: str, _: Callable[..., str]) -> _SlipText:
        day = _format_day(slip.day, locale)
        hours = f"{slip.start:%H:%M}-{slip.end:%H:%M}"
        sep = "、" if locale.startswith("zh") else ", "
        services = sep.join(slip.services)
        if slip.certificate:
            header = _("Check-up certificate request")
            fields = [
                _("You are registered here but living away. Please have the check-ups below done "
                  "where you live and send the certificate to %(station)s by %(date)s.",
                  station=slip.station, date=day),
                _("Check-ups: %(value)s", value=services),
            ]
        else:
            header = title
            fields = [
                _("Date: %(value)s", value=day),
                _("Time: %(value)s", value=hours),
                _("Place: %(value)s", value=slip.station),
                _("Check-ups: %(value)s", value=services),
            ]
        if slip.bring.strip():
            fields.append(_("Please bring: %(value)s", value=slip.bring.strip()))
        return cls(
            header=header,
            name=slip.name,
            where=" ".join(part for part in (slip.village, slip.group) if part),
            fields=tuple(fields),
            footer=_("Delivered on %(blank)s  Signed %(blank)s", blank="________"),
            qr=qr_payload(slip.token),
            code=slip.code,
            code_label=_("Desk code"),
        )


def _format_day(day: date, locale: str) -> str:
    """12月1日 is read as "2026年12月1日 星期二" in China; English gets "Tuesday 1 December 2026"."""
    if locale.startswith("zh"):
        return format_date(day, "y年M月d日 EEEE", locale="zh_CN")
    return format_date(day, "EEEE d MMMM y", locale=locale)


@contextlib.contextmanager
def _translator(locale: str) -> Iterator[Callable[..., str]]:
    """gettext in ``locale``: through Flask-Babel when an app is active (its translation
    directories and cache), else straight from translations/ so a script or a test can
    render slips too. The msgids are marked with ``_`` for extraction."""
    if has_app_context():
        from flask_babel import force_locale, gettext

        with force_locale(locale):
            yield gettext
        return
    from babel.support import Translations

    catalog = Translations.load(str(Path(__file__).resolve().parents[2] / "translations"), [locale])

    def gettext_(msgid: str, **variables: str) -> str:
        text = catalog.gettext(msgid)
        return text % variables if variables else text

    yield gettext_


# --- drawing ---------------------------------------------------------------------------------

def _register_fonts() -> None:
    if CJK_FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(CJK_FONT))


def _cell(index: int, cols: int, rows: int) -> tuple[float, float, float, float]:
    """Bottom-left corner and size of slip ``index`` on a page, filled row by row from the top."""
    w = (A4[0] - 2 * PAGE_MARGIN) / cols
    h = (A4[1] - 2 * PAGE_MARGIN) / rows
    col, row = index % cols, index // cols
    return PAGE_MARGIN + col * w, A4[1] - PAGE_MARGIN - (row + 1) * h, w, h


def _draw_cut_lines(canvas: Canvas, cols: int, rows: int) -> None:
    canvas.saveState()
    canvas.setStrokeGray(0.6)
    canvas.setLineWidth(0.4)
    canvas.setDash(3, 3)
    x0, y0 = PAGE_MARGIN, PAGE_MARGIN
    x1, y1 = A4[0] - PAGE_MARGIN, A4[1] - PAGE_MARGIN
    for c in range(cols + 1):
        x = x0 + c * (x1 - x0) / cols
        canvas.line(x, y0, x, y1)
    for r in range(rows + 1):
        y = y0 + r * (y1 - y0) / rows
        canvas.line(x0, y, x1, y)
    canvas.restoreState()


def _text_width(w: float) -> float:
    return w - 2 * PAD - QR_BOX - 6


def _fixed_height(size: float) -> float:
    """Header, name and village lines above the fields, and the footer below them."""
    return 2 * PAD + (size + 3) + (size + 6) * 1.3 + size * 1.35 + 6 + size * 2.2


def _fields_height(text: _SlipText, width: float, size: float) -> float:
    lines = sum(len(_wrap(field, width, size)) for field in text.fields)
    return lines * size * 1.35 + (len(text.fields) - 1) * size * 0.25


def _choose_layout(texts: Sequence[_SlipText]) -> tuple[int, int, float]:
    """The densest layout and largest type in which every slip fits. A slip is never cut
    short: if even the tallest layout at the smallest type cannot hold one, say so."""
    for cols, rows in LAYOUTS:
        _, _, w, h = _cell(0, cols, rows)
        for size in BODY_SIZES:
            if all(_fixed_height(size) + _fields_height(t, _text_width(w), size) <= h for t in texts):
                return cols, rows, size
    raise ValueError("a slip's text is too long to print; shorten the services or what to bring")


def _wrap(text: str, width: float, size: float) -> list[str]:
    """Break between Chinese characters, preferring a break after 、，or a space when that
    leaves the line at least half full; Latin words stay whole when they can; a line never
    starts with closing punctuation."""
    lines: list[str] = []
    line = ""
    for char in text:
        if not line or pdfmetrics.stringWidth(line + char, CJK_FONT, size) <= width or char in _NO_LINE_START:
            line += char
            continue
        cut = max(line.rfind(sep) for sep in _BREAK_AFTER) + 1
        if cut < len(line) / 2 or cut <= 0:
            cut = len(line)
            if char.isascii() and char.isalnum():  # inside a Latin word: break before the word
                start = len(line.rstrip(_WORD_CHARS))
                if start > 0:
                    cut = start
        lines.append(line[:cut].rstrip())
        line = line[cut:].lstrip() + char
    if line.strip():
        lines.append(line.rstrip())
    return lines or [""]


def _fit_size(text: str, font: str, size: float, width: float) -> float:
    while size > 6 and pdfmetrics.stringWidth(text, font, size) > width:
        size -= 0.5
    return size


def _draw_slip(canvas: Canvas, text: _SlipText, x: float, y: float, w: float, h: float, size: float) -> None:
    left, top = x + PAD, y + h - PAD
    width = _text_width(w)
    full_width = w - 2 * PAD

    head = _fit_size(text.header, CJK_FONT, size + 3, width)
    top -= head
    canvas.setFont(CJK_FONT, head)
    canvas.drawString(left, top, text.header)
    name = _fit_size(text.name, CJK_FONT, size + 6, width)
    top -= (size + 6) * 1.3
    canvas.setFont(CJK_FONT, name)
    canvas.drawString(left, top, text.name)
    top -= size * 1.35 + 2
    canvas.setFont(CJK_FONT, size)
    canvas.drawString(left, top, text.where)
    top -= 4
    for field in text.fields:
        for line in _wrap(field, width, size):
            top -= size * 1.35
            canvas.drawString(left, top, line)
        top -= size * 0.25
    canvas.drawString(left, y + PAD + size * 0.4, _fit_line(text.footer, full_width, size))

    qr_left, qr_top = x + w - PAD - QR_BOX, y + h - PAD
    _draw_qr(canvas, text.qr, qr_left, qr_top - QR_BOX, QR_BOX)
    code = _fit_size(text.code, CODE_FONT, 17, QR_BOX)
    canvas.setFont(CODE_FONT, code)
    canvas.drawCentredString(qr_left + QR_BOX / 2, qr_top - QR_BOX - code - 1, text.code)
    canvas.setFont(CJK_FONT, 7)
    canvas.drawCentredString(qr_left + QR_BOX / 2, qr_top - QR_BOX - code - 11, text.code_label)


def _fit_line(text: str, width: float, size: float) -> str:
    """The footer is one line; if a translation is long it loses trailing underscores, not words."""
    while pdfmetrics.stringWidth(text, CJK_FONT, size) > width and "__" in text:
        text = text.replace("__", "_", 1)
    return text


def _draw_qr(canvas: Canvas, payload: str, x: float, y: float, box: float) -> None:
    """Dark modules as filled rectangles in one path, drawn in module units (whole numbers,
    so the PDF stays small); each horizontal run of dark modules is one rectangle, which
    also leaves no hairline gaps between modules when printed."""
    qr = segno.make_qr(payload, error="m")
    rows = [bytes(row) for row in qr.matrix_iter(border=QR_BORDER)]
    n = len(rows)
    canvas.saveState()
    canvas.setFillGray(1)
    canvas.rect(x, y, box, box, stroke=0, fill=1)
    canvas.translate(x, y + box)
    canvas.scale(box / n, -box / n)  # row 0 at the top, one unit per module
    canvas.setFillGray(0)
    # Raw "re" operators with integer operands: reportlab's path API formats every number
    # as a float, which made QR drawing most of the time of a 500-slip PDF.
    rects = [f"{m.start()} {r} {m.end() - m.start()} 1 re"
             for r, row in enumerate(rows) for m in _DARK_RUN.finditer(row)]
    canvas.addLiteral("\n".join(rects) + "\nf")
    canvas.restoreState()
