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
//   page's one form and the app keeps the text for the tip (views.keep_typed): no question;
// - closing the tab, reloading, the browser's Back or another address asks the browser's own
//   question ("Leave site?") when a box holds text the app does not have yet: typed, and not
//   what the page came with (a text the app kept and gave back is not asked about);
// - in the inbox, a plain click on a tip's link sends the search form first, as the page's
//   buttons do, when it holds words or filters not searched yet: the app keeps them
//   (inboxform.py).
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

  // --- leaving the page ----------------------------------------------------------------
  // True from a form's sending (or the page's own move) to the browser's beforeunload: the
  // page leaves by the app's own way, which keeps the text or asked about it already.
  var leaving = false;

  function leave(url) {
    leaving = true;
    location.replace(url);
  }

  // Text the app does not have: a box changed from what the page came with, and not emptied.
  function changed() {
    var boxes = document.querySelectorAll("textarea, input:not([type]), input[type=text]");
    for (var i = 0; i < boxes.length; i++) {
      if (boxes[i].value.trim() !== "" && boxes[i].value !== boxes[i].defaultValue) return true;
    }
    return false;
  }

  function warnBeforeLeaving() {
    // The bubbling phase: after keepTypedText's question (capture), which may have said no.
    document.addEventListener("submit", function (event) {
      if (!event.defaultPrevented) leaving = true;
    });
    window.addEventListener("beforeunload", function (event) {
      if (leaving) {
        leaving = false;  // a form's answer that is a download leaves the page where it was
        return;
      }
      if (changed()) {
        event.preventDefault();
        event.returnValue = "";  // the browser asks, in its own words
      }
    });
  }

  // --- the inbox's search form -----------------------------------------------------------
  function fields(form) {
    return new URLSearchParams(new FormData(form)).toString();
  }

  // A plain click on a tip's link (a new tab loses nothing), the form changed since the page
  // came: the link is followed by the app's /leave, the form with it (views.leave).
  function carrySearch() {
    var form = document.getElementById("search-form");
    var tips = document.getElementById("tips");
    if (!form || !tips) return;
    var loaded = fields(form);
    tips.addEventListener("click", function (event) {
      var link = event.target.closest("a[href]");
      if (!link || event.defaultPrevented || event.button !== 0 || event.ctrlKey ||
          event.shiftKey || event.metaKey || event.altKey || fields(form) === loaded) return;
      event.preventDefault();
      var button = document.createElement("button");
      button.hidden = true;
      button.formNoValidate = true;
      button.formAction = form.dataset.leave + "?to=" +
        encodeURIComponent(link.pathname + link.search);
      form.appendChild(button);
      form.requestSubmit(button);
    });
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
        leave(unsent(null) ? "/?unsent=1" : "/");
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
          leave(state.next);
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
    warnBeforeLeaving();
    carrySearch();
  });
})();
