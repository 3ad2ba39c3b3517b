"""The session report as a one-page A4 PDF, with the same numbers, texts and plots as the HTML report.

The plots are the HTML report's own SVG, drawn by fpdf2 as vectors, so both files always show the same
figure. The text is set in DejaVu Sans, shipped in ``fonts/`` and embedded (subset) in the file, so an
athlete's name in any Latin script, Greek, Cyrillic, Hebrew, Chinese or Japanese prints as typed (Droid
Sans Fallback supplies the Chinese and Japanese characters); the PDF core fonts cover only Latin-1 and
printed such names as "?". Not covered: Korean Hangul (no glyphs), and scripts that need shaping (Arabic,
Devanagari) print their letters unjoined. The SVG plots keep the core fonts: their labels are
Pelvio's own, spelled in Latin-1 by ``latin1``.
"""

from __future__ import annotations

import io
import re
from importlib.resources import files
from typing import Any

from fpdf import FPDF, FontFace
from fpdf.util import Padding

from pelvio.dashboard import plots, report
from pelvio.fusion.session import SessionAnalysis

MARGIN_MM = 10.0
COMPACT_PLOTS = 0.8  # plot size tried when the report does not fit on one page at full size
TIMELINE_ROW_H = 60  # SVG units per angle row (the HTML uses 90; a printed page is shorter than a screen)
SIDES_WIDTH_MM = 150.0
BODY_PT, NOTE_PT, TABLE_PT = 9.0, 7.5, 8.0
INK, GREY = "#222222", "#555555"  # the HTML report's text and .note colours
FLAG_FILL = "#fff4e0"  # the HTML report's .flag background
NOTE_FILL = "#eef3f8"  # the HTML report's .finding background (a statement, not a finding)
FONT = "dejavu"
FONT_FILES = {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf"}
FALLBACK_FONT, FALLBACK_FILE = "droid", "DroidSansFallbackFull.ttf"
"""Chinese and Japanese characters, which DejaVu Sans lacks (fpdf2 takes a glyph from it only
where the main font has none). Loaded only for a report whose text has such characters: parsing its
4 MB costs 0.24 s, where DejaVu takes 0.03 s."""
FALLBACK_FROM = 0x2E80
"""The first CJK code point (radicals; kana and ideographs follow): DejaVu Sans covers what comes before."""
LATIN1 = str.maketrans({"−": "-", "–": "-", "—": "-", "…": "...", "≥": ">=", "≤": "<=", "→": "->",
                        "⚠": "!", "‘": "'", "’": "'", "“": '"', "”": '"'})


def latin1(text: str) -> str:
    """``text`` in the core fonts' Latin-1; a character with no spelling there becomes "?" rather than failing."""
    return text.translate(LATIN1).encode("latin-1", "replace").decode("latin-1")


class _Page(FPDF):
    """An A4 page with the few text blocks the report is made of."""

    def __init__(self, text: str = "") -> None:
        """``text``: what the page will say beyond Pelvio's own words (names, warnings), to pick its fonts."""
        super().__init__(format="A4")
        fonts = files("pelvio.dashboard") / "fonts"
        for style, name in FONT_FILES.items():
            self.add_font(FONT, style, str(fonts / name))
        if any(ord(c) >= FALLBACK_FROM for c in text):
            self.add_font(FALLBACK_FONT, "", str(fonts / FALLBACK_FILE))
            self.set_fallback_fonts([FALLBACK_FONT])
        self.set_margins(MARGIN_MM, MARGIN_MM, MARGIN_MM)
        self.set_auto_page_break(True, MARGIN_MM)
        self.add_page()

    def close_fonts(self) -> None:
        """Close the font files: fontTools reads them lazily and fpdf2 leaves them open."""
        for font in self.fonts.values():
            if (tt := getattr(font, "ttfont", None)) is not None:
                tt.close()

    def para(self, text: str, size: float = BODY_PT, color: str = INK, style: str = "") -> None:
        self.set_font(FONT, style, size)
        self.set_text_color(color)
        self.multi_cell(0, size * 0.45, text, align="L", new_x="LMARGIN", new_y="NEXT")

    def words(self, parts: list[tuple[str, str]], size: float, style: str = "") -> None:
        """A line of (text, colour) pieces: the side names in the side colours, as in the HTML report."""
        self.set_font(FONT, style, size)
        for part, color in parts:
            self.set_text_color(color)
            self.write(size * 0.5, part)
        self.ln(size * 0.5 + 1)

    def heading(self, text: str, *, sides: bool = False, keep_mm: float = 20.0) -> None:
        """A section title, on a new page unless ``keep_mm`` of its section fit below it; with ``sides``,
        followed by "(left / right)"."""
        if self.will_page_break(keep_mm):
            self.add_page()
        else:
            self.ln(2)
        side_words = [(" (", INK), ("left", plots.LEFT_COLOR), (" / ", INK), ("right", plots.RIGHT_COLOR),
                      (")", INK)]
        self.words([(text, INK), *(side_words if sides else [])], 11, "B")

    def flag(self, text: str, *, concern: bool) -> None:
        """A finding on the HTML report's pale background with a bar in the right side's colour; a neutral
        statement on the pale blue of the HTML report's ``.finding``, with a grey bar."""
        self.set_font(FONT, "", BODY_PT)
        self.set_text_color(INK)
        self.set_fill_color(FLAG_FILL if concern else NOTE_FILL)
        top = self.get_y()
        self.set_x(self.l_margin + 2.5)
        self.multi_cell(0, BODY_PT * 0.45, text, align="L", fill=True,
                        padding=Padding(top=1.2, right=2.0, bottom=1.2, left=2.0), new_x="LMARGIN", new_y="NEXT")
        self.set_fill_color(plots.RIGHT_COLOR if concern else GREY)
        self.rect(self.l_margin, top, 1.2, self.get_y() - top, style="F")
        self.set_fill_color(255)
        self.ln(1)

    def grid(self, header: list[str], rows: list[list[str]], widths: tuple[float, ...]) -> None:
        self.set_font(FONT, "", TABLE_PT)
        self.set_text_color(INK)
        self.set_draw_color("#dddddd")
        align = ("LEFT", *("RIGHT",) * (len(header) - 1))
        with self.table(col_widths=widths, text_align=align, borders_layout="HORIZONTAL_LINES",
                        line_height=TABLE_PT * 0.5, headings_style=FontFace(emphasis="BOLD"),
                        padding=(0.4, 1.5)) as table:
            for row in [header, *rows]:
                table.row(list(row))
        self.ln(1)

    def svg(self, svg: str, width_mm: float) -> None:
        if svg:
            self.set_fill_color(0)  # SVG text without a fill is black; fpdf2 would use the current fill
            self.image(io.BytesIO(latin1(svg).encode()), w=width_mm)
            self.set_fill_color(255)


def svg_height_mm(svg: str, width_mm: float) -> float:
    """The height of ``svg`` drawn ``width_mm`` wide (from its viewBox); 0 for no plot."""
    box = re.search(r'viewBox="0 0 ([\d.]+) ([\d.]+)"', svg)
    return 0.0 if box is None else width_mm * float(box[2]) / float(box[1])


def _build(result: SessionAnalysis, name: str, metadata: dict[str, Any], warnings: list[str],
           scale: float) -> _Page:
    pdf = _Page(" ".join([name, report.meta_line(result, metadata), *warnings]))
    try:
        pdf.set_title(f"Pelvio report — {name}")
        pdf.set_creator("Pelvio")
        full = pdf.epw
        pdf.para(f"Pelvio session report — {name}", size=15, style="B")
        pdf.para(report.meta_line(result, metadata), color=GREY)
        for warning in warnings:
            pdf.para(f"Warning: {warning}", color=GREY)
        pdf.heading("Findings")
        for flag in result.flags:
            pdf.flag(flag.text(), concern=flag.concern)
        pdf.para(report.flag_explanation(result), size=NOTE_PT, color=GREY)
        for title, rows in report.comparison_tables(result).items():
            pdf.heading(title, sides=True)
            pdf.grid(report.SIDE_HEADER, report.side_table_rows(rows), (3.2, 0.8, 1, 1, 1.2, 1))
            pdf.svg(report.sides_svg(rows), SIDES_WIDTH_MM * scale)
        pdf.para(report.SI_EXPLANATION, size=NOTE_PT, color=GREY)
        if result.reps is not None:
            pdf.heading(f"Repetitions ({result.reps.exercise.replace('_', ' ')}: {len(result.reps)})")
            pdf.grid(report.REP_HEADER, report.rep_table_rows(result), (0.5, 0.8, *(1.0,) * len(report.REP_FIELDS)))
        timeline = report.timeline_svg(result, row_h=TIMELINE_ROW_H)
        pdf.heading("Angles over the session", keep_mm=10 + svg_height_mm(timeline, full * scale))
        pdf.words([("Shaded: stance on the ", GREY), ("left", plots.LEFT_COLOR), (" or ", GREY),
                   ("right", plots.RIGHT_COLOR), (" leg; grey: repetitions.", GREY)], NOTE_PT)
        pdf.svg(timeline, full * scale)
        pdf.heading("Angle summary")
        pdf.grid(report.ANGLE_HEADER, report.angle_rows(result), (1.4, 1, 1, 1, 1))
        pdf.para(report.footer_line(), size=NOTE_PT, color=GREY)
    except BaseException:  # a failing figure: release the font files before the error goes on
        pdf.close_fonts()
        raise
    return pdf


def pdf_report(result: SessionAnalysis, *, name: str, metadata: dict[str, Any], warnings: list[str],
               compress: bool = True) -> bytes:
    """The report as PDF bytes: one A4 page when it fits, if need be with smaller plots; else full-size plots
    on more pages (smaller plots would only be harder to read).

    ``compress=False`` leaves the page's text readable in the file (for tests and inspection).
    """
    pdf = _build(result, name, metadata, warnings, 1.0)
    if pdf.pages_count > 1:
        compact = _build(result, name, metadata, warnings, COMPACT_PLOTS)
        pdf, spare = (compact, pdf) if compact.pages_count == 1 else (pdf, compact)
        spare.close_fonts()
    pdf.compress = compress
    try:
        return bytes(pdf.output())
    finally:
        pdf.close_fonts()
