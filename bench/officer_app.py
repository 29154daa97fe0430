"""The officer app over N tips: unlock, search, the inbox page, similar reports, memory.

The tips (about 2 KB of Russian or Kazakh text each, spread over regions and
categories, words drawn from a long-tailed vocabulary so that no two reports
are alike unless made so) are made through the library as the server makes
them (tipdrop.server.tips, exchange.export_unit) and opened into a workspace
(Workspace.open_bundle, not timed here: bench/officer_import.py times it).
Planted among them: near-copies of some reports (words reordered and
replaced, ё typed as е, Kazakh letters typed as Russian ones), which the
similar-reports suggestion must find, and nothing else.

One child process then measures, in the same run:

- the bound: HPKE unseal (``envelope.open_``) of every tip envelope of the
  workspace in memory;
- unlock: the real app's ``Desk.start_unlock`` (passphrase, then every tip
  decrypted into the in-memory index) until the inbox is usable (every tip
  listed) and until search is ready (the full-text index whole: the figure
  the goal is about), as tips per second against the bound, in wall time
  and in CPU time (the machine is shared), with the CPU time of each of the
  two threads (the bound uses one core); the two take turns :data:`ROUNDS`
  times and the best of each counts;
- search: ``SearchIndex.inbox`` with a query, p50 / p95 over a set of queries;
- the inbox page: GET /inbox rendered by the real Flask app (gate, session,
  templates, Babel), p50 / p95; both also in CPU time, which a burst of load
  from another tenant does not stretch;
- similar reports: ``SearchIndex.similar`` per tip, p50 / p95, and its quality;
- RSS of the process before and after unlocking.

Run alone: ``python -m bench.officer_app 10000`` prints the figures;
``--record`` also merges them into bench/results.json and rewrites
bench/RESULTS.md and the README table from it.
"""

import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

from bench.common import ROOT, machine, run_worker, worker_result
from tipdrop.common import sqlite

PASSPHRASE = "bench"
REGIONS = ("almaty", "astana", "shymkent", "karaganda", "aktobe")
CATEGORIES = ("drugs", "theft", "fraud", "corruption", "public-disorder", "road-accident",
              "domestic-violence", "child-in-danger")
#: Report text, about this many characters.
TEXT_CHARS = 2000
#: Reports that get a near-copy planted among the tips, and tips checked for no suggestion.
PLANTED = 20
UNRELATED_CHECKED = 200
#: Turns of the bound and the unlock; the best of each counts.
ROUNDS = 3
RU_WORDS = ("каждый вечер у остановки возле школы дома подъезда машина белая чёрная номер "
            "водитель продают наркотики деньги закладки двор магазин кафе сосед соседи "
            "ночью утром вчера сегодня полиция участковый инспектор взятка справка "
            "украли телефон кошелёк велосипед драка крики музыка дети ребёнок мать отец "
            "бьёт пьяный мужчина женщина подростки парк рынок улица проспект автобус "
            "такси деньги перевод карта банк звонили мошенники ещё опять снова видел "
            "слышал знаю говорят просят помогите срочно").split()
KK_WORDS = ("әр кеште аялдама мектеп үй подъезд көлік ақ қара нөмір жүргізуші сатады "
            "есірткі ақша аула дүкен көрші түнде таңертең кеше бүгін полиция учаскелік "
            "пара анықтама ұрлады телефон әмиян төбелес айқай бала ана әке ұрады мас "
            "ер әйел жасөспірімдер саябақ базар көше даңғыл автобус такси аударым карта "
            "банк алаяқтар тағы көрдім естідім білемін көмектесіңіздер шұғыл").split()
_LETTERS = {"ru": "абвгдежзийклмнопрстуфхцчшщыэюяё", "kk": "аәбвгғдеёжзийкқлмнңоөпрстуұүфхһчшыіэюя"}
KK_PLAIN = str.maketrans("әғқңөұүһі", "агкноуухи")


def _vocabulary(rng, language, size=4000):
    """A long-tailed vocabulary: the everyday words, then many rarer made-up ones."""
    common = RU_WORDS if language == "ru" else KK_WORDS
    made = ["".join(rng.choice(_LETTERS[language]) for _ in range(rng.randint(4, 11)))
            for _ in range(size)]
    return list(common) + made


def _text(rng, vocabulary):
    """About TEXT_CHARS of words drawn Zipf-like (rank r with weight 1/r)."""
    words, length = [], 0
    while length < TEXT_CHARS:
        rank = int(len(vocabulary) ** rng.random()) - 1  # log-uniform: long-tailed
        word = vocabulary[min(rank, len(vocabulary) - 1)]
        if rng.random() < 0.03:
            word = f"{rng.randint(1, 999)}"
        words.append(word)
        length += len(word) + 1
    return " ".join(words)


