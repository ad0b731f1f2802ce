"""What a live event shows to whom (fieldcrew_dispatch.feed), pure: whole, a summary, or
nothing, by the read rules of ADR 0010."""

from __future__ import annotations

from uuid import uuid4

import pytest
from fieldcrew_dispatch.feed import Viewer, shaped
from fieldcrew_shared.events import (
    PhotoRenditionFailed,
    PhotoRenditionsMade,
    ServerReportCompiled,
    SharedView,
    ShareLinkViewed,
)

from tests.unit.factories import issued, note, photo, recorded, report

WO = uuid4()
LEADER = Viewer("lead", "technician", "leader")
AUTHOR = Viewer("m1", "technician", "member")
OTHER = Viewer("m2", "technician", "member")
DISPATCHER, ANALYST = Viewer("dora", "dispatcher"), Viewer("ana", "analyst")


def test_a_note_is_whole_for_the_leader_and_its_author_and_a_summary_for_everyone_else() -> None:
    record = recorded(note(WO, "m1", parts=(("P-1", 1),)), seq=7)
    for viewer in (LEADER, AUTHOR):
        shown = shaped(record, viewer)
        assert shown is not None and not shown["redacted"] and shown["data"]["findings"]
    for viewer in (OTHER, DISPATCHER, ANALYST):
        shown = shaped(record, viewer)
        assert shown is not None and shown["redacted"] and shown["seq"] == 7
        assert set(shown["data"]) == {"note_id", "author", "after_report"}


COPIES = PhotoRenditionsMade(
    work_order_id=WO, photo_id=uuid4(), sha256="a" * 64, served_key="served/a.jpg",
    served_width=64, served_height=48, thumbnail_key="thumbnails/a.jpg", thumbnail_width=64,
    thumbnail_height=48,
)  # fmt: skip
NO_COPIES = PhotoRenditionFailed(
    work_order_id=WO, photo_id=uuid4(), sha256="b" * 64, reason="OSError: x", attempts=4
)


@pytest.mark.parametrize(
    "event", [report(WO, "lead", ()), photo(WO, "m1", "a" * 64), COPIES, NO_COPIES]
)
def test_the_report_and_photos_are_whole_for_the_crew_and_dispatcher_not_the_analyst(
    event: object,
) -> None:
    record = recorded(event)  # type: ignore[arg-type]
    for viewer in (LEADER, OTHER, DISPATCHER):
        shown = shaped(record, viewer)
        assert shown is not None and not shown["redacted"]
        assert not {"object_key", "served_key", "thumbnail_key"} & set(shown["data"])
    shown = shaped(record, ANALYST)
    assert shown is not None and shown["redacted"] and "sha256" not in shown["data"]


def test_a_revision_is_a_summary_and_share_links_are_the_dispatchers() -> None:
    revision = ServerReportCompiled(
        work_order_id=WO, revision=2, report={"report_version": 1, "photos": [1, 2]}
    )
    shown = shaped(recorded(revision), LEADER)
    assert shown is not None
    assert shown["data"] == {"revision": 2, "report_version": 1, "cancelled": False}
    viewed = ShareLinkViewed(work_order_id=WO, link_id=uuid4(), view=SharedView.page)
    assert shaped(recorded(viewed), DISPATCHER) is not None
    assert shaped(recorded(viewed), LEADER) is None and shaped(recorded(viewed), ANALYST) is None


def test_the_work_order_itself_is_whole_for_everyone() -> None:
    for viewer in (LEADER, OTHER, DISPATCHER, ANALYST):
        shown = shaped(recorded(issued(WO)), viewer)
        assert shown is not None and not shown["redacted"] and shown["data"]["crew"]
