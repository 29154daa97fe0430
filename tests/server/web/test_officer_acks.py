"""POST /officer/v1/acks: the online route of export acknowledgements.

Signed like every officer request; the acknowledgement inside must be the
signing unit's own and pass the same checks as `tipdrop import-ack`. A
refused one changes nothing; a repeated one is answered 201 and changes
nothing either.
"""

from contextlib import closing

from tests.server.web.test_officer_api import EXPORT, export, sign
from tipdrop.common import sqlite
from tipdrop.crypto import keys
from tipdrop.officer.keyring import Keyring
from tipdrop.officer.workspace import Workspace
from tipdrop.protocol import acks

ACKS = "/officer/v1/acks"


def post_ack(client, unit_key, data):
    return client.post(ACKS, data=data, headers=sign(unit_key, "POST", ACKS, data))


def _held(data_dir):
    with closing(sqlite.connect(data_dir / "tipdrop.db")) as db:
        return db.execute("SELECT id, held_seq FROM tips").fetchall()


def _pulled_and_opened(client, unit_key, tmp_path):
    """The workspace's acknowledgement after a signed export was opened."""
    response = export(client, unit_key, EXPORT)
    assert response.status_code == 200
    (tmp_path / "pulled.tdx").write_bytes(response.data)
    workspace = Workspace(tmp_path / "workstation")
    try:
        workspace.open_bundle(tmp_path / "pulled.tdx", Keyring.of(unit_key))
        data, _ = workspace.pending_ack(Keyring.of(unit_key))
    finally:
        workspace.close()
    return data


def test_a_signed_ack_is_recorded_once(client, unit_key, submit, tmp_path, data_dir):
    submit(description="Stolen bicycles behind the depot.")
    data = _pulled_and_opened(client, unit_key, tmp_path)
    first = post_ack(client, unit_key, data)
    assert first.status_code == 201
    assert first.json == {"tips": 1, "followups": 0, "attachments": 0, "already": 0, "gone": 0}
    [(_, held)] = _held(data_dir)
    assert held == 1
    again = post_ack(client, unit_key, data)
    assert again.status_code == 201 and again.json["already"] == 1


def test_an_ack_of_another_unit_is_refused_with_403(client, unit_key, submit, data_dir):
    submit(description="Stolen bicycles behind the depot.")
    other = keys.generate("other-unit")
    data = acks.dumps(acks.sign_ack(other.ed25519, other.unit, other.key_id, export_seq=1,
                                    tips=["ab" * 16]))
    response = post_ack(client, unit_key, data)
    assert response.status_code == 403 and response.json["error"] == "NotYourAckError"
    assert [held for _, held in _held(data_dir)] == [0]


def test_a_damaged_ack_is_a_clear_400(client, unit_key):
    response = post_ack(client, unit_key, b"not json")
    assert response.status_code == 400 and response.json["error"] == "AckFormatError"


def test_an_unsigned_ack_request_gets_401(client, unit_key):
    response = client.post(ACKS, data=b"{}", headers=sign(unit_key, "POST", ACKS, b"other"))
    assert response.status_code == 401
