/* Voice guidance: the speech button of every kiosk screen reads the screen aloud.

   What is read: the screen's own words (title, lead, questions, hints, notices, choices and
   buttons). What is never read: values — what the card gave, what the visitor typed, the
   confirm page's answers, the household's names — since anyone standing near a kiosk in a
   public hall would hear them; the PIN pad, its dots and its count; the on-screen keyboards.
   On the PIN screen no digit at all is sent to the server (numbers are spelled in kanji), so
   nothing sent from there can carry the PIN.

   Japanese and やさしい日本語 are made by the kiosk's server (POST /kiosk/speech → WAV, which it
   caches); other languages use the browser's speech synthesis when it has a voice for them.
   The choice lasts for the visit (sessionStorage; a new visit starts per [kiosk].speech_on_start),
   and a screen that is on reads itself when it loads. Leaving the screen stops the speech. */
(function () {
  "use strict";
  var button = document.querySelector("[data-speech]");
  if (!button) return;
  var data = button.dataset;
  var lang = data.speechLang || "ja";
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  var KEY = "madoguchi.speech";
  var MAX_CHARS = 300;            // hardware.speech.MAX_CHARS
  var synth = window.speechSynthesis;
  var BROWSER_LANG = { en: "en", zh: "zh", ko: "ko", vi: "vi", pt: "pt", ja: "ja", "ja-easy": "ja" };

  // Where the screen's words are, and what is never read (values, the PIN, the keyboards).
  var SPOKEN = "h1, h2, h3, p, legend, label, dt, li, summary, button, a.k-button, a.k-choice, [data-speak]";
  var NEVER = "[data-no-speech], [data-pin-pad], [data-pin-dots], [data-pin-count], [data-pin-input], " +
    "[data-keyboard], .k-keyboard, .k-keypad, input, textarea, select, dd, .k-review-value, .k-member-text, " +
    ".k-demo, noscript, script, style, template, [hidden], dialog:not([open])";

  function visible(el) {
    return !el.closest("[hidden]") && el.getClientRects().length > 0;
  }

  function wordsOf(el) {
    var copy = el.cloneNode(true);
    Array.prototype.forEach.call(copy.querySelectorAll(NEVER), function (n) { n.remove(); });
    return (copy.textContent || "").replace(/\s+/g, " ").trim();
  }

  function screenParts() {
    var roots = Array.prototype.slice.call(document.querySelectorAll(".k-clerk-note, main"));
    var parts = [];
    roots.forEach(function (root) {
      Array.prototype.forEach.call(root.querySelectorAll(SPOKEN), function (el) {
        if (el.closest(NEVER) || !visible(el)) return;
        var outer = el.parentElement && el.parentElement.closest(SPOKEN);
        if (outer && root.contains(outer)) return;     // read with the element around it
        var words = wordsOf(el);
        if (words && parts.indexOf(words) < 0) parts.push(words);
      });
    });
    return parts.reduce(function (all, p) { return all.concat(pieces(spelled(p))); }, []);
  }

  // On the PIN screen a Japanese text carries no digit at all, so nothing sent from there can be
  // the PIN (Open JTalk reads 四桁 as it reads 4桁). Other languages stay in this browser.
  function spelled(text) {
    return document.body.dataset.screen === "card_pin" && data.speechServer === "yes" ? noDigits(text) : text;
  }

  var KANJI = "〇一二三四五六七八九";
  function noDigits(text) {
    return text.replace(/[0-9０-９]/g, function (d) {
      var n = d.charCodeAt(0) >= 0xff10 ? d.charCodeAt(0) - 0xff10 : d.charCodeAt(0) - 48;
      return KANJI.charAt(n);
    });
  }

  // Parts the server accepts (at most MAX_CHARS), cut after a sentence, else a comma or space.
  function pieces(text) {
    var out = [];
    while (text.length > MAX_CHARS) {
      var head = text.slice(0, MAX_CHARS);
      var cut = Math.max(head.lastIndexOf("。"), head.lastIndexOf(". "), head.lastIndexOf("！"), head.lastIndexOf("？"));
      if (cut < MAX_CHARS / 3) cut = Math.max(head.lastIndexOf("、"), head.lastIndexOf(", "), head.lastIndexOf(" "));
      if (cut < 1) cut = MAX_CHARS - 1;
      out.push(text.slice(0, cut + 1).trim());
      text = text.slice(cut + 1).trim();
    }
    if (text) out.push(text);
    return out;
  }

  // ------------------------------------------------------------ the visit's choice
  function stored() {
    try { return window.sessionStorage.getItem(KEY); } catch (e) { return null; }
  }
  function store(on) {
    try { window.sessionStorage.setItem(KEY, on ? "on" : "off"); } catch (e) { /* private mode */ }
  }
  if (data.speechFresh === "yes") {
    try { window.sessionStorage.removeItem(KEY); } catch (e) { /* private mode */ }
  }
  var on = stored() ? stored() === "on" : data.speechOnStart === "yes";

  // ------------------------------------------------------------ playing
  var run = 0;                 // each reading has a number; a newer one (or stop) ends the older
  var audio = null;
  var controller = null;

  function stop() {
    run += 1;
    if (controller) controller.abort();
    controller = null;
    if (audio) { audio.pause(); if (audio.src) URL.revokeObjectURL(audio.src); audio = null; }
    if (synth) synth.cancel();
  }

  function fetchSpeech(text, signal) {
    return fetch(data.speechUrl, {
      method: "POST", credentials: "same-origin", cache: "no-store", signal: signal,
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify({ text: text, lang: lang })
    }).then(function (r) {
      if (r.ok) return r.blob();
      var err = new Error("speech " + r.status);
      err.status = r.status;
      throw err;
    });
  }

  function playBlob(blob, mine) {
    return new Promise(function (resolve) {
      if (mine !== run) return resolve();
      audio = new Audio(URL.createObjectURL(blob));
      var done = function () { if (audio && audio.src) URL.revokeObjectURL(audio.src); resolve(); };
      audio.onended = done;
      audio.onerror = done;
      var started = audio.play();
      if (started && started.catch) started.catch(done);   // no autoplay without a touch
    });
  }

  function readOnServer(parts, mine) {
    controller = window.AbortController ? new AbortController() : null;
    var signal = controller ? controller.signal : undefined;
    // The next part is made while this one plays.
    var next = parts.length ? fetchSpeech(parts[0], signal) : null;
    var i = 0;
    function step() {
      if (mine !== run || !next) return Promise.resolve();
      var current = next;
      i += 1;
      next = i < parts.length ? fetchSpeech(parts[i], signal) : null;
      if (next) next.catch(function () { /* reported when its turn comes */ });
      return current.then(function (blob) { return playBlob(blob, mine); }).then(step);
    }
    return step();
  }

  function browserVoice() {
    if (!synth || typeof SpeechSynthesisUtterance === "undefined") return null;
    var want = BROWSER_LANG[lang] || lang;
    var voices = synth.getVoices() || [];
    return voices.filter(function (v) { return (v.lang || "").toLowerCase().indexOf(want) === 0; })[0] || null;
  }

  function readInBrowser(parts, mine) {
    var voice = browserVoice();
    if (!voice) return Promise.reject(new Error("no voice"));
    synth.cancel();
    parts.forEach(function (text) {
      var u = new SpeechSynthesisUtterance(text);
      u.voice = voice;
      u.lang = voice.lang;
      if (mine === run) synth.speak(u);
    });
    return Promise.resolve();
  }

  function read(parts) {
    stop();
    var mine = run;
    parts = parts || screenParts();
    if (!parts.length) return;
    var first = data.speechServer === "yes" ? readOnServer(parts, mine) : readInBrowser(parts, mine);
    first.catch(function (e) {
      if (mine !== run || (e && e.name === "AbortError")) return;
      // The server cannot speak now (not installed, busy): the browser's own voice, if any.
      if (data.speechServer === "yes") {
        readInBrowser(parts, mine).catch(function () { unavailable(); });
      } else {
        unavailable();
      }
    });
  }

  // ------------------------------------------------------------ the button
  var label = button.querySelector("[data-speech-label]");

  function show() {
    button.setAttribute("aria-pressed", String(on));
  }

  function unavailable() {
    stop();
    on = false;
    button.setAttribute("aria-pressed", "false");
    button.setAttribute("aria-disabled", "true");
    button.dataset.speechState = "unavailable";
    if (label) label.textContent = data.speechUnavailable;
  }

  button.addEventListener("click", function () {
    if (button.getAttribute("aria-disabled") === "true") return;
    on = !on;
    store(on);
    show();
    if (on) read(); else stop();
  });
  // What the page announces later (a hint from the camera, the card taken away) is read too.
  var live = document.querySelector("[data-live]");
  if (live && window.MutationObserver) {
    new MutationObserver(function () {
      var words = (live.textContent || "").replace(/\s+/g, " ").trim();
      if (on && words && button.getAttribute("aria-disabled") !== "true") {
        read(pieces(spelled(words)));
      }
    }).observe(live, { childList: true, characterData: true, subtree: true });
  }
  window.addEventListener("pagehide", stop);
  document.addEventListener("submit", stop, true);
  document.addEventListener("click", function (e) {
    var link = e.target.closest && e.target.closest("a[href]");
    if (link) stop();
  }, true);

  function start() {
    button.hidden = false;
    show();
    if (data.speechServer !== "yes" && !browserVoice()) return unavailable();
    if (on) read();
  }

  // The browser's voices may arrive a moment after the page.
  if (data.speechServer !== "yes" && synth && !(synth.getVoices() || []).length) {
    var waited = false;
    var go = function () { if (!waited) { waited = true; start(); } };
    if (synth.addEventListener) synth.addEventListener("voiceschanged", go);
    setTimeout(go, 1000);
  } else {
    start();
  }
})();
