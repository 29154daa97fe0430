"""bench/run.py's partial runs rewrite only their own sections; the README row for backups fills."""

from pathlib import Path

from bench import fill_readme, run

ROOT = Path(__file__).resolve().parent.parent

RESULTS = """# Benchmark results

intro

## Attachment stream cipher, file to file (128 MiB of random data)

old stream text

## Backup and restore (131 MiB database of attachment ciphertext)

old backup text

## Encryption on the reporter's device

browser text
"""


def test_a_partial_run_replaces_only_its_section():
    new = run.replace_section(RESULTS, "## Backup and restore (1,024 MiB database)\n\nnew backup text\n")
    assert "new backup text" in new and "old backup text" not in new
    assert "## Backup and restore (1,024 MiB database)" in new
    # The sections before and after it are kept as they were
    assert "old stream text" in new and "browser text" in new
    assert new.index("new backup text") < new.index("## Encryption on the reporter's device")


def test_the_last_section_can_be_replaced():
    new = run.replace_section(RESULTS, "## Encryption on the reporter's device\n\nnew\n")
    assert new.endswith("## Encryption on the reporter's device\n\nnew\n\n")
    assert "browser text" not in new and "old backup text" in new


def test_a_partial_run_can_run_only_the_stream_and_backup_benches():
    assert {"stream_cipher", "backup"} <= set(run.PARTS)


def test_the_backup_row_of_the_readme_is_filled_from_the_backup_figures():
    figures = {"backup_db_mib": 131.1, "backup_mb_s": 300.0, "restore_mb_s": 290.0,
               "backup_vs_copy": 0.55, "restore_vs_copy": 0.52, "backup_copy_mb_s": 560.0,
               "backup_rss_large_mib": 41.0, "restore_rss_large_mib": 40.6}
    template = (ROOT / "bench" / "readme_table.md").read_text()
    row = next(line for line in template.splitlines() if "tipdrop restore" in line)
    for key, value in sorted(fill_readme.backup_values(figures).items(), key=lambda kv: -len(kv[0])):
        row = row.replace(key, value)
    assert "300 / 290 MB/s = 0.55 / 0.52 of a plain copy" in row, row
    assert "(560 MB/s; goal 0.5); peak RSS 41 / 41 MiB" in row, row
    # A run without the backup bench says so rather than inventing figures
    assert set(fill_readme.backup_values({}).values()) == {"not measured"}


def test_a_full_run_keeps_the_sections_measured_on_their_own():
    # bench/slow_link.py is not part of the full run: its section survives it
    text = RESULTS + "\n## The submit page on a phone's 3G link (JavaScript on)\n\nslow text\n"
    kept = run.kept_sections(text)
    assert kept[0].startswith("## The submit page on a phone's 3G link")
    assert "slow text" in kept and "browser text" not in kept
    assert run.kept_sections(RESULTS) == []


def test_every_section_kept_from_a_full_run_is_in_results_md():
    # The sections measured on their own (bench/slow_link.py, officer_year.py,
    # officer_bounds.py, the purge notes) are found by their headings.
    text = (ROOT / "bench" / "RESULTS.md").read_text()
    kept = [line for line in run.kept_sections(text) if line.startswith("## ")]
    assert len(kept) == len(run.KEPT), kept
