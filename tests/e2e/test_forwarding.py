"""Forwarding a tip to another unit, through the real CLI and the real server (gunicorn).

Unit "demo" gets a report with a file and a follow-up, opens it, forwards it
to unit "north" (outbox file → import-replies, or push → pull); north opens
it (the file byte for byte), replies, and the reporter's /check shows the
transfer and north's reply. demo's copy is ``transferred`` and its late
replies are refused; forged and altered forwards, and a forward to a unit
with no key, are refused whole. A unit with duty alerts is alerted of a tip
forwarded to it (a real webhook receiver), by file or by push.
"""

import base64
import json
import re
import time
import urllib.parse

import pytest

from tests.alert_receivers import Receiver
from tests.e2e.conftest import assert_clean_error
from tests.serving import free_port, start_server
from tests.web_forms import check_on_web, submit_on_web
from tipdrop.common.remote import ServerRefusedError
from tipdrop.crypto import kdf, keys
from tipdrop.officer.client import OfficerClient
from tipdrop.protocol import alerts as alert_format
from tipdrop.protocol import bundles, forwards

pytestmark = pytest.mark.e2e

EVIDENCE = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 2000
OFFICER_PASS = "officer pass"


@pytest.fixture
def two_units(tmp_path):
    """A server with units demo (every region) and north (a key, no region), and
    the environments of one officer of each."""
    north = keys.generate("north")
    north_pub = tmp_path / "north.pub"
    north_pub.write_bytes(north.public.to_json())
    (tmp_path / "north-officer").mkdir()
    north_key = tmp_path / "north-officer" / "north.key"
    north_key.write_bytes(keys.private_to_file(north, OFFICER_PASS, kdf.TEST_PARAMS))
    server = start_server(tmp_path, keys_files={"north.pub": north_pub.read_text()})
    demo = {"TIPDROP_PASSPHRASE": OFFICER_PASS, "TIPDROP_WORKDIR": str(tmp_path / "cases-demo"),
            "TIPDROP_KEY": str(server.key_file)}
    north_env = {"TIPDROP_PASSPHRASE": OFFICER_PASS,
                 "TIPDROP_WORKDIR": str(tmp_path / "cases-north"), "TIPDROP_KEY": str(north_key)}
    yield server, demo, north_env, north_pub, keys.format_fingerprint(north.public.fingerprint)
    server.stop()


def _submit(server):
    return submit_on_web(server, {"region": "shymkent", "category": "corruption",
                                  "description": "Инспектор требует взятку за справку."},
                         [("files", "video.mp4", "video/mp4", EVIDENCE)])


