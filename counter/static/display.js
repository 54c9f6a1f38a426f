/* The waiting area's display: asks for new calls every few seconds; for each, shows the number
   large, sounds a chime and says it ("A-001番の方、1階 3番窓口へお越しください"): with the
   office's own speech when it has some (data-speech-url), else the browser's voice.
   Browsers play sound only after one touch, hence the button. */
(function () {
  "use strict";
  var body = document.body, last = parseInt(body.dataset.last || "0", 10) || 0;
  var ms = parseInt(body.dataset.refreshMs || "2000", 10) || 2000;
  var audio = null;
  var startButton = document.querySelector("[data-start-sound]");

  function chime() {
    if (!audio) return;
    var t = audio.currentTime;
    [[880, 0], [660, 0.45]].forEach(function (tone) {       // ピン・ポーン
      var o = audio.createOscillator(), g = audio.createGain();
      o.frequency.value = tone[0];
      g.gain.setValueAtTime(0.0001, t + tone[1]);
      g.gain.exponentialRampToValueAtTime(0.4, t + tone[1] + 0.02);
      g.gain.exponentialRampToValueAtTime(0.0001, t + tone[1] + 0.8);
      o.connect(g); g.connect(audio.destination);
      o.start(t + tone[1]); o.stop(t + tone[1] + 0.85);
    });
  }

  function say(call) {
    // The office's own voice for this call; the browser's when it has none (404/503, no sound yet).
    var url = body.dataset.speechUrl;
    if (url && audio) {
      var a = new Audio(url + call.id);
      a.play().catch(function () { browserVoice(call.words); });
      return;
    }
    browserVoice(call.words);
  }

  function browserVoice(text) {
    if (!window.speechSynthesis) return;
    var u = new SpeechSynthesisUtterance(text);
    u.lang = "ja-JP";
    window.speechSynthesis.speak(u);
  }

  function show(call, recent) {
    var latest = document.querySelector("[data-latest]");
    latest.querySelector("[data-number]").textContent = call.number;
    latest.querySelector("[data-number]").classList.remove("d-none");
    latest.querySelector("[data-window]").textContent = call.window + "へお越しください";
    latest.querySelector("[data-window-en]").textContent = "Please come to the window shown";
    latest.classList.remove("d-new"); void latest.offsetWidth; latest.classList.add("d-new");
    var list = document.querySelector("[data-recent]");
    list.innerHTML = "";
    recent.forEach(function (c) {
      var li = document.createElement("li");
      var n = document.createElement("span"); n.className = "d-r-number"; n.textContent = c.number;
      var w = document.createElement("span"); w.className = "d-r-window"; w.textContent = c.window;
      li.appendChild(n); li.appendChild(w); list.appendChild(li);
    });
  }

  // What the page came with: the latest call, then the earlier ones.
  var shown = [];
  var first = document.querySelector("[data-latest] [data-number]");
  if (last && first) shown.push({ number: first.textContent, window: "" });
  document.querySelectorAll("[data-recent] li").forEach(function (li) {
    shown.push({ number: li.querySelector(".d-r-number").textContent, window: li.querySelector(".d-r-window").textContent });
  });
  if (shown.length) {
    var w = document.querySelector("[data-latest] [data-window]");
    shown[0].window = w ? w.textContent.replace("へお越しください", "") : "";
  }
  function poll() {
    var url = new URL(body.dataset.callsUrl, location.href);     // carries the display's office
    url.searchParams.set("after", last);
    fetch(url, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : []; })
      .then(function (calls) {
        if (calls.length) {
          last = calls[0].id;
          body.dataset.last = String(last);
          shown = calls.concat(shown).slice(0, 12);
          show(calls[0], shown.slice(1, 12));
          chime();
          setTimeout(function () { say(calls[0]); }, 1300);
        }
      })
      .catch(function () { /* the network is away for a moment: ask again next time */ })
      .then(function () { setTimeout(poll, ms); });
  }
  if (startButton) {
    startButton.addEventListener("click", function () {
      var Ctx = window.AudioContext || window.webkitAudioContext;
      if (Ctx) audio = new Ctx();
      startButton.hidden = true;
      var state = document.querySelector("[data-sound-state]");
      if (state) state.textContent = "音声 オン";
    });
  }
  setTimeout(poll, ms);
})();
