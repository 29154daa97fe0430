"""The OpenAPI 3.1 description of /api/v1, served at /api/v1/openapi.json."""

from tipdrop.protocol import receipts, report
from tipdrop.server import sealed, tips
from tipdrop.server.web import openapi_uploads

_ERROR = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {
        "error": {"type": "string", "description": "machine-readable error class"},
        "message": {"type": "string", "description": "sentence for the user, in the request's language"},
        "detail": {"type": "string", "description": "what exactly was wrong, in English, where it helps a developer"},
        "puzzle": {"$ref": "#/components/schemas/Puzzle"},
    },
}

#: Past a limit, the proof-of-work puzzle (docs/protocol.md section 21).
_PUZZLE = {
    "type": "object", "required": ["algorithm", "challenge", "difficulty", "expires_in"],
    "description": "with a 429: find an 8-byte nonce such that SHA-256(token || nonce), token being the challenge's base64url-decoded 59 bytes, starts with difficulty zero bits, and send the request again with the header Tipdrop-Puzzle-Solution: challenge.nonce (16 lowercase hex digits); good for one request within expires_in seconds",
    "properties": {
        "algorithm": {"type": "string", "enum": ["tipdrop/v1/puzzle"]},
        "challenge": {"type": "string", "pattern": "^[A-Za-z0-9_-]{79}$"},
        "difficulty": {"type": "integer", "minimum": 1, "maximum": 64},
        "expires_in": {"type": "integer", "minimum": 0},
    },
}
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


_TEXT = {"type": "string"}
#: When the report was forwarded to another unit (protocol.md section 11a), never which units.
_TRANSFERS = {"type": "array", "description": "forwards of the report to another unit: the day, "
              "and how many replies came before it", "items": {
                  "type": "object", "required": ["day", "after_reply"],
                  "properties": {"day": {"type": "string", "format": "date"},
                                 "after_reply": {"type": "integer"}}}}
_REPORT_PROPERTIES = {
    "region": {**_TEXT, "description": "region code from GET /options; must come before any file part"},
    "category": {**_TEXT, "description": "category code from GET /options"},
    "description": {**_TEXT, "maxLength": report.MAX_DESCRIPTION, "description": "what the reporter saw (required, not blank)"},
    "what": {**_TEXT, "maxLength": report.MAX_ANSWER},
    "where": {**_TEXT, "maxLength": report.MAX_ANSWER},
    "when": {**_TEXT, "maxLength": report.MAX_ANSWER},
    "contact": {**_TEXT, "maxLength": report.MAX_CONTACT, "description": "optional; encrypted with the report"},
}

