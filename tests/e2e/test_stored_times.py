"""No stored file or record tells when a report arrived more precisely than its day.

A real ``tipdrop serve`` (gunicorn) takes reports with attachments (sealed
on the server, through the form and the API, and sealed on the device); the
test notes the moment each request began and ended. Afterwards every file
and folder under the data folder is looked at with stat(1) (birth time
included, which cannot be set back, and access time) and no time of any of
them may fall within a report's request. Only the database's own files are
used by every request of any kind: their access, modification and change
times are the last request's, which a later one that is not a report moves
on. Every value
of every database row is searched for a precise time too.

A data folder as tipdrop left it before attachments moved into the
database (a file per attachment) is still served: exported as it is, and
moved into the database when the server starts, its files then gone.
"""

import io
import json
import os
import re
import sqlite3
import subprocess
import time
from contextlib import closing

import pytest

from tests.resumable import cut_pieces, post_json, put_piece, resumable, sealed_upload
from tests.serving import multipart
from tests.stored import all_blobs, blob_bytes
from tipdrop.crypto import stream
from tipdrop.protocol import bundles, device, documents, officer_auth
from tipdrop.server.store import SCHEMA_VERSION

pytestmark = pytest.mark.e2e

#: Kernel file times come from a coarse clock, a tick behind time.time().
SLACK_NS = 50_000_000
DATABASE_FILES = {"tipdrop.db", "tipdrop.db-wal", "tipdrop.db-shm"}


def _file_times(root):
    """{path: {"birth", "access", "modify", "change"}} in ns for ``root`` and all under it."""
    paths = [root, *sorted(root.rglob("*"))]
    out = subprocess.run(["stat", "--format=%.9W %.9X %.9Y %.9Z", *map(str, paths)],
                         capture_output=True, text=True, check=True).stdout.split("\n")
    times = {}
    for path, line in zip(paths, out, strict=False):
        birth, access, modify, change = (int(value.replace(".", "")) for value in line.split())
        times[path] = {"birth": birth, "access": access, "modify": modify, "change": change}
    return times


def _timed(windows, name, request):
    start = time.time_ns()
    result = request()
    windows[name] = (start - SLACK_NS, time.time_ns() + SLACK_NS)
    time.sleep(0.3)  # keeps the windows apart, so one request's times cannot hide in another's
    return result


def _server_sealed(server, n):
    content_type, body = multipart(
        {"region": "astana", "category": "drugs", "description": f"times {n}"},
        [("files", "clip.mp4", "video/mp4", os.urandom(300_000))])
    status, _, answer = server.request("POST", "/api/v1/tips", body,
                                       {"Content-Type": content_type})
    assert status == 201, answer[:300]
    return json.loads(answer)["receipt"]


def _form(server):
    token = server.form_token("/submit")  # before the clock: a page, not a report
    content_type, body = multipart(
        {"token": token, "region": "almaty", "category": "theft", "description": "form"},
        [("files", "photo.bin", "application/octet-stream", os.urandom(100_000))])
    return lambda: server.request("POST", "/submit", body, {"Content-Type": content_type})


def _device_sealed(server):
    recipient = server.unit_key.public.recipient
    tip_id = device.new_tip_id()
    report = documents.report_document(tip_id=tip_id, region="shymkent", category="other",
                                    description="sealed on the device", parts=["a1"])
    data = os.urandom(200_000)
    info = documents.attachment_info_document(name="a.bin", content_type="", size=len(data))
    sealed = io.BytesIO()
    device.encrypt_attachment(io.BytesIO(data), sealed, recipient, tip_id, "a1")
    content_type, body = multipart(
        {"region": "shymkent", "category": "other", "tip_id": tip_id},
        [("tip", "tip", "application/octet-stream", device.seal_report(report, recipient, tip_id)),
         ("a1-info", "a1-info", "application/octet-stream",
          device.seal_attachment_info(info, recipient, tip_id, "a1")),
         ("a1", "a1", "application/octet-stream", sealed.getvalue())])

    def send():
        status, _, answer = server.request("POST", "/api/v1/sealed-tips", body,
                                           {"Content-Type": content_type})
        assert status == 201, answer[:300]

    return send


