"""Every nginx example the repository ships is one nginx accepts and the doctor passes.

The examples: every file in docs/ and deploy/ with a ``proxy_pass`` (today
docs/nginx-tipdrop.conf and deploy/nginx/tipdrop.conf), and every fenced
block of docs/*.md that has one. Each is run through the real ``nginx -t``
in a private prefix (addresses, certificate and folders replaced, nothing
else), and through ``tipdrop doctor``'s checks of the original file: no
buffering, no client address logged, and nginx's own refusals answered
with tipdrop's pages in the reporter's language (the error_page lines, the
internal location that sends outsiders on to tipdrop, the pages written).
So a directive added to one example and forgotten in another fails here.
"""

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.e2e.test_nginx import NGINX, _self_signed, needs_nginx, nginx_installed  # noqa: F401
from tipdrop.server import doctor, nginxpages

pytestmark = [pytest.mark.e2e]

ROOT = Path(__file__).resolve().parents[2]
_FENCED = re.compile(r"^```[^\n]*\n(.*?)^```", re.M | re.S)


def examples():
    """(name, text) of every nginx configuration example in docs/ and deploy/."""
    found = []
    for folder in ("docs", "deploy"):
        for path in sorted((ROOT / folder).rglob("*")):
            if not path.is_file():
                continue
            text = path.read_text("utf-8", errors="replace")
            name = str(path.relative_to(ROOT))
            if path.suffix == ".md":
                found += [(f"{name} block {n}", block) for n, block in
                          enumerate(_FENCED.findall(text)) if "proxy_pass" in block]
            elif "proxy_pass" in text:
                found.append((name, text))
    return found


EXAMPLES = examples()


def test_both_shipped_examples_are_among_those_checked():
    assert {"docs/nginx-tipdrop.conf", "deploy/nginx/tipdrop.conf"} <= {n for n, _ in EXAMPLES}


def _render(text, prefix):
    """``text`` with its addresses, certificate and folders moved into ``prefix``."""
    cert, key = _self_signed(prefix)
    text = re.sub(r"^\s*listen \[::\].*$", "", text, flags=re.M)
    text = re.sub(r"listen [^;]+;", "listen 127.0.0.1:18443;", text)
    text = re.sub(r"ssl_certificate\s+\S+;", f"ssl_certificate {cert};", text)
    text = re.sub(r"ssl_certificate_key\s+\S+;", f"ssl_certificate_key {key};", text)
    for old in ("/run/nginx-tipdrop-proxy", "/run/nginx-tipdrop"):
        text = text.replace(old, str(prefix / old.rsplit("/", 1)[1]))
    return text.replace(nginxpages.FOLDER, str(prefix / "refusals"))


@needs_nginx
@pytest.mark.parametrize("name, text", EXAMPLES, ids=[n for n, _ in EXAMPLES])
def test_nginx_accepts_the_example_and_the_doctor_passes_it(tmp_path, name, text):
    # The original, as an operator copies it: nothing buffered, nothing logged
    original = tmp_path / "original.conf"
    original.write_text(text)
    assert doctor.check_nginx_config(original) == []
    # ... and nginx's own refusals sent to tipdrop's pages; only the pages are not
    # written yet (their folder moved to one that is sure not to exist), and the
    # doctor says how to write them
    assert nginxpages.FOLDER in text
    unwritten = tmp_path / "unwritten.conf"
    unwritten.write_text(text.replace(nginxpages.FOLDER, str(tmp_path / "none")))
    assert [f.fix for f in doctor.check_nginx_refusals(unwritten)] == [
        f"write them: tipdrop nginx-pages --out {tmp_path / 'none'}"]

    # Rendered into a private prefix, with the pages written: nginx accepts it
    prefix = tmp_path / "nginx"
    prefix.mkdir()
    (prefix / "tipdrop.conf").write_text(_render(text, prefix))
    nginxpages.write_pages(prefix / "refusals")
    user = "user root;\n" if os.geteuid() == 0 else ""
    (prefix / "nginx.conf").write_text(
        f"{user}pid {prefix / 'nginx.pid'};\nerror_log {prefix / 'error.log'};\n"
        f"events {{ }}\nhttp {{\n    include {prefix / 'tipdrop.conf'};\n}}\n")
    result = subprocess.run([NGINX, "-t", "-p", str(prefix), "-e", str(prefix / "error.log"),
                             "-c", str(prefix / "nginx.conf")],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr
    # ... and the doctor finds nothing missing
    assert doctor.check_nginx_refusals(prefix / "tipdrop.conf") == []