_TOTAL = {
    "type": "object", "required": ["count", "exact"],
    "description": "computed from the published cells only; exact is false when a \"<5\" cell is in it, and count is then a lower bound (each \"<5\" counted as 1), or \"<5\" if the total is one \"<5\" cell",
    "properties": {"count": {"oneOf": [{"type": "integer", "minimum": 0}, {"type": "string", "enum": ["<5"]}]},
                   "exact": {"type": "boolean"}},
}
_TOTALS_BY = {"type": "object", "additionalProperties": _TOTAL}
_NAMES = {"type": "object", "additionalProperties": _TEXT}
_STATS = {
    "type": "object",
    "required": ["language", "months", "status_as_of", "threshold", "cells", "totals", "names"],
    "properties": {
        "language": _TEXT,
        "months": {"type": "array", "items": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$"}},
        "status_as_of": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$", "description": "statuses are those at the end of this month"},
        "threshold": {"type": "integer", "description": "counts from 1 to threshold - 1 are published as \"<5\""},
        "cells": {"type": "array", "description": "one per month, region, category and status with any tips", "items": {
            "type": "object", "required": ["month", "region", "category", "status", "count"],
            "properties": {
                "month": {"type": "string"}, "region": _TEXT, "category": _TEXT,
                "status": {"type": "string", "enum": list(tips.STATUSES)},
                "count": {"oneOf": [{"type": "integer", "minimum": 0}, {"type": "string", "enum": ["<5"]}]},
            },
        }},
        "totals": {
            "type": "object", "required": ["all", "month", "region", "category", "status"],
            "properties": {"all": _TOTAL, "month": _TOTALS_BY, "region": _TOTALS_BY,
                           "category": _TOTALS_BY, "status": _TOTALS_BY},
        },
        "names": {
            "type": "object", "required": ["region", "category", "status"],
            "properties": {"region": _NAMES, "category": _NAMES, "status": _NAMES},
        },
    },
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
                                        **_REPORT_PROPERTIES,
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
                                        "region": _REPORT_PROPERTIES["region"],
                                        "category": _REPORT_PROPERTIES["category"],
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
                            "properties": {"token": _TEXT, "text": {**_TEXT, "maxLength": report.MAX_FOLLOWUP}},
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
                                "token": _TEXT,
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
            **openapi_uploads.paths(_LANG, _REPORT_PROPERTIES, {"$ref": "#/components/schemas/Receipt"},
                                    _SOLUTION),
        },
        "components": {
            "schemas": {
                "Error": _ERROR,
                "Puzzle": _PUZZLE,
                "Report": {
                    "type": "object",
                    "required": ["region", "category", "description"],
                    "properties": {**_REPORT_PROPERTIES, "keep_location": {"type": "boolean"},
                                   "answers": {"type": "object", "additionalProperties": _TEXT,
                                               "description": "question id -> answer, for the category's questions (GET /categories): a choice's option id, yes or no, a date YYYY-MM-DD, or text. In multipart/form-data, field q.<category>.<question id> instead"}},
                },
                "Receipt": {
                    "type": "object",
                    "required": ["receipt", "status", "advice"],
                    "properties": {
                        "receipt": {"type": ["string", "null"], "pattern": "^([0-9A-Z]{4}-){5}[0-9A-Z]{4}$", "description": "null when the device made the receipt itself"},
                        "status": {"type": "string"},
                        "encrypted_on": {"type": "string", "enum": ["server", "device"]},
                        "advice": {"type": "string"},
                        "receipt_page": {"type": "string", "description": "with ?receipt_page=yes: the one-time receipt page's path"},
                    },
                },
                "Status": {
                    "type": "object",
                    "required": ["status", "status_day", "received_day", "replies", "followups", "followup_token"],
                    "properties": {
                        "status": {"type": "string", "enum": list(tips.STATUSES)},
                        "status_day": {"type": "string", "format": "date"},
                        "received_day": {"type": "string", "format": "date"},
                        "followups": {"type": "integer"},
                        "followup_token": {"type": "string"},
                        "transfers": _TRANSFERS,
                        "replies": {"type": "array", "items": {
                            "type": "object",
                            "required": ["seq", "day", "status", "message"],
                            "properties": {
                                "seq": {"type": "integer"}, "day": {"type": "string"},
                                "status": {"type": "string"}, "message": {"type": "string"},
                            },
                        }},
                    },
                },
                "SealedStatus": {
                    "type": "object",
                    "required": ["tip_id", "unit", "status", "status_day", "received_day", "replies", "followups", "followup_token", "receipt_kdf"],
                    "properties": {
                        "tip_id": {"type": "string"},
                        "unit": {"type": "string", "description": "the unit the report went to: seal follow-ups to its key (GET /keys)"},
                        "status": {"type": "string", "enum": list(tips.STATUSES)},
                        "status_day": {"type": "string", "format": "date"},
                        "received_day": {"type": "string", "format": "date"},
                        "followups": {"type": "integer"},
                        "followup_token": {"type": "string"},
                        "transfers": _TRANSFERS,
                        "receipt_kdf": {"type": "object", "description": "Argon2id salt (base64) and cost of this receipt (protocol.md section 8)", "required": ["salt", "time_cost", "memory_cost_kib", "parallelism"], "properties": {"salt": _TEXT, "time_cost": {"type": "integer"}, "memory_cost_kib": {"type": "integer"}, "parallelism": {"type": "integer"}}},
                        "replies": {"type": "array", "items": {
                            "type": "object",
                            "required": ["seq", "day", "status", "body", "signature", "signer"],
                            "properties": {
                                "seq": {"type": "integer"}, "day": {"type": "string"},
                                "status": {"type": "string"},
                                "body": {"type": "string", "description": "base64 reply envelope sealed to the receipt's reply key (may be empty)"},
                                "signature": {"type": "string", "description": "base64 Ed25519 signature (protocol.md section 11)"},
                                "signer": {"$ref": "#/components/schemas/PublicKey"},
                            },
                        }},
                    },
                },
                "PublicKey": {
                    "type": "object", "description": "a unit public key in the .pub format (protocol.md section 6)",
                    "required": ["tipdrop", "version", "unit", "created", "key_id", "x25519", "ed25519"],
                    "properties": {"tipdrop": _TEXT, "version": {"type": "integer"}, "unit": _TEXT,
                                   "created": _TEXT, "key_id": _TEXT, "x25519": _TEXT, "ed25519": _TEXT},
                },
                "Keys": {
                    "type": "object", "required": ["regions", "units", "receipt_kdf"],
                    "properties": {
                        "regions": {"type": "object", "additionalProperties": _TEXT, "description": "region code to unit"},
                        "units": {"type": "object", "additionalProperties": {"$ref": "#/components/schemas/PublicKey"}},
                        "receipt_kdf": {"type": "object", "description": "Argon2id costs a device that makes its own receipt (on a locator from POST /locators) must use (protocol.md section 14)", "properties": {"time_cost": {"type": "integer"}, "memory_cost_kib": {"type": "integer"}, "parallelism": {"type": "integer"}}},
                    },
                },
                "Locator": {
                    "type": "object", "required": ["locator", "reservation", "expires_in"],
                    "properties": {
                        "locator": {"type": "string", "pattern": "^[0-9A-HJKMNP-TV-Z]{5}$", "description": "the first 5 symbols of the receipt the device makes (protocol.md section 7)"},
                        "reservation": {"type": "string", "description": "the token that spends the reservation, once: 32 random bytes, base64url without padding"},
                        "expires_in": {"type": "integer", "description": "seconds the reservation lasts (3600); a server restart ends it sooner"},
                    },
                },
                "Categories": {
                    "type": "object",
                    "required": ["version", "items"],
                    "properties": {
                        "version": {"type": "integer", "enum": [1]},
                        "items": {"type": "object", "additionalProperties": {
                            "type": "object", "required": ["kk", "ru", "en", "questions"],
                            "properties": {"kk": _TEXT, "ru": _TEXT, "en": _TEXT,
                                           "questions": {"type": "array", "items": {"$ref": "#/components/schemas/Question"}}},
                        }},
                    },
                },
                "Question": {
                    "type": "object",
                    "required": ["id", "kind", "label", "required"],
                    "properties": {
                        "id": {"type": "string", "pattern": "^[a-z][a-z0-9-]{0,31}$"},
                        "kind": {"type": "string", "enum": ["text", "choice", "yes-no", "date"]},
                        "label": _NAMES, "help": _NAMES, "required": {"type": "boolean"},
                        "max_length": {"type": "integer", "description": "text only: the longest answer"},
                        "options": {"type": "array", "description": "choice only", "items": {
                            "type": "object", "required": ["id", "label"],
                            "properties": {"id": _TEXT, "label": _NAMES}}},
                    },
                },
                "Options": {
                    "type": "object",
                    "required": ["language", "regions", "categories"],
                    "properties": {
                        "language": {"type": "string"},
                        "regions": {"type": "array", "items": {"$ref": "#/components/schemas/Choice"}},
                        "categories": {"type": "array", "items": {"$ref": "#/components/schemas/Choice"}},
                    },
                },
                "Stats": _STATS,
                "Choice": {
                    "type": "object", "required": ["code", "name"],
                    "properties": {"code": _TEXT, "name": _TEXT},
                },
            }
        },
    }