def test_no_file_under_the_data_folder_tells_when_a_report_arrived(server):
    # Given a server that has run a moment (its files made at start-up)
    time.sleep(1.0)
    windows = {}
    # When reports with attachments arrive: API, form, device-sealed, with no request
    # before the first one (the first request after start-up makes no file either)
    receipt = _timed(windows, "api", lambda: _server_sealed(server, 1))
    form = _form(server)
    status, _, page = _timed(windows, "form", form)
    assert status == 203, page[:300]
    _timed(windows, "device", _device_sealed(server))
    _timed(windows, "api again", lambda: _server_sealed(server, 2))
    # And afterwards a request that is no report writes to the database
    time.sleep(1.0)
    later = time.time_ns() - SLACK_NS
    status, _, _ = server.request("POST", "/api/v1/check", json.dumps({"receipt": receipt}),
                                  {"Content-Type": "application/json"})
    assert status == 200

    # Then no time of any file or folder falls within a report's request
    times = _file_times(server.data_dir)
    found = []
    for path, stamps in times.items():
        for kind, value in stamps.items():
            if path.name in DATABASE_FILES and kind != "birth":
                continue  # shared by every write: checked below
            for name, (start, end) in windows.items():
                if start <= value <= end:
                    found.append(f"{path.relative_to(server.data_dir.parent)} {kind} time: "
                                 f"during the {name} report")
    assert found == [], found
    assert len(all_blobs(server.data_dir)) == 4  # the attachments are stored (in the database)
    # And the database's log, written by every request that writes, shows the last write
    assert server.data_dir / "tipdrop.db-wal" in times, (
        "the database's log was deleted when idle: the next request, a report perhaps, makes it")
    wal = times[server.data_dir / "tipdrop.db-wal"]
    assert wal["modify"] >= later and wal["change"] >= later
    assert wal["birth"] < min(start for start, _ in windows.values())


#: A time of day: "14:03", "14:03:59", "T14:03" (a date alone is allowed).
_TIME_OF_DAY = re.compile(r"\d{1,2}:\d{2}")


def test_no_database_record_holds_a_precise_time(server):
    started = time.time()
    _server_sealed(server, 1)
    status, _, _ = server.request("POST", "/api/v1/check",
                                  json.dumps({"receipt": _server_sealed(server, 2)}),
                                  {"Content-Type": "application/json"})
    assert status == 200
    server.stop()
    low, high = started - 86400, time.time() + 86400
    found = []
    with closing(sqlite3.connect(server.data_dir / "tipdrop.db")) as conn:
        tables = [row[0] for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            names = [row[1] for row in conn.execute(f"PRAGMA table_info([{table}])")]
            for row in conn.execute(f"SELECT * FROM [{table}]"):
                for name, value in zip(names, row, strict=False):
                    if isinstance(value, int) and not isinstance(value, bool) and any(
                            low <= value / scale <= high for scale in (1, 1e3, 1e6, 1e9)):
                        found.append((table, name, value))
                    if isinstance(value, str) and _TIME_OF_DAY.search(value):
                        found.append((table, name, value))
    assert tables and found == [], found


# --- a data folder from before version 6 --------------------------------------------


def _to_old_layout(data_dir):
    """Make the folder as tipdrop left it before: a file per attachment, schema 5."""
    folder = data_dir / "attachments"
    folder.mkdir(mode=0o700)
    database = data_dir / "tipdrop.db"
    moved = {}
    for name in all_blobs(data_dir):
        legacy = os.urandom(16).hex() + ".bin"
        (folder / legacy).write_bytes(blob_bytes(data_dir, name))
        moved[name] = legacy
    with closing(sqlite3.connect(database, isolation_level=None)) as conn:
        for name, legacy in moved.items():
            conn.execute("UPDATE attachments SET blob = ? WHERE blob = ?", [legacy, name])
        conn.execute("DROP TABLE blob_chunks")
        conn.execute("DROP TABLE blobs")
        conn.execute("UPDATE meta SET value = '5' WHERE key = 'schema_version'")
    return {legacy: (folder / legacy).read_bytes() for legacy in moved.values()}


def _exported_streams(bundle):
    """{(tip id, part): stream bytes} of an export bundle."""
    out, current = {}, None
    with open(bundle, "rb") as f:
        reader = bundles.ExportReader(f)
        for record in reader:
            if record.kind == bundles.ATTACHMENT:
                current = (record.doc["tip_id"], record.doc["part"])
            elif record.kind == bundles.STREAM:
                buffer = io.BytesIO()
                reader.copy_stream(buffer.write)
                out[current] = buffer.getvalue()
    return out


def test_a_folder_from_before_is_exported_then_moved_into_the_database(server, run_cli,
                                                                        tmp_path):
    # Given a server's folder as an older tipdrop left it: one file per attachment
    _server_sealed(server, 1)
    _server_sealed(server, 2)
    server.stop()
    old_files = _to_old_layout(server.data_dir)
    assert len(old_files) == 2
    # When the unit exports before the server is started again
    first = run_cli("export", "--unit", "demo", "--out", tmp_path / "first.tdx",
                    env=server.env(), check=True)
    assert "2 attachments" in first.stdout
    # Then the bundle carries the files' bytes as they were
    assert sorted(_exported_streams(tmp_path / "first.tdx").values()) == sorted(old_files.values())

    # When the server starts on the folder
    server.start()
    server.stop()
    # Then every file is in the database, byte for byte, and the files and their folder are gone
    assert not (server.data_dir / "attachments").exists()
    with closing(sqlite3.connect(server.data_dir / "tipdrop.db")) as conn:
        names = [row[0] for row in conn.execute("SELECT blob FROM attachments")]
        assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'"
                            ).fetchone() == (str(SCHEMA_VERSION),)
    assert sorted(blob_bytes(server.data_dir, name) for name in names) == sorted(
        old_files.values())
    everything = b"".join(p.read_bytes() for p in server.data_dir.rglob("*") if p.is_file())
    # And an export from the start carries the same bytes, which the unit's key opens
    run_cli("export", "--unit", "demo", "--since-start", "--out", tmp_path / "again.tdx",
            env=server.env(), check=True)
    streams = _exported_streams(tmp_path / "again.tdx")
    assert sorted(streams.values()) == sorted(old_files.values())
    for (tip_id, part), data in streams.items():
        plain = io.BytesIO()
        stream.decrypt_stream(io.BytesIO(data), plain, server.unit_key.opener,
                              kind="attachment", tip_id=tip_id, part=part)
        assert len(plain.getvalue()) == 300_000
    assert all(data[:64] in everything for data in old_files.values())


