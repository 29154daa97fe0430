"""questionnaire.json checked the way a second implementation would use it (protocol.md section 13)."""

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from tipdrop.crypto import envelope, keys
from tipdrop.protocol import documents, fields, questions

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "questionnaire.json")
                     .read_text(encoding="utf-8"))
ASKED = questions.parse_questions(VECTORS["questions"], "questionnaire.json")


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=lambda v: v["language"])
def test_answers_are_made_from_the_values_as_the_vector_says(vector):
    assert questions.answers_document(ASKED, vector["values"], vector["language"]) == vector["answers"]


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=lambda v: v["language"])
def test_the_sealed_report_opens_to_the_document_the_workstation_accepts(vector):
    private = X25519PrivateKey.from_private_bytes(bytes.fromhex(vector["x25519_private"]))
    opener = keys.Opener(bytes.fromhex(vector["key_id"]), private)
    opened = envelope.open_(bytes.fromhex(vector["envelope"]), opener, kind="tip",
                            tip_id=vector["tip_id"])
    assert opened == bytes.fromhex(vector["document"])
    doc = documents.read_report(opened, vector["tip_id"])
    assert doc["answers"] == vector["answers"] == fields.answers(doc["answers"])
    assert doc["language"] == vector["language"]


@pytest.mark.parametrize("case", VECTORS["refused"], ids=lambda c: c["why"])
def test_refused_values_are_refused(case):
    with pytest.raises((questions.AnswerRequiredError, questions.AnswerInvalidError)):
        questions.answers_document(ASKED, case["values"], "en")

