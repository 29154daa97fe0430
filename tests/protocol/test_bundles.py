"""Bundles: round trips, and every damaged, forged, replayed or misdirected bundle refused whole.

Export bundles are opened through ``Workspace.open_bundle`` and reply bundles
imported through ``exchange.import_replies``, so each refusal is also checked
to leave nothing behind: no workspace row or attachment file, no server reply
or status change.
"""

import base64
import hashlib
import io
import json
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tipdrop.common import sqlite
from tipdrop.crypto import envelope, kdf, keys
from tipdrop.errors import SignatureError, TipdropError, WrongKeyError
from tipdrop.officer.keyring import Keyring
from tipdrop.officer.workspace import Workspace
from tipdrop.protocol import bundles
from tipdrop.protocol.report import Report
from tipdrop.protocol.routing import Routing
from tipdrop.server import exchange, store
from tipdrop.server.locators import Locators
from tipdrop.server.tips import Tips
from tipdrop.server.unitkeys import UnitKeys
from tipdrop.server.web.ratelimit import SharedCounts

DAY = "2026-01-10"
EVIDENCE = b"dashcam frame " * 40
# almaty is served by demo, astana by astana-police.
ROUTES = {"almaty": "demo", "astana": "astana-police"}


class Server:
    """The server side of the exchange, in process: keys/, a database, attachment files."""

    def __init__(self, root, *unit_keys):
        keys_dir = root / "keys"
        keys_dir.mkdir(parents=True)
        for key in unit_keys:
            (keys_dir / f"{key.unit}.pub").write_bytes(key.public.to_json())
        (keys_dir / "routing.json").write_text(json.dumps({"version": 1, "regions": ROUTES}))
        self.db = sqlite.connect(root / "instance" / "tipdrop.db")
        store.init(self.db)
        self.attachments = root / "instance" / "attachments"
        self.unit_keys = UnitKeys.load(keys_dir)
        # The server's file in RAM, here in the test's folder (tipdrop/server/locators.py).
        self.locators = Locators(SharedCounts(root / "runtime"))
        self.tips = Tips(self.db, self.unit_keys, Routing.load(keys_dir / "routing.json"),
                         self.attachments, receipt_params=kdf.TEST_PARAMS,
                         locators=self.locators)

    def submit(self, region, description="A bicycle was stolen.", files=()):
        """A reporter's tip; returns (tip row, receipt)."""
        draft = self.tips.start(region=region)
        for name, data, *declared in files:  # (name, bytes) or (name, bytes, type)
            draft.new_attachment(name, declared[0] if declared else "application/octet-stream"
                                 ).write(data)
        receipt = self.tips.submit(draft, Report.build(region=region, category="theft",
                                                       description=description))
        return store.get_tip(self.db, draft.tip_id), receipt

    def export(self, unit, out):
        return exchange.export_unit(self.db, self.attachments, unit=unit, out=out)

    def import_replies(self, data):
        return exchange.import_replies(self.db, self.unit_keys, data)

    def replies_and_statuses(self):
        replies = [(r["tip_id"], r["seq"], r["status"])
                   for r in self.db.query("SELECT * FROM replies ORDER BY tip_id, seq")]
        statuses = {r["id"]: r["status"] for r in self.db.query("SELECT id, status FROM tips")}
        return replies, statuses


@pytest.fixture
def server(tmp_path, demo_key, astana_key):
    """A server with one fresh tip for each unit (.demo_tip, .astana_tip)."""
    running = Server(tmp_path / "server", demo_key, astana_key)
    running.demo_tip, running.demo_receipt = running.submit("almaty")
    running.astana_tip, _ = running.submit("astana")
    yield running
    running.db.close()


# --- export bundles: the format ------------------------------------------------------


