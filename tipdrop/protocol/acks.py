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
"""

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias, cast

from tipdrop.crypto import canonical, signing
from tipdrop.errors import FormatError
from tipdrop.protocol import fields
from tipdrop.protocol.bundles import b64

LABEL = "tipdrop/v1/export-ack"
ACK_FORMAT = "tipdrop-export-ack"
MAX_ACK = 16 * 1024 * 1024


#: (tip id, follow-up number) and (tip id, attachment part).
FollowupItem: TypeAlias = tuple[str, int]
AttachmentItem: TypeAlias = tuple[str, str]
_Lists: TypeAlias = tuple[tuple[str, ...], tuple[FollowupItem, ...], tuple[AttachmentItem, ...]]


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


def verify_ack(ack: Ack, public_key: signing.PublicKey | bytes) -> None:
    """Raise SignatureError unless the unit key signed exactly this acknowledgement."""
    signing.verify(public_key, ack.signature, LABEL, *ack_fields(
        ack.unit, ack.key_id, ack.export_seq, ack.tips, ack.followups, ack.attachments))


def dumps(ack: Ack) -> bytes:
    """The acknowledgement file's bytes (UTF-8 JSON, ASCII only)."""
    doc = {
        "format": ACK_FORMAT, "version": canonical.FORMAT_VERSION, "unit": ack.unit,
        "key_id": ack.key_id.hex(), "export_seq": ack.export_seq,
        "tips": list(ack.tips), "followups": [list(f) for f in ack.followups],
        "attachments": [list(a) for a in ack.attachments], "signature": b64(ack.signature),
    }
    return (json.dumps(doc, separators=(",", ":")) + "\n").encode("ascii")


def parse(data: bytes) -> Ack:
    """Parse an acknowledgement's structure (the signature is checked by :func:`verify_ack`)."""
    if len(data) > MAX_ACK:
        raise AckFormatError("it is implausibly large")
    doc = fields.loads(data, AckFormatError, "it")
    if not isinstance(doc, dict) or doc.get("format") != ACK_FORMAT:
        raise AckFormatError()
    if type(doc.get("version")) is not int or doc["version"] != canonical.FORMAT_VERSION:
        raise AckFormatError(f"unsupported version {doc.get('version')!r}")
    head = fields.check(doc, fields.EXPORT_ACK, "the acknowledgement", AckFormatError)
    tips = tuple(_tip_id(t) for t in _list(doc, "tips"))
    followups = tuple(cast(FollowupItem, _pair(f, int, "follow-up"))
                      for f in _list(doc, "followups"))
    attachments = tuple(cast(AttachmentItem, _pair(a, str, "attachment"))
                        for a in _list(doc, "attachments"))
    if (tips, followups, attachments) != _canonical_lists(tips, followups, attachments):
        raise AckFormatError("its lists are not sorted, or name an item twice")
    return Ack(head["unit"], bytes.fromhex(head["key_id"]), head["export_seq"], tips, followups,
               attachments, head["signature"])


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
