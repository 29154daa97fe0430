"""Reports stored whose answer the device never read: told so, never stored twice.

docs/protocol.md section 19, "Lost answers". A device that lost the answer
to its upload's finish and then the upload too (purged while it was
offline, or taken for lost) sends the same sealed bytes again under a new
upload key, naming them by their report digest (tipdrop/protocol/uploads.py)
at the begin. When a report is stored, the server keeps a labelled SHA-256
of the digest it computed itself over the pieces, for RECENT_DAYS, among
the spent forms (no tip id, no time of day); a begin or finish naming it is
answered 409 :class:`ReportStoredError`. Why over ciphertext and why seven
days: docs/threat-model.md, "Lost answers".

The digest a begin names is kept as it was sent, in the unfinished
upload's fields beside its tip id (uploads.py), until the upload finishes
(the fields are cleared) or ``tipdrop purge`` deletes it (uploads.TTL_DAYS
after the day it began); only the fingerprint outlives the upload.
"""

import datetime
import hashlib

from tipdrop.crypto import canonical
from tipdrop.errors import InputError
from tipdrop.protocol import uploads as protocol
from tipdrop.server.store import uploads as store

#: How many days after a report is stored a begin naming its report digest is
#: answered 409 ReportStoredError.
RECENT_DAYS = 7
STORED_LABEL = "tipdrop/v1/stored-report"


class ReportStoredError(InputError):
    """Your report has arrived and is stored; it was not sent a second time. The answer with its receipt code was lost on the way, and the server cannot show that code again. The police will still read your report."""

    http_status = 409
    detail_is_message = False
    #: Nothing was done: the request's count is taken back (web/context.py).
    refused_before_work = True


def _fingerprint(report_digest):
    """What the server keeps of a stored report's digest once its upload is done.

    Not the digest itself; an unfinished upload does hold the digest its
    begin named, until it finishes or is purged (module docstring).
    """
    return hashlib.sha256(canonical.encode(STORED_LABEL, report_digest)).digest()


def refuse_if_stored(tips, request):
    """Raise ReportStoredError if the request's ``report_digest`` names a report stored lately."""
    if "report_digest" in request and store.report_stored(
            tips.db, _fingerprint(bytes.fromhex(request["report_digest"])), tips.clock()):
        raise ReportStoredError()


def remember(tips, db, tip_id, digests):
    """Keep the stored report's fingerprint, in its transaction; ReportStoredError if kept already.

    ``digests`` are the SHA-256 of the pieces the server read back: the
    digest kept is the server's own, never the begin's word.
    """
    day = tips.clock()
    expires = (datetime.date.fromisoformat(day) + datetime.timedelta(days=RECENT_DAYS)).isoformat()
    if not store.remember_report(db, _fingerprint(protocol.report_digest(tip_id, digests)),
                                 expires, day):
        raise ReportStoredError("stored meanwhile by another upload of the same bytes")