def test_export_bundle_round_trips_through_writer_and_reader():
    stream_bytes = bytes(range(256)) * (bundles.COPY_CHUNK // 256 * 2 + 7)  # crosses copy chunks
    out = io.BytesIO()
    writer = bundles.ExportWriter(out)
    writer.record(bundles.HEADER, {"format": bundles.EXPORT_FORMAT, "version": 1, "unit": "demo"})
    writer.record(bundles.TIP, {"id": "ab" * 16, "text": "Қазақша, по-русски"})
    writer.record(bundles.ATTACHMENT, {"tip_id": "ab" * 16, "part": "a1"})
    writer.stream(io.BytesIO(stream_bytes), len(stream_bytes))
    writer.finish()

    reader = bundles.ExportReader(io.BytesIO(out.getvalue()))
    seen, copied = [], bytearray()
    for record in reader:
        seen.append((record.kind, record.doc, record.length))
        if record.kind == bundles.STREAM:
            reader.copy_stream(copied.extend)

    assert seen == [
        (bundles.HEADER, {"format": "tipdrop-export", "version": 1, "unit": "demo"}, 0),
        (bundles.TIP, {"id": "ab" * 16, "text": "Қазақша, по-русски"}, 0),
        (bundles.ATTACHMENT, {"tip_id": "ab" * 16, "part": "a1"}, 0),
        (bundles.STREAM, None, len(stream_bytes)),
    ]
    assert bytes(copied) == stream_bytes
    assert reader.records == writer.records == 4


def test_reader_refuses_to_skip_an_unread_stream_record():
    out = io.BytesIO()
    writer = bundles.ExportWriter(out)
    writer.stream(io.BytesIO(b"x" * 10), 10)
    writer.finish()
    reader = iter(bundles.ExportReader(io.BytesIO(out.getvalue())))
    next(reader)
    with pytest.raises(bundles.BundleError, match="not consumed"):
        next(reader)


def test_writer_refuses_an_attachment_file_shorter_than_recorded():
    writer = bundles.ExportWriter(io.BytesIO())
    with pytest.raises(bundles.BundleError, match="shorter"):
        writer.stream(io.BytesIO(b"x" * 10), 11)


# --- export bundles: opened on the workstation ------------------------------------------


def _records(data):
    """(kind, doc or stream bytes) of every record before the end record."""
    reader = bundles.ExportReader(io.BytesIO(data))
    found = []
    for record in reader:
        if record.kind == bundles.STREAM:
            raw = bytearray()
            reader.copy_stream(raw.extend)
            found.append((record.kind, bytes(raw)))
        else:
            found.append((record.kind, record.doc))
    return found


def _bundle(records):
    """Write records as a bundle with a correct end record (what a hostile server can do)."""
    out = io.BytesIO()
    writer = bundles.ExportWriter(out)
    for kind, payload in records:
        if kind == bundles.STREAM:
            writer.stream(io.BytesIO(payload), len(payload))
        else:
            writer.record(kind, payload)
    writer.finish()
    return out.getvalue()


def _regions(data):
    """Byte ranges of the magic and of each record (named by type) in a bundle."""
    names = {bundles.HEADER: "header", bundles.TIP: "tip", bundles.FOLLOWUP: "followup",
             bundles.ATTACHMENT: "attachment", bundles.STREAM: "stream", bundles.END: "end"}
    regions = {"magic": (0, len(bundles.EXPORT_MAGIC))}
    offset = len(bundles.EXPORT_MAGIC)
    while offset < len(data):
        kind, length = bundles._LEN.unpack_from(data, offset)
        end = offset + bundles._LEN.size + length
        regions[names[kind]] = (offset, end)
        offset = end
    return regions


@pytest.fixture(scope="module")
def export(tmp_path_factory, demo_key, astana_key):
    """Export bundles of a server with one demo tip (an attachment and a follow-up)
    and one astana-police tip."""
    root = tmp_path_factory.mktemp("export")
    source = Server(root / "server", demo_key, astana_key)
    tip, _ = source.submit("almaty", "Drunk driver outside the school.",
                           files=[("dashcam.bin", EVIDENCE)])
    source.tips.add_followup(tip_id=tip["id"], text="The plate ended in 017.")
    source.submit("astana")
    source.export("demo", root / "demo.tdx")
    source.export("astana-police", root / "astana.tdx")
    source.db.close()
    data = (root / "demo.tdx").read_bytes()
    regions = _regions(data)
    assert list(regions) == ["magic", "header", "tip", "followup", "attachment", "stream", "end"]
    return SimpleNamespace(path=root / "demo.tdx", data=data, regions=regions,
                           astana=root / "astana.tdx", tip_id=tip["id"])


def assert_nothing_imported(workspace):
    for table in ("tips", "followups", "attachments", "notes", "outbox", "bundles"):
        assert workspace.db[table].count == 0, table
    assert list(workspace.blobs.glob("*.bin")) == []
    assert list((workspace.blobs / "tmp").iterdir()) == []


def _refused(workspace, path, unit_key):
    """Open ``path``; return the TipdropError it raised (fail if it was accepted)."""
    try:
        workspace.open_bundle(path, Keyring.of(unit_key))
    except TipdropError as e:
        return e
    pytest.fail(f"{path.name} was accepted")


@pytest.fixture
def workspace(tmp_path):
    opened = Workspace(tmp_path / "cases")
    yield opened
    opened.close()


def test_intact_export_bundle_opens_once(export, workspace, demo_key):
    counts = workspace.open_bundle(export.path, Keyring.of(demo_key))
    assert counts == {"tips": 1, "followups": 1, "attachments": 1, "already_opened": False,
                      "unavailable": 0, "damaged": 0}
    assert workspace.open_bundle(export.path, Keyring.of(demo_key))["already_opened"]
    shown = workspace.show(export.tip_id, Keyring.of(demo_key), save_to=workspace.dir / "evidence")
    assert shown["report"]["description"] == "Drunk driver outside the school."
    [saved] = (workspace.dir / "evidence").iterdir()
    assert saved.read_bytes() == EVIDENCE


def _tables(workspace):
    return {table: list(workspace.db.execute(f"SELECT * FROM {table} ORDER BY 1"))
            for table in ("tips", "followups", "attachments", "bundles", "held")}


def test_a_bundle_opened_before_is_said_so_and_stores_nothing(export, workspace, demo_key):
    """The import reads and hashes the file in one pass and knows a bundle opened
    before by its hash at the end: nothing of it is stored, no file left behind."""
    workspace.open_bundle(export.path, Keyring.of(demo_key))
    before, files = _tables(workspace), sorted(workspace.blobs.glob("*.bin"))
    assert workspace.open_bundle(export.path, Keyring.of(demo_key)) == {
        "tips": 0, "followups": 0, "attachments": 0, "already_opened": True}
    assert _tables(workspace) == before
    assert sorted(workspace.blobs.glob("*.bin")) == files
    assert list((workspace.blobs / "tmp").iterdir()) == []


def test_a_bundle_opened_before_is_said_so_even_when_it_no_longer_opens(
        export, workspace, demo_key, astana_key, tmp_path):
    """Refused on the way (here: the unit's key it was sealed to is no longer in
    the keyring), a bundle opened before is still said to be opened before; one
    never opened is refused as ever."""
    workspace.open_bundle(export.path, Keyring.of(demo_key))
    before = _tables(workspace)
    later_key = keys.generate("demo")
    assert workspace.open_bundle(export.path, Keyring.of(later_key))["already_opened"]
    assert _tables(workspace) == before
    assert isinstance(_refused(Workspace(tmp_path / "fresh"), export.path, astana_key),
                      WrongKeyError)


def test_the_reader_gives_the_whole_files_hash_once_it_is_verified(export):
    reader = bundles.ExportReader(io.BytesIO(export.data))
    for record in reader:
        assert reader.file_sha256 is None
        if record.kind == bundles.STREAM:
            reader.copy_stream(lambda chunk: None)
    assert reader.file_sha256 == hashlib.sha256(export.data).hexdigest()
    longer = bundles.ExportReader(io.BytesIO(export.data + b"x"))
    with pytest.raises(bundles.BundleError, match="after the end"):
        for record in longer:
            if record.kind == bundles.STREAM:
                longer.copy_stream(lambda chunk: None)
    assert longer.file_sha256 is None


@pytest.mark.parametrize("region", ["magic", "header", "tip", "followup", "attachment", "stream",
                                    "end"])
def test_flipped_byte_in_export_bundle_imports_nothing(region, export, workspace, demo_key,
                                                       tmp_path):
    tampered = tmp_path / "tampered.tdx"
    start, end = export.regions[region]
    for position in range(start, end):
        for mask in (0x01, 0xFF):
            data = bytearray(export.data)
            data[position] ^= mask
            tampered.write_bytes(data)
            try:
                workspace.open_bundle(tampered, Keyring.of(demo_key))
            except TipdropError:
                pass
            else:
                pytest.fail(f"byte {position} xor {mask:#x} was accepted")
            assert_nothing_imported(workspace)
    # The refusals left no trace: the intact bundle still opens.
    assert workspace.open_bundle(export.path, Keyring.of(demo_key))["tips"] == 1


def test_truncated_export_bundle_imports_nothing(export, workspace, demo_key, tmp_path):
    cut = tmp_path / "cut.tdx"
    for length in range(len(export.data)):
        cut.write_bytes(export.data[:length])
        _refused(workspace, cut, demo_key)
        assert_nothing_imported(workspace)
    assert workspace.open_bundle(export.path, Keyring.of(demo_key))["tips"] == 1


@pytest.mark.parametrize("garbage", [b"\x00", b"more", b"\xff" + bytes(8), None],
                         ids=["zero", "text", "end-record-head", "whole-bundle-again"])
def test_data_after_the_end_record_is_refused(garbage, export, workspace, demo_key, tmp_path):
    longer = tmp_path / "longer.tdx"
    longer.write_bytes(export.data + (export.data if garbage is None else garbage))
    error = _refused(workspace, longer, demo_key)
    assert isinstance(error, bundles.BundleError)
    assert_nothing_imported(workspace)


def test_bundle_for_another_unit_is_refused_naming_both_units(export, workspace, demo_key):
    error = _refused(workspace, export.astana, demo_key)
    assert isinstance(error, WrongKeyError)
    assert "'astana-police'" in error.message and "'demo'" in error.message
    assert_nothing_imported(workspace)


def _duplicate(kind):
    """Repeat the first record of ``kind`` (with its stream, for an attachment)."""
    def forge(records):
        at = next(i for i, (k, _) in enumerate(records) if k == kind)
        return records + records[at:at + (2 if kind == bundles.ATTACHMENT else 1)]
    return forge


def _set(kind, **fields):
    """Change fields of every record of ``kind``."""
    return lambda r: [(k, d | fields) if k == kind else (k, d) for k, d in r]


def _flip_last_byte(records):
    return [(k, d[:-1] + bytes([d[-1] ^ 1])) if k == bundles.STREAM else (k, d)
            for k, d in records]


# Bundles a hostile or broken server could write, with a correct end record.
FORGERIES = {
    "tip-id-changed": _set(bundles.TIP, id="0" * 32),
    "followup-renumbered": _set(bundles.FOLLOWUP, seq=2),
    "attachment-moved-to-another-part": _set(bundles.ATTACHMENT, part="a2"),
    "stream-bytes-changed": _flip_last_byte,
    "header-names-another-unit": _set(bundles.HEADER, unit="astana-police"),
    "header-version-2": _set(bundles.HEADER, version=2),
    "header-missing": lambda r: r[1:],
    "tip-before-header": lambda r: [r[1], r[0]] + r[2:],
    "stream-without-its-description": lambda r: [x for x in r if x[0] != bundles.ATTACHMENT],
    "news-for-a-tip-not-in-the-workspace": lambda r: [x for x in r if x[0] != bundles.TIP],
    "empty": lambda r: [],
}


@pytest.mark.parametrize("forge", FORGERIES.values(), ids=FORGERIES.keys())
def test_forged_export_bundle_with_a_correct_checksum_imports_nothing(
        forge, export, workspace, demo_key, tmp_path):
    forged = tmp_path / "forged.tdx"
    forged.write_bytes(_bundle(forge(_records(export.data))))
    _refused(workspace, forged, demo_key)
    assert_nothing_imported(workspace)


@pytest.mark.parametrize("forge", [
    pytest.param(_duplicate(bundles.TIP), id="tip-twice"),
    pytest.param(_duplicate(bundles.FOLLOWUP), id="followup-twice"),
    pytest.param(_duplicate(bundles.ATTACHMENT), id="attachment-twice"),
    pytest.param(_set(bundles.TIP, reply_seq=2**70), id="reply-seq-beyond-64-bits"),
    pytest.param(_set(bundles.ATTACHMENT, size=2**70), id="size-beyond-64-bits"),
    pytest.param(_set(bundles.TIP, received_day="yesterday"), id="received-day-not-a-day"),
])
def test_inconsistent_export_bundle_is_a_clear_error(forge, export, workspace, demo_key,
                                                     tmp_path):
    forged = tmp_path / "forged.tdx"
    forged.write_bytes(_bundle(forge(_records(export.data))))
    _refused(workspace, forged, demo_key)
    assert_nothing_imported(workspace)


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=300), magic=st.booleans())
def test_export_reader_raises_only_bundle_errors(data, magic):
    source = io.BytesIO((bundles.EXPORT_MAGIC if magic else b"") + data)
    try:
        reader = bundles.ExportReader(source)
        for record in reader:
            if record.kind == bundles.STREAM:
                reader.copy_stream(lambda chunk: None)
    except TipdropError:
        pass


