"""How the leader's report merges the crew's notes (pure): identical notes, the same work told
by several members, become one report line crediting all of them, and parts are summed by part
number over the lines, so the same replaced seal told four times is one seal."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from fieldcrew_shared.events import MemberNoteAdded, PartLine, Reading, ReportLine

NoteKey = tuple[str, str, tuple[tuple[str, int], ...], tuple[Reading, ...]]


def same_work(note: MemberNoteAdded) -> NoteKey:
    """What makes two notes identical: the same findings and actions (spacing aside), the
    same parts and the same readings; who wrote them and their labour minutes do not."""
    parts = tuple(sorted((p.part_no, p.qty) for p in note.parts))
    return (" ".join(note.findings.split()), " ".join(note.actions.split()), parts, note.readings)


def report_lines(notes: Sequence[MemberNoteAdded]) -> tuple[ReportLine, ...]:
    """The notes as report lines, in the order each line first appears."""
    lines: dict[NoteKey, list[MemberNoteAdded]] = {}
    for note in notes:
        lines.setdefault(same_work(note), []).append(note)
    return tuple(ReportLine(note_ids=tuple(n.note_id for n in group)) for group in lines.values())


def line_parts(notes: Sequence[MemberNoteAdded]) -> tuple[PartLine, ...]:
    """The parts of ``notes`` counted once per report line, summed by part number."""
    first_of_line = {same_work(n): n for n in reversed(notes)}
    ordered = sorted(first_of_line.values(), key=notes.index)
    return merge_parts(p for n in ordered for p in n.parts)


def merge_parts(lines: Iterable[PartLine]) -> tuple[PartLine, ...]:
    """Sum quantities by part number, keeping the order parts first appear in."""
    totals: dict[str, int] = {}
    for line in lines:
        totals[line.part_no] = totals.get(line.part_no, 0) + line.qty
    return tuple(PartLine(part_no=p, qty=q) for p, q in totals.items())
