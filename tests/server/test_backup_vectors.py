"""backup.json: the backup format of docs/protocol.md section 16, checked both ways."""

import io
import json
import sqlite3
from contextlib import closing
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from tests.vectors.rfc9180 import stream_encryptor
from tipdrop.crypto import backupkey
from tipdrop.server import backup, restore

VECTORS = json.loads((Path(__file__).resolve().parents[1] / "vectors" / "backup.json")
                     .read_text(encoding="utf-8"))["vectors"]


def _private(vector):
    return backupkey.BackupPrivateKey(X25519PrivateKey.from_private_bytes(
        bytes.fromhex(vector["x25519_private"])), vector["created"])


def test_the_backup_file_is_reproduced_from_its_archive():
    for vector in VECTORS:
        private = _private(vector)
        out = io.BytesIO()
        out.write(backup.MAGIC + vector["created"].encode("ascii"))
        with stream_encryptor(out, private.public.recipient, kind="backup", tip_id="backup",
                              part=vector["created"],
                              payload_key=bytes.fromhex(vector["payload_key"]),
                              ephemeral=X25519PrivateKey.from_private_bytes(
                                  bytes.fromhex(vector["ephemeral_private"]))) as enc:
            enc.write(bytes.fromhex(vector["archive"]))
        assert out.getvalue().hex() == vector["backup"]


def test_the_backup_restores_to_the_rows_and_files_it_lists(tmp_path):
    for vector in VECTORS:
        path = tmp_path / "vector.tdbackup"
        path.write_bytes(bytes.fromhex(vector["backup"]))
        private = backupkey.parse_private(vector["private_key_file"].encode(), vector["passphrase"])
        assert private.public.key_id.hex() == vector["key_id"]
        assert backupkey.parse_public(vector["public_key_file"].encode()).key_id == \
            private.public.key_id
        restore.restore(path, private, tmp_path / "restored")
        with closing(sqlite3.connect(tmp_path / "restored" / "tipdrop.db")) as conn:
            rows = conn.execute("SELECT rowid, * FROM notes ORDER BY rowid").fetchall()
        assert [[v.hex() if isinstance(v, bytes) else v for v in row] for row in rows] == \
            vector["rows"]
        assert len((tmp_path / "restored" / "token-secret").read_bytes()) == 32
