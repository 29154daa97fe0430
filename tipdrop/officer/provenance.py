"""Whose is each file and follow-up of a tip? What the workstation can prove.

The server (or anyone who alters an export on its way: the bundle's
checksum has no key) can hand the workstation an attachment or a follow-up
sealed to the unit's public key, correctly bound to the tip and part, that
the reporter never sent. tipdrop.protocol.binding defines what ties them to the
report; this module judges each item against the report it belongs to
(docs/protocol.md section 14). It is used when a bundle is opened (to refuse
or mark) and when a tip is shown (to label every item).
"""

import json

from tipdrop.crypto.stream import HEADER_LEN
from tipdrop.errors import FormatError, SignatureError
from tipdrop.protocol import binding, bundles


def N_(text):
    """Mark ``text`` for the catalogs: the officer app shows these words in the officer's
    language (officer/app/views.py), the CLI in English like all its output."""
    return text


#: An attachment the report binds, by digest.
BOUND = "bound"
#: The report binds no files (sealed before binding, or by an older app).
UNBOUND = "unbound"
#: Not in the report's list: someone other than the reporter added it.
NOT_LISTED = "not-listed"
#: Listed, but its description or its stream is not the one the report binds.
DIFFERS = "differs"

ATTACHMENT_WORDS = {
    BOUND: N_("bound to the report"),
    UNBOUND: N_("NOT BOUND: the report predates file binding, so this file cannot be told "
                "apart from one added by the server"),
    NOT_LISTED: N_("NOT THE REPORTER'S: the sealed report does not list this file (added by "
                   "the server or on the way)"),
    DIFFERS: N_("NOT THE REPORTER'S: this file is not the one the sealed report lists "
                "(replaced by the server or on the way)"),
}

#: Sealed on the reporter's device and signed with the receipt's follow-up key.
SIGNED = "signed"
#: Sealed by the server (a form without JavaScript): a compromised server could have written it.
SERVER = "server"
#: Sealed on a device that could not sign (the report carries no follow-up key,
#: or the web status page, which never holds the receipt): not verifiable.
DEVICE = "device"
#: Said to be sealed on a device, unsigned, though the report's device could sign.
UNSIGNED = "unsigned"
#: Carries a signature that the report's follow-up key does not verify.
BAD_SIGNATURE = "bad-signature"

FOLLOWUP_WORDS = {
    SIGNED: N_("sealed on the reporter's device, signed by the receipt holder"),
    SERVER: N_("sealed by the server: not verifiable as the reporter's (a compromised server "
               "could have written it)"),
    DEVICE: N_("sealed on a device, not signed: not verifiable as the reporter's (anyone with "
               "the unit's public key could have written it)"),
    UNSIGNED: N_("NOT SIGNED by the receipt holder: anyone with the unit's public key could "
                 "have written it"),
    BAD_SIGNATURE: N_("NOT THE REPORTER'S: its signature does not match the report's "
                      "follow-up key (forged or altered)"),
}


def judge_attachment(digests, part, info, stream_header):
    """One attachment against the report's bindings (binding.digests_of, or None)."""
    if digests is None:
        return UNBOUND
    if part not in digests:
        return NOT_LISTED
    # Digests of ciphertext, not secrets: a plain comparison leaks nothing.
    expected = {name: digests[part][name] for name in ("info", "stream_header")}
    return BOUND if binding.attachment_digest(info, stream_header) == expected else DIFFERS


def missing_attachments(digests, held_parts):
    """Parts the report binds that the workspace does not hold, in order."""
    if digests is None:
        return []
    return sorted(set(digests) - set(held_parts), key=lambda p: int(p[1:]))


