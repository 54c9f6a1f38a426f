/* Clerk screens: small improvements over pages that work without script.
   - a USB QR scanner "types" the code and Enter: when no text field has the focus,
     the fast burst of keys is caught and sent to the scan form, so a form can be
     opened from any page (the queue's scan box has the focus anyway);
   - the queue refreshes itself while nobody is typing in it;
   - the "sending to the core system" box follows the forwarding worker. */
(function () {
  "use strict";

  // --- scanner keystrokes outside a text field -------------------------------------------
  var MAX_GAP_MS = 60;       // scanners send a key every few ms; people type far slower
  var buffer = "";
  var last = 0;
  function isTextField(el) {
    if (!el) { return false; }
    var tag = el.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || el.isContentEditable;
  }
  document.addEventListener("keydown", function (ev) {
    if (isTextField(ev.target) || ev.ctrlKey || ev.altKey || ev.metaKey) { return; }
    var now = Date.now();
    if (now - last > MAX_GAP_MS) { buffer = ""; }
    last = now;
    if (ev.key === "Enter") {
      if (buffer.length >= 16) {
        ev.preventDefault();
        submitScan(buffer);
      }
      buffer = "";
      return;
    }
    if (ev.key && ev.key.length === 1) { buffer += ev.key; }
  });

  function submitScan(code) {
    var form = document.querySelector("[data-scan-form]");
    if (form) {
      form.querySelector("input[name=code]").value = code;
      form.submit();
      return;
    }
    var tokenField = document.querySelector("input[name=csrf_token]");
    var openUrl = document.body.getAttribute("data-open-url") || "/counter/open";
    if (!tokenField) { return; }
    var f = document.createElement("form");
    f.method = "post";
    f.action = openUrl;
    [["csrf_token", tokenField.value], ["code", code]].forEach(function (pair) {
      var input = document.createElement("input");
      input.type = "hidden";
      input.name = pair[0];
      input.value = pair[1];
      f.appendChild(input);
    });
    document.body.appendChild(f);
    f.submit();
  }

  // --- print and confirm act once, however often the button is pressed --------------------
  document.querySelectorAll("form[data-submit-once]").forEach(function (form) {
    form.addEventListener("submit", function () {
      form.querySelectorAll("button[type=submit]").forEach(function (b) {
        setTimeout(function () { b.disabled = true; }, 0);  // after the browser has taken the click
      });
    });
  });

  // --- the scan box: scanners set to end with Tab, and Japanese input left on ----------------
  var codeInput = document.getElementById("code");
  if (codeInput) {
    codeInput.addEventListener("keydown", function (ev) {
      if (ev.key === "Tab" && !ev.shiftKey && codeInput.value.trim().length >= 16) {
        ev.preventDefault();
        codeInput.form.submit();
      }
    });
    // The warning shows while Japanese input is on, and only then: a composition started, or
    // full-width text arrived (an IME's 全角 direct mode composes nothing); plain ASCII typed
    // without composing hides it again.
    var imeWarning = document.getElementById("ime-warning");
    var composing = false;
    function showIme(on) { if (imeWarning) { imeWarning.hidden = !on; } }
    codeInput.addEventListener("compositionstart", function () { composing = true; showIme(true); });
    codeInput.addEventListener("compositionend", function () { composing = false; });
    codeInput.addEventListener("input", function (ev) {
      if (composing || ev.isComposing) { showIme(true); return; }
      showIme(/[^\x00-\x7f]/.test(codeInput.value));
    });
  }

  // --- the queue refreshes itself ----------------------------------------------------------
  var queue = document.getElementById("queue");
  if (queue) {
    var seconds = parseInt(queue.getAttribute("data-refresh-seconds"), 10) || 20;
    var scanInput = document.getElementById("code");
    setInterval(function () {
      if (document.hidden || (scanInput && scanInput.value)) { return; }
      fetch(window.location.href, { credentials: "same-origin", headers: { "X-Requested-With": "refresh" } })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          if (!html) { return; }
          var doc = new DOMParser().parseFromString(html, "text/html");
          var fresh = doc.getElementById("queue");
          var count = doc.getElementById("waiting-count");
          if (fresh) { queue.innerHTML = fresh.innerHTML; }
          var mine = document.getElementById("waiting-count");
          if (count && mine) { mine.textContent = count.textContent; }
        })
        .catch(function () { /* offline for a moment: try again next time */ });
    }, seconds * 1000);
  }

  // --- kiosks calling for staff: the box on the queue refreshes every few seconds ------------
  var helpBox = document.getElementById("help-calls");
  if (helpBox && helpBox.getAttribute("data-refresh-url")) {
    setInterval(function () {
      if (document.hidden) { return; }
      fetch(helpBox.getAttribute("data-refresh-url"), { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          if (!html) { return; }
          var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("help-calls");
          if (fresh) { helpBox.replaceWith(fresh); helpBox = fresh; }
        })
        .catch(function () { /* offline for a moment: try again next time */ });
    }, 4000);
  }

  // --- forwarding state on the detail page -------------------------------------------------
  function followForwarding() {
    var box = document.getElementById("forwarding");
    var url = box && box.getAttribute("data-refresh-url");
    if (!url) { return; }
    setTimeout(function () {
      fetch(url, { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          if (html) {
            var doc = new DOMParser().parseFromString(html, "text/html");
            var fresh = doc.getElementById("forwarding");
            if (fresh) {
              box.replaceWith(fresh);
              // confirmed → forwarded: the state at the top of the page follows.
              var badge = document.querySelector(".detail-head .state");
              var state = fresh.getAttribute("data-state");
              if (badge && state) {
                badge.className = "state state-" + state;
                badge.textContent = fresh.getAttribute("data-state-label");
              }
            }
          }
          followForwarding();
        })
        .catch(followForwarding);
    }, 3000);
  }
  followForwarding();
})();
