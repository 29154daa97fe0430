"""The anti-flood puzzle: what it costs a phone, what it costs the server, what it leaves a flood.

Every onion visitor arrives from 127.0.0.1, so past a limit they are all one
client (docs/protocol.md section 21). Measured here:

- **The phone's side.** A real ``tipdrop serve`` serves the submit page;
  headless Chromium (Debian's, through Playwright as in tests/browser/) runs
  ``TipdropPuzzle.solve`` of the page's own puzzle.js on ROUNDS random
  challenges at the shipped difficulty (TIPDROP_PUZZLE_BITS), unthrottled and
  with CDP's ``Emulation.setCPUThrottlingRate`` at 4x and 6x (a phone-class
  CPU). Each challenge's first solving nonce is known from Python beforehand,
  so the page's answer is checked and its work is counted exactly: the rate
  is the digests tried over the time taken, the expected solve time 2^bits
  over the rate (single solves vary: it is a geometric draw). Also the raw
  ``crypto.subtle.digest`` rate with 1, 4, 16 and 64 digests in flight
  (best of three, in turns), beside which puzzle.js's batch of 16 was chosen.
- **The server's side.** In this process: reading and checking a solution
  (MAC, expiry, difficulty, one SHA-256), and the whole ``Puzzles.redeem``
  with the spent id written to the RAM file the workers share, with the
  table empty and holding 10,000 live ids; beside it the rate-limit count
  every request pays anyway and one Argon2id receipt derivation, which every
  accepted submit costs. Verification does not depend on the difficulty
  (one hash), so it is timed on 1-bit challenges.
- **A flooder's side.** How fast a solver not in a browser goes: tipdrop's
  own Python solver (hashlib) on one core, and ``openssl speed`` SHA-256 on
  64-byte inputs (two compression blocks, as a 67-byte puzzle input) for
  what native code does on one core.
- **A flood through the real server** (2 workers, TIPDROP_SUBMITS_PER_HOUR
  20): one flooding process sends JSON submits as fast as it can for
  FLOOD_SECONDS, (a) with the puzzle off (today: the limit alone), (b) with
  it on, solving every puzzle with the Python solver, and (c) with the limit
  raised out of the way (what an operator had to do for onion reporters
  before). The accepted rate of each, the difficulty at the end, and what a
  phone would then wait.

Run alone (writes its section of bench/RESULTS.md and its keys of results.json):

    .venv/bin/python -m bench.puzzle [--quick]
"""

import argparse
import base64
import http.client
import json
import math
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import ROOT
from bench.http_load import Server

