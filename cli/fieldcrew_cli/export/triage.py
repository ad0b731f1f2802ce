"""Which events of a batch may take the quick way, by type: worked out for the whole batch at
once with Arrow's kernels (C++, the GIL let go), not event by event in Python.

An event takes the quick way when its body's top-level ``type`` and ``source`` come before its
``data`` (as the envelope writes them), hold no escape, belong to the context of the event's
subject, and the type is one of ``contexts``. The rest go the careful way (``rows.py``), which
rejects what is misplaced. (A body of more than one line is found out when the quick way's
lines are parsed: they do not come out one row each.)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
from fieldcrew_shared.eventstore import RawEvent

_SUBJECT_CONTEXT = r"^fieldcrew\.(?P<context>[^.]*)\."


@dataclass(frozen=True)
class Triage:
    """A batch sorted out: its bodies as an Arrow array, the positions of the events of each
    quick type, and those of the events that go the careful way."""

    bodies: pa.Array
    quick: dict[str, pa.Array]
    careful: list[int]


def triage(raws: Sequence[RawEvent], contexts: Mapping[str, str]) -> Triage:
    """Sort out ``raws``; ``contexts`` are the quick types, each with its context."""
    bodies = pa.array([r.body for r in raws], pa.binary())
    context = _field(pa.array([r.subject for r in raws], pa.string()), _SUBJECT_CONTEXT)
    data_at = pc.find_substring(bodies, '"data":')
    type_name = _attribute(bodies, "type", data_at)
    own_source = pc.binary_join_element_wise(b"fieldcrew/", context.cast(pa.binary()), b"")
    fine = pc.fill_null(pc.equal(_attribute(bodies, "source", data_at), own_source), False)
    quick: dict[str, pa.Array] = {}
    taken = pa.nulls(len(raws), pa.bool_()).fill_null(False)
    for kind in pc.unique(pc.filter(type_name, fine)).to_pylist():
        name = "" if kind is None else kind.decode("utf-8", errors="replace")
        if name not in contexts:
            continue
        its = pc.and_(pc.equal(type_name, pa.scalar(kind, pa.binary())), fine)
        its = pc.fill_null(pc.and_(its, pc.equal(context, contexts[name])), False)
        indices = pc.indices_nonzero(its)
        if len(indices):
            quick[name] = indices
            taken = pc.or_(taken, its)
    careful: list[int] = pc.indices_nonzero(pc.invert(taken)).to_pylist()
    return Triage(bodies, quick, careful)


def joined(bodies: pa.Array, indices: pa.Array) -> pa.Buffer:
    """The bodies at ``indices``, one a line, as one buffer (no Python object per body)."""
    taken = pc.take(bodies, indices)
    one = pa.ListArray.from_arrays(pa.array([0, len(taken)], pa.int32()), taken)
    return pc.binary_join(one, b"\n")[0].as_buffer()


def _attribute(bodies: pa.Array, key: str, data_at: pa.Array) -> pa.Array:
    """A top-level text attribute of each compact envelope: the text after the first
    ``"key":"`` up to the next quote, when that comes before ``data`` and holds no escape;
    null otherwise."""
    mark = f'"{key}":"'
    value = _field(bodies, f'{mark}(?P<value>[^"]*)"')
    at = pc.find_substring(bodies, mark)
    before_data = pc.and_(pc.greater_equal(at, 0), pc.less(at, data_at))
    plain = pc.invert(pc.match_substring(value, "\\"))
    return pc.if_else(pc.and_(before_data, plain), value, pa.scalar(None, value.type))


def _field(texts: pa.Array, pattern: str) -> pa.Array:
    """The one named group of ``pattern`` in each text (null where it does not match)."""
    return pc.struct_field(pc.extract_regex(texts, pattern), [0])