# --- reply bundles ----------------------------------------------------------------------


def signed(key, tip, seq, status="in-review", message="", day=DAY):
    """A reply signed by ``key``'s unit, sealed to the reporter's reply key."""
    body = b""
    if message:
        body = envelope.seal(message.encode(), keys.reply_recipient(tip["reply_public"]),
                             kind="reply", tip_id=tip["id"], part=f"r{seq}")
    return bundles.sign_reply(key.ed25519, key.unit, key.key_id, tip_id=tip["id"], seq=seq,
                              day=day, status=status, body=body)


def reply_bundle(key, replies, created_day=DAY):
    return bundles.make_reply_bundle(key.ed25519, key.unit, key.key_id, created_day, replies)


def edited(data, change):
    """Apply ``change`` to the bundle's JSON document; return the new bytes."""
    doc = json.loads(data)
    change(doc)
    return json.dumps(doc).encode()


def assert_refused_and_nothing_stored(server, data, *errors):
    before = server.replies_and_statuses()
    with pytest.raises(errors or TipdropError) as caught:
        server.import_replies(data)
    assert server.replies_and_statuses() == before
    return caught.value


def test_reply_bundle_round_trips_and_the_reporter_reads_it(server, demo_key):
    replies = [signed(demo_key, server.demo_tip, 1, "need-info", "Which entrance?"),
               signed(demo_key, server.demo_tip, 2, "in-review")]
    data = reply_bundle(demo_key, replies)

    parsed = bundles.parse_reply_bundle(data)
    assert parsed.unit == "demo" and parsed.key_id == demo_key.key_id
    assert parsed.created_day == DAY and parsed.replies == tuple(replies)
    bundles.verify_reply_bundle(parsed, demo_key.public.ed25519)

    counts = server.import_replies(data)
    assert (counts["replies"], counts["tips"]) == (2, 1)
    checked = server.tips.check(receipt=server.demo_receipt.formatted)
    assert checked.status == "in-review"
    assert [(r.seq, r.status, r.message) for r in checked.replies] == [
        (1, "need-info", "Which entrance?"), (2, "in-review", "")]


