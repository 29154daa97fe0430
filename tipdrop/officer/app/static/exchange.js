// The officer app's one script, served to unlocked pages only (tipdrop/officer/app/exchange.py).
// Every page works without it; with it:
// - a transfer's progress bar moves without the page reloading itself;
// - the browser shows a notification when the automatic pull brought urgent reports
//   (how many, never a word of them), once the officer allowed it with a click;
// - when the app has locked itself, the page leaves the screen for the unlock page, which
//   then says if a reply or note typed in it was discarded (the text is kept nowhere);
// - typed text (a reply, a note) is not replaced or dropped without asking: "Use" on a
//   ready-made text (or another reply language) asks before replacing a typed reply, and
//   Lock before dropping it. Every other button of a tip's page, its links too, sends the
//   page's one form and the app keeps the text for the tip (views.keep_typed): no question.
"use strict";
(function () {
  var script = document.currentScript;
  var newsUrl = script.dataset.news;
  var autoPull = script.dataset.autoPull === "1";
  var every = Math.max(1, Number(script.dataset.every) || 30) * 1000;
  var discard = script.dataset.discard;

  // --- typed text ----------------------------------------------------------------------
  // Text the officer typed and has not sent: a text box that is not empty and not what the
  // page came with (a ready-made text left as it is loses nothing). ``except``: the form
  // being sent, whose own text goes with it.
  // A box the app gave back with the officer's own text in it (views.compose) is typed too.
  function typed(box) {
    return box.value.trim() !== "" && (box.value !== box.defaultValue || "typed" in box.dataset);
  }

  // The boxes: every text area, and the one-line text boxes (the duplicate's, the forward's).
  function unsent(except) {
    var boxes = document.querySelectorAll("textarea, input:not([type]), input[type=text]");
    for (var i = 0; i < boxes.length; i++) {
      if (boxes[i].form !== except && typed(boxes[i])) return true;
    }
    return false;
  }

  // "Use" on a ready-made text sends the reply form with its box: it would replace a typed
  // reply, so the page asks, and tells the app the officer agreed (without this script the
  // app keeps the typed reply and shows the ready-made text beside it).
  function keepTypedText() {
    document.addEventListener("submit", function (event) {
      var form = event.target;
      var message = document.getElementById("message");
      var replacing = event.submitter && event.submitter.id === "use-template" &&
        message && message.form === form && typed(message);
      if ((unsent(form) || replacing) && !window.confirm(discard)) {
        event.preventDefault();
        return;
      }
      if (replacing) {
        var agreed = form.querySelector("input[name=replace]");
        if (!agreed) {
          agreed = document.createElement("input");
          agreed.type = "hidden";
          agreed.name = "replace";
          form.appendChild(agreed);
        }
        agreed.value = "1";
      }
    }, true);
  }

  function getJSON(url) {
    return fetch(url, {credentials: "same-origin", cache: "no-store"}).then(function (answer) {
      return answer.ok ? answer.json() : null;
    }).catch(function () { return null; });
  }

  function canNotify() {
    return "Notification" in window && Notification.permission === "granted";
  }

  // --- news: urgent reports pulled, or the app locked -------------------------------
  function askForNews() {
    var notify = autoPull && canNotify();
    getJSON(newsUrl + (notify ? "?notify=1" : "")).then(function (news) {
      if (!news) return;
      if (news.locked) {
        // The unlock page, instead of decrypted text left on screen; it says if typed
        // text went with it (views.index), but the text itself is kept nowhere.
        location.replace(unsent(null) ? "/?unsent=1" : "/");
        return;
      }
      if (news.urgent && notify) {
        new Notification(news.title, {body: news.text, tag: "tipdrop-urgent"});
      }
    });
  }
  setInterval(askForNews, every);

  // --- the button that asks for the browser's permission -----------------------------
  function showPermission(box) {
    var state = document.getElementById("notify-state");
    var button = document.getElementById("notify");
    var permission = Notification.permission;
    button.hidden = permission !== "default";
    state.textContent = permission === "granted" ? box.dataset.granted
      : permission === "denied" ? box.dataset.denied : "";
  }

  function setUpPermission() {
    var box = document.getElementById("notify-box");
    if (!box || !("Notification" in window)) return;
    box.hidden = false;
    showPermission(box);
    document.getElementById("notify").addEventListener("click", function () {
      Notification.requestPermission().then(function () { showPermission(box); });
    });
  }

  // --- a transfer's progress ---------------------------------------------------------
  function followTransfer() {
    var bar = document.getElementById("transfer-progress");
    if (!bar) return;
    var text = document.getElementById("transfer-text");
    function poll() {
      getJSON(bar.dataset.poll).then(function (state) {
        if (state && state.finished) {
          location.replace(state.next);
          return;
        }
        if (state) {
          text.textContent = state.text;
          if (state.percent === null) bar.removeAttribute("value");
          else bar.value = state.percent;
        }
        setTimeout(poll, 500);
      });
    }
    setTimeout(poll, 300);
  }

  document.addEventListener("DOMContentLoaded", function () {
    setUpPermission();
    followTransfer();
    keepTypedText();
  });
})();
