"""A hostile export cannot bury a report under junk, nor grow the workstation's memory with it.

docs/threat-model.md: a follow-up of a device-sealed tip that does not open
is imported as damaged, and making one needs no cryptography. The bundle
here is a real export (the server's own code) whose tip is relabelled as
sealed on the device and given any number of one-byte follow-ups, as a
hostile server would (tipdrop/officer/bundlecaps.py caps them); the real
`tipdrop officer open` opens it.
"""

import os
import subprocess

import pytest

from tests.e2e.conftest import TIPDROP, assert_clean_error
from tests.protocol.test_bundles import Server, _records
from tipdrop.crypto import kdf, keys
from tipdrop.officer.bundlecaps import MAX_FOLLOWUPS_PER_TIP
from tipdrop.officer.workspace import SHOWN_FOLLOWUPS
from tipdrop.protocol import bundles

pytestmark = pytest.mark.e2e
PASS = "caps pass"
MB = 1024 * 1024


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A real export of one tip, its records, and the unit's key file."""
    root = tmp_path_factory.mktemp("caps")
    demo, astana = keys.generate("demo"), keys.generate("astana-police")
    server = Server(root / "server", demo, astana)
    server.submit("almaty", "Во дворе продают краденые телефоны.")
    server.export("demo", root / "real.tdx")
    server.db.close()
    (root / "demo.key").write_bytes(keys.private_to_file(demo, PASS, kdf.TEST_PARAMS))
    return root, _records((root / "real.tdx").read_bytes())


def _junk(records, out, followups, tips=1):
    """The export's tip, sealed "on the device", ``tips`` times, each with ``followups`` junk ones."""
    header = {k: v for k, v in records[0][1].items()
              if k not in ("export_id", "previous_chain", "chain")}  # an older server's
    tip = records[1][1] | {"encrypted_on": "device"}
    with open(out, "wb") as f:
        writer = bundles.ExportWriter(f)
        writer.record(bundles.HEADER, header)
        for t in range(tips):
            tip_id = tip["id"] if t == 0 else f"{t:032x}"
            writer.record(bundles.TIP, tip | {"id": tip_id})
            for seq in range(1, followups + 1):
                writer.record(bundles.FOLLOWUP, {
                    "tip_id": tip_id, "seq": seq, "received_day": tip["received_day"],
                    "encrypted_on": "device", "body": "AA=="})
        writer.finish()
    return out


def _open(root, bundle, workdir, **env):
    """`tipdrop officer open` to its end: (CompletedProcess, peak RSS in bytes)."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("TIPDROP_")}
    full_env.update({"TIPDROP_PASSPHRASE": PASS, "TIPDROP_KEY": str(root / "demo.key"),
                     "TIPDROP_WORKDIR": str(workdir), **env})
    out, err = workdir.parent / f"{workdir.name}.out", workdir.parent / f"{workdir.name}.err"
    with out.open("w") as o, err.open("w") as e:
        proc = subprocess.Popen([str(TIPDROP), "officer", "open", str(bundle)], stdout=o,
                                stderr=e, env=full_env)
        _, status, usage = os.wait4(proc.pid, 0)
    result = subprocess.CompletedProcess(proc.args, os.waitstatus_to_exitcode(status),
                                         out.read_text(), err.read_text())
    return result, usage.ru_maxrss * 1024


def _cli(root, workdir, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIPDROP_")}
    env.update({"TIPDROP_PASSPHRASE": PASS, "TIPDROP_KEY": str(root / "demo.key"),
                "TIPDROP_WORKDIR": str(workdir)})
    return subprocess.run([str(TIPDROP), "officer", *args], env=env,
                          capture_output=True, text=True, timeout=120)


def _list(root, workdir):
    return _cli(root, workdir, "list", "--json")


def test_a_tip_with_more_follow_ups_than_the_cap_refuses_the_bundle_whole(exported, tmp_path):
    root, records = exported
    bundle = _junk(records, tmp_path / "junk.tdx", MAX_FOLLOWUPS_PER_TIP + 1)

    result, _ = _open(root, bundle, tmp_path / "cases")

    assert_clean_error(result, f"more than {MAX_FOLLOWUPS_PER_TIP} follow-ups",
                       "Nothing was imported")
    assert _list(root, tmp_path / "cases").stdout.strip() in ("", "[]")


def test_a_bundle_with_more_items_than_the_cap_is_refused_whole(exported, tmp_path):
    root, records = exported
    bundle = _junk(records, tmp_path / "junk.tdx", 300, tips=4)  # 1,204 items

    refused, _ = _open(root, bundle, tmp_path / "cases", TIPDROP_MAX_BUNDLE_ITEMS="1000")
    assert_clean_error(refused, "more than 1000 items", "TIPDROP_MAX_BUNDLE_ITEMS")
    assert _list(root, tmp_path / "cases").stdout.strip() in ("", "[]")

    # The setting lets a unit that needs it open more
    opened, _ = _open(root, bundle, tmp_path / "cases", TIPDROP_MAX_BUNDLE_ITEMS="2000")
    assert opened.returncode == 0, opened.stderr


def test_the_memory_of_an_import_does_not_grow_with_the_junk_it_carries(exported, tmp_path):
    root, records = exported
    peaks = []
    for count in (20_000, 200_000):
        bundle = _junk(records, tmp_path / f"junk{count}.tdx", count)
        result, peak = _open(root, bundle, tmp_path / f"cases{count}")
        assert result.returncode == 2, result
        peaks.append(peak)
        bundle.unlink()
    # Before: all 200,000 staged in memory (~660 bytes each), then imported
    assert peaks[1] - peaks[0] < 16 * MB, peaks


def test_show_lists_only_the_newest_follow_ups_and_says_how_many_it_left_out(exported, tmp_path):
    root, records = exported
    bundle = _junk(records, tmp_path / "junk.tdx", SHOWN_FOLLOWUPS + 100)
    opened, _ = _open(root, bundle, tmp_path / "cases")
    assert opened.returncode == 0, opened.stderr
    tip_id = records[1][1]["id"]

    shown = _cli(root, tmp_path / "cases", "show", tip_id)
    # Only the follow-ups printed were read: the 100 earlier ones are still new
    listed = _cli(root, tmp_path / "cases", "list")
    everything = _cli(root, tmp_path / "cases", "show", tip_id, "--all-followups")
    listed_after = _cli(root, tmp_path / "cases", "list")

    assert shown.returncode == 0, shown.stderr
    # Before: all 600 junk follow-ups printed, burying the report
    assert shown.stdout.count("\nfollow-up ") == SHOWN_FOLLOWUPS
    assert "\nfollow-up 101 (" in shown.stdout and "\nfollow-up 100 (" not in shown.stdout
    assert "100 earlier follow-up(s) not shown (--all-followups prints them)" in shown.stdout
    assert everything.stdout.count("\nfollow-up ") == SHOWN_FOLLOWUPS + 100
    assert "100 new follow-up(s)" in listed.stdout, listed.stdout
    assert "new follow-up(s)" not in listed_after.stdout, listed_after.stdout
