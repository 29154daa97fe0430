"""Export acknowledgements: the unit's signed word that its workstation holds an export.

After ``tipdrop officer open`` has imported an export bundle (all of it,
committed), the workstation can sign an acknowledgement naming exactly the
items it now holds. The server checks it and may then delete its own copy
of those items' ciphertext (``tipdrop purge``), keeping what the reporter
still needs. JSON, signed by the unit (label ``tipdrop/v1/export-ack``):

    {"format": "tipdrop-export-ack", "version": 1, "unit", "key_id", "export_seq",
     "tips": [tip id, ...], "followups": [[tip id, seq], ...],
     "attachments": [[tip id, part], ...], "signature"}

The items are named one by one rather than by a hash of the bundle: a
``--since-start`` export carries items an earlier export already carried,
under a new number, and the server stamps each row only with the first
export that carried it, so it could not recompute such a bundle's list.
Each list is sorted and free of repeats, so one set of items has exactly
one encoding. See docs/protocol.md section 11, "Export acknowledgements".

Naming every item makes the file grow with the workspace (about 40 bytes an
item). A compact acknowledgement (version 2, label ``tipdrop/v2/export-ack``)
names exports instead: "every item the server first exported in exports
``first`` to ``last``, except these", each run of exports bound to the
server's own record of them by a hash chain the export headers carry
(:func:`chain_link`), so a server whose history differs (restored from an
older backup, say) cannot take it for its own exports of the same numbers.
Its size depends on the runs of exports and the items not held, never on
how many items the exports carried, and both are capped.
"""

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias, cast

from tipdrop.crypto import canonical, signing
from tipdrop.errors import FormatError
from tipdrop.protocol import fields
from tipdrop.protocol.bundles import b64

LABEL = "tipdrop/v1/export-ack"
LABEL_V2 = "tipdrop/v2/export-ack"
CHAIN_LABEL = "tipdrop/v1/export-chain"
ITEMS_LABEL = "tipdrop/v1/export-items"
ACK_FORMAT = "tipdrop-export-ack"
MAX_ACK = 16 * 1024 * 1024
#: The chain value before a unit's first export with one.
GENESIS = bytes(32)
#: At most this many runs of exports, and items not held, in a compact acknowledgement:
#: with them it stays under about 300 KB however much the workspace holds.
MAX_RANGES = 1024
MAX_EXCEPT = 4096


#: (tip id, follow-up number) and (tip id, attachment part).
FollowupItem: TypeAlias = tuple[str, int]
AttachmentItem: TypeAlias = tuple[str, str]
_Lists: TypeAlias = tuple[tuple[str, ...], tuple[FollowupItem, ...], tuple[AttachmentItem, ...]]
#: (first export, last export, chain value of the last): a run of exports.
Range: TypeAlias = tuple[int, int, bytes]


class AckFormatError(FormatError):
    """The acknowledgement file is damaged or is not a tipdrop acknowledgement."""


@dataclass(frozen=True)
class Ack:
    unit: str
    key_id: bytes
    export_seq: int
    tips: tuple[str, ...]
    followups: tuple[FollowupItem, ...]
    attachments: tuple[AttachmentItem, ...]
    signature: bytes = b""

    @property
    def items(self) -> int:
        return len(self.tips) + len(self.followups) + len(self.attachments)


@dataclass(frozen=True)
class RangeAck:
    """A compact acknowledgement: runs of exports, and the items of them not held."""

    unit: str
    key_id: bytes
    ranges: tuple[Range, ...]
    except_tips: tuple[str, ...]
    except_followups: tuple[FollowupItem, ...]
    except_attachments: tuple[AttachmentItem, ...]
    signature: bytes = b""

    @property
    def export_seq(self) -> int:
        """The newest export it covers."""
        return self.ranges[-1][1]

    @property
    def exports(self) -> int:
        return sum(last - first + 1 for first, last, _ in self.ranges)


def items_encoding(tips: Iterable[str], followups: Iterable[Iterable[Any]],
                   attachments: Iterable[Iterable[Any]]) -> bytes:
    """The items an export carries, encoded: canonical("tipdrop/v1/export-items",
    u64 n, tip id..., u64 m, (tip id, u64 seq)..., u64 k, (tip id, part)...),
    each list sorted and without repeats, as in an acknowledgement."""
    listed = _canonical_lists(tips, followups, attachments)
    return canonical.encode(ITEMS_LABEL, *ack_fields("", b"", 0, *listed)[4:])


def items_digest(tips: Iterable[str], followups: Iterable[Iterable[Any]],
                 attachments: Iterable[Iterable[Any]]) -> bytes:
    """SHA-256 of :func:`items_encoding`: what the workstation read must be what the
    server listed."""
    return hashlib.sha256(items_encoding(tips, followups, attachments)).digest()