# --- a disk taken while the server runs, or after the plug was pulled -----------------


def _precise_times(raw, seconds):
    """Where ``raw`` holds one of ``seconds`` as SQLite writes an integer, or as text."""
    found = []
    for second in seconds:
        for form in (second.to_bytes(4, "big"), second.to_bytes(8, "big"),
                     str(second).encode(), str(second * 1000).encode()):
            at = raw.find(form)
            if at != -1:
                found.append((second, form, at))
    return found


def test_raw_database_files_of_a_running_server_hold_no_time_of_a_resumable_upload(
        server, tmp_path):
    # Given a report sent in resumable pieces (begin, piece, finish), and another whose
    # upload was cut off after its first piece, as a device on a bad network leaves it
    request, body = sealed_upload(server, tmp_path, os.urandom(2000))
    cut_request, cut_body = sealed_upload(server, tmp_path, os.urandom(1_100_000), "cut off")
    began = int(time.time())
    resumable(server, request).send(io.BytesIO(body))
    key = os.urandom(16).hex()
    assert post_json(server, "/api/v1/uploads", cut_request, key)[0] == 201
    assert put_piece(server, key, 0, cut_pieces(cut_body)[0])[0] == 200
    ended = int(time.time())

    # When the disk is taken as it is: the process killed, as when the plug is pulled,
    # so the database's log (-wal) stays with every page image written since it began
    time.sleep(1.0)
    server.kill()

    # Then no byte of the database or its log, read raw (not through SQL, which shows only
    # the newest image of each row), holds the second an upload began, moved or finished
    found = {}
    for name in sorted(DATABASE_FILES):
        path = server.data_dir / name
        if path.exists():
            hits = _precise_times(path.read_bytes(), range(began, ended + 1))
            if hits:
                found[name] = hits
    assert found == {}, found


def test_raw_database_files_hold_no_time_of_an_officer_pull_that_would_bound_a_reports(
        ceremony, run_cli):
    # Given reports pulled by the officer over the officer API, one pull after each (as
    # the app's automatic pull does every few minutes): the export that first carried a
    # report is stored with it, so the time of each pull would bound when it arrived
    server, officer = ceremony
    url = f"http://127.0.0.1:{server.port}"
    began = int(time.time())
    for n in range(2):
        _server_sealed(server, n)
        pulled = run_cli("officer", "pull", "--server", url, env=officer)
        assert pulled.returncode == 0, pulled.stderr
    ended = int(time.time())

    # When the disk is taken as it is (the plug pulled)
    server.kill()

    # Then no byte of the database or its log holds a second of those requests, nor the end
    # of their signature's time window (officer_auth.WINDOW seconds later)
    seconds = [*range(began, ended + 1), *range(began + officer_auth.WINDOW,
                                                 ended + officer_auth.WINDOW + 1)]
    found = {}
    for name in sorted(DATABASE_FILES):
        path = server.data_dir / name
        if path.exists():
            hits = _precise_times(path.read_bytes(), seconds)
            if hits:
                found[name] = hits
    assert found == {}, found
