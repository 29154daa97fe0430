/* Encrypt a follow-up typed on the status page on the reporter's own device.
 *
 * Progressive enhancement of the status page's form. Without JavaScript
 * the text is posted as a form: the server encrypts it on arrival. With
 * JavaScript the form is posted by fetch (see post() below), and in a
 * browser whose WebCrypto lacks X25519 it still carries the text for the
 * server to encrypt. When sealing works, the message is sealed in the page, as the reference client seals it
 * (tipdrop/protocol/device.py; docs/protocol.md section 13), to the unit key served
 * with the page (checked against its key id) as follow-up number N, also
 * served with the page; only the envelope is posted, in the hidden field
 * "sealed", and the text field is not sent at all. The page never holds the
 * receipt, so this follow-up is not signed (protocol.md section 14): the
 * officer's tool labels it sealed on a device, unsigned.
 */
(() => {
  "use strict";

  const form = document.getElementById("followup-form");
  const C = window.TipdropCrypto;
  if (!form || !window.fetch || !window.URLSearchParams) return;

  const MAX_TEXT = 20000; // code points, as tips.MAX_FOLLOWUP
  let ready = false;

  function say(message) {
    const box = document.getElementById("followup-status");
    box.textContent = message;
    box.hidden = !message;
  }

  function hidden(name, value) {
    const input = document.createElement("input");
    input.type = "hidden";
    input.name = name;
    input.value = value;
    form.appendChild(input);
  }

  async function seal(text) {
    const recipient = await C.recipientFromDocument(JSON.parse(form.dataset.key));
    const part = form.dataset.part;
    if (!/^f[1-9][0-9]{0,8}$/.test(part) || !/^[0-9a-f]{32}$/.test(form.dataset.tipId)) {
      throw new Error("the page has no valid follow-up number or tip id");
    }
    const document_ = { format: "tipdrop-followup", version: 1, text, sealed_by: "device" };
    const envelope = await C.sealEnvelope(C.utf8(JSON.stringify(document_)), recipient,
      { kind: "followup", tipId: form.dataset.tipId, part });
    return { part, sealed: C.bytesToBase64(envelope) };
  }

  function offerServerPath() {
    // Nothing was sent; only a second press sends the text for the server to seal.
    ready = false;
    const note = document.getElementById("followup-protection");
    note.dataset.encryptedOn = "server";
    note.textContent = form.dataset.msgServerPath || note.textContent;
    say(form.dataset.msgDeviceFailed);
  }

  /* Post the fields with fetch, never as a navigation: Chromium keeps the
   * body of a POST it navigated with (here the token, which names the tip,
   * or the text) in its session files when the answer is a page, and a
   * refused follow-up's answer is one (tipdrop/server/web/refusals.py). So
   * a refusal is shown here, and the text stays in the box to send again
   * or copy; only a message that was added leads to the next page. */
  async function post(fields) {
    let response;
    let page;
    try {
      response = await fetch(form.action, {
        method: "POST", body: new URLSearchParams(fields), credentials: "same-origin",
      });
      if (response.ok) {
        window.location.assign(response.url);
        return;
      }
      page = new DOMParser().parseFromString(await response.text(), "text/html");
    } catch (e) {
      say(form.dataset.msgNetwork);
      return;
    }
    const sent = page.querySelector("#already-sent");
    const reason = sent || page.querySelector("#error");
    const text = reason ? reason.textContent.trim() : "";
    say(sent ? text : `${text} ${form.dataset.msgKept}`.trim());
  }

  async function send(event) {
    event.preventDefault();
    const textarea = form.elements.text;
    const text = textarea.value.replace(/\r\n/g, "\n").trim();
    if (!text) {
      say(form.dataset.msgEmpty);
      return;
    }
    if ([...text].length > MAX_TEXT) return; // maxlength stops this; the server says why
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    say("");
    const fields = { token: form.elements.token.value };
    if (ready) {
      // The text itself is not posted: only the envelope sealed here.
      try {
        Object.assign(fields, await seal(text));
      } catch (e) {
        button.disabled = false;
        offerServerPath();
        return;
      }
    } else {
      fields.text = textarea.value; // the server path, sealed on arrival
    }
    try {
      await post(fields);
    } finally {
      button.disabled = false;
    }
  }

  const canSeal = C && window.crypto && crypto.subtle;
  if (canSeal) crypto.subtle.generateKey({ name: "X25519" }, false, ["deriveBits"]).then(() => {
    ready = true;
    const note = document.getElementById("followup-protection");
    form.dataset.msgServerPath = note.textContent;
    note.textContent = form.dataset.msgDevice;
    note.dataset.encryptedOn = "device";
  }, () => {});
  form.addEventListener("submit", send);
})();
