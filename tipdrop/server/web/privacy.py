"""``/privacy``: what the server stores about a report, why, who reads it, for how long.

The list of what is stored is :data:`tipdrop.server.store.SCHEMA` itself: every
column with its reason, translated when shown. tests/server/web/test_privacy.py
fails if the real database has a column this page does not explain.
"""

from flask import Blueprint, current_app, render_template
from flask_babel import gettext

from tipdrop.server import store
from tipdrop.server.web.i18n import N_

bp = Blueprint("privacy", __name__)

#: Each table in a reporter's words, and how long its rows are kept.
TABLES = {
    "tips": (N_("Reports"),
             N_("One entry per report. Deleted when the report is deleted (see above).")),
    "attachments": (N_("Files"),
                    N_("One entry per attached file; the file itself is kept encrypted, apart. "
                       "The file and its encrypted description are deleted at the first purge "
                       "after the police unit confirms it holds them, the entry with the report.")),
    "blobs": (N_("Encrypted files"),
              N_("One entry per attached file, for its encrypted bytes. Deleted with the file.")),
    "blob_chunks": (N_("Pieces of encrypted files"),
                    N_("The encrypted bytes of the attached files, in pieces, with no date or "
                       "time. Deleted with the file.")),
    "followups": (N_("Your messages after the report"),
                  N_("The encrypted message is deleted at the first purge after the police unit "
                     "confirms it holds it; the entry, with the report.")),
    "replies": (N_("Replies from the police"), N_("Deleted with the report.")),
    "uploads": (N_("Reports being sent in pieces"),
                N_("While a report sent with JavaScript arrives, its encrypted pieces, so a cut "
                   "connection can go on where it stopped. The pieces are deleted when the report "
                   "is stored; the entry a day or two after the upload began.")),
    "transfers": (N_("Reports passed to another unit"),
                  N_("One entry each time a police unit forwarded a report to the unit "
                     "responsible for it. Deleted with the report.")),
    "spent_tip_ids": (N_("Ids of deleted reports"),
                      N_("Nothing about reports: one fingerprint of a random number per deleted "
                         "report, so that no new report can take its id.")),
    "spent_forms": (N_("Forms already sent"),
                    N_("Nothing about reports: one fingerprint of a random number per form sent, "
                       "so that sending it again (for example by reloading the page) does not "
                       "store anything twice. Deleted a day after the form expires. Also, for "
                       "seven days, one fingerprint of each report sent in pieces, made from its "
                       "encrypted bytes only, so that a device that lost the server's answer is "
                       "told the report arrived instead of sending it twice.")),
    "officer_nonces": (N_("Officers' requests"),
                       N_("Nothing about reports: protects the officers' connection against "
                          "replayed requests. Each entry is deleted the day after the request "
                          "stops being valid; it keeps no time of day.")),
    "exports": (N_("Exports to officers"),
                N_("Nothing about reports: the number of each batch of encrypted reports "
                   "handed to a police unit, with a random name and a checksum, so the unit's "
                   "confirmation of what it received can be checked.")),
    "alerts_pending": (N_("Alerts to the police"),
                       N_("Only numbers: how many reports arrived for a police unit since its last "
                          "alert, and how many of them are urgent; no report, no date or time. "
                          "Set back once the alert is sent.")),
    "meta": (N_("About the database"),
             N_("Nothing about reports: the version of the database format.")),
}


def _tables():
    for name, columns in store.SCHEMA.items():
        title, kept = TABLES.get(name, (name, ""))
        yield {
            "name": name,
            "title": gettext(title),
            "kept": gettext(kept) if kept else "",
            "columns": [(column, gettext(reason)) for column, (_, reason) in columns.items()],
        }


@bp.get("/privacy")
def page():
    settings = current_app.config["TIPDROP"]
    return render_template("privacy.html", tables=list(_tables()),
                           retention_days=settings.retention_days,
                           backup_days=settings.backup_days)
