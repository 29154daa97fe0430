"""The import's scratch file of envelopes (tipdrop/officer/spill.py)."""

import os
import stat

import pytest

from tipdrop.officer.spill import BUFFER_BYTES, Spill


def test_every_envelope_comes_back_as_it_was_put_and_the_file_is_private_then_gone(tmp_path):
    spill = Spill(tmp_path)
    items = [b"", b"x", os.urandom(3000), os.urandom(BUFFER_BYTES + 5), b"last"]
    refs = [spill.put(item) for item in items]
    assert stat.S_IMODE(spill.path.stat().st_mode) == 0o600
    assert [spill.get(ref) for ref in reversed(refs)] == items[::-1]
    later = spill.put(b"after a read")  # reads and writes may alternate
    assert spill.get(later) == b"after a read" and spill.get(refs[2]) == items[2]
    spill.close()
    assert list(tmp_path.iterdir()) == []


def test_a_scratch_file_cut_short_is_an_error_not_short_bytes(tmp_path):
    spill = Spill(tmp_path)
    ref = spill.put(b"sealed envelope")
    spill.flush()
    os.truncate(spill.path, 5)
    with pytest.raises(OSError, match="cut short"):
        spill.get(ref)
    spill.close()
