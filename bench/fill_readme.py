"""Copy the figures of bench/results.json into README.md's measurement table."""

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main():
    r = json.loads((ROOT / "bench" / "results.json").read_text())
    values = {
        "ARGON_MS": f"{r['argon2_ms_per_hash']:.0f}",
        "ARGON_RSS": f"{r['argon2_peak_rss_mib']:.0f}",
        "ARGON_BOUND": f"{r['argon2_bound_per_s']:.0f}",
        "ARGON_DAY": f"{r['argon2_bound_per_s'] * 86400 / 1e6:.1f} million",
        "STREAM_SIZE": f"{r['stream_size_mib']:.0f}",
        "ENC_MBS": f"{r['stream_encrypt_mb_s']:,.0f}",
        "DEC_MBS": f"{r['stream_decrypt_mb_s']:,.0f}",
        "AGE_ENC": f"{r.get('age_encrypt_mb_s', 0):,.0f}",
        "AGE_DEC": f"{r.get('age_decrypt_mb_s', 0):,.0f}",
        "GPG_ENC": f"{r.get('gpg_encrypt_mb_s', 0):,.0f}",
        "GPG_DEC": f"{r.get('gpg_decrypt_mb_s', 0):,.0f}",
        "RSS_SMALL": f"{r['stream_peak_rss_mib_small']:.0f}",
        "RSS_LARGE": f"{r['stream_peak_rss_mib_large']:.0f}",
        "SUBMIT_RATIO": f"{r['submit_vs_argon2_bound']:.2f}",
        "CHECK_RATIO": f"{r['check_vs_argon2_bound']:.2f}",
        "SUBMITS_DAY": f"{r['submit_per_s'] * 86400 / 1e6:.1f} million",
        "SUBMITS": f"{r['submit_per_s']:.0f}",
        "CHECKS": f"{r['check_per_s']:.0f}",
        "UPLOAD_SIZE": f"{r['upload_size_mib']:.0f}",
        "UPLOAD_MBS": f"{r['upload_mb_s']:,.0f}",
        "UPLOAD_READER": f"{r['wsgi_reader_bound_mb_s']:,.0f}",
        "UPLOAD_RATIO": f"{r['upload_vs_wsgi_reader_bound']:.2f}",
        "BLOB_STORE": f"{r['blob_store_mb_s']:,.0f}",
        "COPY_MBS": f"{r['stream_copy_bound_mb_s']:,.0f}",
        "ENC_COPY": f"{r['stream_encrypt_vs_copy_bound']:.2f}",
        "DEC_COPY": f"{r['stream_decrypt_vs_copy_bound']:.2f}",
        "FLOOD_PEAK": f"{r['flood_peak_rss_mib']:.0f}",
        "FLOOD_GOAL": f"{r['flood_rss_goal_mib']:.0f}",
        "UPLOAD_RSS": f"{r['upload_peak_rss_mib']:.0f}",
        "IMPORT_TIPS": f"{r['officer_import_tips']:,}",
        "IMPORT_PER_S": f"{r['officer_import_tips_per_s']:,.0f}",
        "IMPORT_RATIO": f"{r['officer_import_vs_unseal_bound']:.2f}",
        "UNSEAL_PER_S": f"{r['officer_unseal_bound_per_s']:,.0f}",
        "SEALED_MBS": _figure(r, "sealed_upload_mb_s", ",.0f"),
        "SEALED_RATIO": _figure(r, "sealed_upload_vs_server", ".2f"),
        "SEALED_READER_RATIO": _figure(r, "sealed_upload_vs_wsgi_reader_bound", ".2f"),
        "SEALED_MIN": _figure(r, "sealed_upload_vs_server_min", ".2f"),
        "SEALED_RSS": _figure(r, "sealed_upload_peak_rss_mib", ".0f"),
        "INPROC_RATIO": _figure(r, "inproc_sealed_vs_server", ".2f"),
        "BROWSER_SIZE": _figure(r, "browser_size_mib", ".0f"),
        "BROWSER_MBS": _figure(r, "browser_stream_mb_s", ",.0f"),
        "BROWSER_RATIO": _figure(r, "browser_stream_vs_bound", ".2f"),
        "BROWSER_BOUND": _figure(r, "browser_aesgcm_bound_mb_s", ",.0f"),
        "BROWSER_HEAP_SMALL": _figure(r, "browser_heap_retained_mib_16mib", ".0f"),
        "BROWSER_HEAP_LARGE": _figure(r, "browser_heap_retained_mib_large", ".0f"),
        "PHOTO_JS_MS": _figure(r, "browser_photo_clean_ms", ".1f"),
        "PHOTO_PY_MS": _figure(r, "python_photo_clean_ms", ".1f"),
        "PUZZLE_PHONE": _figure(r, "puzzle_js_expected_solve_s_x6", ".1f"),
        "PUZZLE_PC": _figure(r, "puzzle_js_expected_solve_s_x1", ".1f"),
        "PUZZLE_CHECK": _figure(r, "puzzle_check_us", ".0f"),
        "PUZZLE_REDEEM": _figure(r, "puzzle_redeem_us_empty", ".0f"),
        "PUZZLE_FLOOD": _figure(r, "puzzle_flood_puzzle_last_third_per_s", ".1f"),
        "PUZZLE_BITS_END": _figure(r, "puzzle_flood_end_difficulty", "d"),
        "PUZZLE_OPEN": _figure(r, "puzzle_flood_unlimited_last_third_per_s", ".1f"),
    } | officer_app_values(r) | backup_values(r)
    readme = ROOT / "README.md"
    text = readme.read_text()
    start = text.index("| figure | measured |")
    end = text.index("\n\n", start)
    table = text[start:end]
    template = (ROOT / "bench" / "readme_table.md").read_text().strip()
    for key, value in sorted(values.items(), key=lambda kv: -len(kv[0])):
        template = template.replace(key, value)
    readme.write_text(text.replace(table, template))


