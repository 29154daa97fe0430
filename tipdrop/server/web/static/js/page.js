/* On every reporter page: quick exit, nothing left behind, errors read first.
 *
 * Everything here is an enhancement; without JavaScript the quick exit is a
 * plain link, the server checks every form and the one-time pages close on
 * the server (tipdrop/server/web/pagelinks.py).
 */
(() => {
  "use strict";

  /* Leave for the neutral site, replacing this page in the tab's history so
   * that Back does not lead straight here (earlier pages of ours stay: no
   * browser lets a page remove them). Forms are emptied first. On a page
   * with a live one-time link (the receipt page) the link's href is our
   * route that closes it (reporter.leave_receipt_page): a beacon asks it to
   * close the page while the tab leaves at once, without waiting for an
   * answer over a slow network; if no beacon can be sent, the tab goes
   * through that route, which closes the page and then leaves. */
  function quickExit(event) {
    event.preventDefault();
    const link = event.currentTarget;
    const exit = link.dataset.exit || link.getAttribute("href");
    let target = exit;
    if (link.getAttribute("href") !== exit) {
      let sent = false;
      try {
        sent = navigator.sendBeacon(link.href);
      } catch (e) {
        sent = false;
      }
      if (!sent) target = link.href;
    }
    for (const form of document.forms) form.reset();
    document.getElementById("main").replaceChildren();
    window.location.replace(target);
  }

  /* The receipt code as /check reads it (tipdrop/protocol/receipts.py _normalise):
   * NFKC, no spaces, separators or invisible characters, capitals, and the
   * letters of a Cyrillic (Russian or Kazakh) keyboard that look like the Latin ones. */
  const DROP = /[\u0009-\u000d\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\-\u2010\u2013\u2014._/\u200b\u200c\u200d\u2060\ufeff\u00ad]/g;
  const LOOK_ALIKES = {
    O: "0", I: "1", L: "1", U: "V",
    "\u0410": "A", "\u0412": "B", "\u0415": "E", "\u041a": "K",
    "\u041c": "M", "\u041d": "H", "\u041e": "0", "\u0420": "P",
    "\u0421": "C", "\u0422": "T", "\u0425": "X", "\u0423": "Y",
    "\u0417": "3", "\u0406": "1",
    "\u04ae": "Y", "\u04b0": "Y", "\u049a": "K", "\u04a2": "H",
    "\u04ba": "H", "\u04e8": "0",
  };

  function normalise(text) {
    return Array.from(text.normalize("NFKC").replace(DROP, "").toUpperCase())
      .map((c) => LOOK_ALIKES[c] || c).join("");
  }

  /* Show errors for a form: each field marked and described by its message,
   * the summary filled with links to the fields and focused. */
  function showErrors(form, errors) {
    const summary = document.getElementById("error-summary");
    for (const field of form.querySelectorAll("[aria-invalid]")) {
      field.removeAttribute("aria-invalid");
      const note = document.getElementById(`${field.id}-error`);
      if (note) note.hidden = true;
      const described = (field.getAttribute("aria-describedby") || "").split(" ")
        .filter((id) => id && id !== `${field.id}-error`);
      if (described.length) field.setAttribute("aria-describedby", described.join(" "));
      else field.removeAttribute("aria-describedby");
    }
    const list = summary.querySelector("ul");
    list.replaceChildren();
    for (const [id, message] of errors) {
      const field = document.getElementById(id);
      let note = document.getElementById(`${id}-error`);
      if (!note) {
        note = document.createElement("p");
        note.id = `${id}-error`;
        note.className = "field-error";
        (field.closest("label.check") || field).after(note);
      }
      note.textContent = message;
      note.hidden = false;
      field.setAttribute("aria-invalid", "true");
      const described = (field.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
      field.setAttribute("aria-describedby", [`${id}-error`, ...described].join(" "));
      const item = document.createElement("li");
      const anchor = document.createElement("a");
      anchor.href = `#${id}`;
      anchor.textContent = message;
      anchor.addEventListener("click", (event) => {
        event.preventDefault();
        field.focus();
      });
      item.append(anchor);
      list.append(item);
    }
    summary.hidden = errors.length === 0;
    if (errors.length) summary.focus();
  }

  function checkDone(event) {
    const form = event.target;
    if (form.id !== "done-form") return;
    const code = document.getElementById("receipt").textContent.trim();
    const errors = [];
    if (normalise(form.elements.confirm.value) !== code.split("-").pop()) {
      errors.push(["confirm", form.dataset.msgConfirm]);
    }
    if (!form.elements.saved.checked) errors.push(["saved", form.dataset.msgSaved]);
    if (errors.length) {
      event.preventDefault();
      showErrors(form, errors);
    }
  }

  /* Whether a form of the page holds something typed or a file chosen
   * (the honeypot aside). */
  function typedSomething() {
    for (const form of document.forms) {
      for (const field of form.elements) {
        if (field.closest(".hp")) continue;
        if (field.type === "file" ? field.files.length > 0
          : (field.tagName === "TEXTAREA" || ["text", "search", "date"].includes(field.type))
            && field.value.trim() !== "") return true;
      }
    }
    return false;
  }

  /* The language links lose what was typed (it never travels in an address):
   * on a page with a form, ask first (the nav's data-confirm, in the page's language). */
  function askBeforeSwitching(event) {
    const question = event.currentTarget.closest("nav.languages").dataset.confirm;
    if (question && typedSomething() && !window.confirm(question)) event.preventDefault();
  }

  window.TipdropPage = { showErrors, normalise };

  document.addEventListener("DOMContentLoaded", () => {
    const exit = document.getElementById("quick-exit");
    if (exit) exit.addEventListener("click", quickExit);
    for (const link of document.querySelectorAll("nav.languages a")) {
      link.addEventListener("click", askBeforeSwitching);
    }
    document.addEventListener("submit", checkDone);
    // Errors first; else the receipt, announced by moving the focus to it.
    const summary = document.getElementById("error-summary");
    const receipt = document.getElementById("receipt-title");
    if (summary && !summary.hidden) summary.focus();
    else if (receipt) receipt.focus();
  });

  // Empty every form when the page is left, so a page kept in memory for
  // Back (the back/forward cache) holds nothing typed; a one-time page
  // brought back from that cache asks the server again, which has closed it.
  window.addEventListener("pagehide", () => {
    for (const form of document.forms) form.reset();
  });
  window.addEventListener("pageshow", (event) => {
    if (event.persisted && document.querySelector("[data-one-time]")) window.location.reload();
  });
})();