def judge_followup(report, followup, *, tip_id, seq, encrypted_on):
    """Label a follow-up document (opened) by what can be verified about its author."""
    signature = followup.get("signature")
    try:
        public = binding.followup_public_of(report)
    except FormatError:  # checked at import; a malformed key verifies nothing
        public = None
    if signature is not None:
        if public is None:
            return BAD_SIGNATURE
        try:
            binding.verify_followup(public, signature, tip_id=tip_id, seq=seq,
                                    text=followup.get("text", ""))
        except SignatureError:
            return BAD_SIGNATURE
        return SIGNED
    if encrypted_on == "server":
        return SERVER
    return UNSIGNED if public is not None else DEVICE


def check_staged(staged, db, report_for, header_of, sealed_on_device, load=lambda v: v):
    """Hold every new file and follow-up of a bundle being opened against its report.

    A file its report does not bind (not listed, different, or listed and
    missing) refuses the bundle when the server sealed the report, and is
    marked damaged (not acknowledged, never saved) when a device did: its
    sender chose every byte and must not be able to block the unit's
    imports. Follow-ups the reporter's device could have signed and that
    are not (validly) signed are counted; ``officer show`` labels each one.
    ``staged`` is staging.Staged; the callables give a tip's opened report
    (or None), a staged file's stream header, and who sealed a tip; ``load``
    gives an attachment's sealed description from what its row holds (a ref
    into staging.py's spill). A follow-up's opened document may be a
    callable that opens it again (one too large to keep, see staging.py).
    """
    by_tip = {}
    for row in staged.attachments:
        by_tip.setdefault(row["tip_id"], []).append(row)
    first_seen = {t["id"] for t in staged.tips if not t["damaged"]}

    def not_the_reporters(tip_id, row, reason):
        if not sealed_on_device(tip_id):
            raise bundles.BundleError(f"tip {tip_id[:8]}: {reason}; the bundle was altered "
                                      "after the server sealed the report")
        staged.not_bound += 1
        if row is not None:
            row["damaged"] = reason[:300]
            staged.held["attachments"].discard((tip_id, row["part"]))

    # A new tip with no file here whose report binds none (most reports) has
    # nothing to judge and nothing missing: it is left out from the start,
    # rather than sorted, looked up and skipped below. read_report already
    # refused a malformed member.
    judged = set(by_tip)
    for tip_id in first_seen - judged:
        report = report_for(tip_id)
        if report is not None and report.get(binding.ATTACHMENT_DIGESTS):
            judged.add(tip_id)
    tip_ids = sorted(judged)
    # The files the workspace already holds of these tips, in one query (not one per tip).
    held_parts = {}
    for tip_id, part in db.execute("SELECT tip_id, part FROM attachments WHERE tip_id IN "
                                   "(SELECT value FROM json_each(?))", [json.dumps(tip_ids)]):
        held_parts.setdefault(tip_id, set()).add(part)
    for tip_id in tip_ids:
        report = report_for(tip_id)
        if report is None:  # a damaged report binds nothing; it is flagged itself
            continue
        digests = binding.digests_of(report)
        held = held_parts.get(tip_id, set())
        for row in by_tip.get(tip_id, []):
            held.add(row["part"])
            header = header_of(row).ljust(HEADER_LEN, b"\0")  # a cut stream binds nothing
            verdict = judge_attachment(digests, row["part"], load(row["info"]), header)
            if verdict in (NOT_LISTED, DIFFERS):
                not_the_reporters(tip_id, row, ATTACHMENT_WORDS[verdict])
        for part in missing_attachments(digests, held):
            not_the_reporters(tip_id, None, f"attachment {part}, which the sealed report "
                              "lists, is missing (dropped by the server or on the way)")
    for row in staged.followups:
        opened = row.pop("_opened")
        report = report_for(row["tip_id"])
        if opened is None or report is None:
            continue
        if callable(opened):
            opened = opened()
        verdict = judge_followup(report, opened, tip_id=row["tip_id"], seq=row["seq"],
                                 encrypted_on=row["encrypted_on"])
        if verdict in (UNSIGNED, BAD_SIGNATURE):
            staged.not_signed += 1
