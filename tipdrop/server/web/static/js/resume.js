/* Send a device-sealed report in pieces that survive a dropped connection.
 *
 * docs/protocol.md section 19; the same steps as tipdrop/reporter/resumable.py.
 * The sealed parts (already ciphertext) are sent one after another in pieces
 * of the size the server names, each with its SHA-256, under a random upload
 * key made here with crypto.getRandomValues; the last request carries the
 * chain over every piece. When the network fails or the server asks to
 * wait, the page waits (longer each time, at once when the browser says it
 * is online again), asks the server how far it got, and goes on from there.
 * A finish whose answer was lost is asked again and answered the same: one
 * report, however often the connection drops.
 *
 * Past the submit limit, the request that begins the upload is answered 429
 * with an anti-flood puzzle (docs/protocol.md section 21): the page solves
 * it (puzzle.js, through ``solve``) and begins again with the solution. Only
 * that request is limited: the pieces and the finish of an upload the server
 * admitted are not, so a resumed upload never meets a puzzle again.
 *
 * A begin refused because the server holds as many open uploads as it
 * takes (503 ``TooManyUploadsError``) is tried again MAX_BUSY times, waiting
 * longer each time, then given up with a BusyError, which the page shows
 * (nothing was sent; the reporter may press again later) instead of
 * waiting for ever.
 *
 * An upload the server no longer holds (given up as idle, past its
 * lifetime, its pieces swept or damaged: the answers in GONE) is begun
 * again, under a new key, and the same sealed bytes are sent from the
 * start (docs/protocol.md section 19, "Starting over": the ciphertext binds
 * the tip id, not the upload, and the tip id is what keeps a report from
 * being stored twice). So is one the server made anew when the page asked
 * how far it got (a resumed begin answered 201). ``onRestart`` is told, so
 * the page can say so and reset its progress; after MAX_RESTARTS the page
 * gives up with a StartedOverError instead of sending for ever to a server
 * that keeps deleting the upload.
 *
 * Every begin names the report digest of the sealed bytes (docs/protocol.md
 * section 19, "Lost answers"). If the server stored them lately under
 * another upload (its answer was lost, then the upload too), it answers 409
 * ``ReportStoredError`` and ``send`` rejects with a StoredError: the report
 * is stored once, and the page says so instead of offering to send it again.
 * A success answer that cannot be read (cut off while it came) is asked for
 * again, as a lost one is.
 *
 * A request that makes no progress for ``stallMs`` (neither a byte of a
 * piece going up nor an answer coming down) is given up and counted as a
 * network failure: on a radio link that fades, or comes back with another
 * address, a connection can stay open with nothing moving on it for as
 * long as TCP keeps trying (a quarter of an hour), while the server has
 * long ended its side (TIPDROP_READ_TIMEOUT). The page then waits and asks
 * where to resume over a new connection, as after any drop.
 *
 * Everything lives in this page's memory only: the key, the sealed bytes
 * and the digests. Nothing is written to sessionStorage or IndexedDB: on a
 * phone shared with the person being reported, a kept key would let them
 * finish the upload and read its receipt, and kept ciphertext would show a
 * report was made (docs/threat-model.md, "Resumable uploads"). A closed tab
 * therefore starts again; the server deletes what it held a day or two later.
 */
