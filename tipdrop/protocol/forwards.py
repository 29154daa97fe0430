"""Forwards: a tip handed from one unit to another, re-sealed to the other unit's key.

A unit that received a tip meant for another region's police opens it on
its workstation, seals the report, its follow-ups and its attachments again
to the other unit's public key (in the very formats a reporter's device
uses, bound to the same tip id, kinds and parts), and signs the result. The
forward travels inside a reply bundle (member ``forwards``), so the outbox
file and the online push carry it as they carry replies, and the server
imports replies and forwards in one transaction.

    {"tip_id", "to_unit", "to_key_id", "day",
     "report": base64 envelope (kind tip),
     "followups": [{"seq", "received_day", "encrypted_on", "body"}],
     "attachments": [{"part", "info", "stream"}],
     "signature"}

The signature (label ``tipdrop/v1/forward``, made with the forwarding
unit's signing key) covers the sending unit and key, the tip, the
receiving unit and key, the day and the SHA-256 of every sealed item, in
order. docs/protocol.md section 11a is the specification.
"""

import base64
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tipdrop.crypto import canonical, signing
from tipdrop.errors import FormatError
from tipdrop.protocol import fields

LABEL = "tipdrop/v1/forward"
#: The most follow-ups and attachments one forward may carry.
MAX_FOLLOWUPS = 10_000
MAX_ATTACHMENTS = 999


class ForwardError(FormatError):
    """The forward in this bundle is damaged or incomplete."""


@dataclass(frozen=True)
class FollowupCopy:
    seq: int
    received_day: str
    encrypted_on: str
    body: bytes


@dataclass(frozen=True)
class AttachmentCopy:
    part: str
    info: bytes
    stream: bytes


@dataclass(frozen=True)
class Forward:
    tip_id: str
    to_unit: str
    to_key_id: bytes
    day: str
    report: bytes
    followups: tuple[FollowupCopy, ...]
    attachments: tuple[AttachmentCopy, ...]
    signature: bytes = b""


def _sha(data: bytes) -> bytes:
    return hashlib.sha256(bytes(data)).digest()


def forward_fields(unit: str, key_id: bytes, forward: Forward) -> tuple[canonical.Field, ...]:
    """What a forward's signature covers, in order (docs/protocol.md section 11a)."""
    items: list[canonical.Field] = [
        canonical.FORMAT_VERSION, unit, bytes(key_id), forward.tip_id, forward.to_unit,
        bytes(forward.to_key_id), forward.day, _sha(forward.report), len(forward.followups)]
    for f in forward.followups:
        items += [f.seq, f.received_day, f.encrypted_on, _sha(f.body)]
    items.append(len(forward.attachments))
    for a in forward.attachments:
        items += [a.part, _sha(a.info), _sha(a.stream)]
    return tuple(items)


def sign_forward(signing_key: signing.PrivateKey, unit: str, key_id: bytes,
                 forward: Forward) -> Forward:
    """``forward`` with its signature by ``unit``'s key ``key_id``."""
    signature = signing.sign(signing_key, LABEL, *forward_fields(unit, key_id, forward))
    return Forward(forward.tip_id, forward.to_unit, bytes(forward.to_key_id), forward.day,
                   forward.report, forward.followups, forward.attachments, signature)


def verify_forward(public_key: signing.PublicKey | bytes, unit: str, key_id: bytes,
                   forward: Forward) -> None:
    """Raise SignatureError unless ``unit``'s key ``key_id`` signed exactly this forward."""
    signing.verify(public_key, forward.signature, LABEL, *forward_fields(unit, key_id, forward))


def digest(unit: str, key_id: bytes, forward: Forward) -> bytes:
    """SHA-256 of what the signature covers, minus the signing key: names one forward.

    The server keeps it with the transfer, so the same forward sent again
    (a lost answer, an outbox file imported twice) is recognised as held.
    The key id is left out: a forward signed again by a newer key of the
    same unit after a rotation is the same forward.
    """
    fields_ = forward_fields(unit, key_id, forward)
    return hashlib.sha256(canonical.encode(LABEL, *fields_[:2], *fields_[3:])).digest()


# --- JSON -------------------------------------------------------------------

SEALED_BY = fields.one_of("server", "device")
FORWARD = {
    "tip_id": fields.TIP_ID, "to_unit": fields.UNIT, "to_key_id": fields.KEY_ID,
    "day": fields.DAY, "report": fields.raw(low=1), "signature": fields.SIGNATURE,
}
FOLLOWUP = {
    "seq": fields.number(1), "received_day": fields.DAY, "encrypted_on": SEALED_BY,
    "body": fields.raw(low=1),
}
ATTACHMENT = {"part": fields.PART, "info": fields.raw(low=1), "stream": fields.raw(low=1)}


def _b64(data: bytes) -> str:
    return base64.b64encode(bytes(data)).decode("ascii")


def to_json(forward: Forward) -> dict[str, object]:
    return {
        "tip_id": forward.tip_id, "to_unit": forward.to_unit,
        "to_key_id": bytes(forward.to_key_id).hex(), "day": forward.day,
        "report": _b64(forward.report),
        "followups": [{"seq": f.seq, "received_day": f.received_day,
                       "encrypted_on": f.encrypted_on, "body": _b64(f.body)}
                      for f in forward.followups],
        "attachments": [{"part": a.part, "info": _b64(a.info), "stream": _b64(a.stream)}
                        for a in forward.attachments],
        "signature": _b64(forward.signature),
    }


def _list(doc: Mapping[str, Any], name: str, most: int, what: str) -> list[Any]:
    value = doc.get(name)
    if not isinstance(value, list) or len(value) > most:
        raise ForwardError(f"{what} has no valid {name!r} (a list of at most {most})")
    return value


def from_json(doc: object, what: str = "the forward") -> Forward:
    """A forward from its JSON object, every field checked (the signature is not)."""
    head = fields.check(doc, FORWARD, what, ForwardError)  # raises unless doc is a dict
    if not isinstance(doc, dict):
        raise ForwardError(f"{what} is not a JSON object")
    followups = tuple(
        FollowupCopy(**fields.check(item, FOLLOWUP, f"{what}'s follow-up {n}", ForwardError))
        for n, item in enumerate(_list(doc, "followups", MAX_FOLLOWUPS, what), start=1))
    attachments = tuple(
        AttachmentCopy(**fields.check(item, ATTACHMENT, f"{what}'s attachment {n}", ForwardError))
        for n, item in enumerate(_list(doc, "attachments", MAX_ATTACHMENTS, what), start=1))
    _distinct([f.seq for f in followups], "follow-up", what)
    _distinct([a.part for a in attachments], "attachment", what)
    return Forward(head["tip_id"], head["to_unit"], bytes.fromhex(head["to_key_id"]),
                   head["day"], head["report"], followups, attachments, head["signature"])


def _distinct(names: Sequence[object], kind: str, what: str) -> None:
    if len(set(names)) != len(names):
        raise ForwardError(f"{what} carries a {kind} twice")