def _flip_b64(text):
    raw = bytearray(base64.b64decode(text))
    raw[len(raw) // 2] ^= 1
    return base64.b64encode(bytes(raw)).decode()


REPLY_CHANGES = {
    "tip_id": lambda r: r.update(tip_id=r["tip_id"][:-1] + ("0" if r["tip_id"][-1] != "0" else "1")),
    "seq": lambda r: r.update(seq=r["seq"] + 1),
    "day": lambda r: r.update(day="2026-01-11"),
    "status": lambda r: r.update(status="confirmed"),
    "body": lambda r: r.update(body=_flip_b64(r["body"])),
    "body-emptied": lambda r: r.update(body=""),
    "signature": lambda r: r.update(signature=_flip_b64(r["signature"])),
}


@pytest.mark.parametrize("index", [0, 1], ids=["first-reply", "second-reply"])
@pytest.mark.parametrize("change", REPLY_CHANGES.values(), ids=REPLY_CHANGES.keys())
def test_changing_any_field_of_a_reply_is_refused(change, index, server, demo_key):
    data = reply_bundle(demo_key, [signed(demo_key, server.demo_tip, 1, "need-info", "When?"),
                                   signed(demo_key, server.demo_tip, 2, "unfounded", "Closed.")])
    forged = edited(data, lambda doc: change(doc["replies"][index]))
    with pytest.raises((SignatureError, bundles.BundleError)):
        bundles.verify_reply_bundle(bundles.parse_reply_bundle(forged), demo_key.public.ed25519)
    assert_refused_and_nothing_stored(server, forged)


BUNDLE_CHANGES = {
    "unit": lambda doc: doc.update(unit="astana-police"),
    "key_id": lambda doc: doc.update(key_id="0" * 32),
    "created_day": lambda doc: doc.update(created_day="2026-01-09"),
    "signature": lambda doc: doc.update(signature=_flip_b64(doc["signature"])),
    "replies-reordered": lambda doc: doc["replies"].reverse(),
    "reply-dropped": lambda doc: doc["replies"].pop(),
    "reply-duplicated": lambda doc: doc["replies"].append(dict(doc["replies"][0])),
    "format": lambda doc: doc.update(format="tipdrop-export"),
    "version": lambda doc: doc.update(version=2),
}


@pytest.mark.parametrize("change", BUNDLE_CHANGES.values(), ids=BUNDLE_CHANGES.keys())
def test_changing_the_bundle_is_refused(change, server, demo_key):
    data = reply_bundle(demo_key, [signed(demo_key, server.demo_tip, 1, "need-info", "When?"),
                                   signed(demo_key, server.demo_tip, 2, "in-review")])
    forged = edited(data, change)
    with pytest.raises((SignatureError, bundles.BundleError)):
        bundles.verify_reply_bundle(bundles.parse_reply_bundle(forged), demo_key.public.ed25519)
    assert_refused_and_nothing_stored(server, forged)


def test_bundle_signed_by_a_key_not_on_the_server_is_refused(server):
    stranger = keys.generate("demo")  # same unit name, but never installed in keys/
    data = reply_bundle(stranger, [signed(stranger, server.demo_tip, 1, "confirmed")])
    error = assert_refused_and_nothing_stored(server, data, SignatureError)
    assert "not installed" in error.message


def test_bundle_naming_one_unit_but_signed_by_another_is_refused(server, demo_key, astana_key):
    # astana-police's key signs a bundle that claims to come from demo.
    replies = [bundles.sign_reply(astana_key.ed25519, "demo", demo_key.key_id,
                                  tip_id=server.demo_tip["id"], seq=1, day=DAY,
                                  status="unfounded", body=b"")]
    data = bundles.make_reply_bundle(astana_key.ed25519, "demo", demo_key.key_id, DAY, replies)
    assert_refused_and_nothing_stored(server, data, SignatureError)
    # ... or names demo with astana-police's own key id.
    data = edited(reply_bundle(astana_key, [signed(astana_key, server.demo_tip, 1)]),
                  lambda doc: doc.update(unit="demo"))
    error = assert_refused_and_nothing_stored(server, data, SignatureError)
    assert "different unit" in error.message


def test_reply_to_a_tip_of_another_unit_is_refused_whole(server, demo_key, astana_key):
    # demo signs correctly, but one of its replies is for astana-police's tip.
    data = reply_bundle(demo_key, [signed(demo_key, server.demo_tip, 1, "confirmed"),
                                   signed(demo_key, server.astana_tip, 1, "unfounded")])
    assert_refused_and_nothing_stored(server, data, exchange.WrongUnitError)
    # astana-police cannot answer demo's tip either.
    data = reply_bundle(astana_key, [signed(astana_key, server.demo_tip, 1, "unfounded")])
    assert_refused_and_nothing_stored(server, data, exchange.WrongUnitError)


def test_reply_to_a_tip_the_server_does_not_have_is_refused(server, demo_key):
    ghost = dict(server.demo_tip, id="f" * 32)
    data = reply_bundle(demo_key, [signed(demo_key, ghost, 1, "confirmed")])
    assert_refused_and_nothing_stored(server, data, exchange.WrongUnitError)


def test_a_bundle_imported_again_changes_nothing_and_says_so(server, demo_key):
    data = reply_bundle(demo_key, [signed(demo_key, server.demo_tip, 1, "in-review")])
    server.import_replies(data)
    before = server.replies_and_statuses()
    assert server.import_replies(data) == {"replies": 0, "tips": 0, "already_imported": 1}
    assert server.replies_and_statuses() == before


def test_a_bundle_repeating_an_imported_reply_imports_only_the_new_one(server, demo_key):
    first = signed(demo_key, server.demo_tip, 1, "in-review")
    server.import_replies(reply_bundle(demo_key, [first]))
    data = reply_bundle(demo_key, [first, signed(demo_key, server.demo_tip, 2, "confirmed")])
    assert server.import_replies(data) == {"replies": 1, "tips": 1, "already_imported": 1}


def test_another_reply_under_a_number_already_imported_is_refused_with_its_tip(server,
                                                                               demo_key):
    server.import_replies(reply_bundle(demo_key, [signed(demo_key, server.demo_tip, 1,
                                                         "in-review")]))
    data = reply_bundle(demo_key, [signed(demo_key, server.demo_tip, 1, "confirmed"),
                                   signed(demo_key, server.demo_tip, 2, "closed")])
    _left_out(server, data, server.demo_tip, "reply 1 differs from the one already imported")


def _left_out(server, data, tip, why="was expected"):
    """Import ``data``: nothing of ``tip`` is stored, and the answer names it."""
    before = server.replies_and_statuses()
    counts = server.import_replies(data)
    assert list(counts["refused"]) == [tip["id"]] and why in counts["refused"][tip["id"]]
    assert [r for r in server.replies_and_statuses()[0] if r[0] == tip["id"]] == \
        [r for r in before[0] if r[0] == tip["id"]]
    assert server.replies_and_statuses()[1][tip["id"]] == before[1][tip["id"]]
    return counts


def test_an_imported_reply_after_a_new_one_of_its_tip_leaves_that_tip_out(server, demo_key):
    first = signed(demo_key, server.demo_tip, 1, "in-review")
    server.import_replies(reply_bundle(demo_key, [first]))
    data = reply_bundle(demo_key, [signed(demo_key, server.demo_tip, 2, "confirmed"), first])
    _left_out(server, data, server.demo_tip)


@pytest.mark.parametrize("seqs", [[2], [1, 3], [2, 1], [1, 1]],
                         ids=["gap-at-start", "gap", "reversed", "repeated"])
def test_out_of_order_sequence_numbers_leave_their_tip_out(seqs, server, demo_key):
    data = reply_bundle(demo_key, [signed(demo_key, server.demo_tip, n) for n in seqs])
    _left_out(server, data, server.demo_tip)


def test_a_tip_whose_numbers_do_not_follow_never_blocks_the_other_tips_replies(server,
                                                                               demo_key):
    # Given a workstation whose numbering of one tip came from an altered export
    other, _ = server.submit("almaty")
    data = reply_bundle(demo_key, [signed(demo_key, server.demo_tip, 2**53 - 1, "closed"),
                                   signed(demo_key, other, 1, "need-info", "When?")])

    counts = _left_out(server, data, server.demo_tip, "beyond the 100000 replies")

    # Then the other tip's reply is stored, and its status with it
    assert counts["replies"] == 1 and counts["tips"] == 1
    replies, statuses = server.replies_and_statuses()
    assert (other["id"], 1, "need-info") in replies and statuses[other["id"]] == "need-info"


def test_unknown_status_is_refused(server, demo_key):
    data = reply_bundle(demo_key, [signed(demo_key, server.demo_tip, 1, "in-review"),
                                   signed(demo_key, server.demo_tip, 2, "solved")])
    error = assert_refused_and_nothing_stored(server, data, bundles.BundleError)
    assert "'solved'" in error.message


def test_reply_status_that_is_not_text_is_refused_cleanly(server, demo_key):
    # A lone surrogate cannot be encoded for the signature check; the bundle
    # signature covers only the reply signatures, so anyone can make this edit.
    data = reply_bundle(demo_key, [signed(demo_key, server.demo_tip, 1, "in-review")])
    forged = edited(data, lambda doc: doc["replies"][0].update(status="\ud800"))
    assert_refused_and_nothing_stored(server, forged, bundles.BundleError)


@pytest.mark.parametrize("day", ["2026-1-10", "\u0662\u0660\u0662\u0666-01-10", "2026-01-10\n"],
                         ids=["short-month", "arabic-indic-digits", "trailing-newline"])
def test_reply_with_a_malformed_day_is_refused_even_when_signed(day, server, demo_key):
    data = reply_bundle(demo_key, [signed(demo_key, server.demo_tip, 1, "in-review", day=day)])
    assert_refused_and_nothing_stored(server, data, bundles.BundleError)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_parse_reply_bundle_raises_only_bundle_errors_on_bytes(data):
    try:
        bundles.parse_reply_bundle(data)
    except bundles.BundleError:
        pass


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(st.characters(exclude_categories=())),  # lone surrogates too
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


@pytest.fixture(scope="module")
def valid_reply_doc(demo_key):
    tip = {"id": "ab" * 16, "reply_public": keys.generate("x").public.x25519.public_bytes_raw()}
    data = reply_bundle(demo_key, [signed(demo_key, tip, 1, "need-info", "When?"),
                                   signed(demo_key, tip, 2, "closed")])
    return json.loads(data)


@settings(max_examples=300, deadline=None)
@given(where=st.sampled_from(["format", "version", "unit", "key_id", "created_day", "replies",
                              "signature", "tip_id", "seq", "day", "status", "body",
                              "reply-signature", "reply"]),
       value=json_values)
def test_any_field_replaced_by_any_json_is_refused_with_a_tipdrop_error(
        where, value, valid_reply_doc, demo_key):
    doc = json.loads(json.dumps(valid_reply_doc))
    if where == "reply":
        doc["replies"][0] = value
    elif where in ("tip_id", "seq", "day", "status", "body"):
        doc["replies"][1][where] = value
    elif where == "reply-signature":
        doc["replies"][0]["signature"] = value
    else:
        doc[where] = value
    data = json.dumps(doc).encode()
    try:
        bundles.verify_reply_bundle(bundles.parse_reply_bundle(data), demo_key.public.ed25519)
    except TipdropError:
        return
    assert doc == valid_reply_doc  # only an unchanged bundle may pass
