/* hyperlocal interactive map: a small canvas renderer for H3 hexagons in projected metres.
 * Inlined into the HTML by hyperlocal.webmap; reads its data from the JSON script element #hl-data.
 * No external requests, no libraries. Exposes window.__hl (view helpers for tests) and sets
 * window.__hlDrawn = {ms, drawMs, frame, cells, layer} after every draw (ms: time since navigation start).
 */
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("hl-data").textContent);

  function bytes(s) {
    var bin = atob(s || ""), n = bin.length, u8 = new Uint8Array(n);
    for (var i = 0; i < n; i++) u8[i] = bin.charCodeAt(i);
    return u8.buffer;
  }
  function arr(s, T) { return s ? new T(bytes(s)) : null; }

  // ---- geometry -----------------------------------------------------------------------------------------
  var N = D.n;
  var cx = arr(D.cx, Int32Array), cy = arr(D.cy, Int32Array), nv = arr(D.nv, Uint8Array);
  var off = arr(D.v, D.vtype === "i16" ? Int16Array : Int32Array);
  var idhi = arr(D.idhi, Uint32Array), idlo = arr(D.idlo, Uint32Array);
  var vstart = new Uint32Array(N + 1);
  for (var i = 0; i < N; i++) vstart[i + 1] = vstart[i] + nv[i];
  var VX = new Float64Array(vstart[N]), VY = new Float64Array(vstart[N]);
  var rad = 0; // largest vertex distance from a centre: the culling margin and hit-test radius
  for (i = 0; i < N; i++) {
    for (var k = vstart[i]; k < vstart[i + 1]; k++) {
      var dx = off[2 * k], dy = off[2 * k + 1];
      VX[k] = cx[i] + dx; VY[k] = cy[i] + dy;
      var r = Math.max(Math.abs(dx), Math.abs(dy)); if (r > rad) rad = r;
    }
  }
  rad = Math.max(rad, 1);

  // Uniform grid over the centres for hover look-ups (CSR: gstart per bucket, gcell the cells).
  var E = D.extent, GS = 2 * rad;
  var GW = Math.max(1, Math.ceil((E[2] - E[0]) / GS) + 1), GH = Math.max(1, Math.ceil((E[3] - E[1]) / GS) + 1);
  var gkey = new Int32Array(N), gstart = new Uint32Array(GW * GH + 1), gcell = new Uint32Array(N);
  for (i = 0; i < N; i++) {
    var gx = Math.min(GW - 1, Math.max(0, Math.floor((cx[i] - E[0]) / GS)));
    var gy = Math.min(GH - 1, Math.max(0, Math.floor((cy[i] - E[1]) / GS)));
    gkey[i] = gx + gy * GW; gstart[gkey[i] + 1]++;
  }
  for (i = 0; i < GW * GH; i++) gstart[i + 1] += gstart[i];
  var gfill = gstart.slice(0, GW * GH);
  for (i = 0; i < N; i++) gcell[gfill[gkey[i]]++] = i;

  function cellText(i) {
    var lo = idlo[i].toString(16);
    return (idhi[i] ? idhi[i].toString(16) + "00000000".slice(lo.length) : "") + lo;
  }

  // ---- layers ----------------------------------------------------------------------------------------------
  var layers = D.layers.map(function (L) {
    var lut = new Uint8Array(bytes(L.lut)), cols = [];
    for (var c = 0; c < L.ncolours; c++) cols.push("rgb(" + lut[3 * c] + "," + lut[3 * c + 1] + "," + lut[3 * c + 2] + ")");
    var out = {
      L: L, colours: cols, values: arr(L.values, Float32Array), present: arr(L.present, Uint8Array),
      ilo: arr(L.ilo, Float32Array), ihi: arr(L.ihi, Float32Array), pop: arr(L.pop, Float32Array)
    };
    // Colour class of every cell: 0..ncolours-1, ncolours = no data, 65535 = not in this layer.
    var cls = new Uint16Array(N), nc = L.ncolours;
    for (var i = 0; i < N; i++) {
      var v = out.values[i];
      if (out.present && !out.present[i]) { cls[i] = 65535; continue; }
      if (!(v === v)) { cls[i] = nc; continue; } // NaN: no data
      var t;
      if (L.kind === "deciles") { cls[i] = Math.min(9, Math.max(0, Math.round(v) - 1)); continue; }
      if (L.center !== null && L.center !== undefined) {
        t = v < L.center ? 0.5 * (v - L.vmin) / (L.center - L.vmin) : 0.5 + 0.5 * (v - L.center) / (L.vmax - L.center);
      } else {
        t = (v - L.vmin) / (L.vmax - L.vmin);
      }
      cls[i] = Math.min(nc - 1, Math.max(0, Math.floor(t * nc)));
    }
    // Cells ordered by class, so each class is one path and one fill.
    var count = new Uint32Array(nc + 2);
    for (i = 0; i < N; i++) if (cls[i] !== 65535) count[cls[i] + 1]++;
    for (var c2 = 0; c2 <= nc; c2++) count[c2 + 1] += count[c2];
    var order = new Uint32Array(count[nc + 1]), fill = count.slice(0, nc + 1);
    for (i = 0; i < N; i++) if (cls[i] !== 65535) order[fill[cls[i]]++] = i;
    out.cls = cls; out.start = count; out.order = order;
    return out;
  });

  // ---- view --------------------------------------------------------------------------------------------------
  var mapEl = document.getElementById("hl-map"), canvas = document.getElementById("hl-canvas");
  var ctx = canvas.getContext("2d", { alpha: false });
  var tip = document.getElementById("hl-tooltip");
  var view = { x: 0, y: 0, s: 1 }; // centre in metres, scale in CSS px per metre
  var W = 0, H = 0, dpr = 1, current = 0, frame = 0, pending = false;

  function fit() {
    var m = 0.03, w = E[2] - E[0], h = E[3] - E[1];
    view.x = (E[0] + E[2]) / 2; view.y = (E[1] + E[3]) / 2;
    view.s = Math.min(W / (w * (1 + 2 * m) || 1), H / (h * (1 + 2 * m) || 1));
  }
  function resize() {
    var r = mapEl.getBoundingClientRect();
    dpr = window.devicePixelRatio || 1;
    W = Math.max(1, r.width); H = Math.max(1, r.height);
    canvas.width = Math.round(W * dpr); canvas.height = Math.round(H * dpr);
  }
  function toScreen(x, y) { return [W / 2 + (x - view.x) * view.s, H / 2 - (y - view.y) * view.s]; }
  function toMap(px, py) { return [view.x + (px - W / 2) / view.s, view.y - (py - H / 2) / view.s]; }

  // ---- outline -------------------------------------------------------------------------------------------
  function lines(o) {
    return o && o.xy ? { xy: new Int32Array(bytes(o.xy)), start: new Uint32Array(bytes(o.start)) } : null;
  }
  var OL = D.outline ? {
    outline: lines(D.outline.outline), border: lines(D.outline.border), lad: lines(D.outline.lad),
    land: lines(D.outline.land)
  } : null;
  function tracePolylines(P, close) {
    if (!P) return;
    var a = view.s, bx = W / 2 - view.x * a, by = H / 2 + view.y * a;
    for (var p = 0; p + 1 < P.start.length; p++) {
      var s = P.start[p], e = P.start[p + 1];
      ctx.moveTo(bx + P.xy[2 * s] * a, by - P.xy[2 * s + 1] * a);
      for (var q = s + 1; q < e; q++) ctx.lineTo(bx + P.xy[2 * q] * a, by - P.xy[2 * q + 1] * a);
      if (close) ctx.closePath();
    }
  }

  // ---- drawing -----------------------------------------------------------------------------------------
  function draw() {
    pending = false;
    var t0 = performance.now();
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.fillStyle = "#ffffff"; ctx.fillRect(0, 0, W, H);
    if (OL && OL.land) { ctx.beginPath(); tracePolylines(OL.land, true); ctx.fillStyle = "#ececea"; ctx.fill(); }
    var Ly = layers[current], a = view.s, bx = W / 2 - view.x * a, by = H / 2 + view.y * a;
    var x0 = view.x - (W / 2) / a - rad, x1 = view.x + (W / 2) / a + rad;
    var y0 = view.y - (H / 2) / a - rad, y1 = view.y + (H / 2) / a + rad;
    var nc = Ly.L.ncolours, drawn = 0, small = rad * a < 1.5;
    ctx.lineJoin = "round";
    ctx.lineWidth = small ? 0.9 : 0.6; // same-colour stroke closes hairline seams between neighbours
    for (var c = 0; c <= nc; c++) {
      var s = Ly.start[c], e = Ly.start[c + 1];
      if (s === e) continue;
      var col = c < nc ? Ly.colours[c] : D.nodata, inPath = 0;
      ctx.fillStyle = col; ctx.strokeStyle = col;
      ctx.beginPath();
      for (var j = s; j < e; j++) {
        var i = Ly.order[j], X = cx[i], Y = cy[i];
        if (X < x0 || X > x1 || Y < y0 || Y > y1) continue;
        var k0 = vstart[i], k1 = vstart[i + 1];
        ctx.moveTo(bx + VX[k0] * a, by - VY[k0] * a);
        for (var k = k0 + 1; k < k1; k++) ctx.lineTo(bx + VX[k] * a, by - VY[k] * a);
        ctx.closePath();
        drawn++;
        // Paths of a few hundred hexagons: Skia fills many short paths much faster than one huge one.
        if (++inPath === 256) { ctx.fill(); ctx.stroke(); ctx.beginPath(); inPath = 0; }
      }
      if (inPath) { ctx.fill(); ctx.stroke(); }
    }
    if (OL) {
      ctx.lineJoin = "round";
      ctx.beginPath(); tracePolylines(OL.lad, false);
      ctx.strokeStyle = "rgba(40,40,40,0.45)"; ctx.lineWidth = 0.5; ctx.stroke();
      ctx.beginPath(); tracePolylines(OL.border, false);
      ctx.strokeStyle = "#222"; ctx.lineWidth = 1.1; ctx.stroke();
      ctx.beginPath(); tracePolylines(OL.outline, false);
      ctx.strokeStyle = "#222"; ctx.lineWidth = 0.8; ctx.stroke();
    }
    updateScale();
    frame++;
    var t1 = performance.now();
    window.__hlDrawn = { ms: t1, drawMs: t1 - t0, frame: frame, cells: drawn, layer: current };
  }
  function redraw() { if (!pending) { pending = true; requestAnimationFrame(draw); } }

  function updateScale() {
    var target = 110 / view.s, p = Math.pow(10, Math.floor(Math.log10(target))), len = p;
    [5, 2, 1].some(function (m) { if (m * p <= target) { len = m * p; return true; } return false; });
    document.getElementById("hl-scale-bar").style.width = Math.round(len * view.s) + "px";
    document.getElementById("hl-scale-text").textContent = len >= 1000 ? (len / 1000) + " km" : len + " m";
  }

  // ---- legend and layer switcher -----------------------------------------------------------------------
  function el(tag, cls, text) {
    var e = document.createElement(tag); if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text; return e;
  }
  function fmt(v) {
    if (!(v === v) || v === null) return "no data";
    var a = Math.abs(v);
    if (a >= 1000) return Math.round(v).toLocaleString("en-GB");
    if (a >= 100) return v.toFixed(0);
    if (a >= 10) return v.toFixed(1);
    if (a >= 1) return v.toFixed(2);
    if (a === 0) return "0";
    return v.toPrecision(2);
  }
  function legend() {
    var box = document.getElementById("hl-legend"), Ly = layers[current], L = Ly.L;
    box.textContent = "";
    box.appendChild(el("div", "hl-legend-title", L.label));
    if (L.kind === "deciles") {
      L.classes.forEach(function (name, c) {
        var row = el("div", "hl-class"), sw = el("span", "hl-swatch");
        sw.style.background = Ly.colours[c]; row.appendChild(sw); row.appendChild(el("span", "", name));
        box.appendChild(row);
      });
    } else {
      var cw = 220, ch = 46, cv = document.createElement("canvas"), r = window.devicePixelRatio || 1;
      cv.width = cw * r; cv.height = ch * r; cv.style.width = cw + "px"; cv.style.height = ch + "px";
      var g = cv.getContext("2d"); g.scale(r, r);
      var left = L.extend === "min" || L.extend === "both", right = L.extend === "max" || L.extend === "both";
      var x0 = 12, x1 = cw - 12, y0 = 4, y1 = 20, n = L.ncolours;
      for (var c = 0; c < n; c++) {
        g.fillStyle = Ly.colours[c];
        g.fillRect(x0 + (x1 - x0) * c / n, y0, (x1 - x0) / n + 0.6, y1 - y0);
      }
      function arrow(xa, xb, col) {
        g.beginPath(); g.moveTo(xa, y0); g.lineTo(xb, (y0 + y1) / 2); g.lineTo(xa, y1); g.closePath();
        g.fillStyle = col; g.fill(); g.strokeStyle = "#444"; g.lineWidth = 0.6; g.stroke();
      }
      if (left) arrow(x0, x0 - 10, Ly.colours[0]);
      if (right) arrow(x1, x1 + 10, Ly.colours[n - 1]);
      g.strokeStyle = "#444"; g.lineWidth = 0.6; g.strokeRect(x0, y0, x1 - x0, y1 - y0);
      g.fillStyle = "#222"; g.font = "11px system-ui, sans-serif"; g.textBaseline = "top";
      var ticks = [[L.vmin, x0, "left", left ? "\u2264 " : ""], [L.vmax, x1, "right", right ? "\u2265 " : ""]];
      if (L.center !== null && L.center !== undefined) {
        ticks.push([L.center, (x0 + x1) / 2, "center", ""]);
      } else {
        ticks.push([(L.vmin + L.vmax) / 2, (x0 + x1) / 2, "center", ""]);
      }
      ticks.forEach(function (t) {
        g.textAlign = t[2]; g.fillText(t[3] + fmt(t[0]), t[1], y1 + 4);
        g.fillRect(t[1] - 0.5, y1, 1, 3);
      });
      box.appendChild(cv);
      if (L.extend !== "neither") {
        box.appendChild(el("div", "hl-help", "Arrows: values beyond the scale take its end colours."));
      }
    }
    if (L.nodata) {
      var row = el("div", "hl-class"), sw = el("span", "hl-swatch");
      sw.style.background = D.nodata; row.appendChild(sw); row.appendChild(el("span", "", L.nodataLabel || "no data"));
      box.appendChild(row);
    }
  }
  var fs = document.getElementById("hl-layers");
  layers.forEach(function (Ly, n) {
    var lab = el("label"), inp = document.createElement("input");
    inp.type = "radio"; inp.name = "hl-layer"; inp.id = "hl-layer-" + n; inp.value = String(n); inp.checked = n === 0;
    inp.addEventListener("change", function () { if (inp.checked) { current = n; legend(); hideTip(); redraw(); } });
    lab.appendChild(inp); lab.appendChild(el("span", "", Ly.L.label)); fs.appendChild(lab);
  });
  if (layers.length < 2) fs.hidden = true;

  // ---- hover -----------------------------------------------------------------------------------------------
  function inside(i, X, Y) {
    var k0 = vstart[i], k1 = vstart[i + 1], c = false;
    for (var k = k0, p = k1 - 1; k < k1; p = k++) {
      if ((VY[k] > Y) !== (VY[p] > Y) && X < (VX[p] - VX[k]) * (Y - VY[k]) / (VY[p] - VY[k]) + VX[k]) c = !c;
    }
    return c;
  }
  function cellAt(X, Y) {
    var gx = Math.floor((X - E[0]) / GS), gy = Math.floor((Y - E[1]) / GS), cls = layers[current].cls;
    for (var oy = -1; oy <= 1; oy++) for (var ox = -1; ox <= 1; ox++) {
      var ax = gx + ox, ay = gy + oy;
      if (ax < 0 || ay < 0 || ax >= GW || ay >= GH) continue;
      var b = ax + ay * GW;
      for (var j = gstart[b]; j < gstart[b + 1]; j++) {
        var i = gcell[j];
        if (cls[i] !== 65535 && inside(i, X, Y)) return i;
      }
    }
    return -1;
  }
  function hideTip() { tip.hidden = true; }
  function showTip(i, px, py) {
    var Ly = layers[current], L = Ly.L, v = Ly.values[i];
    tip.textContent = "";
    var head = el("div", "hl-tt-value", L.label + ": " + (L.kind === "deciles" && v === v ? String(Math.round(v)) : (v === v ? fmt(v) : (L.nodataLabel || "no data"))));
    tip.appendChild(head);
    if (Ly.ilo && Ly.ihi && v === v) tip.appendChild(el("div", "hl-tt-interval", "interval: " + fmt(Ly.ilo[i]) + " \u2013 " + fmt(Ly.ihi[i])));
    if (Ly.pop) tip.appendChild(el("div", "hl-tt-pop", "population: " + fmt(Ly.pop[i])));
    tip.appendChild(el("div", "hl-tt-cell", "cell " + cellText(i)));
    tip.hidden = false;
    var tw = tip.offsetWidth, th = tip.offsetHeight;
    tip.style.left = Math.min(px + 14, W - tw - 4) + "px";
    tip.style.top = (py + 14 + th > H ? py - th - 10 : py + 14) + "px";
  }

  // ---- interaction -----------------------------------------------------------------------------------------
  var drag = null;
  function local(ev) { var r = mapEl.getBoundingClientRect(); return [ev.clientX - r.left, ev.clientY - r.top]; }
  function zoomAt(px, py, f) {
    var m = toMap(px, py);
    view.s = Math.min(Math.max(view.s * f, 1e-6), 50);
    view.x = m[0] - (px - W / 2) / view.s; view.y = m[1] + (py - H / 2) / view.s;
    redraw();
  }
  mapEl.addEventListener("wheel", function (ev) {
    ev.preventDefault(); hideTip();
    var p = local(ev), d = ev.deltaMode === 1 ? ev.deltaY * 33 : ev.deltaY;
    zoomAt(p[0], p[1], Math.exp(-d * 0.0015));
  }, { passive: false });
  mapEl.addEventListener("pointerdown", function (ev) {
    if (ev.button !== 0 || ev.target.tagName === "BUTTON") return;
    drag = { p: local(ev), x: view.x, y: view.y }; mapEl.classList.add("hl-dragging"); hideTip();
    mapEl.setPointerCapture(ev.pointerId);
  });
  mapEl.addEventListener("pointermove", function (ev) {
    var p = local(ev);
    if (drag) {
      view.x = drag.x - (p[0] - drag.p[0]) / view.s; view.y = drag.y + (p[1] - drag.p[1]) / view.s;
      redraw(); return;
    }
    var m = toMap(p[0], p[1]), i = cellAt(m[0], m[1]);
    if (i < 0) hideTip(); else showTip(i, p[0], p[1]);
  });
  function endDrag() { drag = null; mapEl.classList.remove("hl-dragging"); }
  mapEl.addEventListener("pointerup", endDrag);
  mapEl.addEventListener("pointercancel", endDrag);
  mapEl.addEventListener("pointerleave", function () { if (!drag) hideTip(); });
  mapEl.addEventListener("dblclick", function () { fit(); redraw(); });
  document.getElementById("hl-zoom-in").addEventListener("click", function () { zoomAt(W / 2, H / 2, 1.6); });
  document.getElementById("hl-zoom-out").addEventListener("click", function () { zoomAt(W / 2, H / 2, 1 / 1.6); });
  document.getElementById("hl-reset").addEventListener("click", function () { fit(); redraw(); });
  window.addEventListener("resize", function () { resize(); redraw(); });

  window.__hl = {
    toMap: function (clientX, clientY) {
      var r = mapEl.getBoundingClientRect(); return toMap(clientX - r.left, clientY - r.top);
    },
    scale: function () { return view.s; },
    toScreen: function (x, y) {
      var s = toScreen(x, y), r = mapEl.getBoundingClientRect(); return [s[0] + r.left, s[1] + r.top];
    },
    mapRect: function () { var r = mapEl.getBoundingClientRect(); return [r.left, r.top, r.width, r.height]; },
    cellAt: function (x, y) { var i = cellAt(x, y); return i < 0 ? null : cellText(i); },
    layer: function () { return current; }
  };

  resize(); fit(); legend(); draw();
})();
