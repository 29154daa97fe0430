"""The OpenAPI 3.1 description of /api/v1, served at /api/v1/openapi.json."""

from tipdrop.protocol import receipts, report
from tipdrop.server import sealed
from tipdrop.server.web import openapi_schemas, openapi_uploads

_SOLUTION = {
    "name": "Tipdrop-Puzzle-Solution",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "maxLength": 200},
    "description": "a solved puzzle (challenge.nonce) from a 429 answer or GET /puzzle: the request passes this client's rate limit once; a refused one (PuzzleInvalidError, PuzzleExpiredError, PuzzleTooEasyError, PuzzleSpentError) is a 429 with a new puzzle",
}


#: The follow-up routes' own answers besides _errors (docs/integration.md section 7).
_FOLLOWUP_REFUSALS = {
    "409": {"description": "FollowupAlreadySentError: the token was already used; the follow-up "
                           "was stored once (a followup_token is good for one follow-up)",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
    "429": {"description": "RateLimitedError: too many follow-ups from this client (with a puzzle, "
                           "as for every limited route); Puzzle*Error: a refused solution; or "
                           "FollowupLimitError: the report has taken its follow-ups for today",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
}


def _errors(*codes):
    text = {
        400: "invalid input, or a body that could not be read (nothing was stored)",
        403: "expired or foreign token, or a cross-site browser request",
        404: "no report matches the receipt (unknown and wrong receipts look the same)",
        411: "neither Content-Length nor chunked framing",
        413: "request or text too large",
        429: "RateLimitedError: too many attempts from this client: solve the answer's puzzle and send again with Tipdrop-Puzzle-Solution, or retry later; Puzzle*Error: the solution was refused, a new puzzle comes with it",
        503: "busy; retry later (see Retry-After)",
    }
    return {
        str(code): {
            "description": text[code],
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
        for code in codes
    }



_LANG = {
    "name": "lang",
    "in": "query",
    "required": False,
    "schema": {"type": "string", "enum": ["kk", "ru", "en"]},
    "description": "language of messages (default: Accept-Language, else ru)",
}


def document():
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "tipdrop reporter API",
            "version": "1",
            "description": (
                "Anonymous reports to the police. No account, no cookies; the receipt code "
                "returned on submit is the only way back to a report. Reports are encrypted "
                "on arrival to the police unit's public key."
            ),
        },
        "paths": {
            "/api/v1/options": {
                "get": {
                    "summary": "Regions and categories to offer, with names in the request's language",
                    "parameters": [_LANG],
                    "responses": {"200": {"description": "the lists", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Options"}}}}},
                }
            },
            "/api/v1/stats": {
                "get": {
                    "summary": "Public figures: tips per month, region, category and status; counts of 1 to 4 are \"<5\"",
                    "parameters": [_LANG],
                    "responses": {"200": {"description": "the figures of the 12 complete months before this one", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Stats"}}}}},
                }
            },
            "/api/v1/tips": {
                "post": {
                    "summary": "Submit a report; returns its receipt code once durably stored",
                    "parameters": [_LANG, _SOLUTION],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Report"}},
                            "multipart/form-data": {
                                "schema": {
                                    "type": "object",
                                    "required": ["region", "category", "description"],
                                    "properties": {
                                        **openapi_schemas.REPORT_PROPERTIES,
                                        "keep_location": {"type": "string", "enum": ["yes"]},
                                        "files": {"type": "array", "items": {"type": "string", "format": "binary"}},
                                    },
                                },
                                "encoding": {"files": {"contentType": "application/octet-stream"}},
                            },
                        },
                    },
                    "responses": {
                        "201": {"description": "stored", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Receipt"}}}},
                        **_errors(400, 403, 411, 413, 429, 503),
                    },
                }
            },
            "/api/v1/categories": {
                "get": {
                    "summary": "Every category with its names and questions in kk, ru and en, in the operator's categories.json format; an app sealing on the device builds the report's answers from them (docs/protocol.md section 13)",
                    "responses": {"200": {"description": "the categories", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Categories"}}}}},
                }
            },
            "/api/v1/keys": {
                "get": {
                    "summary": "The public key each region's reports are sealed to (pin them by fingerprint)",
                    "responses": {"200": {"description": "regions to units, and each unit's newest key in the .pub file format", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Keys"}}}}},
                }
            },
            "/api/v1/puzzle": {
                "get": {
                    "summary": "Whether a request of a kind would meet this client's rate limit now, and if so its puzzle (nothing is counted): ask before a large upload, solve, then send with Tipdrop-Puzzle-Solution",
                    "parameters": [_LANG, {"name": "for", "in": "query", "required": True,
                                           "schema": {"type": "string", "enum": ["submit", "check", "followup", "locator"]},
                                           "description": "the limit: submit (/tips, /sealed-tips), check, followup (/followups, /sealed-followups), locator"}],
                    "responses": {
                        "200": {"description": "limit_reached, and then a puzzle (null when the server gives none: the request would get a plain 429)", "content": {"application/json": {"schema": {
                            "type": "object", "required": ["limit_reached", "puzzle"],
                            "properties": {"limit_reached": {"type": "boolean"},
                                           "puzzle": {"oneOf": [{"$ref": "#/components/schemas/Puzzle"}, {"type": "null"}]}},
                        }}}},
                        **_errors(400, 503),
                    },
                }
            },
            "/api/v1/locators": {
                "post": {
                    "summary": "Reserve a receipt locator for a receipt the device makes (protocol.md section 14); no request body",
                    "parameters": [_LANG, _SOLUTION],
                    "responses": {
                        "201": {"description": "a locator no report uses and nobody else holds, reserved for expires_in seconds against the reservation token (send both with the report, in the receipt field of /sealed-tips)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Locator"}}}},
                        "503": {"description": "LocatorsBusyError: too many locators are reserved right now (or a busy server); retry later (see Retry-After)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                        **_errors(403, 429),
                    },
                }
            },
            "/api/v1/sealed-tips": {
                "post": {
                    "summary": "Submit a report encrypted on the reporter's device (docs/integration.md); returns its receipt code once durably stored",
                    "parameters": [_LANG, _SOLUTION, {"name": "receipt_page", "in": "query", "required": False,
                                           "schema": {"type": "string", "enum": ["yes"]},
                                           "description": "also return receipt_page, a one-time link to the web page that shows the code (the submit page uses it)"}],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "multipart/form-data": {
                                "schema": {
                                    "type": "object",
                                    "required": ["region", "category", "tip_id", "tip"],
                                    "properties": {
                                        "region": openapi_schemas.REPORT_PROPERTIES["region"],
                                        "category": openapi_schemas.REPORT_PROPERTIES["category"],
                                        "tip_id": {"type": "string", "pattern": "^[0-9a-f]{32}$", "description": "128 random bits chosen by the device; every ciphertext is bound to it"},
                                        "receipt": {"type": "string", "maxLength": 1024, "description": "optional, a device that made the receipt itself on a locator from POST /locators: JSON {locator, reservation, salt, time_cost, memory_cost_kib, parallelism, verifier, reply_public} (protocol.md section 14); the answer's receipt is then null"},
                                        "tip": {"type": "string", "format": "binary", "description": "the report envelope (protocol.md section 4, kind tip)"},
                                        "a1-info": {"type": "string", "format": "binary", "description": "attachment-info envelope of attachment 1 (and a2-info, ...)"},
                                        "a1": {"type": "string", "format": "binary", "description": "stream of attachment 1 (protocol.md section 5; and a2, ...)"},
                                    },
                                },
                                "encoding": {name: {"contentType": "application/octet-stream"}
                                             for name in ("tip", "a1-info", "a1")},
                            },
                        },
                    },
                    "responses": {
                        "201": {"description": "stored", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Receipt"}}}},
                        "409": {"description": "StaleKeyError: sealed to a key that is not installed, or ReceiptSettingsChangedError: receipt costs that are not the server's: fetch /keys again; LocatorNotReservedError: the receipt field's locator is not reserved by its reservation token now (expired, spent, or never; one answer whatever the locator): ask POST /locators again, make a new receipt and seal again", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                        **_errors(400, 403, 411, 413, 429, 503),
                    },
                }
            },
            "/api/v1/check": {
                "post": {
                    "summary": "Status and replies of a report, for its receipt code",
                    "parameters": [_LANG, _SOLUTION],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {
                            "type": "object", "required": ["receipt"],
                            "properties": {
                                "receipt": {"type": "string", "maxLength": receipts.MAX_TYPED_LEN},
                                "sealed_replies": {"type": "boolean", "description": "true: replies come sealed, to be verified and decrypted on the device (SealedStatus)"},
                            },
                        }}},
                    },
                    "responses": {
                        "200": {"description": "the report's state", "content": {"application/json": {"schema": {"oneOf": [
                            {"$ref": "#/components/schemas/Status"}, {"$ref": "#/components/schemas/SealedStatus"}]}}}},
                        **_errors(400, 403, 404, 411, 413, 429, 503),
                    },
                }
            },
            "/api/v1/followups": {
                "post": {
                    "summary": "Add information to a report, with the followup_token from /check (valid 30 minutes, for one follow-up)",
                    "parameters": [_LANG, _SOLUTION],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {
                            "type": "object", "required": ["token", "text"],
                            "properties": {"token": openapi_schemas.TEXT, "text": {**openapi_schemas.TEXT, "maxLength": report.MAX_FOLLOWUP}},
                        }}},
                    },
                    "responses": {
                        "201": {"description": "added", "content": {"application/json": {"schema": {
                            "type": "object", "required": ["added", "seq"],
                            "properties": {"added": {"type": "boolean"}, "seq": {"type": "integer"}},
                        }}}},
                        **_errors(400, 403, 411, 413, 503),
                        **_FOLLOWUP_REFUSALS,
                    },
                }
            },
            "/api/v1/sealed-followups": {
                "post": {
                    "summary": "Add information encrypted on the reporter's device (docs/integration.md), with the followup_token from /check",
                    "parameters": [_LANG, _SOLUTION],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {
                            "type": "object", "required": ["token", "part", "body"],
                            "properties": {
                                "token": openapi_schemas.TEXT,
                                "part": {"type": "string", "pattern": "^f[1-9][0-9]{0,8}$", "description": "fN: N is the check answer's followups + 1, the number sealed into the envelope"},
                                "body": {"type": "string", "contentEncoding": "base64", "maxLength": (sealed.MAX_FOLLOWUP_ENVELOPE + 2) // 3 * 4, "description": "the follow-up envelope (protocol.md section 4, kind followup, part fN), sealed to a key of the check answer's unit"},
                            },
                        }}},
                    },
                    "responses": {
                        "201": {"description": "added as number seq (always N)", "content": {"application/json": {"schema": {
                            "type": "object", "required": ["added", "seq"],
                            "properties": {"added": {"type": "boolean"}, "seq": {"type": "integer"}},
                        }}}},
                        **_errors(400, 403, 411, 413, 503),
                        **_FOLLOWUP_REFUSALS,
                        "409": {"description": "FollowupNumberTakenError: another follow-up took number N meanwhile (check again and seal for the next number); StaleKeyError: sealed to a key that is not installed (fetch /keys again); FollowupAlreadySentError: the token was already used, the follow-up was stored once", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                    },
                }
            },
            **openapi_uploads.paths(_LANG, openapi_schemas.REPORT_PROPERTIES,
                                    {"$ref": "#/components/schemas/Receipt"}, _SOLUTION),
        },
        "components": {"schemas": openapi_schemas.SCHEMAS},
    }