def chain_link(previous: bytes, unit: str, export_seq: int, export_id: bytes,
               items: bytes) -> bytes:
    """The chain value of a unit's export ``export_seq`` (docs/protocol.md section 11).

    SHA-256 of canonical("tipdrop/v1/export-chain", unit, u64 export_seq,
    export id (16 bytes), items digest (32 bytes, :func:`items_digest`), the
    previous export's chain value (32 bytes; GENESIS before the first)):
    equal values on both sides mean the same exports, carrying the same
    items, under the same numbers, up to and including this one.
    """
    return hashlib.sha256(canonical.encode(CHAIN_LABEL, unit, export_seq, bytes(export_id),
                                           bytes(items), bytes(previous))).digest()


def range_ack_fields(unit: str, key_id: bytes, ranges: Sequence[Range], tips: Sequence[str],
                     followups: Sequence[FollowupItem],
                     attachments: Sequence[AttachmentItem]) -> tuple[canonical.Field, ...]:
    """What a compact acknowledgement's signature covers, in order."""
    fields: list[canonical.Field] = [2, unit, bytes(key_id), len(ranges)]
    for first, last, chain in ranges:
        fields += [first, last, bytes(chain)]
    return (*fields, *ack_fields(unit, key_id, 0, tips, followups, attachments)[4:])


def _check_ranges(ranges: Sequence[Range], excepted: int) -> None:
    if not 0 < len(ranges) <= MAX_RANGES:
        raise AckFormatError(f"it names no run of exports, or more than {MAX_RANGES}")
    if excepted > MAX_EXCEPT:
        raise AckFormatError(f"it names more than {MAX_EXCEPT} items not held")
    previous = 0
    for first, last, chain in ranges:
        if not previous < first <= last or len(chain) != 32:
            raise AckFormatError("its runs of exports are not in order, or overlap")
        previous = last


def sign_range_ack(signing_key: signing.PrivateKey, unit: str, key_id: bytes, *,
                   ranges: Sequence[Range], except_tips: Iterable[str] = (),
                   except_followups: Iterable[Iterable[Any]] = (),
                   except_attachments: Iterable[Iterable[Any]] = ()) -> RangeAck:
    """Sign a compact acknowledgement; the caller keeps within MAX_RANGES and MAX_EXCEPT."""
    listed = _canonical_lists(except_tips, except_followups, except_attachments)
    runs = tuple((first, last, bytes(chain)) for first, last, chain in ranges)
    _check_ranges(runs, sum(map(len, listed)))
    signature = signing.sign(signing_key, LABEL_V2,
                             *range_ack_fields(unit, key_id, runs, *listed))
    return RangeAck(unit, bytes(key_id), runs, *listed, signature)


def ack_fields(unit: str, key_id: bytes, export_seq: int, tips: Sequence[str],
               followups: Sequence[FollowupItem],
               attachments: Sequence[AttachmentItem]) -> tuple[canonical.Field, ...]:
    """What an acknowledgement's signature covers, in order (docs/protocol.md section 11)."""
    fields: list[canonical.Field] = [canonical.FORMAT_VERSION, unit, bytes(key_id), export_seq,
                                     len(tips), *tips, len(followups)]
    for tip_id, seq in followups:
        fields += [tip_id, seq]
    fields.append(len(attachments))
    for tip_id, part in attachments:
        fields += [tip_id, part]
    return tuple(fields)


def _canonical_lists(tips: Iterable[str], followups: Iterable[Iterable[Any]],
                     attachments: Iterable[Iterable[Any]]) -> _Lists:
    # The items are pairs: parse() checks each one, sign_ack's caller holds them.
    return cast(_Lists, (tuple(sorted(set(tips))), tuple(sorted(set(map(tuple, followups)))),
                         tuple(sorted(set(map(tuple, attachments))))))


def sign_ack(signing_key: signing.PrivateKey, unit: str, key_id: bytes, *, export_seq: int,
             tips: Iterable[str] = (), followups: Iterable[Iterable[Any]] = (),
             attachments: Iterable[Iterable[Any]] = ()) -> Ack:
    """Sign an acknowledgement of the given items; lists are sorted and de-duplicated."""
    listed = _canonical_lists(tips, followups, attachments)
    signature = signing.sign(signing_key, LABEL, *ack_fields(unit, key_id, export_seq, *listed))
    return Ack(unit, bytes(key_id), export_seq, *listed, signature)


def verify_ack(ack: "Ack | RangeAck", public_key: signing.PublicKey | bytes) -> None:
    """Raise SignatureError unless the unit key signed exactly this acknowledgement."""
    if isinstance(ack, RangeAck):
        signing.verify(public_key, ack.signature, LABEL_V2, *range_ack_fields(
            ack.unit, ack.key_id, ack.ranges, ack.except_tips, ack.except_followups,
            ack.except_attachments))
        return
    signing.verify(public_key, ack.signature, LABEL, *ack_fields(
        ack.unit, ack.key_id, ack.export_seq, ack.tips, ack.followups, ack.attachments))


