"""The realistic mix: a work order's 10 events (1 issued, 4 notes, 1 report, 4 photos) from
a crew of four, as event objects, as sealed bytes, and photos of a given size."""

from __future__ import annotations

import io
import random
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from uuid import UUID, uuid4

from fieldcrew_shared.envelope import Metadata, encode, seal
from fieldcrew_shared.events import (
    Asset,
    Crew,
    Event,
    GeoPoint,
    LeaderReportSubmitted,
    MemberNoteAdded,
    Outcome,
    PartLine,
    Phase,
    PhotoUploaded,
    Site,
    WorkOrderIssued,
    subject_for,
)
from PIL import Image

SOURCES = {
    "dispatch": "fieldcrew/dispatch",
    "team": "fieldcrew/team",
    "photos": "fieldcrew/photos",
}
EVENTS_PER_WORK_ORDER = 10


def people(count: int = 400) -> list[str]:
    """A pool of technicians; every work order's crew is four of them."""
    return [f"tech-{i:04d}" for i in range(count)]


@dataclass(frozen=True)
class Step:
    """One event of the mix with who did it."""

    event: Event
    meta: Metadata
    # The wildcard a service appends under (its own history of the work order), worked out
    # here, before any timing, as the raw append side's is (it was three ``str(uuid)`` a
    # timed append, charged to our side only).
    aggregate: str = field(init=False)

    def __post_init__(self) -> None:
        aggregate = subject_for(self.event.context, self.event.work_order_id)
        object.__setattr__(self, "aggregate", aggregate)

    @property
    def source(self) -> str:
        return SOURCES[self.event.context]


def crew_flow(wo: UUID, crew: list[str], rng: random.Random) -> list[Step]:
    """Issued, a note by each of the four, the leader's report, a photo by each of the four."""
    leader, members = crew[0], crew[1:]
    corr = str(uuid4())

    def meta(actor: str, role: str = "technician") -> Metadata:
        return Metadata(actor=actor, actorrole=role, correlationid=corr)

    issued = WorkOrderIssued(
        work_order_id=wo, title="Pump P-104 leaks at the shaft seal", site=Site(name="Plant 2"),
        asset=Asset(id="P-104"), description="Reported by the night shift; pressure drops.",
        crew=Crew(leader=leader, members=tuple(members)), issued_by="dora",
    )  # fmt: skip
    notes = [
        MemberNoteAdded(
            work_order_id=wo,
            note_id=uuid4(),
            author=who,
            findings="shaft seal worn",
            actions="replaced the seal",
            labour_minutes=rng.randrange(20, 90),
            parts=(PartLine(part_no="SEAL-40", qty=1), PartLine(part_no="BOLT-M8", qty=2)),
        )
        for who in crew
    ]
    report = LeaderReportSubmitted(
        work_order_id=wo, report_id=uuid4(), leader=leader, summary="Seal replaced, tested",
        root_cause="wear", actions="replaced the seal", outcome=Outcome.resolved,
        parts=(PartLine(part_no="SEAL-40", qty=4), PartLine(part_no="BOLT-M8", qty=8)),
        merged_note_ids=tuple(n.note_id for n in notes), labour_minutes=180,
    )  # fmt: skip
    photos = [_photo(wo, who, "leader" if who == leader else "member", rng) for who in crew]
    steps = [Step(issued, meta("dora", "dispatcher"))]
    steps += [Step(n, meta(n.author)) for n in notes]
    steps.append(Step(report, meta(leader)))
    steps += [Step(p, meta(p.uploader)) for p in photos]
    return steps


def _photo(wo: UUID, who: str, role: str, rng: random.Random) -> PhotoUploaded:
    sha = rng.randbytes(32).hex()
    return PhotoUploaded(
        work_order_id=wo, photo_id=uuid4(), sha256=sha, object_key=f"sha256/{sha[:2]}/{sha}",
        content_type="image/jpeg", size=48_000 + rng.randrange(4000), width=400, height=300,
        uploader=who, uploader_role=role, caption="after the repair", phase=Phase.after,
        location=GeoPoint(lat=48.1, lon=11.5),
    )  # fmt: skip


def random_crew(pool: list[str], rng: random.Random) -> list[str]:
    return rng.sample(pool, 4)


@dataclass(frozen=True)
class Sealed:
    """A message ready for a raw publish: subject, ``Nats-Msg-Id`` and body."""

    subject: str
    msg_id: str
    body: bytes


