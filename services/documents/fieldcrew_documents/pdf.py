"""The customer's PDF of one server report revision, drawn with ReportLab (docs/adr/0048).

Pure: a report (the JSON the aggregator serves), its fingerprint and the photos' printable
bytes in, PDF bytes out; no I/O. Text is set in Bitstream Vera, which ReportLab ships, so that
names and notes outside Latin-1 print (the PDF base fonts stop at Latin-1). Every page carries
the work order, the revision and the fingerprint, so a single page still names its record.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import reportlab
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    Flowable,
    Image,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from fieldcrew_documents import wording

FONT, BOLD = "FieldcrewVera", "FieldcrewVera-Bold"
_FONTS = Path(reportlab.__file__).parent / "fonts"
MARGIN = 18 * mm
PHOTO_WIDTH = 80 * mm
PHOTO_HEIGHT = 70 * mm


def _register_fonts() -> None:
    if FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont(FONT, str(_FONTS / "Vera.ttf")))
        pdfmetrics.registerFont(TTFont(BOLD, str(_FONTS / "VeraBd.ttf")))


def _styles() -> dict[str, ParagraphStyle]:
    body = ParagraphStyle("body", fontName=FONT, fontSize=9.5, leading=12.5)
    return {
        "body": body,
        "small": ParagraphStyle("small", parent=body, fontSize=8, leading=10),
        "title": ParagraphStyle("title", parent=body, fontName=BOLD, fontSize=17, leading=21),
        "h2": ParagraphStyle(
            "h2",
            parent=body,
            fontName=BOLD,
            fontSize=12,
            leading=15,
            spaceBefore=10,
            spaceAfter=4,
            keepWithNext=1,
        ),
        "label": ParagraphStyle("label", parent=body, fontName=BOLD, textColor=colors.grey),
    }


@dataclass(frozen=True)
class Printable:
    """A photo ready to print: JPEG bytes and their size in pixels."""

    jpeg: bytes
    width: int
    height: int


def build(
    report: Mapping[str, Any], fingerprint: str, images: Mapping[str, Printable | None]
) -> bytes:
    """The PDF of ``report`` (one revision, as served as JSON); ``images`` maps each photo's
    id to its printable copy, or None when that is still being prepared."""
    _register_fonts()
    styles = _styles()
    buffer = io.BytesIO()
    wo = report["work_order"]
    footer = f"Work order {report['work_order_id']}  ·  revision {report['revision']}"
    sealed = f"fingerprint sha256 {fingerprint}"
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=MARGIN + 6 * mm,
        title=f"Repair report: {wo['title']}",
        author="fieldcrew",
        subject=f"Work order {report['work_order_id']}, revision {report['revision']}",
    )

    def on_page(canvas: Canvas, _: object) -> None:
        canvas.saveState()
        canvas.setFont(FONT, 6.5)
        canvas.setFillColor(colors.grey)
        canvas.drawString(MARGIN, 10 * mm, footer)
        canvas.drawString(MARGIN, 6.5 * mm, sealed)
        canvas.drawRightString(A4[0] - MARGIN, 10 * mm, f"page {canvas.getPageNumber()}")
        canvas.restoreState()

    story = [
        *_heading(report, fingerprint, styles),
        *_crew(report, styles),
        *_leader_report(report, styles),
        *_parts(report, styles),
        *_readings(report, styles),
        *_photos(report, images, styles),
        *_missing(report, styles),
    ]
    doc.build(story, onFirstPage=on_page, onLaterPages=on_page)
    return buffer.getvalue()


def _p(text: object, style: ParagraphStyle) -> Paragraph:
    """A paragraph of plain text (escaped; line breaks kept)."""
    return Paragraph(escape(str(text)).replace("\n", "<br/>"), style)


def _facts(
    rows: Sequence[tuple[str, object]],
    styles: dict[str, ParagraphStyle],
    label_width: float = 38 * mm,
) -> Table:
    data = [[_p(k, styles["label"]), _p(v, styles["body"])] for k, v in rows]
    table = Table(data, colWidths=[label_width, None], hAlign="LEFT")
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
                ("TOPPADDING", (0, 0), (-1, -1), 1),
            ]
        )
    )
    return table


def _grid(
    header: Sequence[str],
    rows: Sequence[Sequence[object]],
    styles: dict[str, ParagraphStyle],
    widths: Sequence[float] | None = None,
) -> Table:
    data = [[_p(h, styles["label"]) for h in header]]
    data += [[_p(cell, styles["body"]) for cell in row] for row in rows]
    table = Table(data, colWidths=widths, hAlign="LEFT", repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("LINEBELOW", (0, 0), (-1, 0), 0.8, colors.black),
                ("LINEBELOW", (0, 1), (-1, -1), 0.25, colors.lightgrey),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    return table


def _heading(
    report: Mapping[str, Any], fingerprint: str, styles: dict[str, ParagraphStyle]
) -> list[Flowable]:
    wo = report["work_order"]
    leader_report = report.get("leader_report") or {}
    rows: list[tuple[str, object]] = [
        ("Work order", report["work_order_id"]),
        ("Site", wording.place(wo.get("site"))),
        ("Asset", wording.asset(wo.get("asset"))),
        ("Customer", wording.customer(wo.get("customer"))),
        ("Priority", wo.get("priority", "")),
        ("Issued", f"{wording.when(wo.get('issued_at'))} by {wo.get('issued_by', '')}"),
        ("Due", wording.when(wo.get("due_at"))),
        ("Report submitted", wording.when(leader_report.get("submitted_at"))),
        ("Compiled", wording.when(report.get("compiled_at"))),
        ("Revision", report["revision"]),
        ("Fingerprint", f"sha256 {fingerprint}"),
    ]
    if wo.get("description"):
        rows.insert(1, ("Description", wo["description"]))
    return [
        _p(f"Repair report: {wo['title']}", styles["title"]),
        Spacer(1, 4 * mm),
        _facts(rows, styles),
    ]


def _crew(report: Mapping[str, Any], styles: dict[str, ParagraphStyle]) -> list[Flowable]:
    rows = []
    for c in report.get("contributions", []):
        merged = sum(1 for n in c["notes"] if n.get("merged"))
        notes = f"{len(c['notes'])} ({merged} merged)" if c["notes"] else "none"
        rows.append([c["user"], c["role"], notes, len(c["photo_ids"])])
    table = _grid(["Crew member", "Role", "Notes", "Photos"], rows, styles)
    return [_p("Crew", styles["h2"]), table]


def _leader_report(report: Mapping[str, Any], styles: dict[str, ParagraphStyle]) -> list[Flowable]:
    lr = report.get("leader_report")
    if not lr:
        return [_p("Repair report", styles["h2"]), _p("Not submitted yet.", styles["body"])]
    rows: list[tuple[str, object]] = [
        ("Outcome", wording.outcome(lr["outcome"])),
        ("Summary", lr["summary"]),
        ("Root cause", lr.get("root_cause") or "—"),
        ("Actions", lr.get("actions") or "—"),
        ("Labour", f"{lr.get('labour_minutes', 0)} minutes"),
        ("Merged notes", len(lr.get("merged_note_ids", []))),
    ]
    title = f"Repair report, consolidated by the leader {lr['leader']}"
    return [_p(title, styles["h2"]), _facts(rows, styles)]


def _parts(report: Mapping[str, Any], styles: dict[str, ParagraphStyle]) -> list[Flowable]:
    parts = (report.get("leader_report") or {}).get("parts", [])
    head = _p("Parts", styles["h2"])
    if not parts:
        return [head, _p("No parts used.", styles["body"])]
    rows = [[p["part_no"], p["qty"]] for p in parts]
    return [head, _grid(["Part number", "Quantity"], rows, styles, [60 * mm, 30 * mm])]


def _readings(report: Mapping[str, Any], styles: dict[str, ParagraphStyle]) -> list[Flowable]:
    """What was measured on the asset, as the report's lines recorded it (no section when
    nothing was: reports from before readings, ADR 0058)."""
    rows = [
        [r["name"], f"{r['value']:g} {r['unit']}".strip(), r.get("phase") or "—"]
        for line in report.get("lines") or ()
        for r in line.get("readings") or ()
    ]
    if not rows:
        return []
    table = _grid(["Measured", "Value", "When"], rows, styles, [70 * mm, 40 * mm, 30 * mm])
    return [_p("Readings", styles["h2"]), table]


def _photos(
    report: Mapping[str, Any],
    images: Mapping[str, Printable | None],
    styles: dict[str, ParagraphStyle],
) -> list[Flowable]:
    photos = report.get("photos", [])
    out: list[Flowable] = [_p(f"Photos ({len(photos)})", styles["h2"])]
    for number, photo in enumerate(photos, 1):
        picture = _picture(images.get(photo["photo_id"]), styles)
        facts = _facts(wording.provenance(number, photo), styles, 22 * mm)
        row = Table([[picture, facts]], colWidths=[PHOTO_WIDTH + 4 * mm, None], hAlign="LEFT")
        row.setStyle(
            TableStyle(
                [
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                    ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.lightgrey),
                ]
            )
        )
        out.append(KeepTogether([row, Spacer(1, 3 * mm)]))
    return out


def _picture(printable: Printable | None, styles: dict[str, ParagraphStyle]) -> Flowable:
    if printable is None:
        return _p("(this photo's printable copy is still being prepared)", styles["small"])
    width, height = printable.width, printable.height
    scale = min(PHOTO_WIDTH / width, PHOTO_HEIGHT / height)
    return Image(
        io.BytesIO(printable.jpeg), width=width * scale, height=height * scale, hAlign="LEFT"
    )


def _missing(report: Mapping[str, Any], styles: dict[str, ParagraphStyle]) -> list[Flowable]:
    missing = report.get("missing", [])
    if not missing:
        return []
    lines = [_p("• " + wording.missing(m), styles["body"]) for m in missing]
    return [_p("Still missing", styles["h2"]), *lines]