def officer_app_values(r):
    """The officer app's row (bench/officer_app.py also fills it from a run of its own)."""
    return {
        "APP_TIPS": _figure(r, "app_tips", ","),
        "APP_UNLOCK_RATIO": _figure(r, "app_unlock_vs_unseal_bound", ".2f"),
        "APP_UNLOCK_S": _figure(r, "app_unlock_seconds", ".1f"),
        "APP_UNLOCK_CPU_RATIO": _figure(r, "app_unlock_vs_unseal_bound_cpu", ".2f"),
        "APP_INBOX_RATIO": _figure(r, "app_inbox_ready_vs_unseal_bound", ".2f"),
        "APP_SEARCH_P95": _figure(r, "app_search_p95_ms", ".1f"),
        "APP_INBOX_P95": _figure(r, "app_inbox_p95_ms", ".1f"),
        "APP_SIMILAR_P95": _figure(r, "app_similar_p95_ms", ".1f"),
        "APP_RSS": _figure(r, "app_rss_unlocked_mib", ".0f"),
    }


def backup_values(r):
    """The backup and restore row (bench/backup.py)."""
    return {
        "BK_DB": _figure(r, "backup_db_mib", ".0f"),
        "BK_MBS": _figure(r, "backup_mb_s", ",.0f"),
        "RS_MBS": _figure(r, "restore_mb_s", ",.0f"),
        "BK_RATIO": _figure(r, "backup_vs_copy", ".2f"),
        "RS_RATIO": _figure(r, "restore_vs_copy", ".2f"),
        "BK_COPY": _figure(r, "backup_copy_mb_s", ",.0f"),
        "BK_RSS": _figure(r, "backup_rss_large_mib", ".0f"),
        "RS_RSS": _figure(r, "restore_rss_large_mib", ".0f"),
    }


def _figure(r, key, spec):
    """A figure of a benchmark that may not have run (no Chromium): say so in the table."""
    return format(r[key], spec) if key in r else "not measured"


if __name__ == "__main__":
    main()