_UUID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_KEY = rb"sha256/[0-9a-f]{2}/[0-9a-f]{64}"
_HEX64 = rb"[0-9a-f]{64}"


class SealedMix:
    """Work orders as stored bytes, fast enough to fill a log with a million events.

    One work order is sealed for real (``seal`` + ``encode``); every further one is that
    template with every id, digest and crew name replaced by fresh ones, so each message is a
    valid envelope as a service would have written it, only not re-validated one by one.
    """

    def __init__(self, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.pool = people()
        self.crew = [f"tmpl-person-{i}" for i in range(4)]
        steps = crew_flow(uuid4(), self.crew, self.rng)
        names = b"|".join(re.escape(n).encode() for n in self.crew)
        tokens = re.compile(b"|".join([_KEY, _UUID.pattern, _HEX64, names]))
        self.template: list[tuple[str, str, list[bytes]]] = []
        for s in steps:  # body = literal, token, literal, token, ..., literal
            body = encode(seal(s.event, s.meta, source=s.source))
            self.template.append((s.event.context, s.event.name, _pieces(tokens, body)))
        found = [t for _, _, pieces in self.template for t in pieces[1::2]]
        # object keys after the digests they are made of
        self._distinct = sorted(dict.fromkeys(found), key=lambda t: t.startswith(b"sha256/"))

    def work_order(self) -> tuple[UUID, list[Sealed]]:
        """A new work order's 10 messages, in crew-flow order."""
        swap = self._swap()
        out: list[Sealed] = []
        wo = ""
        for ctx, name, pieces in self.template:
            parts = pieces.copy()
            parts[1::2] = [swap[t] for t in pieces[1::2]]
            body = b"".join(parts)
            wo = wo or _first_subject_id(body)
            out.append(Sealed(subject_for(ctx, wo, name), parts[1].decode(), body))
        return UUID(wo), out

    def _swap(self) -> dict[bytes, bytes]:
        """A fresh value for every token of the template."""
        crew = random_crew(self.pool, self.rng)
        swap = {old.encode(): new.encode() for old, new in zip(self.crew, crew, strict=True)}
        for token in self._distinct:
            if token.startswith(b"sha256/"):
                digest = swap[token[10:]]
                swap[token] = b"sha256/" + digest[:2] + b"/" + digest
            elif token not in swap:
                swap[token] = (
                    self.rng.randbytes(32).hex().encode() if len(token) == 64 else _uuid4(self.rng)
                )
        return swap


def _pieces(tokens: re.Pattern[bytes], body: bytes) -> list[bytes]:
    """``body`` cut into literal text and tokens, alternating (literal first and last)."""
    out, at = [], 0
    for match in tokens.finditer(body):
        out += [body[at : match.start()], match.group(0)]
        at = match.end()
    return [*out, body[at:]]


def _uuid4(rng: random.Random) -> bytes:
    h = rng.randbytes(16).hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}".encode()


def _first_subject_id(body: bytes) -> str:
    start = body.index(b'"subject":"') + len(b'"subject":"')
    return body[start : start + 36].decode()


def interleaved(mix: SealedMix, work_orders: int, width: int = 64) -> Iterator[list[Sealed]]:
    """Messages of ``work_orders`` work orders, ``width`` of them in progress at once (their
    events interleave in the log as concurrent crews' would), in chunks of ``width`` orders."""
    for start in range(0, work_orders, width):
        orders = [mix.work_order()[1] for _ in range(min(width, work_orders - start))]
        yield [wo[i] for i in range(EVENTS_PER_WORK_ORDER) for wo in orders]


def jpeg(size: tuple[int, int], quality: int, seed: int = 1) -> bytes:
    """A photo: smooth noise (compresses like a real picture), e.g. 400x300 q80 ~ 50 KB,
    4000x3000 q88 ~ 5 MB (a 12 MP phone photo)."""
    rng = random.Random(seed)
    small = (size[0] // 4 or 1, size[1] // 4 or 1)
    image = Image.frombytes("RGB", small, rng.randbytes(small[0] * small[1] * 3))
    image = image.resize(size, Image.Resampling.BILINEAR)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    return out.getvalue()


def variant(photo: bytes, n: int) -> bytes:
    """The same picture with a JPEG comment segment naming ``n``: other bytes, other sha256."""
    tag = f"fieldcrew-bench {n} {uuid4()}".encode()
    return photo[:2] + b"\xff\xfe" + struct.pack(">H", len(tag) + 2) + tag + photo[2:]
