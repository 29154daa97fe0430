"""Server side of a forward: hand a tip to another unit, re-sealed by the unit that had it.

A forward (tipdrop.protocol.forwards) arrives inside a reply bundle, its
signature already checked with the bundle's. Here the server checks what
only it can: that the sending unit holds the tip now, that the receiving
unit exists with the very key the forward was sealed to, that every
ciphertext names that key and its kind, and that the forward carries every
follow-up and file the server has for the tip (none left sealed to the old
unit, none added). Then the tip's own row moves to the other unit, so the
receipt stays one record: the reporter's code, reply key and earlier
replies are kept, follow-ups from then on are sealed to the new unit, and
the old unit's replies are refused (docs/protocol.md section 11a).

Everything runs inside the import's transaction (exchange.import_replies):
all of the bundle or none of it.
"""

import hmac
import io

from tipdrop.crypto import envelope, stream
from tipdrop.errors import FormatError, TipdropError, UnknownUnitError
from tipdrop.protocol import forwards
from tipdrop.server import sealed, store
from tipdrop.server.store import blobs
from tipdrop.server.store.alerts import count_report


class ForwardRefusedError(TipdropError):
    """The forward was refused: nothing was imported."""


class NoSuchUnitKeyError(TipdropError):
    """The unit the tip is forwarded to has no installed key on this server: nothing was imported."""


class TransferredTipError(TipdropError):
    """This tip was forwarded to another unit; only that unit may reply now: nothing was imported."""


def transferred_from(db, tip_id, unit):
    """Whether ``unit`` once held ``tip_id`` and forwarded it."""
    return any(t["from_unit"] == unit for t in store.transfers_of(db, tip_id))


def already_forwarded(db, bundle, forward):
    """True if this very forward was imported before (a replay changes nothing)."""
    mark = forwards.digest(bundle.unit, bundle.key_id, forward)
    return any(hmac.compare_digest(bytes(t["digest"]), mark) and t["from_unit"] == bundle.unit
               for t in store.transfers_of(db, forward.tip_id))


def apply(db, unit_keys, bundle, forward, alerts=None):
    """Check one forward of ``bundle`` and move its tip; False if it was already imported.

    Call inside the import's transaction, after the bundle's replies. The
    tip is new work for the receiving unit: with duty alerts for it
    (``alerts``, an AlertConfig), it counts toward the unit's next alert,
    urgent by its category, in this same transaction (docs/protocol.md
    section 20), and a forward imported again counts nothing.
    """
    if already_forwarded(db, bundle, forward):
        return False
    tip = store.get_tip(db, forward.tip_id)
    short = forward.tip_id[:8]
    if tip is None or tip["unit"] != bundle.unit:
        if tip is not None and transferred_from(db, forward.tip_id, bundle.unit):
            raise TransferredTipError(f"tip {short}")
        raise ForwardRefusedError(f"tip {short} is not unit {bundle.unit!r}'s")
    if forward.to_unit == bundle.unit:
        raise ForwardRefusedError(f"tip {short} is forwarded to its own unit")
    _target_key(unit_keys, forward)
    seqs, parts = store.child_keys(db, forward.tip_id)
    if [f.seq for f in forward.followups] != seqs:
        raise ForwardRefusedError(
            f"tip {short}: the forward carries follow-ups {_names(f.seq for f in forward.followups)}"
            f", the server holds {_names(seqs)}; open the latest export and forward it again")
    if [a.part for a in forward.attachments] != parts:
        raise ForwardRefusedError(
            f"tip {short}: the forward carries files {_names(a.part for a in forward.attachments)}"
            f", the server holds {_names(parts)}")
    _sealed_to(forward.report, "tip", forward, sealed.MAX_ENVELOPE)
    for f in forward.followups:
        _sealed_to(f.body, "followup", forward, sealed.MAX_FOLLOWUP_ENVELOPE)
    files = {}
    for a in forward.attachments:
        _sealed_to(a.info, "attachment-info", forward, sealed.MAX_INFO_ENVELOPE)
        _stream_to(a.stream, forward)
        files[a.part] = (a.info, blobs.insert(db, a.stream), len(a.stream))
    store.move_tip(db, tip_id=forward.tip_id, from_unit=bundle.unit, to_unit=forward.to_unit,
                   key_id=forward.to_key_id.hex(), day=forward.day, report=forward.report,
                   followups={f.seq: f.body for f in forward.followups}, attachments=files,
                   digest=forwards.digest(bundle.unit, bundle.key_id, forward))
    targets = alerts.targets_of(forward.to_unit) if alerts is not None else ()
    if targets:
        count_report(db, forward.to_unit, targets,
                     alerts.is_urgent(forward.to_unit, tip["category"]))
    return True


def _names(items):
    return ", ".join(str(i) for i in items) or "none"


def _target_key(unit_keys, forward):
    """The receiving unit's installed key the forward was sealed to."""
    try:
        public = unit_keys.current(forward.to_unit)
    except UnknownUnitError:
        raise NoSuchUnitKeyError(repr(forward.to_unit)) from None
    installed = {key.key_id for key in unit_keys.installed(forward.to_unit)}
    if forward.to_key_id not in installed:
        raise ForwardRefusedError(
            f"tip {forward.tip_id[:8]} is sealed to key {forward.to_key_id.hex()}, which is not "
            f"an installed key of unit {forward.to_unit!r}")
    return public


def _sealed_to(data, kind, forward, limit):
    try:
        key_id = envelope.check_sealed(data, kind=kind, max_len=limit)
    except FormatError as e:
        raise ForwardRefusedError(f"tip {forward.tip_id[:8]}: {e.detail or kind}") from None
    if key_id != forward.to_key_id:
        raise ForwardRefusedError(f"tip {forward.tip_id[:8]}: a {kind} is sealed to another key")


def _stream_to(data, forward):
    try:
        kind, key_id, _ = stream.read_header(io.BytesIO(data))
    except FormatError as e:
        raise ForwardRefusedError(f"tip {forward.tip_id[:8]}: {e.detail or 'a stream'}") from None
    if kind != "attachment" or key_id != forward.to_key_id:
        raise ForwardRefusedError(f"tip {forward.tip_id[:8]}: a file is sealed to another key")
