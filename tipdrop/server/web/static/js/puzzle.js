/* The anti-flood puzzle: past a rate limit, prove some work with WebCrypto and send again.
 *
 * Every onion visitor reaches the server from one address, so a limit per
 * address stops all of them or none. Past a limit the server answers a
 * script that says it can (header Tipdrop-Puzzle: accept) with a challenge
 * instead of a flat refusal; this file finds a nonce such that
 * SHA-256(token || nonce) starts with the asked number of zero bits
 * (crypto.subtle.digest), showing progress, and sends the request again with
 * the solution (header Tipdrop-Puzzle-Solution). docs/protocol.md section 21;
 * the server's side is tipdrop/server/web/puzzles.py.
 *
 * Nothing here identifies the reporter: the challenge is the server's, the
 * nonce a counter from 0. Without WebCrypto this file defines nothing, and
 * the pages behave as without JavaScript: a reached limit shows the 429 page.
 *
 * window.TipdropPuzzle:
 *   solveShown(form, puzzle) the solution's text, the page showing that it works
 *                           (status line and bar): resume.js calls it when the request
 *                           that begins an upload is answered with a puzzle.
 *   submit(form, event)     a form's server path: true if it took the submit over (the
 *                           limit is reached: solve, then send with fetch); false to let
 *                           the browser post the form as without JavaScript.
 *   solve(puzzle, progress) the solution's text for a puzzle object of a 429 answer.
 */
(() => {
  "use strict";

  const subtle = window.crypto && window.crypto.subtle;
  if (!subtle || typeof subtle.digest !== "function" || typeof Promise === "undefined") return;

  const ALGORITHM = "tipdrop/v1/puzzle";
  const NONCE_LEN = 8;
  // Digests asked for at once: with 4 to 16 in flight Chromium hashes a
  // little faster than one at a time (bench/RESULTS.md, "Anti-flood puzzle").
  const BATCH = 16;
  // Milliseconds of work between two turns given back to the page.
  const SLICE = 50;
  const SOLUTION_HEADER = "Tipdrop-Puzzle-Solution";

  function bytesFromBase64url(text) {
    const binary = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
    return Uint8Array.from(binary, (c) => c.charCodeAt(0));
  }

  function hex(bytes) {
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function zeroBits(digest) {
    let bits = 0;
    for (const byte of digest) {
      if (byte === 0) {
        bits += 8;
        continue;
      }
      return bits + Math.clz32(byte) - 24;
    }
    return bits;
  }

  /* Let the browser run its other tasks (draw, answer the reporter). Chromium
   * answers a small digest within the same task, so a loop of awaits alone
   * would hold the page frozen until the puzzle is solved. */
  function nextTask() {
    return new Promise((resolve) => {
      const channel = new MessageChannel();
      channel.port1.onmessage = () => resolve();
      channel.port2.postMessage(null);
    });
  }

  /* The first nonce from 0 (an 8-byte big-endian counter) that solves the
   * puzzle, as tipdrop/crypto/puzzle.py solve finds it; ``progress(share)``
   * is told the expected work done so far (0 to 0.99), four times a second. */
  async function solve(puzzle, progress) {
    if (!puzzle || puzzle.algorithm !== ALGORITHM || !(puzzle.difficulty >= 0 && puzzle.difficulty <= 64)) {
      throw new Error("not a puzzle this page can solve");
    }
    const token = bytesFromBase64url(puzzle.challenge);
    const expected = 2 ** puzzle.difficulty;
    let counter = 0;
    let told = 0;
    let turn = performance.now();
    for (;;) {
      const inputs = [];
      for (let i = 0; i < BATCH; i++) {
        const input = new Uint8Array(token.length + NONCE_LEN);
        input.set(token);
        const view = new DataView(input.buffer, token.length);
        view.setUint32(0, Math.floor((counter + i) / 2 ** 32));
        view.setUint32(4, (counter + i) >>> 0);
        inputs.push(input);
      }
      const digests = await Promise.all(inputs.map((input) => subtle.digest("SHA-256", input)));
      for (let i = 0; i < BATCH; i++) {
        if (zeroBits(new Uint8Array(digests[i])) >= puzzle.difficulty) {
          return `${puzzle.challenge}.${hex(inputs[i].subarray(token.length))}`;
        }
      }
      counter += BATCH;
      const now = performance.now();
      if (progress && now - told > 250) {
        told = now;
        progress(Math.min(0.99, counter / expected));
      }
      if (now - turn > SLICE) {
        await nextTask();
        turn = performance.now();
      }
    }
  }

  /* What the reporter sees while the device works: the form's status line
   * (role=status, read out) says it once, the progress bar moves silently. */
  function show(form, solving) {
    const box = document.getElementById("puzzle");
    const status = document.getElementById("form-status");
    if (box) {
      box.hidden = !solving;
      box.querySelector("progress").value = 0;
    }
    if (status) {
      status.textContent = solving ? form.dataset.msgPuzzle : form.dataset.msgPuzzleDone;
      status.hidden = false;
    }
  }

  async function solveShown(form, puzzle) {
    show(form, true);
    const bar = document.querySelector("#puzzle progress");
    try {
      return await solve(puzzle, (share) => {
        if (bar) bar.value = Math.round(share * 100);
      });
    } finally {
      show(form, false);
    }
  }

  /* Whether the limit is reached now, and its puzzle; nothing is counted. */
  async function probe(form) {
    const url = new URL(form.dataset.puzzleUrl, window.location.href);
    url.searchParams.set("for", form.dataset.puzzleFor);
    try {
      const response = await window.fetch(url, { credentials: "omit", cache: "no-store", referrerPolicy: "no-referrer" });
      const answer = response.ok ? await response.json() : null;
      return (answer && answer.puzzle) || null;
    } catch (e) {
      return null; // the request itself then meets the limit, and its 429 brings the puzzle
    }
  }

  /* The text of an error page the server sent instead of a redirect. */
  function pageMessage(html) {
    const page = new DOMParser().parseFromString(html, "text/html");
    const found = page.querySelector("#error, #already-sent, #error-summary li, h1");
    return found ? found.textContent.trim() : "";
  }

  /* The server path with the limit reached: solve, then send the form as the
   * browser would (the server answers with a redirect to the receipt page). */
  function submit(form, event) {
    event.preventDefault();
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    // As without JavaScript: under the limit, or if the puzzle cannot be
    // solved here (then the server's 429 page says to wait).
    const post = () => HTMLFormElement.prototype.submit.call(form);
    probe(form).then(async (puzzle) => {
      if (!puzzle) {
        post();
        return;
      }
      let solution;
      try {
        solution = await solveShown(form, puzzle);
      } catch (e) {
        post();
        return;
      }
      let response;
      try {
        response = await window.fetch(form.action, {
          method: "POST", body: new FormData(form), credentials: "omit", cache: "no-store",
          referrerPolicy: "no-referrer", headers: { "Tipdrop-Puzzle": "accept", [SOLUTION_HEADER]: solution },
        });
      } catch (e) {
        button.disabled = false;
        const status = document.getElementById("form-status");
        status.textContent = form.dataset.msgNetwork;
        status.hidden = false;
        return;
      }
      if (response.ok && response.redirected) {
        form.reset();
        window.location.replace(response.url); // the one-time receipt page
        return;
      }
      button.disabled = false;
      const answer = await response.clone().json().catch(() => null);
      const status = document.getElementById("form-status");
      status.textContent = (answer && answer.message) || pageMessage(await response.text())
        || form.dataset.msgNetwork;
      status.hidden = false;
    });
    return true;
  }

  window.TipdropPuzzle = { solveShown, submit, solve };
})();
