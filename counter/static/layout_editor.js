/* The layout editor (/counter/admin/layouts/<id>): the form page as an SVG in millimetres,
   the page's picture under it, one rectangle per field. Fields move and resize with the
   pointer (drag the box or its corner) and the keyboard (arrows move 1 mm, Shift+arrows
   resize, Delete removes). Positions are SVG attributes, so the page's CSP needs no inline
   style. The server checks everything again: what is sent here may be refused with a message. */
(function () {
  "use strict";
  var dataEl = document.getElementById("layout-editor-data");
  if (!dataEl) { return; }
  var data = JSON.parse(dataEl.textContent);
  var texts = data.texts;
  var layout = data.layout;
  if (!Array.isArray(layout.fields)) { layout.fields = []; }
  var csrf = document.getElementById("layout-csrf").value;
  var svg = document.getElementById("layout-sheet");
  var bgImage = document.getElementById("layout-background");
  var group = document.getElementById("layout-fields");
  var statusEl = document.getElementById("editor-status");
  var errorEl = document.getElementById("editor-error");
  var SVGNS = "http://www.w3.org/2000/svg";
  var RESIZABLE = { text: 1, kana: 1, multiline: 1, cells: 1, date: 1, choice: 1, qr: 1 };
  var selected = -1;
  var bgUrl = null, previewUrl = null, bgTimer = null;
  var previewImg = document.getElementById("preview-image");

  function pageSize() {
    var p = layout.page || "A4", w, h;
    if (Array.isArray(p)) { w = +p[0]; h = +p[1]; } else { w = data.page_sizes[p][0]; h = data.page_sizes[p][1]; }
    if (layout.orientation === "landscape") { return [Math.max(w, h), Math.min(w, h)]; }
    return [w, h];
  }

  function num(v, fallback) { return typeof v === "number" && isFinite(v) ? v : fallback; }
  function round(v) { return Math.round(v * 2) / 2; }

  // The box a field takes on the page, as the renderer computes it for each type.
  function geometry(f) {
    var x = num(f.x, 0), y = num(f.y, 0), w = num(f.w, 0), h = num(f.h, 0);
    if (f.type === "check") { w = h = num(f.box_size, 3.4); }
    if (f.type === "qr") { h = h || w + 4; }
    if (f.type === "household" && Array.isArray(f.columns)) {
      w = f.columns.reduce(function (s, c) { return s + num(c.w, 0); }, 0);
      h = num(f.header_h, 6) + num(f.rows, 4) * num(f.row_h, 11);
    }
    return { x: x, y: y, w: Math.max(w, 1), h: Math.max(h, 1) };
  }

  function sourceLabel(f) {
    if (!f.source) { return texts.no_source; }
    var s = data.sources.filter(function (s) { return s.name === f.source; })[0];
    return s ? s.label : f.source;
  }

  function show(el, message) { el.textContent = message; el.hidden = !message; }
  function say(message) { show(errorEl, ""); show(statusEl, message); }
  function fail(message) { show(statusEl, ""); show(errorEl, message); }

  function post(url, body, contentType) {
    return fetch(url, { method: "POST", credentials: "same-origin", body: body,
                        headers: { "Content-Type": contentType || "application/json", "X-CSRF-Token": csrf } });
  }

  function refusal(resp) {
    return resp.json().then(function (j) { return j.message || texts.failed; }, function () { return texts.failed; });
  }

  // --- drawing ---------------------------------------------------------------------------
  function draw() {
    var size = pageSize();
    svg.setAttribute("viewBox", "0 0 " + size[0] + " " + size[1]);
    bgImage.setAttribute("width", size[0]);
    bgImage.setAttribute("height", size[1]);
    while (group.firstChild) { group.removeChild(group.firstChild); }
    layout.fields.forEach(function (f, i) {
      var g = geometry(f);
      var rect = document.createElementNS(SVGNS, "rect");
      rect.setAttribute("x", g.x); rect.setAttribute("y", g.y);
      rect.setAttribute("width", g.w); rect.setAttribute("height", g.h);
      rect.setAttribute("class", "layout-field" + (f.source ? "" : " unassigned") + (i === selected ? " selected" : ""));
      rect.setAttribute("tabindex", "0");
      rect.setAttribute("role", "button");
      rect.setAttribute("aria-label", sourceLabel(f) + " (" + f.type + ") " + g.x + ", " + g.y + " mm");
      rect.setAttribute("aria-pressed", i === selected ? "true" : "false");
      rect.setAttribute("data-index", i);
      rect.setAttribute("data-source", f.source || "");
      rect.addEventListener("pointerdown", function (ev) { startDrag(ev, i, "move"); });
      rect.addEventListener("keydown", function (ev) { onKey(ev, i); });
      rect.addEventListener("focus", function () { if (selected !== i) { select(i, true); } });
      group.appendChild(rect);
      var label = document.createElementNS(SVGNS, "text");
      label.setAttribute("x", g.x + 0.8); label.setAttribute("y", g.y + Math.min(g.h, 4) - 0.6);
      label.setAttribute("class", "layout-label");
      label.textContent = sourceLabel(f);
      group.appendChild(label);
      if (i === selected && RESIZABLE[f.type]) {
        var handle = document.createElementNS(SVGNS, "rect");
        handle.setAttribute("x", g.x + g.w - 1.5); handle.setAttribute("y", g.y + g.h - 1.5);
        handle.setAttribute("width", 3); handle.setAttribute("height", 3);
        handle.setAttribute("class", "layout-handle");
        handle.setAttribute("data-handle", i);
        handle.addEventListener("pointerdown", function (ev) { startDrag(ev, i, "resize"); });
        group.appendChild(handle);
      }
    });
  }

  function refocus(i) {
    var el = group.querySelector('rect[data-index="' + i + '"]');
    if (el) { el.focus({ preventScroll: true }); }
  }

  // --- selection and the side panel ----------------------------------------------------------
  var props = document.getElementById("field-props");
  var inputs = { source: "prop-source", type: "prop-type", size: "prop-size", x: "prop-x", y: "prop-y",
                 w: "prop-w", h: "prop-h" };
  Object.keys(inputs).forEach(function (k) { inputs[k] = document.getElementById(inputs[k]); });

  function select(i, keepFocus) {
    selected = i;
    draw();
    fillPanel();
    if (keepFocus && i >= 0) { refocus(i); }
  }

  function fillPanel() {
    var f = layout.fields[selected];
    props.disabled = !f;
    document.getElementById("field-none").hidden = !!f;
    if (!f) { return; }
    inputs.source.value = f.source || "";
    inputs.type.value = f.type;
    inputs.size.value = f.size === undefined ? "" : f.size;
    ["x", "y", "w", "h"].forEach(function (k) { inputs[k].value = f[k] === undefined ? "" : f[k]; });
  }

  function changed() { draw(); scheduleBackground(); }

  inputs.source.addEventListener("change", function () {
    var f = layout.fields[selected];
    if (!f) { return; }
    if (inputs.source.value) { f.source = inputs.source.value; } else { delete f.source; }
    changed();
  });
  inputs.type.addEventListener("change", function () {
    var f = layout.fields[selected];
    if (!f) { return; }
    var allowed = data.field_keys[inputs.type.value] || [];
    Object.keys(f).forEach(function (k) { if (allowed.indexOf(k) < 0) { delete f[k]; } });
    f.type = inputs.type.value;
    changed();
  });
  ["size", "x", "y", "w", "h"].forEach(function (k) {
    inputs[k].addEventListener("change", function () {
      var f = layout.fields[selected];
      if (!f) { return; }
      var v = inputs[k].value === "" ? null : Number(inputs[k].value);
      if (v === null || !isFinite(v)) { delete f[k]; } else { f[k] = v; }
      changed();
    });
  });

  document.getElementById("field-add").addEventListener("click", function () {
    var n = layout.fields.length;
    layout.fields.push({ type: "text", x: 20 + (n % 10) * 2, y: 20 + (n % 10) * 2, w: 60, h: 8, size: 11 });
    select(layout.fields.length - 1, true);
    scheduleBackground();
  });

  function remove(i) {
    layout.fields.splice(i, 1);
    select(-1);
    scheduleBackground();
  }
  document.getElementById("field-remove").addEventListener("click", function () { if (selected >= 0) { remove(selected); } });

  // --- pointer: drag to move, the corner handle to resize ---------------------------------------
  function svgPoint(ev) {
    var pt = svg.createSVGPoint();
    pt.x = ev.clientX; pt.y = ev.clientY;
    return pt.matrixTransform(svg.getScreenCTM().inverse());
  }

  function startDrag(ev, i, mode) {
    if (ev.button !== 0) { return; }
    ev.preventDefault();
    ev.stopPropagation();
    if (selected !== i) { select(i); }
    var f = layout.fields[i], start = svgPoint(ev), g = geometry(f);
    var moved = false;
    function onMove(e) {
      var p = svgPoint(e), dx = p.x - start.x, dy = p.y - start.y;
      if (mode === "move") {
        f.x = round(g.x + dx); f.y = round(g.y + dy);
      } else {
        f.w = Math.max(1, round(g.w + dx));
        if (f.type !== "qr") { f.h = Math.max(1, round(g.h + dy)); }
      }
      moved = true;
      draw();
    }
    function onUp() {
      svg.removeEventListener("pointermove", onMove);
      svg.removeEventListener("pointerup", onUp);
      svg.removeEventListener("pointercancel", onUp);
      fillPanel();
      refocus(i);
      if (moved) { scheduleBackground(); }
    }
    svg.setPointerCapture(ev.pointerId);
    svg.addEventListener("pointermove", onMove);
    svg.addEventListener("pointerup", onUp);
    svg.addEventListener("pointercancel", onUp);
  }

  // --- keyboard: arrows move 1 mm, Shift+arrows resize, Delete removes ---------------------------
  function onKey(ev, i) {
    var f = layout.fields[i];
    var d = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] }[ev.key];
    if (ev.key === "Delete") { ev.preventDefault(); remove(i); return; }
    if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); select(i, true); return; }
    if (!d) { return; }
    ev.preventDefault();
    var g = geometry(f);
    if (ev.shiftKey && RESIZABLE[f.type]) {
      f.w = Math.max(1, g.w + d[0]);
      if (f.type !== "qr") { f.h = Math.max(1, g.h + d[1]); }
    } else {
      f.x = g.x + d[0]; f.y = g.y + d[1];
    }
    selected = i;
    draw();
    fillPanel();
    refocus(i);
    scheduleBackground();
  }

  // --- the page's picture: the city's PDF, or the form we draw (it moves with the fields) ----------
  function loadBackground() {
    post(data.urls.render + "?kind=blank&page=" + (layout.background_page || 1), JSON.stringify({ layout: layout }))
      .then(function (resp) {
        if (!resp.ok) { return refusal(resp).then(fail); }
        return resp.blob().then(function (b) {
          if (bgUrl) { URL.revokeObjectURL(bgUrl); }
          bgUrl = URL.createObjectURL(b);
          bgImage.setAttribute("href", bgUrl);
          svg.setAttribute("data-background", "loaded");
        });
      }, function () { fail(texts.network); });
  }

  // After a change: the drawn form again (its boxes move with the fields; the city's own page
  // does not change), and the preview once it is shown, so it follows the layout live.
  function scheduleBackground() {
    clearTimeout(bgTimer);
    bgTimer = setTimeout(function () {
      if (!layout.background) { loadBackground(); }
      if (!previewImg.hidden) { preview(); }
    }, 700);
  }

  // --- preview, save, import -----------------------------------------------------------------
  var previewPage = document.getElementById("preview-page");
  function preview() {
    say(texts.rendering);
    post(data.urls.render + "?kind=sample&page=" + previewPage.value, JSON.stringify({ layout: layout }))
      .then(function (resp) {
        if (!resp.ok) { return refusal(resp).then(fail); }
        var pages = parseInt(resp.headers.get("X-Pages") || "1", 10);
        var current = previewPage.value;
        while (previewPage.options.length) { previewPage.remove(0); }
        for (var p = 1; p <= pages; p++) { previewPage.add(new Option(String(p), String(p))); }
        previewPage.value = Number(current) <= pages ? current : "1";
        return resp.blob().then(function (b) {
          if (previewUrl) { URL.revokeObjectURL(previewUrl); }
          previewUrl = URL.createObjectURL(b);
          previewImg.src = previewUrl;
          previewImg.hidden = false;
          previewImg.setAttribute("data-pages", pages);
          say(texts.rendered);
        });
      }, function () { fail(texts.network); });
  }
  previewImg.addEventListener("load", function () {
    previewImg.setAttribute("data-shown", previewPage.value);
    previewImg.setAttribute("data-renders", Number(previewImg.getAttribute("data-renders") || 0) + 1);
  });
  document.getElementById("preview-run").addEventListener("click", preview);
  previewPage.addEventListener("change", preview);

  document.getElementById("layout-save").addEventListener("click", function () {
    say(texts.saving);
    post(data.urls.save, JSON.stringify({ layout: layout })).then(function (resp) {
      if (!resp.ok) { return refusal(resp).then(fail); }
      return resp.json().then(function (j) { say(j.message); svg.setAttribute("data-saved", j.sha256); });
    }, function () { fail(texts.network); });
  });

  var fileInput = document.getElementById("import-file");
  document.getElementById("import-run").addEventListener("click", function () {
    var file = fileInput.files && fileInput.files[0];
    if (!file) { fail(texts.choose_file); return; }
    if (file.size > data.max_pdf_bytes) { fail(texts.too_large); return; }
    say(texts.importing);
    post(data.urls["import"], file, "application/pdf").then(function (resp) {
      if (!resp.ok) { return refusal(resp).then(fail); }
      return resp.json().then(function (j) {
        layout.page = j.layout.page;
        layout.background = j.layout.background;
        delete layout.draw;              // the city's page has its own lines and labels
        delete layout.orientation;
        // a form that could be read brings its own fields; over a scan the fields stay to be moved by hand
        if (!j.image_only) { layout.fields = j.layout.fields; }
        selected = -1;
        draw();
        fillPanel();
        loadBackground();
        say(j.message);
      });
    }, function () { fail(texts.network); });
  });

  draw();
  fillPanel();
  loadBackground();
})();