def dumps(ack: "Ack | RangeAck") -> bytes:
    """The acknowledgement file's bytes (UTF-8 JSON, ASCII only)."""
    doc: dict[str, object]
    if isinstance(ack, RangeAck):
        doc = {
            "format": ACK_FORMAT, "version": 2, "unit": ack.unit, "key_id": ack.key_id.hex(),
            "exports": [[first, last, chain.hex()] for first, last, chain in ack.ranges],
            "except_tips": list(ack.except_tips),
            "except_followups": [list(f) for f in ack.except_followups],
            "except_attachments": [list(a) for a in ack.except_attachments],
            "signature": b64(ack.signature),
        }
        return (json.dumps(doc, separators=(",", ":")) + "\n").encode("ascii")
    doc = {
        "format": ACK_FORMAT, "version": canonical.FORMAT_VERSION, "unit": ack.unit,
        "key_id": ack.key_id.hex(), "export_seq": ack.export_seq,
        "tips": list(ack.tips), "followups": [list(f) for f in ack.followups],
        "attachments": [list(a) for a in ack.attachments], "signature": b64(ack.signature),
    }
    return (json.dumps(doc, separators=(",", ":")) + "\n").encode("ascii")


def parse(data: bytes) -> "Ack | RangeAck":
    """Parse an acknowledgement's structure (the signature is checked by :func:`verify_ack`)."""
    if len(data) > MAX_ACK:
        raise AckFormatError("it is implausibly large")
    doc = fields.loads(data, AckFormatError, "it")
    if not isinstance(doc, dict) or doc.get("format") != ACK_FORMAT:
        raise AckFormatError()
    version = doc.get("version")
    if type(version) is not int or version not in (1, 2):
        raise AckFormatError(f"unsupported version {version!r}")
    if version == 2:
        return _parse_v2(doc)
    head = fields.check(doc, fields.EXPORT_ACK, "the acknowledgement", AckFormatError)
    tips, followups, attachments = _items(doc, "tips", "followups", "attachments")
    return Ack(head["unit"], bytes.fromhex(head["key_id"]), head["export_seq"], tips, followups,
               attachments, head["signature"])


def _parse_v2(doc: fields.JSONObject) -> RangeAck:
    head = fields.check(doc, fields.EXPORT_ACK_V2, "the acknowledgement", AckFormatError)
    ranges = tuple(_range(value) for value in _list(doc, "exports"))
    listed = _items(doc, "except_tips", "except_followups", "except_attachments")
    _check_ranges(ranges, sum(map(len, listed)))
    return RangeAck(head["unit"], bytes.fromhex(head["key_id"]), ranges, *listed,
                    head["signature"])


def _items(doc: fields.JSONObject, *names: str) -> _Lists:
    """The three sorted, repeat-free item lists named ``names`` (tips, follow-ups, files)."""
    tips = tuple(_tip_id(t) for t in _list(doc, names[0]))
    followups = tuple(cast(FollowupItem, _pair(f, int, "follow-up"))
                      for f in _list(doc, names[1]))
    attachments = tuple(cast(AttachmentItem, _pair(a, str, "attachment"))
                        for a in _list(doc, names[2]))
    if (tips, followups, attachments) != _canonical_lists(tips, followups, attachments):
        raise AckFormatError("its lists are not sorted, or name an item twice")
    return tips, followups, attachments


def _range(value: object) -> Range:
    """[first, last, chain hex] of a run of exports."""
    if not isinstance(value, list) or len(value) != 3:
        raise AckFormatError("an invalid run of exports")
    try:
        first = fields.EXPORT_ACK["export_seq"].check(value[0])
        last = fields.EXPORT_ACK["export_seq"].check(value[1])
        chain = fields.CHAIN.check(value[2])
    except fields.Invalid:
        raise AckFormatError("an invalid run of exports") from None
    return (first, last, bytes.fromhex(chain))


def _list(doc: fields.JSONObject, field: str) -> list[Any]:
    value = doc.get(field)
    if not isinstance(value, list):
        raise AckFormatError(f"no valid {field!r}")
    return value


def _tip_id(value: object) -> str:
    try:
        tip_id: str = fields.TIP_ID.check(value)
        return tip_id
    except fields.Invalid:
        raise AckFormatError("an invalid tip id") from None


def _pair(value: object, kind: type[int] | type[str], what: str) -> tuple[str, int | str]:
    """(tip id, second), the second checked as a follow-up number or a part by ``kind``."""
    if not isinstance(value, list) or len(value) != 2:
        raise AckFormatError(f"an invalid {what}")
    tip_id, second = _tip_id(value[0]), value[1]
    rule = fields.EXPORT_FOLLOWUP["seq"] if kind is int else fields.PART
    try:
        rule.check(second)
    except fields.Invalid:
        raise AckFormatError(f"an invalid {what} {'number' if kind is int else 'part'}") from None
    return (tip_id, second)
