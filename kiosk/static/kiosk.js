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

  // ---------------------------------------------------------------- kanji candidates
  // Kana typed into a name, an address or a text field ([data-kanji]) get kanji from the
  // server's dictionaries (GET …/kanji) in a bar on the keyboard; a touch replaces the kana
  // being composed (the run of kana before the caret). The readings of the kanji chosen go to
  // the input [data-reading-into] names: the フリガナ, while the visitor has not typed one.
  kanjiCandidates();

  function kanjiCandidates() {
    var inputs = $$("[data-kanji]");
    if (!inputs.length || !window.fetch) return;
    var KANA = /[\u3041-\u3096\u30a1-\u30f6\u30fc]+$/;
    var pending = null;
    var shownFor = null;       // {input, start, run}: what the bar's candidates replace
    var cache = {};            // "kind|kana" → candidates, for this page only

    function barOf(input) {
      var kb = keyboardFor(input);
      return kb && $("[data-kanji-bar]", kb);
    }
    function katakana(s) {
      return s.replace(/[\u3041-\u3096]/g, function (c) { return String.fromCharCode(c.charCodeAt(0) + 0x60); });
    }
    function composing(input) {
      var caret = input.selectionStart == null ? input.value.length : input.selectionStart;
      var m = KANA.exec(input.value.slice(0, caret));
      return m ? { start: caret - m[0].length, run: m[0] } : null;
    }
    function clear(bar) {
      if (pending) { pending.abort(); pending = null; }
      shownFor = null;
      if (bar) $("[data-kanji-list]", bar).textContent = "";
    }
    function show(input) {
      var bar = barOf(input);
      if (!bar) return;
      bar.hidden = false;
      var at = composing(input);
      clear(bar);
      if (!at || at.run.length > 32) return;
      var key = input.dataset.kanji + "|" + at.run;
      if (cache[key]) return fill(bar, input, at, cache[key]);   // Delete, then the same kana again
      var ctrl = window.AbortController ? new AbortController() : null;
      pending = ctrl;
      var url = bar.dataset.url + "?kind=" + encodeURIComponent(input.dataset.kanji) +
                "&reading=" + encodeURIComponent(at.run);
      fetch(url, { credentials: "same-origin", cache: "no-store", signal: ctrl ? ctrl.signal : undefined })
        .then(function (r) { return r.ok ? r.json() : { candidates: [] }; })
        .then(function (res) {
          if (pending !== ctrl || active !== input) return;   // a later key press asked again
          pending = null;
          cache[key] = res.candidates || [];
          fill(bar, input, at, cache[key]);
        })
        .catch(function () { /* aborted, or the server away: no candidates */ });
    }
    function fill(bar, input, at, candidates) {
      shownFor = { input: input, start: at.start, run: at.run };
      var list = $("[data-kanji-list]", bar);
      candidates.forEach(function (c) {
        var b = document.createElement("button");
        b.type = "button";
        b.className = "k-kanji-candidate";
        b.lang = "ja";
        b.textContent = c.text;
        b.dataset.covers = String(c.covers);
        b.dataset.reading = c.reading;
        list.appendChild(b);
      });
      list.scrollLeft = 0;
    }
    function choose(button) {
      var at = shownFor;
      if (!at || at.input !== active) return;
      var input = at.input, covers = parseInt(button.dataset.covers, 10) || at.run.length;
      var text = button.textContent;
      var v = input.value;
      if (v.slice(at.start, at.start + at.run.length) !== at.run) return;
      var next = v.slice(0, at.start) + text + v.slice(at.start + covers);
      var max = parseInt(input.getAttribute("maxlength") || "0", 10);
      if (max && next.length > max) return;
      input.value = next;
      var caret = at.start + text.length + (at.run.length - covers);
      try { input.setSelectionRange(caret, caret); } catch (e) { /* not a text input */ }
      (input._kanjiChosen = input._kanjiChosen || []).push({ text: text, reading: katakana(button.dataset.reading) });
      input.dispatchEvent(new Event("input", { bubbles: true }));
    }
    // The reading of what the input holds: each kanji chosen read as chosen, kana as typed;
    // null when it holds something else (letters, kanji typed some other way).
    function readingOf(input) {
      var v = input.value, out = "", chosen = input._kanjiChosen || [];
      for (var i = 0; i < v.length;) {
        var hit = null;
        chosen.forEach(function (c) { if (v.substr(i, c.text.length) === c.text && (!hit || c.text.length > hit.text.length)) hit = c; });
        if (hit) { out += hit.reading; i += hit.text.length; continue; }
        var ch = v.charAt(i);
        if (/[\u3041-\u3096\u30a1-\u30f6\u30fc]/.test(ch)) out += katakana(ch);
        else if (ch === " " || ch === "\u3000") out += "\u3000";
        else return null;
        i += 1;
      }
      return out.trim();
    }
    function passReading(input) {
      var target = input.dataset.readingInto && document.getElementById(input.dataset.readingInto);
      if (!target) return;
      var reading = readingOf(input);
      // A reading the visitor typed themselves is theirs: only an empty or our own is replaced.
      if (target.type !== "hidden" && target.value && target.value !== target.dataset.readingFilled) return;
      target.value = reading || "";
      target.dataset.readingFilled = target.value;
    }

    inputs.forEach(function (input) {
      input.addEventListener("input", function () { passReading(input); if (active === input) show(input); });
      input.addEventListener("focus", function () { show(input); });
    });
    $$("[data-keyboard-target]").forEach(function (t) {
      if (t.hasAttribute("data-kanji")) return;
      // Another field on the same keyboard (the セイ of a member): no candidates for it.
      t.addEventListener("focus", function () { var bar = barOf(t); clear(bar); if (bar) bar.hidden = true; });
    });
    $$("[data-kanji-bar]").forEach(function (bar) {
      bar.addEventListener("click", function (e) {
        var b = e.target.closest(".k-kanji-candidate");
        if (b) choose(b);
      });
    });
    if (active && active.hasAttribute("data-kanji")) show(active);
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