def _follow_up(server, receipt, text):
    page = check_on_web(server, receipt)
    token = re.search(r'action="/followup[^"]*"[^>]*>\s*<input type="hidden" name="token" '
                      r'value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode({"token": token, "text": text})
    status, _, _ = server.request("POST", "/followup?lang=ru", form,
                                  {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 200


def _demo_holds_tip(server, demo, run_cli, tmp_path):
    """A report with a file and a follow-up, exported to demo and opened there."""
    receipt = _submit(server)
    _follow_up(server, receipt, "Номер кабинета 214.")
    run_cli("export", "--unit", "demo", "--out", tmp_path / "demo1.tdx", env=server.env(),
            check=True)
    run_cli("officer", "open", tmp_path / "demo1.tdx", env=demo, check=True)
    [tip] = json.loads(run_cli("officer", "list", "--json", env=demo, check=True).stdout)
    run_cli("officer", "reply", tip["id"], "--status", "in-review", "--message",
            "Спасибо, проверяем.", env=demo, check=True)
    return receipt, tip["id"]


def _forward(run_cli, demo, tip_id, north_pub, fingerprint, to="north"):
    return run_cli("officer", "forward", tip_id[:8], "--to", to, "--unit-key", north_pub,
                   "--fingerprint", fingerprint, env=demo)


def _north_reads_and_answers(server, north, run_cli, tmp_path, tip_id, opened_via):
    """north's workstation holds the forwarded tip whole and answers it."""
    [tip] = json.loads(run_cli("officer", "list", "--json", env=north, check=True).stdout)
    assert tip["id"] == tip_id, opened_via
    shown = run_cli("officer", "show", tip_id[:8], "--save-attachments", tmp_path / "north-files",
                    env=north, check=True)
    assert "Инспектор требует взятку за справку." in shown.stdout
    assert "Номер кабинета 214." in shown.stdout
    [saved] = list((tmp_path / "north-files").iterdir())
    assert saved.read_bytes() == EVIDENCE and saved.name.endswith("video.mp4")
    run_cli("officer", "reply", tip_id[:8], "--status", "in-review", "--message",
            "Ваше сообщение передано нам, работаем.", env=north, check=True)


def _assert_reporter_sees_transfer(server, receipt):
    page = check_on_web(server, receipt)
    assert re.search(r'<li class="transfer" data-status="transferred"', page)
    assert "Спасибо, проверяем." in page  # demo's reply before the forward stays
    assert "Ваше сообщение передано нам, работаем." in page
    # in that order: demo's reply, the transfer, north's reply
    assert page.index("Спасибо, проверяем.") < page.index('class="transfer"') \
        < page.index("Ваше сообщение передано нам")
    english = check_on_web(server, receipt, "en")
    assert "forwarded to the police unit responsible for it" in english
    assert "Ваше сообщение передано подразделению полиции" in page
    status, _, body = server.request("POST", "/api/v1/check", json.dumps({"receipt": receipt}),
                                     {"Content-Type": "application/json"})
    answer = json.loads(body)
    assert status == 200 and answer["status"] == "in-review"
    assert [t["after_reply"] for t in answer["transfers"]] == [1]
    assert "north" not in body.decode() and "demo" not in body.decode()
    kazakh = check_on_web(server, receipt, "kk")
    assert "Басқа бөлімшеге берілді" in kazakh
    assert "Хабарламаңыз оған жауапты полиция бөлімшесіне жолданды" in kazakh


def _cli_check(server, receipt, run_cli, *pinned):
    """What the reference client's ``tipdrop check`` prints for ``receipt``."""
    options = [arg for key in pinned for arg in ("--unit-key", key)]
    checked = run_cli("check", "--server", f"http://127.0.0.1:{server.port}", *options,
                      input=receipt + "\n")
    assert checked.returncode == 0, checked.stderr
    return checked.stdout


STATUS_PAGE = {
    "en": ("Transferred", "Your report was forwarded to the police unit responsible for it."),
    "ru": ("Передано в другое подразделение", "Ваше сообщение передано подразделению полиции"),
    "kk": ("Басқа бөлімшеге берілді", "Хабарламаңыз оған жауапты полиция бөлімшесіне жолданды"),
}


def _assert_reporter_sees_forward_before_an_answer(server, receipt, run_cli):
    """Forwarded, not yet answered by the new unit: every reader is told it was passed on."""
    for lang, (label, explained) in STATUS_PAGE.items():
        page = check_on_web(server, receipt, lang)
        assert 'data-status="transferred"' in page and label in page, lang
        assert explained in page, lang
        [item] = re.findall(r'<li class="transfer".*?</li>', page, re.S)
        assert "north" not in item and "demo" not in item, lang
    printed = _cli_check(server, receipt, run_cli)
    assert printed.startswith("status: transferred"), printed
    assert "forwarded to the police unit responsible for it" in printed.splitlines()[1]
    assert printed.splitlines()[-1].startswith("forwarded (")


def test_a_tip_forwarded_by_outbox_file_is_read_and_answered_by_the_other_unit(
        two_units, run_cli, tmp_path):
    server, demo, north, north_pub, fingerprint = two_units
    receipt, tip_id = _demo_holds_tip(server, demo, run_cli, tmp_path)

    # When demo's officer forwards the tip to north, pinning north's key by fingerprint
    forwarded = _forward(run_cli, demo, tip_id, north_pub, fingerprint)
    assert forwarded.returncode == 0, forwarded.stderr
    assert "1 follow-ups and 1 attachments" in forwarded.stdout

    # Then demo's copy is transferred and takes no more replies
    [tip] = json.loads(run_cli("officer", "list", "--json", env=demo, check=True).stdout)
    assert tip["status"] == "transferred"
    late = run_cli("officer", "reply", tip_id[:8], "--message", "ещё", env=demo)
    assert_clean_error(late, "forwarded to another unit", "north")

    # When the outbox file (the reply and the forward) is imported on the server
    run_cli("officer", "outbox", "--out", tmp_path / "out.json", env=demo, check=True)
    imported = run_cli("import-replies", tmp_path / "out.json", env=server.env())
    assert imported.returncode == 0, imported.stderr
    assert "1 tips forwarded to another unit" in imported.stdout
    # and again: a replay changes nothing
    again = run_cli("import-replies", tmp_path / "out.json", env=server.env(), check=True)
    assert "1 replies already held, 0 new" in again.stdout
    assert "0 tips forwarded to another unit, 1 forwards already held" in again.stdout

    # Then, before north answers, the reporter is told the report was passed on
    _assert_reporter_sees_forward_before_an_answer(server, receipt, run_cli)

    # Then north's next export carries the whole tip, and demo's carries nothing
    exported = run_cli("export", "--unit", "north", "--out", tmp_path / "north1.tdx",
                       env=server.env(), check=True)
    assert "1 tips" in exported.stdout and "1 attachments" in exported.stdout
    demo_export = run_cli("export", "--unit", "demo", "--out", tmp_path / "demo2.tdx",
                          env=server.env(), check=True)
    assert "0 tips" in demo_export.stdout
    run_cli("officer", "open", tmp_path / "north1.tdx", env=north, check=True)
    _north_reads_and_answers(server, north, run_cli, tmp_path, tip_id, "export file")
    run_cli("officer", "outbox", "--out", tmp_path / "north-out.json", env=north, check=True)
    run_cli("import-replies", tmp_path / "north-out.json", env=server.env(), check=True)

    # Then the reporter's receipt shows the transfer and north's reply
    _assert_reporter_sees_transfer(server, receipt)
    # And so does the reference client, in the same order, naming no unit but the signer's
    lines = _cli_check(server, receipt, run_cli, server.keys_dir / "demo.pub",
                       north_pub).splitlines()
    forwarded = [n for n, line in enumerate(lines) if line.startswith("forwarded")]
    replies = [n for n, line in enumerate(lines) if line.startswith("reply ")]
    assert len(forwarded) == 1 and len(replies) == 2
    assert replies[0] < forwarded[0] < replies[1]
    assert "to the police unit responsible for it" in lines[forwarded[0]]
    assert "demo" not in lines[forwarded[0]] and "north" not in lines[forwarded[0]]
    assert "Ваше сообщение передано нам, работаем." in lines[replies[1] + 1]

    # When the reporter writes again, the message is sealed to north, not demo
    _follow_up(server, receipt, "Ещё одна деталь: это было в среду.")
    run_cli("export", "--unit", "north", "--out", tmp_path / "north2.tdx", env=server.env(),
            check=True)
    opened = run_cli("officer", "open", tmp_path / "north2.tdx", env=north, check=True)
    assert "1 follow-ups" in opened.stdout
    shown = run_cli("officer", "show", tip_id[:8], env=north, check=True)
    assert "Ещё одна деталь: это было в среду." in shown.stdout

    # And a reply demo's key signs after the forward is refused by the server
    late_bundle = _signed_by_demo(server, tip_id, seq=3)
    (tmp_path / "late.json").write_bytes(late_bundle)
    refused = run_cli("import-replies", tmp_path / "late.json", env=server.env())
    assert_clean_error(refused, "forwarded to another unit")

    # And the forward is in demo's audit log, with no content
    audit = run_cli("officer", "audit", "--tip", tip_id, env=demo, check=True)
    assert "forward" in audit.stdout
    assert "Инспектор" not in audit.stdout


def _signed_by_demo(server, tip_id, seq, status="closed"):
    """A reply bundle demo's real key signs (as a second demo workstation would)."""
    key = server.unit_key
    reply = bundles.sign_reply(key.ed25519, "demo", key.public.key_id, tip_id=tip_id, seq=seq,
                               day="2026-01-02", status=status, body=b"")
    return bundles.make_reply_bundle(key.ed25519, "demo", key.public.key_id, "2026-01-02",
                                     [reply])


def test_a_tip_forwarded_by_push_is_pulled_by_the_other_unit(two_units, run_cli, tmp_path):
    server, demo, north, north_pub, fingerprint = two_units
    url = f"http://127.0.0.1:{server.port}"
    receipt, tip_id = _demo_holds_tip(server, demo, run_cli, tmp_path)

    # When demo forwards online
    _forward(run_cli, demo, tip_id, north_pub, fingerprint.replace(" ", "").lower())
    pushed = run_cli("officer", "push", "--server", url, env=demo)
    assert pushed.returncode == 0, pushed.stderr
    assert "1 forwarded tips handed to the server" in pushed.stdout

    # Then north pulls it, reads it whole and answers online
    pulled = run_cli("officer", "pull", "--server", url, env=north)
    assert pulled.returncode == 0, pulled.stderr
    assert "pulled: 1 new tips, 1 follow-ups, 1 attachments" in pulled.stdout
    _north_reads_and_answers(server, north, run_cli, tmp_path, tip_id, "pull")
    run_cli("officer", "push", "--server", url, env=north, check=True)
    _assert_reporter_sees_transfer(server, receipt)

    # And demo's key can no longer reply online either
    late = _signed_by_demo(server, tip_id, seq=3)
    with pytest.raises(ServerRefusedError, match="forwarded to another unit"):
        OfficerClient(url, server.unit_key).send_replies(late)


def _outbox_doc(run_cli, demo, tmp_path):
    run_cli("officer", "outbox", "--out", tmp_path / "out.json", env=demo, check=True)
    return json.loads((tmp_path / "out.json").read_text())


def _changed(doc, change):
    """A copy of the outbox ``doc`` whose forward was changed on its way to the server."""
    doc = json.loads(json.dumps(doc))
    forward = doc["forwards"][0]
    if change == "altered report":
        report = bytearray(base64.b64decode(forward["report"]))
        report[-1] ^= 1
        forward["report"] = base64.b64encode(bytes(report)).decode()
    elif change == "other target":
        forward["to_unit"] = "demo2"
    elif change == "dropped forward":
        del doc["forwards"]
        doc["replies"] = []  # and the reply: a bundle of nothing but a changed signature
    else:  # someone with a key of their own, calling itself demo, signs it all again
        thief = keys.generate("demo")
        resigned = forwards.sign_forward(thief.ed25519, "demo", thief.key_id,
                                         forwards.from_json(forward))
        doc = json.loads(bundles.make_reply_bundle(thief.ed25519, "demo", thief.key_id,
                                                   doc["created_day"], [], [resigned]))
    return doc


def test_forged_and_altered_forwards_are_refused_whole(two_units, run_cli, tmp_path):
    server, demo, _, north_pub, fingerprint = two_units
    receipt, tip_id = _demo_holds_tip(server, demo, run_cli, tmp_path)
    _forward(run_cli, demo, tip_id, north_pub, fingerprint)
    doc = _outbox_doc(run_cli, demo, tmp_path)

    # (one server and forward for every change: each refused bundle is checked to
    # have changed nothing before the next is tried)
    for n, change in enumerate(["altered report", "other target", "dropped forward",
                                "forged by another key"]):
        # When the forward is changed on its way to the server
        (tmp_path / f"bad{n}.json").write_text(json.dumps(_changed(doc, change)))
        result = run_cli("import-replies", tmp_path / f"bad{n}.json", env=server.env())

        # Then nothing of the bundle is imported
        assert_clean_error(result)
        assert "signature" in result.stderr or "not installed" in result.stderr, change
        page = check_on_web(server, receipt)
        assert 'data-status="received"' in page and 'class="transfer"' not in page, change
        north = run_cli("export", "--unit", "north", "--out", tmp_path / f"n{n}.tdx",
                        env=server.env(), check=True)
        assert "0 tips" in north.stdout, change


def test_a_forward_to_a_unit_with_no_key_fails_cleanly_and_can_be_withdrawn(
        two_units, run_cli, tmp_path):
    server, demo, _, north_pub, fingerprint = two_units
    receipt, tip_id = _demo_holds_tip(server, demo, run_cli, tmp_path)

    # A key file whose fingerprint is not the one given is refused before anything is sealed
    wrong = run_cli("officer", "forward", tip_id[:8], "--to", "north", "--unit-key", north_pub,
                    "--fingerprint", "0000 1111", env=demo)
    assert_clean_error(wrong, "fingerprint")
    assert json.loads(run_cli("officer", "list", "--json", env=demo).stdout)[0]["status"] \
        == "in-review"

    # When demo forwards to a unit the server has no key for
    ghost = keys.generate("ghost")
    (tmp_path / "ghost.pub").write_bytes(ghost.public.to_json())
    made = _forward(run_cli, demo, tip_id, tmp_path / "ghost.pub",
                    keys.format_fingerprint(ghost.public.fingerprint), to="ghost")
    assert made.returncode == 0, made.stderr
    run_cli("officer", "outbox", "--out", tmp_path / "out.json", env=demo, check=True)
    result = run_cli("import-replies", tmp_path / "out.json", env=server.env())

    # Then the server refuses the whole bundle in one line, the reply with it
    assert_clean_error(result, "no installed key", "ghost")
    page = check_on_web(server, receipt)
    assert 'data-status="received"' in page and "Спасибо, проверяем." not in page

    # And once demo withdraws the forward, its reply goes through and it can reply again
    withdrawn = run_cli("officer", "forward", tip_id[:8], "--cancel", env=demo)
    assert withdrawn.returncode == 0, withdrawn.stderr
    run_cli("officer", "outbox", "--resend", "--out", tmp_path / "again.json", env=demo,
            check=True)
    run_cli("import-replies", tmp_path / "again.json", env=server.env(), check=True)
    assert "Спасибо, проверяем." in check_on_web(server, receipt)
    run_cli("officer", "reply", tip_id[:8], "--status", "closed", env=demo, check=True)


WEBHOOK_SECRET = "0123456789abcdef0123456789abcdef-forward-alerts"


@pytest.fixture
def alerted_north(tmp_path):
    """Units demo and north (north with a duty webhook, corruption urgent, and no region of
    its own: it only receives what others forward), a webhook receiver, and the environment
    of demo's officer."""
    hook = Receiver("webhook", free_port(), tmp_path / "hook").start()
    north = keys.generate("north")
    north_pub = tmp_path / "north.pub"
    north_pub.write_bytes(north.public.to_json())
    secret = tmp_path / "secrets" / "north.webhook"
    secret.parent.mkdir()
    secret.write_text(WEBHOOK_SECRET + "\n")
    secret.chmod(0o600)
    alerts = {"version": 1, "interval": 1, "jitter": 0, "units": {"north": {
        "webhook": {"url": f"http://127.0.0.1:{hook.port}/alert", "secret_file": str(secret)},
        "urgent": ["corruption"]}}}
    server = start_server(tmp_path, keys_files={
        "north.pub": north_pub.read_text(), "alerts.json": json.dumps(alerts)})
    demo = {"TIPDROP_PASSPHRASE": OFFICER_PASS, "TIPDROP_WORKDIR": str(tmp_path / "cases-demo"),
            "TIPDROP_KEY": str(server.key_file)}
    yield server, demo, hook, north_pub, keys.format_fingerprint(north.public.fingerprint)
    server.stop()
    hook.stop()


def _alerts_received(hook, count):
    calls = hook.wait_for(count, timeout=30)
    return [alert_format.verify_webhook(
        WEBHOOK_SECRET.encode(), call["headers"]["X-Tipdrop-Timestamp"],
        call["headers"]["X-Tipdrop-Signature"], bytes.fromhex(call["body"]),
        now=int(time.time()))[0] for call in calls]


@pytest.mark.parametrize("via", ["import-replies", "push"])
def test_a_forwarded_tip_brings_the_receiving_unit_a_duty_alert(
        alerted_north, run_cli, tmp_path, via):
    server, demo, hook, north_pub, fingerprint = alerted_north
    _, tip_id = _demo_holds_tip(server, demo, run_cli, tmp_path)
    # (the report itself went to demo, which has no alerts: north was told nothing)
    time.sleep(2)
    assert hook.received() == []

    # When demo forwards it to north and the forward reaches the server
    assert _forward(run_cli, demo, tip_id, north_pub, fingerprint).returncode == 0
    if via == "push":
        run_cli("officer", "push", "--server", f"http://127.0.0.1:{server.port}", env=demo,
                check=True)
    else:
        run_cli("officer", "outbox", "--out", tmp_path / "out.json", env=demo, check=True)
        run_cli("import-replies", tmp_path / "out.json", env=server.env(), check=True)

    # Then north's duty officer is alerted of one new report, urgent by its category
    assert _alerts_received(hook, 1) == [alert_format.Alert("north", 1, 1)]


def test_a_tip_forwarded_away_and_back_is_this_units_again_not_a_changed_copy(
        two_units, run_cli, tmp_path):
    """demo forwards to north, north forwards back: demo's copy comes sealed again, no alarm."""
    server, demo, north, north_pub, fingerprint = two_units
    receipt, tip_id = _demo_holds_tip(server, demo, run_cli, tmp_path)
    _forward(run_cli, demo, tip_id, north_pub, fingerprint)
    run_cli("officer", "outbox", "--out", tmp_path / "out.json", env=demo, check=True)
    run_cli("import-replies", tmp_path / "out.json", env=server.env(), check=True)
    run_cli("export", "--unit", "north", "--out", tmp_path / "north1.tdx", env=server.env(),
            check=True)
    run_cli("officer", "open", tmp_path / "north1.tdx", env=north, check=True)
    _north_reads_and_answers(server, north, run_cli, tmp_path, tip_id, "export file")
    # The reporter writes while north has it: sealed to north's key
    _follow_up(server, receipt, "Ещё одна деталь: это было в среду.")
    run_cli("export", "--unit", "north", "--out", tmp_path / "north2.tdx", env=server.env(),
            check=True)
    run_cli("officer", "open", tmp_path / "north2.tdx", env=north, check=True)

    # When north forwards it back to demo (pinning demo's key) with its reply
    demo_fingerprint = keys.format_fingerprint(server.unit_key.public.fingerprint)
    back = _forward(run_cli, north, tip_id, server.keys_dir / "demo.pub", demo_fingerprint,
                    to="demo")
    assert back.returncode == 0, back.stderr
    run_cli("officer", "outbox", "--out", tmp_path / "north-out.json", env=north, check=True)
    run_cli("import-replies", tmp_path / "north-out.json", env=server.env(), check=True)
    # and demo opens its next export, which carries the tip sealed again by north
    run_cli("export", "--unit", "demo", "--out", tmp_path / "demo2.tdx", env=server.env(),
            check=True)
    opened = run_cli("officer", "open", tmp_path / "demo2.tdx", env=demo)

    # Then demo is told the tip came back, not warned of a changed copy
    assert opened.returncode == 0, opened.stderr
    assert "WARNING" not in opened.stdout, opened.stdout
    assert f"1 tips forwarded from here came back (tips {tip_id[:12]} sent to north)" \
        in opened.stdout
    assert "opened: 0 new tips, 1 follow-ups" in opened.stdout  # the one north received
    shown = run_cli("officer", "show", tip_id[:8], env=demo, check=True).stdout
    assert "Инспектор требует взятку за справку." in shown
    assert "Ещё одна деталь: это было в среду." in shown
    assert "forwarded back to this unit" in shown and "another sealed copy" not in shown
    audit = run_cli("officer", "audit", "--tip", tip_id, env=demo, check=True).stdout
    assert "forward-returned" in audit and "held-differs" not in audit

    # And demo answers it again, numbered after north's reply, and the server takes it
    [tip] = json.loads(run_cli("officer", "list", "--json", env=demo, check=True).stdout)
    assert tip["status"] == "transferred"
    run_cli("officer", "reply", tip_id[:8], "--status", "confirmed", "--message",
            "Вернулось к нам, проверяем дальше.", env=demo, check=True)
    run_cli("officer", "outbox", "--out", tmp_path / "out2.json", env=demo, check=True)
    taken = run_cli("import-replies", tmp_path / "out2.json", env=server.env())
    assert taken.returncode == 0, taken.stderr
    assert "Вернулось к нам, проверяем дальше." in check_on_web(server, receipt)

    # And a re-export from the start, carrying the returned copy again, is no alarm either
    run_cli("export", "--unit", "demo", "--since-start", "--out", tmp_path / "demo3.tdx",
            env=server.env(), check=True)
    again = run_cli("officer", "open", tmp_path / "demo3.tdx", env=demo, check=True)
    assert "WARNING" not in again.stdout and "came back" not in again.stdout, again.stdout
