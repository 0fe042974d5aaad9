// Enhancements only: the pages work without JavaScript (a reload shows the same states).
// On the token screen: a countdown; a short poll that learns when the code was used
// (then "Paper given" and the time of the next portion), expired, or may have been used
// at an offline dispenser; and at expiry a new code, renewed automatically at most a few
// times in a row (a phone left on the page must not renew for ever).
(function () {
  "use strict";
  var MAX_AUTO_RENEWALS = 3;
  var MAX_POLL_SECONDS = 30;
  var storeKey = "fr-renewals:" + location.pathname.replace(/\/token$/, "");

  function renewals(value) {
    try {
      if (value === undefined) return parseInt(sessionStorage.getItem(storeKey) || "0", 10) || 0;
      sessionStorage.setItem(storeKey, String(value));
    } catch (e) { /* storage may be off in private modes: then no auto-renewal */ }
    return MAX_AUTO_RENEWALS;
  }

  // A person's own tap starts the count afresh (form.submit() below fires no event).
  var forms = document.querySelectorAll("form.get");
  for (var i = 0; i < forms.length; i++) {
    forms[i].addEventListener("submit", function () { renewals(0); });
  }

  var follow = document.getElementById("follow");
  if (!follow) return;
  var state = follow.getAttribute("data-state");
  var statusUrl = follow.getAttribute("data-status-url");
  var announce = document.getElementById("announce");
  var box = document.getElementById("countdown");
  var start = Date.now();

  function format(left) {
    var h = Math.floor(left / 3600), m = Math.floor((left % 3600) / 60), s = left % 60;
    var ms = (s < 10 ? "0" : "") + s;
    if (h > 0) return h + ":" + (m < 10 ? "0" : "") + m + ":" + ms;
    return m + ":" + ms;
  }

  function byId(id) { return document.getElementById(id); }

  // Which blocks each state shows (the server renders the same on a reload).
  var BLOCKS = {
    live: ["live-token"],
    given: ["given", "next"],
    maybe_used: ["maybe-used", "next", "renew-box"],
    expired: ["expired", "renew-box"]
  };
  var ALL = ["live-token", "given", "maybe-used", "next", "expired", "renew-box"];

  // --- the next portion: a sentence from the server and a countdown here ---------------
  var nextDeadline = 0, nextTimer = null;
  function nextTick() {
    var el = byId("next-countdown");
    if (!el) return;
    var left = Math.max(0, Math.round((nextDeadline - Date.now()) / 1000));
    if (left <= 0) {
      el.hidden = true;
      var text = byId("next-text");
      if (text) text.hidden = true;
      var now = byId("next-now");
      if (now) now.hidden = state !== "given";
      return;
    }
    el.hidden = false;
    el.textContent = el.getAttribute("data-next-left").replace("{time}", format(left));
    nextTimer = setTimeout(nextTick, 1000);
  }
  function startNext(seconds, text) {
    var line = byId("next-text");
    if (line && text !== undefined) { line.textContent = text; line.hidden = !text; }
    if (nextTimer) clearTimeout(nextTimer);
    var now = byId("next-now");
    if (now) now.hidden = true;
    nextDeadline = Date.now() + (seconds || 0) * 1000;
    nextTick();
  }

  // --- switching the screen to a state -------------------------------------------------
  function show(next, body) {
    state = next;
    follow.setAttribute("data-state", next);
    var wanted = BLOCKS[next] || BLOCKS.expired;
    for (var j = 0; j < ALL.length; j++) {
      var el = byId(ALL[j]);
      if (el) el.hidden = wanted.indexOf(ALL[j]) < 0;
    }
    var only = document.querySelectorAll(".maybe-only");
    for (var k = 0; k < only.length; k++) only[k].hidden = next !== "maybe_used";
    if (body) startNext(body.next_in, body.next_text);
    var heading = byId(wanted[0]) && byId(wanted[0]).querySelector("h1");
    if (announce && heading) {
      var line = byId("next-text");
      announce.textContent = heading.textContent +
        (line && !line.hidden && wanted.indexOf("next") >= 0 ? ". " + line.textContent : "");
    }
    if (next === "expired" || next === "maybe_used") renewWhenAccepted();
  }

  // --- the poll: one small request every few seconds while the answer can change -------
  var failures = 0, pollTimer = null, pollWanted = 0, inFlight = false;
  function schedule(seconds) {
    if (pollTimer) clearTimeout(pollTimer);
    pollTimer = null;
    pollWanted = seconds;
    if (seconds > 0) pollTimer = setTimeout(poll, seconds * 1000);
  }
  function poll() {
    pollTimer = null;
    if (document.hidden) return;  // resumed by visibilitychange; a hidden tab costs nothing
    if (inFlight) return;
    inFlight = true;
    var xhr = new XMLHttpRequest();
    xhr.open("GET", statusUrl);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.timeout = 10000;
    xhr.onload = function () {
      inFlight = false;
      var body = null;
      if (xhr.status === 200) {
        try { body = JSON.parse(xhr.responseText); } catch (e) { body = null; }
      }
      if (!body) return retry();
      failures = 0;
      if (body.state === "none") return schedule(0);
      // A dispenser refused the live code (another dispenser's, a clock off): say why.
      var refusal = byId("refusal");
      if (refusal && body.state === "live" && (body.refusal_text || "") !== refusal.textContent) {
        refusal.textContent = body.refusal_text || "";
        refusal.hidden = !body.refusal_text;
      }
      var line = byId("next-text");
      var newText = line && body.next_text !== undefined && body.next_text !== line.textContent;
      // "live" after the countdown ran out is the server's clock lagging a moment: keep
      // saying "expired" and ask again.
      var lagging = body.state === "live" && state !== "live";
      if (!lagging && (body.state !== state || (newText && state !== "live"))) {
        show(body.state, body);
      }
      schedule(body.poll || 0);
    };
    xhr.onerror = xhr.ontimeout = function () { inFlight = false; retry(); };
    xhr.send();
  }
  // A weak network or a busy server: back off (2, 4, 8 ... 30 s), never give up while live.
  function retry() {
    failures += 1;
    var base = pollWanted || 2;
    schedule(Math.min(MAX_POLL_SECONDS, base * Math.pow(2, failures)));
  }
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden && pollWanted > 0 && !pollTimer) poll();
  });

  // --- renewal of an unused code ---------------------------------------------------------
  var renewing = false;
  function renewWhenAccepted() {
    var form = byId("renew");
    // Not while the dispenser is offline: until its reports arrive the backend cannot
    // tell a used code from an unused one, so a new code is only given on request.
    if (state !== "expired" || renewing || !box) return;
    if (box.getAttribute("data-auto-renew") !== "yes") return;
    if (!form || renewals() >= MAX_AUTO_RENEWALS) return;
    renewing = true;
    var renewAt = start + (parseInt(box.getAttribute("data-renew-after"), 10) || 0) * 1000;
    var wait = byId("renew-wait");
    var waitText = box.getAttribute("data-renew-wait");
    (function waitThenRenew() {
      if (state !== "expired") { renewing = false; return; }  // a late report: paper given
      var left = Math.max(0, Math.ceil((renewAt - Date.now()) / 1000));
      if (left > 0) {
        if (wait) wait.textContent = waitText.replace("{time}", format(left));
        setTimeout(waitThenRenew, 1000);
        return;
      }
      renewals(renewals() + 1);
      form.submit();
    })();
  }

  // --- the live code's countdown ---------------------------------------------------------
  function startCountdown() {
    var seconds = parseInt(box.getAttribute("data-seconds"), 10);
    if (!(seconds >= 0)) return;
    // Count from the server's figure, not the phone's clock, which may be wrong.
    var deadline = start + seconds * 1000;
    var clock = byId("remaining");
    var leftText = box.getAttribute("data-left");
    var spoken = {};
    (function tick() {
      if (state !== "live") return;
      var left = Math.max(0, Math.round((deadline - Date.now()) / 1000));
      clock.textContent = leftText.replace("{time}", format(left));
      // Screen readers hear the time at a few moments, not every second.
      if ((left === 60 || left === 30 || left === 10) && !spoken[left] && announce) {
        spoken[left] = true;
        announce.textContent = clock.textContent;
      }
      if (left <= 0) {
        // Ask the server what became of the code; if it cannot be asked, say what is known.
        var offline = box.getAttribute("data-auto-renew") !== "yes";
        show(offline ? "maybe_used" : "expired");
        schedule(0);
        poll();
        return;
      }
      setTimeout(tick, 250);  // often enough that the display never skips a second
    })();
  }

  if (state === "live" && box) startCountdown();
  var nextBox = byId("next-countdown");
  if (nextBox && (state === "given" || state === "maybe_used")) {
    startNext(parseInt(nextBox.getAttribute("data-next-in"), 10) || 0);
  }
  if (state === "expired") renewWhenAccepted();
  schedule(parseInt(follow.getAttribute("data-poll"), 10) || 0);
})();
