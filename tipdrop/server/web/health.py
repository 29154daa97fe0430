"""``/healthz`` for monitoring: can this instance take reports right now?

Answers 200 ``{"status": "ok", ...}`` or 503 ``{"status": "fail", ...}`` with
one word per part: ``storage`` (the database opens, answers, and has WAL,
synchronous=FULL and secure_delete) and ``keys`` (no private key in the keys
folder, every routed unit has a public key). It says nothing about tips, not
even how many there are. What is wrong goes to the server's log, not to the
answer: the endpoint is public, and ``tipdrop doctor`` tells an operator more.
"""

from flask import Blueprint, current_app

from tipdrop.server import doctor

bp = Blueprint("health", __name__)


def _state(part, findings):
    for finding in findings:
        current_app.logger.warning("healthz %s: %s", part, finding.problem)
    return "fail" if findings else "ok"


@bp.get("/healthz")
def healthz():
    settings = current_app.config["TIPDROP"]
    storage = _state("storage", doctor.check_database(settings.database_path))
    keys = _state("keys", doctor.check_keys_dir(settings.keys_dir)
                  + doctor.check_routing(settings.keys_dir, settings.routing_path,
                                         settings.categories_path))
    ok = storage == keys == "ok"
    return {"status": "ok" if ok else "fail", "storage": storage, "keys": keys}, 200 if ok else 503