def near_copy(rng, text, language):
    """The same report written again: a few words moved and replaced, typed more plainly."""
    words = text.split()
    for _ in range(len(words) // 10):  # a tenth of the words swapped with a neighbour
        i = rng.randrange(len(words) - 1)
        words[i], words[i + 1] = words[i + 1], words[i]
    for _ in range(len(words) // 20):  # a twentieth replaced
        words[rng.randrange(len(words))] = "снова" if language == "ru" else "тағы"
    again = " ".join(words).replace("ё", "е")
    return again.translate(KK_PLAIN) if language == "kk" else again


def _build(workdir, count):
    """``count`` tips (PLANTED of them near-copies) exported and opened into a workspace."""
    from tipdrop.crypto import kdf, keys
    from tipdrop.officer.keyring import Keyring
    from tipdrop.officer.workspace import Workspace
    from tipdrop.protocol.report import Report
    from tipdrop.protocol.routing import Routing
    from tipdrop.server import exchange, store
    from tipdrop.server.tips import Tips
    from tipdrop.server.unitkeys import UnitKeys

    workdir = Path(workdir)
    rng = random.Random(16)
    vocabulary = {language: _vocabulary(rng, language) for language in ("ru", "kk")}
    unit = keys.generate("demo")
    (workdir / "demo.key").write_bytes(keys.private_to_file(unit, PASSPHRASE,
                                                            params=kdf.TEST_PARAMS))
    db = sqlite.connect(workdir / "server" / "tipdrop.db")
    store.init(db)
    db.execute("PRAGMA synchronous=OFF")  # building speed is not measured
    tips = Tips(db, UnitKeys([unit.public]), Routing(dict.fromkeys(REGIONS, "demo")),
                workdir / "server" / "attachments", receipt_params=kdf.TEST_PARAMS)
    made, planted = [], []
    for i in range(count - PLANTED):
        language = "kk" if i % 3 == 0 else "ru"
        region, category = REGIONS[i % len(REGIONS)], CATEGORIES[i % len(CATEGORIES)]
        made.append((region, category, language, _text(rng, vocabulary[language])))
    for i in rng.sample(range(len(made)), PLANTED):
        region, category, language, text = made[i]
        planted.append((i, len(made)))
        made.append((region, category, language, near_copy(rng, text, language)))
    ids = []
    for region, category, language, text in made:
        draft = tips.start(region=region)
        tips.submit(draft, Report.build(region=region, category=category, language=language,
                                        description=text))
        ids.append(draft.tip_id)
    exchange.export_unit(db, workdir / "server" / "attachments", unit="demo",
                         out=workdir / "export.tdx")
    db.close()
    workspace = Workspace(workdir / "workspace")
    workspace.open_bundle(workdir / "export.tdx", Keyring.of(unit))
    workspace.close()
    pairs = [(ids[a], ids[b]) for a, b in planted]
    (workdir / "planted.json").write_text(json.dumps({"pairs": pairs, "ids": ids}))


def _p(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def _rss_mib():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _unseal_bound(workspace, keyring):
    """Open every tip envelope of the workspace in memory, nothing else; return how many."""
    from tipdrop.crypto import envelope
    from tipdrop.crypto.envelope import parse_header

    bodies = [(tip_id, bytes(body)) for tip_id, body in
              workspace.db.execute("SELECT id, body FROM tips")]
    _, key_id = parse_header(bodies[0][1])
    opener = keyring.opener_for(key_id)
    for tip_id, body in bodies:
        envelope.open_(body, opener, kind="tip", tip_id=tip_id)
    return len(bodies)


def _worker(workdir):
    """Everything timed in this one process (its RSS is the app's)."""
    from tipdrop.crypto import keys
    from tipdrop.officer.app import create_app
    from tipdrop.officer.app.desk import Desk
    from tipdrop.officer.keyring import Keyring
    from tipdrop.officer.search import SearchIndex

    workdir = Path(workdir)
    planted = json.loads((workdir / "planted.json").read_text())
    keyring = Keyring.of(keys.parse_private((workdir / "demo.key").read_bytes(), PASSPHRASE))
    desk = Desk(workdir / "workspace", workdir / "demo.key")
    rss_locked = _rss_mib()
    # Bound and unlock take turns, ROUNDS times; the best of each counts (the
    # machine is shared: a burst of load elsewhere must not decide the ratio).
    bound = bound_cpu = unlock_seconds = unlock_cpu = index_seconds = float("inf")
    inbox_seconds = float("inf")
    threads_cpu = (0.0, 0.0)
    rss_unlocked = None
    for _ in range(ROUNDS):
        desk.lock()
        start, cpu = time.perf_counter(), time.process_time()
        tips = _unseal_bound(desk.workspace, keyring)
        bound = min(bound, time.perf_counter() - start)
        bound_cpu = min(bound_cpu, time.process_time() - cpu)
        start, cpu = time.perf_counter(), time.process_time()
        job = desk.start_unlock(PASSPHRASE)
        job.finished.wait()
        inbox_seconds = min(inbox_seconds, time.perf_counter() - start)  # the inbox works
        index = desk.index
        index.wait_for_words()  # and search
        ready = time.perf_counter() - start
        if ready < unlock_seconds:
            unlock_seconds = ready
            threads_cpu = (index.list_cpu_seconds, index.words_cpu_seconds)
        unlock_cpu = min(unlock_cpu, time.process_time() - cpu)
        tips = job.total
        if rss_unlocked is None:  # after the first unlock: later rounds add freed memory
            rss_unlocked = _rss_mib()
        # The index alone, without the passphrase check and the audit log's fsync.
        index = SearchIndex()
        start = time.perf_counter()
        index.build(desk.workspace, keyring)
        index.wait_for_words()
        index_seconds = min(index_seconds, time.perf_counter() - start)
        index.close()
    index = desk.index

    rng = random.Random(8)
    words = [w for w in RU_WORDS + KK_WORDS if len(w) > 3]
    queries = [rng.choice(words) for _ in range(40)]
    queries += [f"{rng.choice(words)} {rng.choice(words)}" for _ in range(40)]
    queries += ["ребёнок", "ребенок", "бала", "казак", "наркотики машина", "xyz"] * 3
    search_times, search_cpu = [], []
    for query in queries:
        filters = {"region": rng.choice(REGIONS)} if rng.random() < 0.3 else {}
        start, cpu = time.perf_counter(), time.process_time()
        index.inbox(query=query, **filters)
        search_times.append(time.perf_counter() - start)
        search_cpu.append(time.process_time() - cpu)

    app = create_app(desk, 48200, launch_token="bench")  # noqa: S106
    client = app.test_client()
    base = "http://127.0.0.1:48200"
    client.get("/?token=bench", base_url=base)
    pages = ["/inbox", "/inbox?page=3", "/inbox?status=received", "/inbox?category=drugs",
             "/inbox?region=astana&order=oldest", "/inbox?since=2020-01-01"]
    render_times, render_cpu = [], []
    for i in range(90):
        start, cpu = time.perf_counter(), time.process_time()
        answer = client.get(pages[i % len(pages)], base_url=base)
        render_times.append(time.perf_counter() - start)
        render_cpu.append(time.process_time() - cpu)
        if answer.status_code != 200:
            raise RuntimeError(f"inbox answered {answer.status_code}")

    similar_times, unrelated_with_any, top_unrelated = [], 0, 0
    copies = {a: b for a, b in planted["pairs"]} | {b: a for a, b in planted["pairs"]}
    from tipdrop.officer import similar
    for tip_id in rng.sample(planted["ids"], UNRELATED_CHECKED):
        if tip_id in copies:
            continue
        start = time.perf_counter()
        found = index.similar(tip_id)
        similar_times.append(time.perf_counter() - start)
        unrelated_with_any += bool(found)
        # The best score below the cut, for the record: how close unrelated reports come.
        scored = similar.similar_tips(index.db, tip_id, min_score=0)
        top_unrelated = max([top_unrelated] + [s.score for s in scored])
    found_copies = 0
    for a, b in planted["pairs"]:
        start = time.perf_counter()
        found = index.similar(a)
        similar_times.append(time.perf_counter() - start)
        found_copies += bool(found) and found[0].tip["id"] == b
    desk.close()
    worker_result(
        tips=tips, unseal_per_s=tips / bound, unseal_cpu_per_s=tips / bound_cpu,
        unlock_seconds=unlock_seconds, unlock_cpu_seconds=unlock_cpu,
        inbox_seconds=inbox_seconds, list_cpu_seconds=threads_cpu[0],
        words_cpu_seconds=threads_cpu[1],
        index_seconds=index_seconds, rss_locked_mib=rss_locked, rss_unlocked_mib=rss_unlocked,
        search_p50_ms=_p(search_times, 0.5), search_p95_ms=_p(search_times, 0.95),
        inbox_p50_ms=_p(render_times, 0.5), inbox_p95_ms=_p(render_times, 0.95),
        search_cpu_p95_ms=_p(search_cpu, 0.95), inbox_cpu_p95_ms=_p(render_cpu, 0.95),
        similar_p50_ms=_p(similar_times, 0.5), similar_p95_ms=_p(similar_times, 0.95),
        similar_copies=len(planted["pairs"]), similar_copies_found=found_copies,
        similar_unrelated_checked=len(similar_times) - len(planted["pairs"]),
        similar_unrelated_suggested=unrelated_with_any, similar_unrelated_top_score=top_unrelated,
        similar_min_score=similar.MIN_SCORE, load_average=os.getloadavg()[0])


def measure(count):
    with tempfile.TemporaryDirectory(prefix="tipdrop-bench-app-") as tmp:
        start = time.perf_counter()
        _build(tmp, count)
        build_seconds = time.perf_counter() - start
        r = run_worker("officer_app", tmp)
    per_s = r["tips"] / r["unlock_seconds"]
    return {
        "app_tips": r["tips"],
        "app_build_seconds": build_seconds,
        "app_unlock_seconds": r["unlock_seconds"],
        "app_unlock_tips_per_s": per_s,
        "app_unseal_bound_per_s": r["unseal_per_s"],
        "app_unlock_vs_unseal_bound": per_s / r["unseal_per_s"],
        "app_unlock_vs_unseal_bound_cpu": r["tips"] / r["unlock_cpu_seconds"]
        / r["unseal_cpu_per_s"],
        "app_unlock_cpu_seconds": r["unlock_cpu_seconds"],
        "app_inbox_ready_seconds": r["inbox_seconds"],
        "app_inbox_ready_vs_unseal_bound": r["tips"] / r["inbox_seconds"] / r["unseal_per_s"],
        "app_unlock_list_cpu_seconds": r["list_cpu_seconds"],
        "app_unlock_words_cpu_seconds": r["words_cpu_seconds"],
        "app_unseal_bound_cpu_seconds": r["tips"] / r["unseal_cpu_per_s"],
        "app_index_build_vs_unseal_bound": r["tips"] / r["index_seconds"] / r["unseal_per_s"],
        "app_search_p50_ms": r["search_p50_ms"],
        "app_search_p95_ms": r["search_p95_ms"],
        "app_inbox_p50_ms": r["inbox_p50_ms"],
        "app_inbox_p95_ms": r["inbox_p95_ms"],
        "app_search_cpu_p95_ms": r["search_cpu_p95_ms"],
        "app_inbox_cpu_p95_ms": r["inbox_cpu_p95_ms"],
        "app_similar_p50_ms": r["similar_p50_ms"],
        "app_similar_p95_ms": r["similar_p95_ms"],
        "app_similar_copies": r["similar_copies"],
        "app_similar_copies_found": r["similar_copies_found"],
        "app_similar_unrelated_checked": r["similar_unrelated_checked"],
        "app_similar_unrelated_suggested": r["similar_unrelated_suggested"],
        "app_similar_unrelated_top_score": r["similar_unrelated_top_score"],
        "app_similar_min_score": r["similar_min_score"],
        "app_load_average": r["load_average"],
        "app_rss_locked_mib": r["rss_locked_mib"],
        "app_rss_unlocked_mib": r["rss_unlocked_mib"],
        "app_peak_rss_mib": r["peak_rss_mib"],
    }


def record(results, command):
    """Put ``results`` into bench/RESULTS.md (this section) and the README's table (this row).

    bench/results.json is a local file (not in git) that a full or quick run
    rewrites whole; this records one standalone run in the files that are.
    """
    import datetime

    from bench import fill_readme
    from bench.report import officer as report_officer

    lines = report_officer.app_section(results | {"machine": machine()})
    day = datetime.date.today().isoformat()
    lines[1:1] = ["", f"Measured alone by `{command}` on {day}; `make bench` measures it too "
                  "(10,000 tips), `make bench-quick` on 2,000."]
    section = "\n".join(lines)
    path = ROOT / "bench" / "RESULTS.md"
    text = path.read_text()
    if "## The officer app" in text:
        start = text.index("## The officer app")
        end = text.find("\n## ", start)
        text = text[:start] + section + (text[end:] if end >= 0 else "")
    else:
        at = text.index("## Attachment stream cipher")
        text = text[:at] + section + "\n" + text[at:]
    path.write_text(text)
    row = next(line for line in (ROOT / "bench" / "readme_table.md").read_text().splitlines()
               if "APP_TIPS" in line)
    values = fill_readme.officer_app_values(results)
    for key, value in sorted(values.items(), key=lambda kv: -len(kv[0])):
        row = row.replace(key, value)
    readme = ROOT / "README.md"
    lines = readme.read_text().split("\n")
    old = [i for i, line in enumerate(lines) if line.startswith("| officer app over")]
    if old:
        lines[old[0]] = row
    else:
        lines.insert(next(i for i, line in enumerate(lines)
                          if line.startswith("| officer import:")) + 1, row)
    readme.write_text("\n".join(lines))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "worker":
        _worker(*sys.argv[2:])
    else:
        args = [a for a in sys.argv[1:] if a != "--record"]
        figures = measure(int(args[0]) if args else 2000)
        print(json.dumps(figures, indent=2))
        if "--record" in sys.argv:
            record(figures, "python -m bench.officer_app " + " ".join(sys.argv[1:]))
