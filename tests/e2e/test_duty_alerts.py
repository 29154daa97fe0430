"""Duty alerts through a real server, a real SMTP server and a real webhook receiver.

``tipdrop serve`` (gunicorn) runs with a keys/alerts.json; aiosmtpd and an
http.server receive in processes of their own (tests/alert_receivers.py).
An urgent report brings one e-mail and one signed webhook call that say
"unit demo: 1 new, 1 urgent" and nothing else; fifty reports in a burst
bring one message; a mail server that is down costs the submission nothing,
leaves a retry line in the log (without content), and gets the alert once it
is back; a wrong alerts.json stops the server at start with one line, and
``tipdrop doctor`` says what is wrong.
"""

import datetime
import email
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.alert_receivers import Receiver
from tests.e2e.conftest import assert_clean_error
from tests.serving import free_port, start_server
from tipdrop.errors import SignatureError
from tipdrop.protocol import alerts as alert_format

pytestmark = pytest.mark.e2e

JSON = {"Content-Type": "application/json"}
CANARY = "Canary-Report-Text-7f3a: a child is locked in the flat on Abai street"
WEBHOOK_SECRET = "0123456789abcdef0123456789abcdef-test-secret"
SMTP_PASSWORD = "smtp-test-password-9c1e"


def _secret_file(folder, name, text):
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text(text + "\n")
    path.chmod(0o600)
    return path


def _certificate(folder):
    """A self-signed certificate for localhost: the SMTP server's, and the sender's ca_file."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "smtp.crt", folder / "smtp.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def _alerts_json(smtp, unit, interval, jitter):
    return json.dumps({"version": 1, "interval": interval, "jitter": jitter, "smtp": smtp,
                       "units": {"demo": unit}})


def _submit(server, category="child-in-danger", text=CANARY):
    doc = {"region": "astana", "category": category, "description": text}
    status, _, body = server.request("POST", "/api/v1/tips", json.dumps(doc).encode(), JSON)
    assert status == 201, body[:300]
    return json.loads(body)["receipt"]


def _tip_ids(server):
    with closing(sqlite3.connect(server.data_dir / "tipdrop.db")) as db:
        return [row[0] for row in db.execute("SELECT id FROM tips")]


def _pending(server):
    with closing(sqlite3.connect(server.data_dir / "tipdrop.db")) as db:
        return db.execute("SELECT unit, target, new, urgent FROM alerts_pending").fetchall()


def _nothing_pending(server, timeout=10):
    """The sender takes away what it sent just after the receiver has it: wait for that."""
    deadline = time.monotonic() + timeout
    while _pending(server) and time.monotonic() < deadline:
        time.sleep(0.1)
    return _pending(server) == []


def _mail_text(received):
    message = email.message_from_string(received["content"])
    return message, message.get_payload(decode=True).decode("utf-8")


def _sender_pids(master):
    """Process ids of the alert senders among ``master``'s children."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (stat.parent / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue
        if ppid == master and b"tipdrop.server.alerts" in cmdline:
            found.append(int(stat.parent.name))
    return found


