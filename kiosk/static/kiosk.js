/* The kiosk page's helpers: follow the server's events (SSE, or long polling as a fallback),
   the idle prompt, the PIN pad and the on-screen keyboards. The server decides every step;
   this file only makes the touch screen usable and follows where the server says to go. */
(function () {
  "use strict";
  var doc = document.documentElement;
  doc.classList.add("js");
  var body = document.body;
  var data = body.dataset;
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  var since = parseInt(data.since || "0", 10) || 0;
  var leaving = false;
  var stream = null;

  function $(sel, root) { return (root || document).querySelector(sel); }
  function $$(sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); }

  // ---------------------------------------------------------------- server events
  function leave(url) {
    if (leaving) return;
    leaving = true;
    if (stream) stream.close();
    window.location.assign(url);
  }

  var hintTimer = null;
  function showOnly(attr, value, ms) {
    var box = $("[data-hints]");
    if (!box) return;
    $$("[data-hint],[data-status],[data-camera]", box).forEach(function (el) { el.hidden = true; });
    var el = $("[" + attr + '="' + value + '"]', box);
    if (!el) return;
    el.hidden = false;
    announce(el.textContent);
    clearTimeout(hintTimer);
    if (ms) hintTimer = setTimeout(function () { el.hidden = true; }, ms);
  }

  function announce(text) {
    var live = $("[data-live]");
    if (live) live.textContent = text;
  }

  function handle(ev) {
    if (!ev || !ev.type) return;
    if (ev.type === "navigate" && ev.url) leave(ev.url);
    else if (ev.type === "hint") showOnly("data-hint", ev.hint, 4000);
    else if (ev.type === "status") showOnly("data-status", ev.status, 0);
    else if (ev.type === "camera" && ev.state === "lost") showOnly("data-camera", "lost", 0);
    else if (ev.type === "print") showPrintState(ev.state);
  }

  function showPrintState(state) {
    var box = $("[data-print-state]");
    if (!box) return;
    var order = ["rendering", "printing", "done"];
    var at = order.indexOf(state);
    $$("[data-step]", box).forEach(function (li) {
      var i = order.indexOf(li.dataset.step);
      li.className = i < at || state === "done" ? "done" : (i === at ? "current" : "todo");
    });
  }

  function startStream() {
    if (!data.streamUrl || !window.EventSource) return poll();
    var failures = 0;
    stream = new EventSource(data.streamUrl + "?since=" + since);
    stream.onmessage = function (m) {
      failures = 0;
      var id = parseInt(m.lastEventId || "0", 10);
      if (id > since) since = id;
      try { handle(JSON.parse(m.data)); } catch (e) { /* a malformed frame is skipped */ }
    };
    stream.onerror = function () {
      failures += 1;
      // The stream ends every minute and reconnects by itself; given up by the browser
      // (CLOSED) or failing again and again → poll instead.
      if (!leaving && stream && (stream.readyState === EventSource.CLOSED || failures >= 3)) {
        stream.close(); stream = null; poll();
      }
    };
  }

  function poll() {
    if (leaving || !data.eventsUrl) return;
    fetch(data.eventsUrl + "?since=" + since + "&wait=20", { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.json(); })
      .then(function (res) {
        if (typeof res.seq === "number" && res.seq > since) since = res.seq;
        (res.events || []).forEach(handle);
        // "retry": the server has no stream slot free, so it answered at once.
        setTimeout(poll, typeof res.retry === "number" ? res.retry : 50);
      })
      .catch(function () { setTimeout(poll, 2000); });
  }

  // ---------------------------------------------------------------- idle prompt
  var dialog = $("#k-idle");
  var lastTouch = Date.now();
  var lastPing = Date.now();
  var promptedAt = 0;

  function ping() {
    lastPing = Date.now();
    fetch(data.touchUrl, { method: "POST", credentials: "same-origin", headers: { "X-CSRF-Token": csrf } })
      .then(function (r) { if (r.status === 410) leave(location.pathname.split("/").slice(0, 2).join("/") + "/?notice=idle_timeout"); })
      .catch(function () {});
  }

  function touched() {
    if (promptedAt) return;  // only "Continue" answers the prompt
    lastTouch = Date.now();
    // The server wipes a visit it has not heard from; typing on the keypads is a touch too.
    if (Date.now() - lastPing > 15000) ping();
  }

  function idleAllowed() {
    var printing = $("[data-print-state]");
    return !(printing && printing.dataset.printState !== "failed" && printing.dataset.printState !== "done");
  }

  if (dialog && data.idle) {
    var idleMs = parseInt(data.idle, 10) * 1000;
    var warnMs = parseInt(data.warning || "15", 10) * 1000;
    ["pointerdown", "keydown", "input", "touchstart"].forEach(function (type) {
      document.addEventListener(type, touched, { passive: true, capture: true });
    });
    var counter = $("[data-countdown]", dialog);
    var endForm = $("[data-idle-end]", dialog);
    $("[data-idle-continue]", dialog).addEventListener("click", function () {
      promptedAt = 0;
      lastTouch = Date.now();
      dialog.close();
      ping();
    });
    setInterval(function () {
      if (leaving) return;
      var now = Date.now();
      if (!promptedAt) {
        if (now - lastTouch >= idleMs && idleAllowed()) {
          promptedAt = now;
          if (typeof dialog.showModal === "function") dialog.showModal(); else dialog.setAttribute("open", "");
          $("[data-idle-continue]", dialog).focus();
        }
        return;
      }
      var left = Math.max(0, Math.ceil((warnMs - (now - promptedAt)) / 1000));
      if (counter) counter.textContent = String(left);
      if (left <= 0) {
        leaving = true;
        if (stream) stream.close();
        endForm.submit();
      }
    }, 250);
  }

  // ---------------------------------------------------------------- forms
  $$("form").forEach(function (form) {
    form.addEventListener("submit", function (e) {
      // One submit per form: a double touch must not print twice.
      if (form.dataset.submitting) { e.preventDefault(); return; }
      form.dataset.submitting = "1";
      setTimeout(function () { delete form.dataset.submitting; }, 8000);
    });
  });
  // The error summary takes the focus (madoguchi.js, as on every surface), not the first field.
  var summary = $("[data-module='error-summary']");

  // ---------------------------------------------------------------- PIN pad
  var pinForm = $("[data-pin-form]");
  if (pinForm) {
    var pin = $("[data-pin-input]", pinForm);
    var dots = $$("[data-pin-dots] span", pinForm);
    var count = $("[data-pin-count]", pinForm);
    var pad = $("[data-pin-pad]", pinForm);
    pad.hidden = false;
    pin.setAttribute("tabindex", "-1");
    pin.setAttribute("aria-hidden", "true");
    var show = function () {
      dots.forEach(function (d, i) { d.classList.toggle("filled", i < pin.value.length); });
      if (count && count.dataset.label) count.textContent = count.dataset.label.replace("{n}", pin.value.length);
    };
    var add = function (d) { if (pin.value.length < 4) pin.value += d; show(); };
    var del = function () { pin.value = pin.value.slice(0, -1); show(); };
    $$("[data-digit]", pad).forEach(function (b) { b.addEventListener("click", function () { add(b.dataset.digit); }); });
    $("[data-delete]", pad).addEventListener("click", del);
    document.addEventListener("keydown", function (e) {
      if (/^[0-9]$/.test(e.key)) { add(e.key); e.preventDefault(); }
      else if (e.key === "Backspace") { del(); e.preventDefault(); }
      else if (e.key === "Enter") { e.preventDefault(); pinForm.requestSubmit($("[data-pin-ok]", pinForm)); }
    });
    $$('button[value="cancel"]', pinForm).forEach(function (b) {
      b.addEventListener("click", function () { pin.value = ""; });  // the PIN is not sent on cancel
    });
    pin.value = "";
    show();
  }

  // ---------------------------------------------------------------- on-screen keyboards
  var active = null;
  var targets = $$("[data-keyboard-target]");

  function keyboardFor(input) {
    var form = input.form || document;
    var kind = input.dataset.keyboardTarget;
    if (kind === "digits" || kind === "phone") return $('[data-keyboard="digits"]', form);
    return $('[data-keyboard="' + kind + '"]', form) || $('[data-keyboard]:not([data-keyboard="digits"])', form);
  }

  function focusInput(input) {
    active = input;
    $$("[data-keyboard]").forEach(function (kb) { kb.hidden = true; });
    var kb = keyboardFor(input);
    if (kb) {
      // On a page with several fields, the keyboard follows the field being typed into.
      var field = input.closest(".k-field");
      if (field && kb.dataset.keyboard !== "digits" && field.nextElementSibling !== kb) field.after(kb);
      kb.hidden = false;
      // An address already starts with the town from the postal code: the 番地 comes next.
      if (kb.dataset.keyboard === "address" && input.value && !kb.dataset.started) {
        var digitsTab = $('[data-layout="digits"]', kb);
        if (digitsTab) digitsTab.click();
      }
      kb.dataset.started = "1";
    }
    targets.forEach(function (t) { t.classList.toggle("k-active-input", t === input); });
  }

  function insert(text) {
    if (!active) return;
    var v = active.value;
    var start = active.selectionStart == null ? v.length : active.selectionStart;
    var end = active.selectionEnd == null ? v.length : active.selectionEnd;
    var max = parseInt(active.getAttribute("maxlength") || "0", 10);
    var next = v.slice(0, start) + text + v.slice(end);
    if (max && next.length > max) return;
    active.value = next;
    var pos = start + text.length;
    try { active.setSelectionRange(pos, pos); } catch (e) { /* not a text input */ }
    active.dispatchEvent(new Event("input", { bubbles: true }));
    if (max && next.length >= max && active.dataset.keyboardTarget === "digits") advance(active);
  }

  function advance(input) {
    var i = targets.indexOf(input);
    var next = targets[i + 1];
    if (next && next.form === input.form && next.dataset.keyboardTarget === "digits") { next.focus(); focusInput(next); }
  }

  function backspace() {
    if (!active) return;
    var v = active.value;
    var start = active.selectionStart == null ? v.length : active.selectionStart;
    var end = active.selectionEnd == null ? v.length : active.selectionEnd;
    if (start === end && start > 0) start -= 1;
    active.value = v.slice(0, start) + v.slice(end);
    try { active.setSelectionRange(start, start); } catch (e) { /* not a text input */ }
    active.dispatchEvent(new Event("input", { bubbles: true }));
  }

  // ゛゜ and small kana: each press turns the last character into its next form.
  var CYCLE = {};
  function ring(chars) { for (var i = 0; i < chars.length; i++) CYCLE[chars[i]] = chars[(i + 1) % chars.length]; }
  "カキクケコサシスセソタチテト".split("").forEach(function (c) { ring([c, String.fromCharCode(c.charCodeAt(0) + 1)]); });
  "ハヒフヘホ".split("").forEach(function (c) {
    ring([c, String.fromCharCode(c.charCodeAt(0) + 1), String.fromCharCode(c.charCodeAt(0) + 2)]);
  });
  ring(["ツ", "ッ", "ヅ"]); ring(["ウ", "ゥ", "ヴ"]); ring(["ワ", "ヮ"]);
  "アイエオヤユヨ".split("").forEach(function (c) { ring([c, String.fromCharCode(c.charCodeAt(0) - 1)]); });

  function dakuten() {
    if (!active) return;
    var pos = active.selectionStart == null ? active.value.length : active.selectionStart;
    var last = active.value.charAt(pos - 1);
    if (!CYCLE[last]) return;
    active.value = active.value.slice(0, pos - 1) + CYCLE[last] + active.value.slice(pos);
    try { active.setSelectionRange(pos, pos); } catch (e) { /* not a text input */ }
    active.dispatchEvent(new Event("input", { bubbles: true }));
  }

  if (targets.length) {
    targets.forEach(function (t) {
      t.addEventListener("focus", function () { focusInput(t); });
      t.addEventListener("click", function () { focusInput(t); });
    });
    $$("[data-keyboard]").forEach(function (kb) {
      // Keys must not take the focus away from the input they type into.
      kb.addEventListener("mousedown", function (e) { e.preventDefault(); });
      kb.addEventListener("click", function (e) {
        var b = e.target.closest("button");
        if (!b) return;
        if (b.dataset.key !== undefined) insert(b.dataset.key);
        else if (b.hasAttribute("data-backspace")) backspace();
        else if (b.hasAttribute("data-dakuten")) dakuten();
        else if (b.dataset.layout) {
          $$("[data-layout]", kb).forEach(function (tab) { tab.setAttribute("aria-pressed", String(tab === b)); });
          $$("[data-layout-panel]", kb).forEach(function (p) { p.hidden = p.dataset.layoutPanel !== b.dataset.layout; });
        }
        if (active) active.focus({ preventScroll: true });
      });
    });
    var first = targets.filter(function (t) { return t.closest(".k-has-error"); })[0] || targets[0];
    if (!summary) first.focus({ preventScroll: true });
    // Typing continues after what is there (an address that starts with the town).
    try { first.setSelectionRange(first.value.length, first.value.length); } catch (e) { /* not a text input */ }
    focusInput(first);
  }

  // ---------------------------------------------------------------- QR reader (keyboard wedge)
  var wedge = $("[data-wedge]");
  if (wedge) {
    // A handheld reader types into the focused field: keep the focus there.
    wedge.focus({ preventScroll: true });
    document.addEventListener("click", function (e) {
      if (!e.target.closest("a,button,input")) wedge.focus({ preventScroll: true });
    });
  }

  startStream();
})();
