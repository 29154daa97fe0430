"""LogGuard (tipdrop/server/logs.py): any logger, any message: safe text, a bounded count per request."""

import io
import logging

import gunicorn.http.errors  # noqa: F401 (gunicorn's exceptions, as a worker has)
import pytest

from tipdrop.protocol import receipts
from tipdrop.server import logs, uploads  # noqa: F401 (their exceptions, as a worker has)


@pytest.fixture
def guarded():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(logs.LogGuard())
    logger = logging.getLogger("tipdrop.test-logs")
    logger.addHandler(handler)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)
    logs.end_request()


def test_a_request_writes_at_most_its_budget_whatever_logs_it(guarded):
    logger, stream = guarded
    logs.start_request()
    for n in range(10_000):
        logging.getLogger("tipdrop.test-logs").warning("tag %d had too many entries", n)
    lines = stream.getvalue().splitlines()
    assert len(lines) == logs.PER_REQUEST + 1
    assert "dropped" in lines[-1]
    # And the next request has its own budget
    logs.end_request()
    logs.start_request()
    logger.warning("next request")
    assert stream.getvalue().splitlines()[-1] == "next request"


def test_a_message_repeated_within_a_request_is_written_once(guarded):
    logger, stream = guarded
    logs.start_request()
    for _ in range(50):
        logger.warning("Possibly corrupt EXIF data")
    assert stream.getvalue().splitlines() == ["Possibly corrupt EXIF data"]


def test_addresses_receipts_and_tracebacks_never_reach_the_output(guarded):
    logger, stream = guarded
    try:
        raise ValueError("secret value 10.1.2.3")
    except ValueError:
        logger.exception("failed for 192.168.7.77 and fe80::1ff:fe23:4567:890a, code %s",
                         "7KQ2-M9XD-4TZB-8HNC-1RPA-6VWE")
    logger.warning("Invalid request from ip=127.0.0.77: Invalid header 'User-Agent: Canary'")
    logger.warning("line\nbreak")
    out = stream.getvalue()
    for needle in ("192.168", "fe80", "7KQ2", "Traceback", "secret value", "Canary", "127.0.0.77"):
        assert needle not in out
    assert out.splitlines() == [
        "failed for [address] and [address], code [masked] (ValueError)",
        "refused an invalid request", "line\\x0abreak"]


def test_a_python_warning_is_written_as_its_category_and_message(guarded):
    logger, stream = guarded
    record = logging.LogRecord(
        "py.warnings", logging.WARNING, __file__, 1,
        "/venv/lib/python3.11/site-packages/PIL/TiffImagePlugin.py:950: UserWarning: "
        "Metadata Warning, tag 4096 had too many entries\n  warnings.warn(msg)\n", (), None)
    logger.handle(record)
    assert stream.getvalue() == "UserWarning: Metadata Warning, tag 4096 had too many entries\n"


def test_over_budget_a_request_remembers_nothing_more(guarded):
    logger, _ = guarded
    logs.start_request()
    for n in range(5_000):
        logger.warning("distinct message %d", n)
    assert len(logs._request.seen) == logs.PER_REQUEST + 1


def test_uncaught_exceptions_in_threads_are_logged_by_class_only(tmp_path):
    import subprocess
    import sys

    script = (
        "import logging, threading\n"
        "from tipdrop.server import logs\n"
        "logs.guard_process_logging([logging.StreamHandler()])\n"
        "def boom():\n"
        "    raise ValueError('from 203.0.113.9 with CanaryAgent')\n"
        "t = threading.Thread(target=boom); t.start(); t.join()\n"
        "raise KeyError('CanaryAgent again')\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert "CanaryAgent" not in result.stderr and "203.0.113.9" not in result.stderr
    assert "Traceback" not in result.stderr
    assert "(ValueError)" in result.stderr and "(KeyError)" in result.stderr


@pytest.mark.parametrize("name", ["InvalidRequestMethod", "UnsupportedTransferCoding",
                                  "ChunkMissingTerminator", "UploadKeyReusedError"])
def test_the_servers_own_exception_names_are_written_not_masked(guarded, name):
    # (A serving worker has imported them all: gunicorn's, tipdrop's.)
    logger, stream = guarded
    logger.warning("Invalid request refused with %d: %s", 400, name)
    assert stream.getvalue().splitlines() == [f"Invalid request refused with 400: {name}"]


def test_anything_that_could_be_a_receipt_is_still_masked_beside_the_servers_words(guarded):
    logger, stream = guarded
    receipt = receipts.generate().formatted
    bare = receipt.replace("-", "")
    typo = bare[:-1] + ("0" if bare[-1] != "0" else "1")
    # A name that reads as a valid receipt is masked, even if the code defines such a class
    receipt_named = type(bare, (Exception,), {})
    typed = [receipt, receipt.lower(), bare, bare.lower(), receipt.replace("-", "."),
             receipt.replace("-", "/"), typo, "QQ" + bare[2:],
             "InvalidRequestMethod" + bare, bare + "InvalidRequestMethod",
             "x.InvalidRequestMethod", "InvalidRequestMethoD", "invalidrequestmethod",
             receipt_named.__name__]
    for text in typed:
        logger.warning("refused with 400: %s", text)
    assert stream.getvalue().splitlines() == ["refused with 400: [masked]"] * len(typed)