def _worker_pids(master):
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (stat.parent / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue
        if ppid == master and b"tipdrop.server.alerts" not in cmdline:
            found.append(int(stat.parent.name))
    return found


def _forbidden_in_alert(server, receipts):
    """What no alert may carry: the report's words, tip ids, receipts, the category."""
    words = [CANARY, "Canary-Report-Text", "Abai", "child-in-danger", "locked"]
    ids = _tip_ids(server)
    codes = [r for r in receipts] + [r.replace("-", "") for r in receipts]
    return words + ids + codes


@pytest.fixture
def mail(tmp_path):
    cert, key = _certificate(tmp_path)
    receiver = Receiver("smtp", free_port(), tmp_path / "mail", "--cert", str(cert), "--key",
                        str(key), "--user", "duty-sender", "--password", SMTP_PASSWORD)
    receiver.cert = cert
    yield receiver.start()
    receiver.stop()


@pytest.fixture
def hook(tmp_path):
    receiver = Receiver("webhook", free_port(), tmp_path / "hook")
    yield receiver.start()
    receiver.stop()


def _smtp_config(tmp_path, mail, security="starttls"):
    if security == "none":
        return {"host": "127.0.0.1", "port": mail.port, "security": "none",
                "from": "tipdrop@police.example.kz"}
    return {"host": "localhost", "port": mail.port, "security": "starttls",
            "ca_file": str(mail.cert), "username": "duty-sender",
            "password_file": str(_secret_file(tmp_path / "secrets", "smtp", SMTP_PASSWORD)),
            "from": "tipdrop@police.example.kz"}


def test_an_urgent_report_brings_one_content_free_email_and_signed_webhook_within_the_interval(
        tmp_path, mail, hook):
    # Given a server whose unit demo is alerted by e-mail (STARTTLS, login) and webhook
    secret_file = _secret_file(tmp_path / "secrets", "demo.webhook", WEBHOOK_SECRET)
    unit = {"email": ["duty@police.example.kz", "chief@police.example.kz"],
            "webhook": {"url": f"http://127.0.0.1:{hook.port}/tipdrop/alert",
                        "secret_file": str(secret_file)}}
    interval, jitter = 3, 1
    server = start_server(tmp_path, keys_files={
        "alerts.json": _alerts_json(_smtp_config(tmp_path, mail), unit, interval, jitter)})
    try:
        master = server.process.pid
        senders = _sender_pids(master)
        assert len(senders) == 1
        # And a worker that dies and is replaced (the sender is not a worker's)
        os.kill(_worker_pids(master)[0], signal.SIGKILL)

        # When one urgent report arrives
        receipt = _submit(server)
        arrived = time.monotonic()

        # Then one e-mail and one webhook call come within the interval (and its jitter)
        mails = mail.wait_for(1, timeout=interval + jitter + 15)
        calls = hook.wait_for(1, timeout=5)
        assert len(mails) == 1 and len(calls) == 1
        assert time.monotonic() - arrived < interval + jitter + 15
        message, text = _mail_text(mails[0])
        assert mails[0]["tls"] and mails[0]["login"] == "duty-sender"
        assert mails[0]["mail_from"] == "tipdrop@police.example.kz"
        assert sorted(mails[0]["rcpt_tos"]) == ["chief@police.example.kz",
                                                "duty@police.example.kz"]
        assert text.startswith("unit demo: 1 new, 1 urgent\n")
        assert message["Subject"] == "tipdrop: new reports for unit demo"
        call = calls[0]
        assert call["path"] == "/tipdrop/alert"
        body = bytes.fromhex(call["body"])
        headers = {k.lower(): v for k, v in call["headers"].items()}
        alert, nonce = alert_format.verify_webhook(
            WEBHOOK_SECRET.encode(), headers["x-tipdrop-timestamp"],
            headers["x-tipdrop-signature"], body, now=int(time.time()))
        assert alert == alert_format.Alert("demo", 1, 1) and len(nonce) == 32
        # And a body changed by one byte fails the documented check
        tampered = body.replace(b'"new":1', b'"new":2')
        with pytest.raises(SignatureError):
            alert_format.verify_webhook(WEBHOOK_SECRET.encode(), headers["x-tipdrop-timestamp"],
                                        headers["x-tipdrop-signature"], tampered,
                                        now=int(time.time()))
        # And nothing in either says more than the counts
        everything = mails[0]["content"] + text + json.dumps(call)
        for forbidden in _forbidden_in_alert(server, [receipt]):
            assert forbidden not in everything, forbidden
        # And the sender that sent it is the one that started with the server
        assert _sender_pids(master) == senders
        # And nothing is left to send, so nothing more comes
        assert _nothing_pending(server)
        time.sleep(interval + jitter + 1)
        assert len(mail.received()) == 1 and len(hook.received()) == 1
    finally:
        server.stop()
    # And the sender stopped with the server
    assert not _sender_pids(master)


def test_fifty_reports_in_a_burst_bring_one_message_that_counts_them_all(tmp_path, mail):
    # Given an interval far longer than the burst (its first turn starts with the server)
    server = start_server(tmp_path, extra_env={"TIPDROP_SUBMITS_PER_HOUR": "1000"},
                          keys_files={"alerts.json": _alerts_json(
                              _smtp_config(tmp_path, mail),
                              {"email": ["duty@police.example.kz"]}, 25, 1)})
    try:
        # When 50 reports arrive at once, 10 of them urgent
        with ThreadPoolExecutor(4) as pool:
            receipts = list(pool.map(
                lambda n: _submit(server, "child-in-danger" if n % 5 == 0 else "theft",
                                  f"{CANARY} #{n}"), range(50)))
        # Then one e-mail counts them all, and nothing is left to send
        mails = mail.wait_for(1, timeout=60)
        assert len(mails) == 1
        message, text = _mail_text(mails[0])
        assert text.startswith("unit demo: 50 new, 10 urgent\n")
        assert _nothing_pending(server)
        for forbidden in _forbidden_in_alert(server, receipts):
            assert forbidden not in mails[0]["content"] + text, forbidden
        assert len(mail.received()) == 1
    finally:
        server.stop()


def test_a_mail_server_that_is_down_leaves_a_logged_retry_and_gets_the_alert_once_back(
        tmp_path):
    # Given the unit's mail server is down (nothing listens on its port)
    mail = Receiver("smtp", free_port(), tmp_path / "mail")
    server = start_server(tmp_path, keys_files={"alerts.json": _alerts_json(
        _smtp_config(tmp_path, mail, "none"), {"email": ["duty@police.example.kz"]}, 2, 0)})
    try:
        # When a report arrives, it is stored and answered as usual
        receipt = _submit(server)
        # Then the sender logs a retry, without any content
        deadline = time.monotonic() + 30
        while "not delivered" not in server.log_path.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        log = server.log_path.read_text()
        assert "alert for unit demo by email not delivered: connection refused; trying again" \
            in log
        for forbidden in _forbidden_in_alert(server, [receipt]) + ["1 new", "duty@"]:
            assert forbidden not in log, forbidden
        # And another report meanwhile is taken at once too
        second = _submit(server, category="theft")
        assert _pending(server) == [("demo", "email", 2, 1)]

        # When the mail server is back, the alert comes, once, with both reports
        mail.start()
        mails = mail.wait_for(1, timeout=60)
        assert len(mails) == 1
        assert _mail_text(mails[0])[1].startswith("unit demo: 2 new, 1 urgent\n")
        assert _nothing_pending(server)
        for forbidden in _forbidden_in_alert(server, [receipt, second]):
            assert forbidden not in mails[0]["content"], forbidden
        assert "delivered after failed tries" in server.log_path.read_text()
    finally:
        server.stop()
        mail.stop()


def test_a_wrong_alerts_file_stops_the_server_at_start_with_one_line_and_doctor_says_why(
        tmp_path, run_cli):
    # Given an alerts.json whose webhook secret file is missing
    keys_dir = tmp_path / "keys"
    keys_dir.mkdir()
    from tipdrop.crypto import keys

    (keys_dir / "demo.pub").write_bytes(keys.generate("demo").public.to_json())
    (keys_dir / "routing.json").write_text('{"version": 1, "regions": {"astana": "demo"}}')
    (keys_dir / "alerts.json").write_text(json.dumps({"version": 1, "units": {"demo": {
        "webhook": {"url": "https://duty.example.kz/hook",
                    "secret_file": str(tmp_path / "missing.secret")}}}}))
    env = {"TIPDROP_DATA_DIR": str(tmp_path / "instance"), "TIPDROP_KEYS_DIR": str(keys_dir)}
    # When the server starts, it stops at once with one line naming the file
    result = run_cli("serve", "--port", str(free_port()), env=env)
    assert_clean_error(result, "units.demo.webhook.secret_file", "missing.secret",
                       "cannot be read")
    # And the doctor says the same, with what to do
    doctor = run_cli("doctor", env=env)
    assert doctor.returncode == 2
    lines = [line for line in doctor.stdout.splitlines() if line.startswith("problem:")]
    assert len(lines) == 1 and "missing.secret" in lines[0] and "fix:" in lines[0]
    # And a unit with no key and no region is refused the same way
    (keys_dir / "alerts.json").write_text(json.dumps({"version": 1, "units": {"north": {
        "email": ["duty@police.example.kz"]}}}))
    result = run_cli("serve", "--port", str(free_port()), env=env)
    assert_clean_error(result, "units.north", "no key is installed for this unit and "
                       "routing.json sends no region to it")


def test_alerts_added_on_a_running_server_start_with_a_sighup(tmp_path, hook):
    # Given a server with no alerts.json: no sender runs
    server = start_server(tmp_path, workers=1)
    try:
        master = server.process.pid
        assert _sender_pids(master) == []
        # When an operator installs an alerts.json and reloads
        secret = _secret_file(tmp_path / "secrets", "demo.webhook", WEBHOOK_SECRET)
        (server.keys_dir / "alerts.json").write_text(_alerts_json(None, {"webhook": {
            "url": f"http://127.0.0.1:{hook.port}/", "secret_file": str(secret)}}, 2, 0)
            .replace('"smtp": null, ', ""))
        os.kill(master, signal.SIGHUP)
        deadline = time.monotonic() + 30
        while not _sender_pids(master) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(_sender_pids(master)) == 1
        time.sleep(2)  # the new workers count reports for the unit
        _submit(server)
        # Then the next report is alerted
        calls = hook.wait_for(1, timeout=30)
        assert len(calls) == 1
        assert b'"new":1,"urgent":1' in bytes.fromhex(calls[0]["body"])
    finally:
        server.stop()


def test_the_sender_module_runs_as_the_master_starts_it():
    """The command SenderProcess runs imports no web framework (a lean child)."""
    code = ("import sys, tipdrop.server.alerts; "
            "print(any(m == 'flask' or m.startswith('flask.') for m in sys.modules))")
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True)
    assert found.stdout.strip() == "False"
