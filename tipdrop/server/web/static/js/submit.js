/* Encrypt the report on the reporter's own device before it is sent.
 *
 * Progressive enhancement of /submit. Without JavaScript, or in a browser
 * whose WebCrypto lacks X25519, nothing here runs and the form posts as it
 * always did: the server encrypts on arrival. When it runs, the report and
 * each file are sealed in the page to the unit's public key (served with the
 * page, checked against its key id), photos are cleaned of identifying
 * metadata first (photo-clean.js), with a progress bar, and only
 * ciphertext goes to /api/v1/uploads, in pieces that resume after a
 * dropped connection (resume.js). The tab then moves on to the one-time receipt page
 * (replacing this one in its history); the page says which path protected
 * the report. Formats: docs/protocol.md; the same steps as tipdrop/protocol/device.py.
 */
(() => {
  "use strict";

  const form = document.getElementById("report-form");
  const C = window.TipdropCrypto;
  const P = window.TipdropPhotos;
  const R = window.TipdropResume;
  if (!form) return;
  // Without JavaScript every category's questions are a closed <details>
  // the reporter opens; here only the chosen category's show, open.
  const note = document.getElementById("questions-note");
  if (note) note.remove();
  const QUESTIONS = JSON.parse(form.dataset.questions || "{}");
  const YES_NO = { yes: true, no: true };

  /* Show and enable only the chosen category's questions: a disabled
   * fieldset's fields are neither sent nor checked. */
  function showQuestions() {
    const category = form.elements.category.value;
    for (const set of form.querySelectorAll("fieldset.questions")) {
      const mine = set.dataset.category === category;
      set.disabled = !mine;
      const box = set.closest("details");
      box.hidden = !mine;
      box.open = mine;
    }
  }
  // The field's own legend names the category: the summary would say it twice.
  for (const summary of form.querySelectorAll("details.questions > summary")) summary.hidden = true;
  form.elements.category.addEventListener("change", showQuestions);
  showQuestions();

  /* The answer to one question as typed, and the element to point an error at. */
  function answerOf(category, question) {
    const name = `q.${category}.${question.id}`;
    const element = form.elements[name];
    const value = element ? String(element.value || "").replace(/\r\n/g, "\n").trim() : "";
    const id = `q-${category}-${question.id}`;
    return { value, target: question.kind === "yes-no" ? `${id}-yes` : id };
  }

  /* The report's "answers", exactly as tipdrop/protocol/questions.py answers_document
   * makes them: the answered questions in order, with the labels read here. */
  function answersDocument(category, lang) {
    const answers = [];
    for (const question of QUESTIONS[category] || []) {
      const { value } = answerOf(category, question);
      if (!value) continue;
      const label = question.label[lang] || question.label.en;
      const answer = { id: question.id, kind: question.kind, label, value };
      if (question.kind === "choice") {
        const option = question.options.find((o) => o.id === value);
        answer.value_label = option.label[lang] || option.label.en;
      } else if (question.kind === "yes-no") {
        const radio = document.getElementById(`q-${category}-${question.id}-${value}`);
        answer.value_label = radio.closest("label").textContent.trim();
      }
      answers.push(answer);
    }
    return answers;
  }

  function realDay(value) {
    if (!/^[0-9]{4}-[0-9]{2}-[0-9]{2}$/.test(value)) return false;
    const [y, m, d] = value.split("-").map(Number);
    const date = new Date(Date.UTC(y, m - 1, d));
    return date.getUTCFullYear() === y && date.getUTCMonth() === m - 1 && date.getUTCDate() === d;
  }

  function answerErrors() {
    const category = form.elements.category.value;
    const errors = [];
    for (const question of QUESTIONS[category] || []) {
      const { value, target } = answerOf(category, question);
      if (!value) {
        if (question.required) errors.push([target, form.dataset.msgAnswer]);
        continue;
      }
      const valid = question.kind === "date" ? realDay(value)
        : question.kind === "choice" ? question.options.some((o) => o.id === value)
          : question.kind === "yes-no" ? value in YES_NO
            : value.length <= question.max_length;
      if (!valid) errors.push([target, form.dataset.msgAnswerInvalid]);
    }
    return errors;
  }
  // Without the photo cleaner, photos would leave uncleaned: keep the server
  // path (WebCrypto exists only in secure contexts: HTTPS, onion, localhost).
  const canSeal = Boolean(C && P && R && window.crypto && window.crypto.subtle);

  const MAX_PHOTO_BYTES = 32 * 1024 * 1024; // as the server (attachments.py)
  const MAX_ATTACHMENTS = 10;
  const BATCH = 32; // sealed chunks gathered before handing them to a Blob

  let ready = false;

  class ReporterError extends Error {}

  function say(message) {
    const box = document.getElementById("form-status");
    box.textContent = message;
    box.hidden = !message;
  }

  async function x25519Works() {
    try {
      await crypto.subtle.generateKey({ name: "X25519" }, false, ["deriveBits"]);
      return true;
    } catch (e) {
      return false;
    }
  }

  /* The unit key for a region, refusing a document whose key id does not
   * match its keys (docs/protocol.md section 6). */
  async function recipientFor(region) {
    const bad = () => new ReporterError(form.dataset.msgKeyBad);
    let doc, key, x25519, ed25519;
    try {
      doc = JSON.parse(form.dataset.keys);
      const unit = doc.regions[region];
      key = unit && doc.units[unit];
      if (!key || key.tipdrop !== "unit-public-key" || key.version !== 1 || key.unit !== unit) {
        throw bad();
      }
      x25519 = C.base64ToBytes(key.x25519);
      ed25519 = C.base64ToBytes(key.ed25519);
    } catch (e) {
      throw bad();
    }
    if (x25519.length !== 32 || ed25519.length !== 32) throw bad();
    const encoded = C.canonicalEncode("tipdrop/v1/key-id", [key.unit, x25519, ed25519]);
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", encoded));
    if (C.bytesToHex(digest.slice(0, 16)) !== key.key_id) throw bad();
    return { keyId: C.hexToBytes(key.key_id), x25519 };
  }

  function field(name) {
    const element = form.elements[name];
    return element ? element.value.replace(/\r\n/g, "\n").trim() : "";
  }

  function newTipId() {
    return C.bytesToHex(crypto.getRandomValues(new Uint8Array(16)));
  }

  /* A file as it will be encrypted, and what its attachment-info says. */
  async function prepare(file, keepLocation) {
    const info = { size: file.size, name: file.name.slice(0, 255), type: (file.type || "").slice(0, 100) };
    const head = new Uint8Array(await file.slice(0, 8).arrayBuffer());
    if (!P.isPhoto(head)) return { blob: file, info };
    if (file.size > MAX_PHOTO_BYTES) throw new ReporterError(form.dataset.msgPhotoLarge);
    let cleaned;
    try {
      cleaned = await P.clean(new Uint8Array(await file.arrayBuffer()), keepLocation);
    } catch (e) {
      if (e && e.code === "photo-damaged") throw new ReporterError(form.dataset.msgPhotoDamaged);
      throw e;
    }
    Object.assign(info, {
      size: cleaned.data.length, photo: cleaned.kind,
      metadata_removed: cleaned.removed, kept_location_and_time: keepLocation,
    });
    return { blob: new Blob([cleaned.data]), info };
  }

  /* Encrypt chunk by chunk; folding batches into a Blob lets the browser
   * keep the ciphertext out of the JavaScript heap (and on disk if large).
   * The first piece is the stream's header, which the report binds.
   * ``sealed(n)`` is told of every n bytes of ciphertext made. */
  async function sealFile(blob, recipient, tipId, part, sealed) {
    let out = new Blob([]);
    let batch = [];
    let header = null;
    for await (const piece of C.encryptStream(blob, recipient, { tipId, part })) {
      if (header === null) header = piece;
      batch.push(piece);
      sealed(piece.length);
      if (batch.length >= BATCH) {
        out = new Blob([out, ...batch]);
        batch = [];
      }
    }
    return { stream: new Blob([out, ...batch]), header };
  }

  /* The progress bar and its words (bytes, percent, time left): the text is
   * not a live region, so a screen reader is not read every number; the
   * status line above it (aria-live) says each change of step. The time
   * left is a guess from the speed while sending: while the page waits for
   * the connection (hold) it is not shown, and the time waited does not
   * count in the speed once sending goes on (resume). */
  const progress = {
    box: document.getElementById("send-progress"),
    bar: document.getElementById("send-progress-bar"),
    text: document.getElementById("send-progress-text"),
    lang: document.documentElement.lang || "en",
    start(message) {
      this.message = message;
      this.began = performance.now();
      this.waited = 0;
      this.heldAt = null;
      this.box.hidden = false;
      this.show(0, 1);
    },
    hold() {
      if (this.heldAt === null) this.heldAt = performance.now();
      this.show(this.done, this.total);
    },
    resume() {
      if (this.heldAt === null) return;
      this.waited += performance.now() - this.heldAt;
      this.heldAt = null;
    },
    show(done, total) {
      this.done = done;
      this.total = total;
      const fraction = total > 0 ? Math.min(1, done / total) : 0;
      const mb = new Intl.NumberFormat(this.lang, { minimumFractionDigits: 1, maximumFractionDigits: 1 });
      const percent = new Intl.NumberFormat(this.lang, { style: "percent" }).format(fraction);
      let text = this.message.replace("{done}", mb.format(done / 1e6))
        .replace("{total}", mb.format(total / 1e6)).replace("{percent}", percent);
      const elapsed = (performance.now() - this.began - this.waited) / 1000;
      if (this.heldAt === null && fraction > 0.01 && fraction < 1 && elapsed > 2) {
        const left = Math.round(elapsed * (1 - fraction) / fraction);
        text += ", " + (left >= 120
          ? form.dataset.msgMinutesLeft.replace("{minutes}", String(Math.round(left / 60)))
          : form.dataset.msgSecondsLeft.replace("{seconds}", String(left)));
      }
      this.bar.value = Math.round(fraction * 1000);
      this.text.textContent = text;
    },
    stop() {
      this.box.hidden = true;
    },
  };

  /* Seal the report and its files; return the fields and the parts to send. */
  async function sealedReport() {
    const region = form.elements.region.value;
    const description = field("description");
    if (!description) throw new ReporterError(form.dataset.msgEmpty);
    const files = Array.from(form.elements.files.files || []).filter((f) => f.name);
    if (files.length > MAX_ATTACHMENTS) throw new ReporterError(form.dataset.msgTooMany);
    // Refuse before encrypting what the server would refuse after the upload.
    const sealedSize = files.reduce((sum, f) => sum + C.streamLength(f.size) + 4096, 0);
    if (sealedSize + 512 * 1024 > Number(form.dataset.maxBytes)) {
      throw new ReporterError(form.dataset.msgTooLarge);
    }
    const keep = form.elements.keep_location.checked;
    const recipient = await recipientFor(region);
    const tipId = newTipId();
    const names = files.map((_, i) => `a${i + 1}`);
    const category = form.elements.category.value;
    const parts = [];
    let sealedBytes = 0;
    const expected = Math.max(1, files.reduce((sum, f) => sum + C.streamLength(f.size), 0));
    progress.start(form.dataset.msgSealing);
    const onSealed = (n) => {
      sealedBytes += n;
      progress.show(Math.min(sealedBytes, expected), expected);
    };
    // The files first, so the report can bind each one (protocol.md section 14).
    const digests = {};
    for (const [i, file] of files.entries()) {
      const part = names[i];
      const { blob, info } = await prepare(file, keep);
      const sealedInfo = await C.sealEnvelope(C.utf8(JSON.stringify(info)), recipient,
        { kind: "attachment-info", tipId, part });
      const { stream, header } = await sealFile(blob, recipient, tipId, part, onSealed);
      digests[part] = await C.attachmentDigest(sealedInfo, header);
      parts.push([`${part}-info`, new Blob([sealedInfo])], [part, stream]);
    }
    const report = {
      format: "tipdrop-report", version: 1, tip_id: tipId,
      region, category,
      what: field("what"), where: field("where"), when: field("when"),
      description, contact: field("contact"),
      language: document.documentElement.lang || "", attachments: names,
      attachment_digests: digests,
      // Bound so the export's clear label cannot say otherwise (protocol.md section 14).
      // The receipt is made by the server after this is sealed: its reply key cannot be bound here.
      sealed_by: "device",
    };
    const answers = answersDocument(category, report.language);
    // As tipdrop/protocol/device.py: no "answers" member when nothing was answered.
    if (answers.length) report.answers = answers;
    const envelope = await C.sealEnvelope(C.utf8(JSON.stringify(report)), recipient, { kind: "tip", tipId });
    parts.push(["tip", new Blob([envelope])]);
    progress.show(expected, expected);
    return { fields: { region, category, tip_id: tipId }, parts };
  }

  /* Only if the one-time receipt page cannot be reached: the code in this
   * page, announced and focused. The language links would lose it, so they
   * go; reloading this page loses it too, which the page says. */
  function showReceipt(receipt) {
    const template = document.getElementById("device-receipt");
    const page = template.content.cloneNode(true);
    page.querySelector("#receipt").textContent = receipt;
    document.getElementById("main").replaceChildren(page);
    const nav = document.querySelector("nav.languages");
    if (nav) nav.remove();
    window.scrollTo(0, 0);
    document.getElementById("receipt-title").focus();
  }

  /* The form's own errors, before anything is encrypted (page.js shows them). */
  function invalidFields() {
    const errors = [];
    if (!form.elements.region.value) errors.push(["region", form.dataset.msgRegion]);
    if (!form.elements.category.value) errors.push(["category", form.dataset.msgCategory]);
    errors.push(...answerErrors());
    if (!field("description")) errors.push(["description", form.dataset.msgEmpty]);
    return errors;
  }

  function offerServerPath() {
    // Encryption here failed for a reason the reporter cannot fix. Nothing
    // was sent; the page now says the server would encrypt the report, and
    // only a second press of the button sends it that way (the form posts
    // as it does without JavaScript, and the receipt page says so too).
    ready = false;
    const note = document.getElementById("protection");
    note.textContent = form.dataset.msgServerPath;
    note.dataset.encryptedOn = "server";
    say(form.dataset.msgDeviceFailed);
  }

  async function send(event) {
    const errors = invalidFields();
    if (window.TipdropPage) window.TipdropPage.showErrors(form, errors);
    if (errors.length) {
      event.preventDefault();
      return;
    }
    if (!ready) {
      // The server path, as without JavaScript; past a reached limit, the puzzle first (puzzle.js).
      if (window.TipdropPuzzle) window.TipdropPuzzle.submit(form, event);
      return;
    }
    event.preventDefault();
    if (form.elements.website.value) { // the hidden field only robots fill in
      say(form.dataset.msgRefused);
      return;
    }
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    say(form.dataset.msgWorking);
    let sealed;
    try {
      sealed = await sealedReport();
    } catch (e) {
      progress.stop();
      button.disabled = false;
      if (e instanceof ReporterError) say(e.message);
      else offerServerPath();
      return;
    }
    // The uploads API's path; every request carries the page's language.
    const base = new URL(form.dataset.uploadsUrl, window.location.href).pathname;
    const query = `?lang=${encodeURIComponent(document.documentElement.lang || "")}`;
    let answer;
    let waiting = false;
    progress.start(form.dataset.msgSending);
    say(form.dataset.msgWorking);
    try {
      answer = await R.send({
        base, query, ...sealed,
        stallMs: 1000 * Number(form.dataset.stallSeconds || 30),
        onProgress: (done, total) => {
          if (waiting) say(form.dataset.msgWorking); // the server answered again
          waiting = false;
          progress.resume();
          progress.show(done, total);
        },
        onWaiting: () => {
          waiting = true;
          progress.hold();
          say(form.dataset.msgOffline);
        },
        onBusy: () => {
          waiting = true;
          progress.hold();
          say(form.dataset.msgBusyWaiting);
        },
        onStoring: () => say(form.dataset.msgStoring),
        // The server lost the unfinished upload: the page sends it again from
        // the start, and says so, with the progress bar back at zero.
        onRestart: () => {
          waiting = false;
          progress.start(form.dataset.msgSending);
          say(form.dataset.msgRestarted);
        },
        // Past the submit limit: the anti-flood puzzle, solved here (puzzle.js).
        solve: window.TipdropPuzzle && ((puzzle) => window.TipdropPuzzle.solveShown(form, puzzle)),
      });
    } catch (e) {
      progress.stop();
      if (e instanceof R.StoredError) {
        // The report is stored; its answer was lost (docs/protocol.md section 19,
        // "Lost answers"). The server's message says so in the page's language;
        // the form is emptied and the button stays off, so it is not sent twice.
        sealed = null;
        form.reset();
        say(e.message);
        return;
      }
      button.disabled = false;
      if (e instanceof R.BusyError) say(form.dataset.msgBusy);
      else if (e instanceof R.StartedOverError) say(form.dataset.msgStartedOver);
      else say((e instanceof R.RefusedError && e.message) || form.dataset.msgNetwork);
      return;
    }
    // Nothing of the upload is kept: the page's memory goes with it.
    sealed = null;
    if (answer && answer.receipt) {
      form.reset();
      if (answer.receipt_page) {
        // Replace this page in the tab's history: Back leads before the form.
        window.location.replace(answer.receipt_page);
      } else {
        progress.stop();
        showReceipt(answer.receipt);
      }
      return;
    }
    progress.stop();
    button.disabled = false;
    say((answer && answer.message) || form.dataset.msgNetwork);
  }

  form.noValidate = true; // errors are shown by invalidFields, in the page's language
  form.addEventListener("submit", send);
  if (!canSeal) return;
  x25519Works().then((works) => {
    if (!works) return;
    ready = true;
    const note = document.getElementById("protection");
    note.textContent = form.dataset.msgDevice;
    note.dataset.encryptedOn = "device";
  });
})();
