// Enhancements only: the pages work without JavaScript.
// On the token screen: a countdown, and at expiry a new code, renewed automatically
// at most a few times in a row (a phone left on the page must not renew for ever).
(function () {
  "use strict";
  var MAX_AUTO_RENEWALS = 3;
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

  var box = document.getElementById("countdown");
  if (!box) return;
  var seconds = parseInt(box.getAttribute("data-seconds"), 10);
  if (!(seconds >= 0)) return;
  // Count from the server's figure, not the phone's clock, which may be wrong.
  var start = Date.now();
  var deadline = start + seconds * 1000;
  // A new code can replace this one only once the dispenser stops accepting it.
  var renewAfter = parseInt(box.getAttribute("data-renew-after"), 10) || 0;
  var renewAt = start + renewAfter * 1000;
  var clock = document.getElementById("remaining");
  var announce = document.getElementById("announce");
  var leftText = box.getAttribute("data-left");
  var spoken = {};

  function format(left) {
    var m = Math.floor(left / 60), s = left % 60;
    return m + ":" + (s < 10 ? "0" : "") + s;
  }

  function expire() {
    var live = document.getElementById("live-token");
    var expired = document.getElementById("expired");
    if (live) live.hidden = true;
    if (expired) expired.hidden = false;
    if (announce) announce.textContent = box.getAttribute("data-expired");
    var form = document.getElementById("renew");
    // Not while the dispenser is offline: until its reports arrive the backend cannot
    // tell a used code from an unused one, so a new code is only given on request.
    if (box.getAttribute("data-auto-renew") !== "yes") return;
    if (!form || renewals() >= MAX_AUTO_RENEWALS) return;
    var wait = document.getElementById("renew-wait");
    var waitText = box.getAttribute("data-renew-wait");
    (function waitThenRenew() {
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

  function tick() {
    var left = Math.max(0, Math.round((deadline - Date.now()) / 1000));
    clock.textContent = leftText.replace("{time}", format(left));
    // Screen readers hear the time at a few moments, not every second.
    if ((left === 60 || left === 30 || left === 10) && !spoken[left] && announce) {
      spoken[left] = true;
      announce.textContent = clock.textContent;
    }
    if (left <= 0) { expire(); return; }
    setTimeout(tick, 250);  // often enough that the display never skips a second
  }
  tick();
})();