(() => {
  "use strict";

  const C = window.TipdropCrypto;
  const ID_LABEL = "tipdrop/v1/upload-id";
  const START_LABEL = "tipdrop/v1/upload-start";
  const PIECE_LABEL = "tipdrop/v1/upload-piece";
  const REPORT_LABEL = "tipdrop/v1/report-digest";
  // The protocol's piece size, over which the report digest is taken.
  const PIECE_BYTES = 1048576;
  const AGAIN = new Set([408, 429, 502, 503, 504]);
  // A 409 is worth asking again only for these; another (a stale unit key) is final.
  const AGAIN_409 = new Set(["UploadBusyError", "PieceOutOfOrderError", "UploadIncompleteError"]);
  const again = (status, answer) => AGAIN.has(status)
    || (status === 409 && Boolean(answer) && AGAIN_409.has(answer.error));
  // The answers that say the server no longer holds the upload, and only
  // those: a refusal of the report itself (400, 413, a stale unit key) is final.
  const GONE = { 404: "UploadNotFoundError", 409: "UploadSweptError", 422: "ChainMismatchError" };
  const gone = (status, answer) => typeof GONE[status] === "string" && Boolean(answer)
    && answer.error === GONE[status];
  // New uploads of one report after the server lost the one before.
  const MAX_RESTARTS = 2;
  const MAX_PAUSE = 30000;
  // Puzzles solved in a row for one request before its refusal is shown
  // (each refused solution, expired or spent, comes back with a new puzzle).
  const MAX_SOLVES = 3;
  const SOLUTION_HEADER = "Tipdrop-Puzzle-Solution";
  // Busy answers (503) to a begin not yet admitted before the page gives up.
  const MAX_BUSY = 4; // waits of 1, 2, 4 and 8 s
  // A request with nothing moving for this long is given up (the page's
  // form names the server's read timeout and some more: submit.html).
  const STALL_MS = 30000;

  class RefusedError extends Error {
    constructor(status, answer) {
      super((answer && answer.message) || `HTTP ${status}`);
      this.status = status;
      this.answer = answer;
    }
  }

  /* The server takes no new upload now: the page says so and stops. */
  class BusyError extends RefusedError {}

  /* The server lost the upload again after MAX_RESTARTS new ones: the page says so and stops. */
  class StartedOverError extends RefusedError {}

  /* The report is stored, but its answer (and receipt) was lost: the page says so and stops. */
  class StoredError extends RefusedError {}
  const stored = (status, answer) => status === 409 && Boolean(answer)
    && answer.error === "ReportStoredError";

  /* The server no longer holds this upload: ``send`` begins a new one. */
  class GoneError extends RefusedError {}

  async function sha256(data) {
    return new Uint8Array(await crypto.subtle.digest("SHA-256", data));
  }

  async function uploadId(key) {
    return C.bytesToHex(await sha256(C.canonicalEncode(ID_LABEL, [C.hexToBytes(key)])));
  }

  async function chainStart(upload) {
    return sha256(C.canonicalEncode(START_LABEL, [upload]));
  }

  async function chainNext(previous, index, digest) {
    return sha256(C.canonicalEncode(PIECE_LABEL, [previous, index, digest]));
  }

  /* SHA-256 of each PIECE_BYTES of ``body``, in order (one piece in memory at a time). */
  async function pieceDigests(body) {
    const digests = [];
    for (let at = 0; at < body.size; at += PIECE_BYTES) {
      digests.push(await sha256(await body.slice(at, at + PIECE_BYTES).arrayBuffer()));
    }
    return digests;
  }

  /* The begin's report_digest (hex): the tip id and every piece's digest. */
  async function reportDigest(tipId, digests) {
    return C.bytesToHex(await sha256(C.canonicalEncode(REPORT_LABEL, [tipId, ...digests])));
  }

  function newKey() {
    return C.bytesToHex(crypto.getRandomValues(new Uint8Array(16)));
  }

  /* Wait ``ms``, or less if the browser comes back online meanwhile. */
  function pause(ms) {
    return new Promise((resolve) => {
      const done = () => { window.removeEventListener("online", done); clearTimeout(timer); resolve(); };
      const timer = setTimeout(done, ms);
      window.addEventListener("online", done);
    });
  }

  async function callJson(url, key, doc, solution, stallMs) {
    const headers = { "Content-Type": "application/json", "Idempotency-Key": key };
    if (solution) headers[SOLUTION_HEADER] = solution;
    // A small document each way: one that has not come back within stallMs
    // is given up (rejects, as a network failure) and asked again.
    const stop = new AbortController();
    const timer = setTimeout(() => stop.abort(), stallMs);
    let response, answer;
    try {
      response = await fetch(url, {
        method: "POST", body: JSON.stringify(doc), credentials: "omit", cache: "no-store",
        referrerPolicy: "no-referrer", headers, signal: stop.signal,
      });
      answer = await response.json().catch(() => null);
    } finally {
      clearTimeout(timer);
    }
    if (response.ok && (answer === null || typeof answer !== "object")) {
      // Cut off while it came: a network failure, asked again as a lost answer is.
      throw new TypeError("the answer could not be read");
    }
    return { status: response.status, answer };
  }

  /* PUT one piece; progress(bytes sent of this piece) as it goes. XHR, not
   * fetch: only XHR reports how much of a request body has gone. */
  function putPiece(url, key, data, digest, progress, stallMs) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      // Given up when nothing moved either way for stallMs (see above).
      let moved = Date.now();
      const watch = setInterval(() => {
        if (Date.now() - moved > stallMs) xhr.abort();
      }, 1000);
      xhr.onloadend = () => clearInterval(watch);
      xhr.onprogress = () => { moved = Date.now(); };
      xhr.open("PUT", url);
      xhr.setRequestHeader("Content-Type", "application/octet-stream");
      xhr.setRequestHeader("Idempotency-Key", key);
      xhr.setRequestHeader("Piece-Digest", C.bytesToHex(digest));
      xhr.upload.onprogress = (event) => {
        moved = Date.now();
        progress(event.loaded);
      };
      xhr.onload = () => {
        let answer = null;
        try { answer = JSON.parse(xhr.responseText); } catch (e) { answer = null; }
        resolve({ status: xhr.status, answer });
      };
      xhr.onerror = () => reject(new TypeError("network"));
      xhr.ontimeout = xhr.onerror;
      xhr.onabort = xhr.onerror;
      xhr.send(data);
    });
  }

  /* Send ``parts`` ([[name, Blob], ...]) with ``fields`` (region, category,
   * tip_id) to the uploads API at ``base`` (a path; ``query`` "?lang=..." is
   * added to every request); resolve with the finish answer, which links
   * the one-time receipt page.
   * ``onProgress(sentBytes, totalBytes)``; ``onWaiting()`` when the
   * connection failed and the page waits to resume; ``solve(puzzle)``
   * resolves with the solution of a 429's anti-flood puzzle (without it, a
   * 429 is waited out like any busy answer); ``onBusy()`` when a begin was
   * refused as the server holds too many open uploads and the page waits to
   * ask again (else ``onWaiting``); ``onRestart(n)`` when the server lost
   * the upload and the n-th new one begins, from the first byte;
   * ``stallMs``: how long a request may go with nothing moving. Rejects
   * with BusyError when it stays busy, with StartedOverError when the
   * server lost more than ``maxRestarts`` uploads of it. */
  async function send({ base, query, fields, parts, onProgress, onWaiting, onStoring, onBusy,
    onRestart, solve, maxRestarts = MAX_RESTARTS, stallMs = STALL_MS }) {
    const body = new Blob(parts.map(([, blob]) => blob));
    const known = await pieceDigests(body);
    const request = {
      ...fields, parts: parts.map(([name, blob]) => [name, blob.size]),
      report_digest: await reportDigest(fields.tip_id, known),
    };
    const total = body.size;
    let failures = 0;
    let restarts = 0;

    async function waitAfterFailure(busy) {
      failures += 1;
      if (busy && onBusy) onBusy();
      else if (onWaiting) onWaiting();
      await pause(Math.min(MAX_PAUSE, 500 * 2 ** Math.min(failures, 6)));
    }

    /* The server lost the upload: count it, or give up past the limit. */
    function startOver(refusal) {
      if (restarts >= maxRestarts) throw new StartedOverError(refusal.status, refusal.answer);
      restarts += 1;
      failures = 0;
      if (onRestart) onRestart(restarts);
      onProgress(0, total);
    }

    /* A JSON call under ``key``, repeated until the network and the server
     * let it through; resolves with { status, answer }. A solution is sent
     * again with every retry of the same request: if the server admitted it
     * and the answer was lost, the upload exists and the solution is not
     * looked at; if not, it is still unspent. ``admitted``: whether the
     * server took this upload before (then a 503 is waited out). */
    async function retrying(url, key, doc, admitted) {
      let solution = null;
      let solves = 0;
      let busy = 0;
      for (;;) {
        let result;
        try {
          result = await callJson(url, key, doc, solution, stallMs);
        } catch (e) {
          await waitAfterFailure();
          continue;
        }
        const puzzle = result.status === 429 && result.answer && result.answer.puzzle;
        if (puzzle && solve) {
          if (solves >= MAX_SOLVES) throw new RefusedError(result.status, result.answer);
          solves += 1;
          try {
            solution = await solve(puzzle);
          } catch (e) {
            throw new RefusedError(result.status, result.answer); // not a puzzle this page solves
          }
          continue;
        }
        if (stored(result.status, result.answer)) {
          throw new StoredError(result.status, result.answer);
        }
        if (gone(result.status, result.answer)) throw new GoneError(result.status, result.answer);
        if (!again(result.status, result.answer)) {
          if (result.status >= 400) throw new RefusedError(result.status, result.answer);
          return result;
        }
        const full = !admitted && result.status === 503;
        if (full) {
          busy += 1;
          if (busy > MAX_BUSY) throw new BusyError(result.status, result.answer);
        }
        await waitAfterFailure(full);
      }
    }

    /* One upload of the whole body under a new key, to its finish answer. */
    async function upload() {
      const key = newKey();
      const digests = [];
      // Until the server admits the upload, a 503 may mean it holds too many.
      let admitted = false;

      async function digestsUpTo(count, pieceBytes) {
        digests.length = Math.min(digests.length, count);
        while (digests.length < count) {
          if (pieceBytes === PIECE_BYTES) {
            digests.push(known[digests.length]);
            continue;
          }
          const at = digests.length * pieceBytes;
          digests.push(await sha256(await body.slice(at, at + pieceBytes).arrayBuffer()));
        }
      }

      let status;
      for (;;) {
        const begun = await retrying(`${base}${query}`, key, request, admitted);
        // Asked how far it got, the server made the upload anew (it had lost
        // it, and this key with it): it starts over from the first byte.
        if (admitted && begun.status === 201) startOver(begun);
        admitted = true;
        status = begun.answer;
        const { received, pieces, piece_bytes: pieceBytes } = status;
        await digestsUpTo(received, pieceBytes);
        onProgress(Math.min(total, received * pieceBytes), total);
        if (status.state !== "open" || received === pieces) break;
        let stopped = false;
        for (let index = received; index < pieces; index += 1) {
          const data = body.slice(index * pieceBytes, (index + 1) * pieceBytes);
          const digest = pieceBytes === PIECE_BYTES ? known[index]
            : await sha256(await data.arrayBuffer());
          let result;
          try {
            result = await putPiece(`${base}/pieces/${index}${query}`, key, data, digest,
              (sent) => onProgress(Math.min(total, index * pieceBytes + sent), total), stallMs);
          } catch (e) {
            result = null;
          }
          if (!result || result.status !== 200) {
            if (result && gone(result.status, result.answer)) {
              throw new GoneError(result.status, result.answer);
            }
            // A damaged piece (422) is sent again; a busy answer or a lost one is waited out.
            if (result && !again(result.status, result.answer) && result.status !== 422) {
              throw new RefusedError(result.status, result.answer);
            }
            stopped = true;
            break;
          }
          failures = 0;
          digests.push(digest);
        }
        if (!stopped) break;
        await waitAfterFailure();
      }
      await digestsUpTo(status.pieces, status.piece_bytes);
      let chain = await chainStart(await uploadId(key));
      for (const [index, digest] of digests.entries()) chain = await chainNext(chain, index, digest);
      if (onStoring) onStoring();
      const finished = await retrying(`${base}/finish${query}&receipt_page=yes`, key,
        { chain: C.bytesToHex(chain) }, true);
      return finished.answer;
    }

    for (;;) {
      try {
        return await upload();
      } catch (e) {
        if (!(e instanceof GoneError)) throw e;
        startOver(e); // the same sealed bytes, under a new key
      }
    }
  }

  window.TipdropResume = Object.freeze({
    send, uploadId, chainStart, chainNext, reportDigest, RefusedError, BusyError, StartedOverError,
    StoredError, MAX_RESTARTS,
  });
})();
