"""The OpenAPI paths of /api/v1/uploads (docs/protocol.md section 19), merged by openapi.py."""

from tipdrop.protocol import uploads
from tipdrop.protocol.report import MAX_ATTACHMENTS

_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
_KEY = {
    "name": "Idempotency-Key", "in": "header", "required": True,
    "schema": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
    "description": "the upload key: 128 random bits the device draws for this one report",
}
_STATUS = {"application/json": {"schema": {
    "type": "object", "required": ["received", "pieces", "piece_bytes", "state"],
    "properties": {
        "received": {"type": "integer", "minimum": 0, "description": "pieces the server holds: send piece number received next"},
        "pieces": {"type": "integer", "minimum": 1},
        "piece_bytes": {"type": "integer", "const": uploads.PIECE_BYTES},
        "state": {"type": "string", "enum": ["open", "storing", "done"]},
    },
}}}


def _refusal(text):
    return {"description": text, "content": _ERROR}


def paths(lang, report_properties, receipt_ref, solution):
    """The three operations; ``lang`` is the language parameter of every operation,
    ``solution`` the puzzle solution header of the one limited (docs/protocol.md section 21)."""
    common = {
        "400": _refusal("UploadKeyError, UploadRequestError, or invalid input"),
        "403": _refusal("a cross-site browser request"),
        "411": _refusal("neither Content-Length nor chunked framing"),
        "413": _refusal("more bytes than the server accepts"),
        "503": _refusal("busy; retry later (see Retry-After)"),
    }
    # docs/protocol.md section 19, "Starting over": the answers that say the upload is gone.
    over = "start over: begin a new upload with a new key and send the same sealed bytes again"
    not_found = {"404": _refusal(f"UploadNotFoundError: no such upload (never begun, refused, given up "
                                 f"as idle, or purged): {over}")}
    return {
        "/api/v1/uploads": {"post": {
            "summary": "Begin a resumable upload of a report sealed on the device, or ask how far it got (docs/protocol.md section 19)",
            "parameters": [lang, _KEY, solution],
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["region", "category", "tip_id", "parts"],
                "properties": {
                    "region": report_properties["region"],
                    "category": report_properties["category"],
                    "tip_id": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
                    "parts": {"type": "array", "minItems": 1, "maxItems": 2 * MAX_ATTACHMENTS + 1,
                              "description": "[name, size] of each sealed part in the order sent: tip, aN-info, aN",
                              "items": {"type": "array", "prefixItems": [
                                  {"type": "string"}, {"type": "integer", "minimum": 1}],
                                  "minItems": 2, "maxItems": 2}},
                    "report_digest": {"type": "string", "pattern": "^[0-9a-f]{64}$",
                                      "description": "the report digest of the sealed bytes "
                                                     "(docs/protocol.md section 19, \"Lost answers\")"},
                },
            }}}},
            "responses": {
                "201": {"description": "begun: nothing received yet", "content": _STATUS},
                "200": {"description": "already begun with this key: how far it got", "content": _STATUS},
                **common,
                "409": _refusal(f"StaleKeyError and the other refusals of /sealed-tips before its first "
                                f"byte; UploadSweptError: a begin that resumes an upload past its "
                                f"lifetime, which is deleted: {over}; ReportStoredError: a report "
                                f"with this report_digest was stored lately: do not send it again"),
                "422": _refusal("UploadKeyReusedError: this key began another upload"),
                "429": _refusal("RateLimitedError: a new upload past this client's submission limit: "
                                "solve the answer's puzzle and begin again with Tipdrop-Puzzle-Solution "
                                "(only this request is limited: the pieces, the finish and a begin that "
                                "resumes never are); Puzzle*Error: the solution was refused, a new puzzle "
                                "comes with it"),
            },
        }},
        "/api/v1/uploads/pieces/{index}": {"put": {
            "summary": "One piece of the upload body, in order, with its SHA-256",
            "parameters": [
                lang, _KEY,
                {"name": "index", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 0}},
                {"name": "Piece-Digest", "in": "header", "required": True,
                 "schema": {"type": "string", "pattern": "^[0-9a-f]{64}$"}},
            ],
            "requestBody": {"required": True, "content": {"application/octet-stream": {
                "schema": {"type": "string", "format": "binary", "maxLength": uploads.PIECE_BYTES}}}},
            "responses": {
                "200": {"description": "stored", "content": {"application/json": {"schema": {
                    "type": "object", "required": ["received"],
                    "properties": {"received": {"type": "integer"}}}}}},
                **common, **not_found,
                "409": _refusal(f"PieceOutOfOrderError (ask POST /uploads where to go on) or UploadBusyError; "
                                f"UploadSweptError: the upload was past its lifetime and is deleted: {over}"),
                "422": _refusal("PieceDigestError: the bytes do not match Piece-Digest or the piece's size; send it again"),
            },
        }},
        "/api/v1/uploads/finish": {"post": {
            "summary": "Store the report the pieces make, all or nothing; asked again, answers the same",
            "parameters": [lang, _KEY, {"name": "receipt_page", "in": "query", "required": False,
                                        "schema": {"type": "string", "enum": ["yes"]}}],
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["chain"],
                "properties": {"chain": {"type": "string", "pattern": "^[0-9a-f]{64}$"}}}}}},
            "responses": {
                "201": {"description": "stored", "content": {"application/json": {"schema": receipt_ref}}},
                "200": {"description": "stored before: the same answer again", "content": {"application/json": {"schema": receipt_ref}}},
                **common, **not_found,
                "409": _refusal(f"UploadIncompleteError, UploadBusyError (ask again shortly), StaleKeyError; "
                                f"UploadSweptError: its pieces were swept and it is deleted: {over}; "
                                f"ReportStoredError: another upload of the same report stored it"),
                "422": _refusal(f"ChainMismatchError: the upload was deleted: {over}"),
            },
        }},
    }
