"""The OpenAPI schemas of /api/v1's documents (``components/schemas``), referred to by openapi.py's paths.

What a request or an answer holds, by name (Report, Receipt, Status, ...),
apart from the routes that send them, so each route says only what is its
own: its parameters, its answers and its refusals.
"""

from tipdrop.protocol import report
from tipdrop.server import tips

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

TEXT = {"type": "string"}
#: When the report was forwarded to another unit (protocol.md section 11a), never which units.
_TRANSFERS = {"type": "array", "description": "forwards of the report to another unit: the day, "
              "and how many replies came before it", "items": {
                  "type": "object", "required": ["day", "after_reply"],
                  "properties": {"day": {"type": "string", "format": "date"},
                                 "after_reply": {"type": "integer"}}}}
REPORT_PROPERTIES = {
    "region": {**TEXT, "description": "region code from GET /options; must come before any file part"},
    "category": {**TEXT, "description": "category code from GET /options"},
    "description": {**TEXT, "maxLength": report.MAX_DESCRIPTION, "description": "what the reporter saw (required, not blank)"},
    "what": {**TEXT, "maxLength": report.MAX_ANSWER},
    "where": {**TEXT, "maxLength": report.MAX_ANSWER},
    "when": {**TEXT, "maxLength": report.MAX_ANSWER},
    "contact": {**TEXT, "maxLength": report.MAX_CONTACT, "description": "optional; encrypted with the report"},
}

_TOTAL = {
    "type": "object", "required": ["count", "exact"],
    "description": "computed from the published cells only; exact is false when a \"<5\" cell is in it, and count is then a lower bound (each \"<5\" counted as 1), or \"<5\" if the total is one \"<5\" cell",
    "properties": {"count": {"oneOf": [{"type": "integer", "minimum": 0}, {"type": "string", "enum": ["<5"]}]},
                   "exact": {"type": "boolean"}},
}
_TOTALS_BY = {"type": "object", "additionalProperties": _TOTAL}
_NAMES = {"type": "object", "additionalProperties": TEXT}
_STATS = {
    "type": "object",
    "required": ["language", "months", "status_as_of", "threshold", "cells", "totals", "names"],
    "properties": {
        "language": TEXT,
        "months": {"type": "array", "items": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$"}},
        "status_as_of": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$", "description": "statuses are those at the end of this month"},
        "threshold": {"type": "integer", "description": "counts from 1 to threshold - 1 are published as \"<5\""},
        "cells": {"type": "array", "description": "one per month, region, category and status with any tips", "items": {
            "type": "object", "required": ["month", "region", "category", "status", "count"],
            "properties": {
                "month": {"type": "string"}, "region": TEXT, "category": TEXT,
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

#: Every schema, by the name a ``$ref`` gives it.
SCHEMAS = {
        "Error": _ERROR,
        "Puzzle": _PUZZLE,
        "Report": {
            "type": "object",
            "required": ["region", "category", "description"],
            "properties": {**REPORT_PROPERTIES, "keep_location": {"type": "boolean"},
                           "answers": {"type": "object", "additionalProperties": TEXT,
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
                "receipt_kdf": {"type": "object", "description": "Argon2id salt (base64) and cost of this receipt (protocol.md section 8)", "required": ["salt", "time_cost", "memory_cost_kib", "parallelism"], "properties": {"salt": TEXT, "time_cost": {"type": "integer"}, "memory_cost_kib": {"type": "integer"}, "parallelism": {"type": "integer"}}},
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
            "properties": {"tipdrop": TEXT, "version": {"type": "integer"}, "unit": TEXT,
                           "created": TEXT, "key_id": TEXT, "x25519": TEXT, "ed25519": TEXT},
        },
        "Keys": {
            "type": "object", "required": ["regions", "units", "receipt_kdf"],
            "properties": {
                "regions": {"type": "object", "additionalProperties": TEXT, "description": "region code to unit"},
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
                    "properties": {"kk": TEXT, "ru": TEXT, "en": TEXT,
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
                    "properties": {"id": TEXT, "label": _NAMES}}},
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
            "properties": {"code": TEXT, "name": TEXT},
        },
}