CHROMIUM = os.environ.get("TIPDROP_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
THROTTLES = (1, 4, 6)
BATCHES = (1, 4, 16, 64)
#: puzzle.js's BATCH: a solve tries whole batches of digests.
JS_BATCH = 16
FLOOD_LIMIT = 20
JSON_HEADERS = {"Content-Type": "application/json"}
REPORT = json.dumps({"region": "astana", "category": "theft",
                     "description": "flood " * 40}).encode()

TIMED_SOLVE = """async (puzzle) => {
  const start = performance.now();
  const solution = await TipdropPuzzle.solve(puzzle);
  return { ms: performance.now() - start, solution };
}"""
RAW_DIGESTS = """async (batch) => {
  const input = new Uint8Array(67);
  let n = 0;
  const start = performance.now();
  while (performance.now() - start < 700) {
    const pending = [];
    for (let i = 0; i < batch; i++) {
      const one = input.slice();
      new DataView(one.buffer).setUint32(63, n++);
      pending.push(crypto.subtle.digest("SHA-256", one));
    }
    await Promise.all(pending);
  }
  return n / ((performance.now() - start) / 1000);
}"""


def _shipped_bits():
    sys.path.insert(0, str(ROOT))
    from tipdrop.server.settings import Settings

    return Settings().puzzle_bits


def _challenges(count, bits):
    """(puzzle object for the page, its solution's text, digests a batched solve tries)."""
    from tipdrop.crypto import puzzle as primitives
    from tipdrop.protocol import puzzle

    made = []
    for _ in range(count):
        challenge = puzzle.make(secrets.token_bytes(32), purpose="submit", difficulty=bits,
                                expires=2_000_000_000)
        nonce = primitives.solve(challenge.token, bits)
        tried = math.ceil((int.from_bytes(nonce, "big") + 1) / JS_BATCH) * JS_BATCH
        made.append(({"algorithm": "tipdrop/v1/puzzle", "challenge": challenge.text,
                      "difficulty": bits, "expires_in": 600}, challenge.solution(nonce), tried))
    return made


def browser_cost(rounds, bits):
    """Solve times and digest rates of puzzle.js in Chromium, unthrottled and throttled."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return {"puzzle_browser_skipped": "playwright is not installed"}
    if not Path(CHROMIUM).exists():
        return {"puzzle_browser_skipped": f"{CHROMIUM} is missing"}
    challenges = _challenges(rounds, bits)
    server = Server(1)
    result = {}
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            try:
                page = browser.new_page()
                page.goto(f"http://127.0.0.1:{server.port}/submit")
                cdp = page.context.new_cdp_session(page)
                result["puzzle_chromium"] = browser.version
                for _ in range(3):  # in turns, best of three: the machine is shared
                    for batch in BATCHES:
                        key = f"puzzle_raw_digests_per_s_batch_{batch}"
                        result[key] = max(result.get(key, 0), page.evaluate(RAW_DIGESTS, batch))
                for rate in THROTTLES:
                    cdp.send("Emulation.setCPUThrottlingRate", {"rate": rate})
                    # Throttled runs are slow: half the challenges.
                    chosen = challenges if rate == 1 else challenges[:max(2, rounds // 2)]
                    times, tried = [], 0
                    for puzzle, solution, digests in chosen:
                        run = page.evaluate(TIMED_SOLVE, puzzle)
                        if run["solution"] != solution:
                            raise RuntimeError(f"the page solved {run['solution']}, Python {solution}")
                        times.append(run["ms"])
                        tried += digests
                    per_s = tried / (sum(times) / 1000)
                    result |= {
                        f"puzzle_js_digests_per_s_x{rate}": per_s,
                        f"puzzle_js_expected_solve_s_x{rate}": 2 ** bits / per_s,
                        f"puzzle_js_median_solve_s_x{rate}": statistics.median(times) / 1000,
                        f"puzzle_js_max_solve_s_x{rate}": max(times) / 1000,
                        f"puzzle_js_solves_x{rate}": len(times),
                    }
                cdp.send("Emulation.setCPUThrottlingRate", {"rate": 1})
            finally:
                browser.close()
    finally:
        server.stop()
    return result


def _per_op_us(fn, count):
    start = time.perf_counter()
    for i in range(count):
        fn(i)
    return (time.perf_counter() - start) / count * 1e6


def server_cost(count):
    """Microseconds the server spends per solution, and what it spends anyway."""
    sys.path.insert(0, str(ROOT))
    from tipdrop.crypto import kdf
    from tipdrop.protocol import puzzle
    from tipdrop.server.web import puzzles as server_puzzles
    from tipdrop.server.web.ratelimit import SharedCounts, remove_shared

    # The load would raise the difficulty past the 1-bit challenges timed here;
    # the check's cost does not depend on it (one hash).
    server_puzzles.LOAD_STEP = 10**9
    Puzzles = server_puzzles.Puzzles
    data_dir = Path(tempfile.mkdtemp(prefix="tipdrop-bench-puzzle-"))
    secret = secrets.token_bytes(32)
    try:
        shared = SharedCounts.for_server("/dev/shm", data_dir)
        puzzles = Puzzles(shared, secret, 1)
        solutions = [puzzle.solve(puzzles.issue("submit")) for _ in range(2 * count + 10_000)]

        def check(i):
            challenge, nonce = puzzle.read_solution(secret, solutions[i])
            puzzle.check(challenge, nonce, purpose="submit", now=int(time.time()),
                         least_difficulty=1)

        result = {"puzzle_check_us": _per_op_us(check, count)}
        result["puzzle_redeem_us_empty"] = _per_op_us(
            lambda i: puzzles.redeem(solutions[i], "submit"), count)
        for i in range(count, count + 10_000 - count):
            puzzles.redeem(solutions[i], "submit")
        result["puzzle_redeem_us_10k_live"] = _per_op_us(
            lambda i: puzzles.redeem(solutions[10_000 + i], "submit"), count)
        result["puzzle_issue_us"] = _per_op_us(lambda i: puzzles.issue("submit"), count)
        result["puzzle_ratelimit_hit_us"] = _per_op_us(
            lambda i: shared.hit("bench", f"client {i}", 10**9, 3600, time.monotonic()), count)
        salt = secrets.token_bytes(16)
        start = time.perf_counter()
        for _ in range(3):
            kdf.argon2id(secrets.token_bytes(16), salt, kdf.RECEIPT_PARAMS)
        result["puzzle_argon2_us"] = (time.perf_counter() - start) / 3 * 1e6
    finally:
        remove_shared("/dev/shm", data_dir)
        shutil.rmtree(data_dir, ignore_errors=True)
    return result


def native_rates(bits):
    """Digests per second of solvers outside a browser, on one core."""
    sys.path.insert(0, str(ROOT))
    from tipdrop.crypto import puzzle as primitives

    tried, start = 0, time.perf_counter()
    while time.perf_counter() - start < 3:
        nonce = primitives.solve(secrets.token_bytes(59), bits)
        tried += int.from_bytes(nonce, "big") + 1
    result = {"puzzle_python_digests_per_s": tried / (time.perf_counter() - start)}
    try:
        out = subprocess.run(["openssl", "speed", "-seconds", "2", "-bytes", "64", "-evp", "sha256"],
                             capture_output=True, text=True, check=True, timeout=60).stdout
        kbytes = float(re.search(r"^sha256\s+([0-9.]+)k", out, re.M).group(1))
        result["puzzle_openssl_digests_per_s"] = kbytes * 1000 / 64
    except (OSError, subprocess.SubprocessError, AttributeError, ValueError):
        pass
    return result


def _flood_worker(port, seconds, solve):
    """The flooding process: JSON submits as fast as it can; prints what came back."""
    sys.path.insert(0, str(ROOT))
    from tipdrop.crypto import puzzle as primitives

    def request(method, path, body=None, headers=None):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    statuses, solving, difficulty, solution, accepted_at = {}, 0.0, None, None, []
    start_at = time.monotonic()
    stop = start_at + seconds
    while time.monotonic() < stop:
        headers = JSON_HEADERS | ({"Tipdrop-Puzzle-Solution": solution} if solution else {})
        status, body = request("POST", "/api/v1/tips", REPORT, headers)
        statuses[status] = statuses.get(status, 0) + 1
        if status == 201:
            accepted_at.append(time.monotonic() - start_at)
        solution = None
        offered = json.loads(body).get("puzzle") if status == 429 and solve else None
        if status == 201 and solve:
            # The next challenge from the probe: cheaper than a refused submit.
            offered = json.loads(request("GET", "/api/v1/puzzle?for=submit")[1])["puzzle"]
        if offered:
            difficulty = offered["difficulty"]
            token = base64.urlsafe_b64decode(offered["challenge"] + "=")
            start = time.monotonic()
            nonce = primitives.solve(token, difficulty)
            solving += time.monotonic() - start
            solution = f"{offered['challenge']}.{nonce.hex()}"
    print(json.dumps({"statuses": statuses, "solving_s": solving, "difficulty": difficulty,
                      "accepted_at": accepted_at}))


def flood(seconds):
    """A flood of JSON submits against the limit alone, the limit with the puzzle, no limit."""
    cases = {
        "limit": {"TIPDROP_PUZZLE_BITS": "0"},
        "puzzle": {},
        "unlimited": {"TIPDROP_PUZZLE_BITS": "0", "TIPDROP_SUBMITS_PER_HOUR": "1000000"},
    }
    result = {"puzzle_flood_seconds": seconds}
    for name, env in cases.items():
        server = Server(2, extra_env={"TIPDROP_SUBMITS_PER_HOUR": str(FLOOD_LIMIT),
                                      "TIPDROP_ARGON2_SLOTS": "2"} | env)
        try:
            out = subprocess.run(
                [sys.executable, "-m", "bench.puzzle", "flood-worker", str(server.port),
                 str(seconds), "1" if name == "puzzle" else "0"],
                cwd=ROOT, capture_output=True, text=True, check=True, timeout=seconds + 300)
            run = json.loads(out.stdout)
            status, body = server.request("GET", "/api/v1/puzzle?for=submit")
            offered = json.loads(body)["puzzle"] if status == 200 else None
        finally:
            server.stop()
        accepted = run["statuses"].get("201", 0)
        last = [t for t in run["accepted_at"] if t >= seconds * 2 / 3]
        result |= {
            f"puzzle_flood_{name}_accepted": accepted,
            f"puzzle_flood_{name}_accepted_per_s": accepted / seconds,
            # Once the difficulty has risen: the last third of the flood.
            f"puzzle_flood_{name}_last_third_per_s": len(last) / (seconds / 3),
            f"puzzle_flood_{name}_refused": sum(v for k, v in run["statuses"].items() if k != "201"),
        }
        if name == "puzzle":
            result |= {"puzzle_flood_solving_share": run["solving_s"] / seconds,
                       "puzzle_flood_end_difficulty": offered and offered["difficulty"]}
    return result


def measure(quick=True):
    bits = _shipped_bits()
    # How busy the shared machine was: the browser and flood figures move with it.
    result = {"puzzle_bits": bits, "puzzle_loadavg": os.getloadavg()[0]}
    result |= server_cost(2_000 if quick else 10_000)
    result |= native_rates(bits)
    result |= browser_cost(10 if quick else 30, bits)
    result |= flood(60 if quick else 180)
    return result


def _write_alone(result):
    """Put this module's figures into results.json and its section into RESULTS.md."""
    from bench.report import puzzle as report_puzzle

    here = Path(__file__).resolve().parent
    results_path = here / "results.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    results = {k: v for k, v in results.items() if not k.startswith("puzzle_")} | result
    results_path.write_text(json.dumps(results, indent=2) + "\n")
    text = (here / "RESULTS.md").read_text()
    new = "\n".join(report_puzzle.section(result))
    start = text.find("## Anti-flood puzzle")
    if start >= 0:
        end = text.find("\n## ", start + 1)
        text = text[:start] + new + ("\n" + text[end + 1:] if end >= 0 else "")
    else:
        at = text.find("## Attachment upload through the real server")
        text = text[:at] + new + "\n" + text[at:] if at >= 0 else text + "\n" + new
    (here / "RESULTS.md").write_text(text)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "flood-worker":
        _flood_worker(int(sys.argv[2]), float(sys.argv[3]), sys.argv[4] == "1")
    else:
        parser = argparse.ArgumentParser(description=__doc__)
        parser.add_argument("--quick", action="store_true")
        measured = measure(parser.parse_args().quick)
        print(json.dumps(measured, indent=2))
        _write_alone(measured)
