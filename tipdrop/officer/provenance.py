"""Whose is each file and follow-up of a tip? What the workstation can prove.

The server (or anyone who alters an export on its way: the bundle's
checksum has no key) can hand the workstation an attachment or a follow-up
sealed to the unit's public key, correctly bound to the tip and part, that
the reporter never sent. tipdrop.binding defines what ties them to the
report; this module judges each item against the report it belongs to
(docs/protocol.md section 14). It is used when a bundle is opened (to refuse
or mark) and when a tip is shown (to label every item).
"""

from .. import binding
from ..errors import FormatError, SignatureError

#: An attachment the report binds, by digest.
BOUND = "bound"
#: The report binds no files (sealed before binding, or by an older app).
UNBOUND = "unbound"
#: Not in the report's list: someone other than the reporter added it.
NOT_LISTED = "not-listed"
#: Listed, but its description or its stream is not the one the report binds.
DIFFERS = "differs"

ATTACHMENT_WORDS = {
    BOUND: "bound to the report",
    UNBOUND: "NOT BOUND: the report predates file binding, so this file cannot be told "
             "apart from one added by the server",
    NOT_LISTED: "NOT THE REPORTER'S: the sealed report does not list this file (added by "
                "the server or on the way)",
    DIFFERS: "NOT THE REPORTER'S: this file is not the one the sealed report lists "
             "(replaced by the server or on the way)",
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
    SIGNED: "sealed on the reporter's device, signed by the receipt holder",
    SERVER: "sealed by the server: not verifiable as the reporter's (a compromised server "
            "could have written it)",
    DEVICE: "sealed on a device, not signed: not verifiable as the reporter's (anyone with "
            "the unit's public key could have written it)",
    UNSIGNED: "NOT SIGNED by the receipt holder: anyone with the unit's public key could "
              "have written it",
    BAD_SIGNATURE: "NOT THE REPORTER'S: its signature does not match the report's "
                   "follow-up key (forged or altered)",
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
