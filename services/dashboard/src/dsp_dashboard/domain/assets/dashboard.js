/* Dashboard behaviour: filters, cross-filtering, chart drawing, data preview.
 * Vanilla JS, no network. Every user string reaches the DOM through textContent
 * and reaches Plotly through esc(), because Plotly reads an HTML subset in labels. */
(function () {
  "use strict";

  var payload = JSON.parse(document.getElementById("dsp-payload").textContent);
  var data = payload.data;
  var cols = data.columns;
  var N = data.sample_rows;
  var specs = payload.charts;
  var filterable = payload.filters;
  // A comparison page embeds the samples of two datasets stacked: side[i] is 0 for a row of A, 1 for B.
  var side = data.side || null;
  var sideNames = payload.sides || ["A", "B"];
  // Per-column and per-chart tables never inherit from Object.prototype, so no column name
  // ("constructor", "__proto__", ...) can read or overwrite a built-in.
  var state = { filters: Object.create(null) };
  var drawn = Object.create(null);
  var MAX_POINTS = 3000;
  var DIVERGING = [[0, "#2b5fc7"], [0.5, "#eeeeee"], [1, "#d1452b"]];
  function sequential() { return [[0, cssVar("--ghost")], [1, cssVar("--accent")]]; }

  // ------------------------------------------------------------------ helpers
  function esc(s) {
    return String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  }
  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    if (attrs) { for (var k in attrs) { node.setAttribute(k, attrs[k]); } }
    if (text !== undefined && text !== null) { node.textContent = text; }
    return node;
  }
  function cssVar(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }
  function fmtNum(v) {
    if (v === null || v === undefined) { return ""; }
    var a = Math.abs(v);
    if (a !== 0 && (a >= 1e6 || a < 1e-3)) { return v.toPrecision(3); }
    return String(Math.round(v * 1e4) / 1e4);
  }
  function fmtDate(ms) {
    if (ms === null || ms === undefined) { return ""; }
    var d = new Date(ms);
    var iso = d.toISOString();
    return iso.endsWith("T00:00:00.000Z") ? iso.slice(0, 10) : iso.slice(0, 19).replace("T", " ");
  }
  function display(c, i) {
    var v = c.values[i];
    if (v === null || v === undefined) { return ""; }
    if (c.kind === "categorical") { return c.levels[v]; }
    if (c.kind === "datetime") { return fmtDate(v); }
    if (c.kind === "numeric") { return fmtNum(v); }
    return String(v);
  }
  /* A boolean column's levels as the file writes them (No/Yes, not false/true), from the profile: every
   * chart, legend, filter and the preview read the levels, so they all show the file's labels. */
  Object.keys(specs).forEach(function (id) {
    var spec = specs[id], c = cols[spec.column];
    if (spec.labels && c && c.levels) {
      c.levels = c.levels.map(function (lv) { return Object.prototype.hasOwnProperty.call(spec.labels, lv) ? spec.labels[lv] : lv; });
    }
  });
  /* The whole data's range of each numeric column, from the profile (carried by its histogram's spec):
   * filters show it, as the embedded sample may miss the extremes. */
  var wholeRange = new Map();
  Object.keys(specs).forEach(function (id) {
    var spec = specs[id];
    if ((spec.type === "hist" || spec.type === "timecount" || spec.type === "sidehist") && spec.range) { wholeRange.set(spec.column, spec.range); }
  });
  function anyFilterBut(idx) {
    return Object.keys(state.filters).some(function (k) { return Number(k) !== idx; });
  }
  function numericRange(c) {
    var lo = Infinity, hi = -Infinity;
    for (var i = 0; i < N; i++) {
      var v = c.values[i];
      if (v !== null && v < lo) { lo = v; }
      if (v !== null && v > hi) { hi = v; }
    }
    return lo <= hi ? [lo, hi] : null;
  }

  // ------------------------------------------------------------------ filtering
  function passes(f, c, i) {
    var v = c.values[i];
    if (f.type === "cat") { return v !== null && f.set.has(v); }
    if (v === null) { return false; }
    if (f.min !== null && v < f.min) { return false; }
    if (f.max !== null && v > f.max) { return false; }
    return true;
  }
  /* Rows passing every filter except the one on column `except`, so a chart of
   * a filtered column still shows the values one can add to its filter. */
  function rowMask(except) {
    var active = [];
    for (var k in state.filters) {
      if (Number(k) !== except) { active.push([state.filters[k], cols[k]]); }
    }
    var mask = new Uint8Array(N);
    outer: for (var i = 0; i < N; i++) {
      for (var j = 0; j < active.length; j++) {
        if (!passes(active[j][0], active[j][1], i)) { continue outer; }
      }
      mask[i] = 1;
    }
    return mask;
  }
  function countNonNull(c) { var n = 0; for (var i = 0; i < N; i++) { if (c.values[i] !== null) { n++; } } return n; }
  function countMask(mask) { var n = 0; for (var i = 0; i < mask.length; i++) { n += mask[i]; } return n; }
  /* Rows of A and of B in a mask (a comparison page); [n, 0] on a dataset's page. */
  function sideCounts(mask) {
    var n = [0, 0];
    for (var i = 0; i < N; i++) { if (mask[i]) { n[side ? side[i] : 0]++; } }
    return n;
  }
  function sideTotals() { var all = new Uint8Array(N).fill(1); return sideCounts(all); }
  function pct(v) { return v === null || v === undefined ? "–" : (100 * v).toFixed(1) + "%"; }

  function setFilter(idx, filter) {
    if (filter === null || (filter.type === "cat" && filter.set.size === 0) ||
        (filter.type !== "cat" && filter.min === null && filter.max === null)) {
      delete state.filters[idx];
    } else {
      state.filters[idx] = filter;
    }
    syncControls();
    redraw();
  }
  function toggleLevel(idx, code) {
    var f = state.filters[idx];
    var set = f && f.type === "cat" ? new Set(f.set) : new Set();
    if (set.has(code)) { set.delete(code); } else { set.add(code); }
    setFilter(idx, { type: "cat", set: set });
  }

  // ------------------------------------------------------------------ filter controls
  var controls = Object.create(null);
  function buildControls() {
    var box = document.getElementById("filter-controls");
    filterable.forEach(function (idx) {
      var c = cols[idx];
      var wrap = el("div", { "class": "filter", "data-column": String(idx) });
      wrap.appendChild(el("label", { "for": "flt-" + idx, title: c.name }, c.name));
      if (c.kind === "categorical") {
        var sel = el("select", { id: "flt-" + idx, multiple: "multiple", size: String(Math.min(4, c.levels.length)) });
        c.levels.forEach(function (lv, code) { sel.appendChild(el("option", { value: String(code) }, lv)); });
        sel.addEventListener("change", function () {
          var set = new Set();
          Array.prototype.forEach.call(sel.selectedOptions, function (o) { set.add(Number(o.value)); });
          setFilter(idx, { type: "cat", set: set });
        });
        controls[idx] = { sel: sel };
        wrap.appendChild(sel);
      } else {
        var range = wholeRange.get(idx) || numericRange(c);
        var isDate = c.kind === "datetime";
        var lo = el("input", { id: "flt-" + idx, type: isDate ? "date" : "number", step: "any", "aria-label": "from" });
        var hi = el("input", { type: isDate ? "date" : "number", step: "any", "aria-label": "to" });
        if (range) {
          lo.placeholder = isDate ? "" : fmtNum(range[0]);
          hi.placeholder = isDate ? "" : fmtNum(range[1]);
          if (isDate) { lo.min = hi.min = fmtDate(range[0]).slice(0, 10); lo.max = hi.max = fmtDate(range[1]).slice(0, 10); }
        }
        var read = function (input, end) {
          if (input.value === "") { return null; }
          if (isDate) { var t = Date.parse(input.value + "T00:00:00Z"); return end ? t + 86399999 : t; }
          var n = Number(input.value);
          return isFinite(n) ? n : null;
        };
        var onChange = function () {
          setFilter(idx, { type: isDate ? "date" : "num", min: read(lo, false), max: read(hi, true) });
        };
        lo.addEventListener("change", onChange);
        hi.addEventListener("change", onChange);
        var pair = el("div", { "class": "range" });
        pair.appendChild(lo); pair.appendChild(el("span", null, "–")); pair.appendChild(hi);
        wrap.appendChild(pair);
        controls[idx] = { lo: lo, hi: hi, isDate: isDate };
      }
      box.appendChild(wrap);
    });
  }
  function syncControls() {
    filterable.forEach(function (idx) {
      var ctl = controls[idx], f = state.filters[idx];
      if (ctl.sel) {
        Array.prototype.forEach.call(ctl.sel.options, function (o) {
          o.selected = !!(f && f.set.has(Number(o.value)));
        });
      } else {
        var show = function (v) { return v === null || v === undefined ? "" : (ctl.isDate ? fmtDate(v).slice(0, 10) : String(v)); };
        ctl.lo.value = f ? show(f.min) : "";
        ctl.hi.value = f ? show(f.max) : "";
      }
    });
    var chips = document.getElementById("active-filters");
    chips.textContent = "";
    Object.keys(state.filters).forEach(function (k) {
      var f = state.filters[k], c = cols[k], label;
      if (f.type === "cat") {
        var names = Array.from(f.set).map(function (code) { return c.levels[code]; });
        label = c.name + " ∈ {" + names.slice(0, 4).join(", ") + (names.length > 4 ? ", …" : "") + "}";
      } else {
        var show = f.type === "date" ? function (v) { return fmtDate(v).slice(0, 10); } : fmtNum;
        label = c.name + ": " + (f.min === null ? "…" : show(f.min)) + " – " + (f.max === null ? "…" : show(f.max));
      }
      var chip = el("button", { type: "button", "class": "chip", title: "Remove this filter" }, label + " ×");
      chip.addEventListener("click", function () { setFilter(Number(k), null); });
      chips.appendChild(chip);
    });
  }

  // ------------------------------------------------------------------ chart builders
  function baseLayout(extra) {
    var fg = cssVar("--fg"), grid = cssVar("--grid");
    var layout = {
      paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
      font: { color: fg, size: 11 }, margin: { l: 50, r: 16, t: 10, b: 40 },
      xaxis: { gridcolor: grid, zerolinecolor: grid, automargin: true },
      yaxis: { gridcolor: grid, zerolinecolor: grid, automargin: true },
      legend: { orientation: "h", x: 0, y: 1.02, yanchor: "bottom" }, height: 300, autosize: true,
      hoverlabel: { namelength: -1 }, colorway: payload.colorway
    };
    return deepMerge(layout, extra || {});
  }
  function deepMerge(a, b) {
    for (var k in b) {
      if (b[k] && typeof b[k] === "object" && !Array.isArray(b[k]) && a[k] && typeof a[k] === "object") {
        a[k] = deepMerge(Object.assign({}, a[k]), b[k]);
      } else { a[k] = b[k]; }
    }
    return a;
  }

  var binCache = new Map();
  function bins(c) {
    if (binCache.has(c.name)) { return binCache.get(c.name); }
    var r = numericRange(c);
    if (!r) { return null; }
    var distinct = new Set();
    for (var i = 0; i < N && distinct.size <= 40; i++) { if (c.values[i] !== null) { distinct.add(c.values[i]); } }
    var edges = [];
    if (distinct.size <= 40 && Array.from(distinct).every(Number.isInteger)) {
      for (var v = r[0]; v <= r[1] + 1 && edges.length <= 42; v++) { edges.push(v - 0.5); }
    }
    if (!edges.length || edges.length > 42) {
      edges = [];
      var n = 30, step = (r[1] - r[0]) / n || 1;
      for (var j = 0; j <= n; j++) { edges.push(r[0] + j * step); }
    }
    binCache.set(c.name, edges);
    return edges;
  }
  /* The bin of v: the last edge at or below it (bins are [a, b), the last one closed), clamped. */
  function binOf(edges, v) {
    var lo = 0, hi = edges.length - 2;
    if (v < edges[0]) { return 0; }
    while (lo < hi) {
      var mid = (lo + hi + 1) >> 1;
      if (edges[mid] <= v) { lo = mid; } else { hi = mid - 1; }
    }
    return lo;
  }
  function histCounts(c, edges, mask) {
    var counts = new Array(edges.length - 1).fill(0);
    for (var i = 0; i < N; i++) {
      var v = c.values[i];
      if (v === null || (mask && !mask[i])) { continue; }
      counts[binOf(edges, v)]++;
    }
    return counts;
  }

  var builders = {
    /* A histogram over the whole data when the profile gives one (spec.edges, spec.counts): drawn as is
     * while no other column is filtered; with filters, the sample's passing rows scaled to the whole data. */
    hist: function (spec) {
      var c = cols[spec.column], whole = !!(spec.edges && spec.counts), edges = whole ? spec.edges : bins(c);
      if (!edges) { return null; }
      var centers = edges.slice(0, -1).map(function (e, i) { return (e + edges[i + 1]) / 2; });
      var width = edges.slice(0, -1).map(function (e, i) { return edges[i + 1] - e; });
      var mask = rowMask(spec.column), f = state.filters[spec.column];
      var all, shown, estimated = false;
      if (whole) {
        all = spec.counts.slice();
        if (anyFilterBut(spec.column)) {
          var scale = N ? spec.rows / countNonNull(c) : 1;
          shown = histCounts(c, edges, mask).map(function (n) { return Math.round(n * scale); });
          estimated = scale !== 1;
        } else { shown = all; }
      } else {
        all = histCounts(c, edges, null);
        shown = histCounts(c, edges, mask);
      }
      var colours = centers.map(function (x) {
        var inside = !f || ((f.min === null || x >= f.min) && (f.max === null || x <= f.max));
        return inside ? cssVar("--accent") : cssVar("--muted-bar");
      });
      return {
        data: [
          { type: "bar", name: "all rows", x: centers, y: all, width: width,
            marker: { color: cssVar("--ghost") }, hoverinfo: "skip", showlegend: false },
          { type: "bar", name: "filtered", x: centers, y: shown, width: width,
            marker: { color: colours }, customdata: edges.slice(0, -1).map(function (e, i) { return [e, edges[i + 1]]; }),
            hovertemplate: "%{customdata[0]:.4~g} – %{customdata[1]:.4~g}: " + (estimated ? "≈ %{y} rows (from the sample)" : "%{y} rows") +
              "<extra></extra>", showlegend: false }
        ],
        layout: baseLayout({ barmode: "overlay", bargap: 0.05, height: 220, margin: { t: 6, b: 30 },
                             xaxis: { title: { text: esc(c.name) } } }),
        onClick: function (pt) {
          var lo = pt.customdata[0], hi = pt.customdata[1], cur = state.filters[spec.column];
          if (cur && cur.min === lo && cur.max === hi) { setFilter(spec.column, null); }
          else { setFilter(spec.column, { type: "num", min: lo, max: hi }); }
        }
      };
    },
    bar: function (spec) {
      var c = cols[spec.column], mask = rowMask(spec.column), f = state.filters[spec.column];
      var shown = Math.min(c.levels.length, 20);
      var all = new Array(c.levels.length).fill(0), sub = new Array(c.levels.length).fill(0);
      for (var i = 0; i < N; i++) {
        var v = c.values[i];
        if (v === null) { continue; }
        all[v]++;
        if (mask[i]) { sub[v]++; }
      }
      var codes = []; for (var k = 0; k < shown; k++) { codes.push(k); }
      var labels = codes.map(function (k) { return esc(c.levels[k]); });
      var colours = codes.map(function (k) { return !f || f.set.has(k) ? cssVar("--accent") : cssVar("--muted-bar"); });
      return {
        data: [
          { type: "bar", orientation: "h", y: labels, x: codes.map(function (k) { return all[k]; }),
            marker: { color: cssVar("--ghost") }, hoverinfo: "skip", showlegend: false },
          { type: "bar", orientation: "h", y: labels, x: codes.map(function (k) { return sub[k]; }), customdata: codes,
            marker: { color: colours }, hovertemplate: "%{y}: %{x} rows<extra></extra>", showlegend: false }
        ],
        layout: baseLayout({ barmode: "overlay", height: Math.max(160, 20 * shown + 50), margin: { t: 6, b: 30, l: 10 },
                             yaxis: { autorange: "reversed", type: "category" } }),
        onClick: function (pt) { toggleLevel(spec.column, pt.customdata); }
      };
    },
    timecount: function (spec) {
      var c = cols[spec.column], mask = rowMask(spec.column), b = timeBuckets(c);
      if (!b) { return null; }
      var all = new Array(b.starts.length).fill(0), sub = new Array(b.starts.length).fill(0);
      for (var i = 0; i < N; i++) {
        var v = c.values[i];
        if (v === null) { continue; }
        var k = b.index(v);
        all[k]++;
        if (mask[i]) { sub[k]++; }
      }
      var xs = b.starts.map(function (s) { return new Date(s).toISOString(); });
      return {
        data: [
          { type: "bar", x: xs, y: all, marker: { color: cssVar("--ghost") }, hoverinfo: "skip", showlegend: false },
          { type: "bar", x: xs, y: sub, marker: { color: cssVar("--accent") }, showlegend: false,
            customdata: b.starts.map(function (s, k) { return [s, b.ends[k]]; }),
            hovertemplate: "%{x}: %{y} rows<extra></extra>" }
        ],
        layout: baseLayout({ barmode: "overlay", bargap: 0.05, height: 220, margin: { t: 6, b: 30 },
                             xaxis: { type: "date" } }),
        onClick: function (pt) {
          setFilter(spec.column, { type: "date", min: pt.customdata[0], max: pt.customdata[1] - 1 });
        }
      };
    },
    corr: function (spec) {
      var mask = rowMask(-1), idx = spec.columns, n = idx.length;
      var z = [], text = [];
      var rowsKept = [];
      for (var i = 0; i < N; i++) { if (mask[i]) { rowsKept.push(i); } }
      for (var a = 0; a < n; a++) { z.push(new Array(n).fill(null)); text.push(new Array(n).fill("")); }
      for (a = 0; a < n; a++) {
        for (var b2 = a; b2 < n; b2++) {
          var r = pearson(cols[idx[a]].values, cols[idx[b2]].values, rowsKept);
          z[a][b2] = z[b2][a] = r;
          text[a][b2] = text[b2][a] = r === null ? "" : r.toFixed(2);
        }
      }
      var names = idx.map(function (k) { return esc(cols[k].name); });
      var trace = { type: "heatmap", x: names, y: names, z: z, zmin: -1, zmax: 1, colorscale: DIVERGING,
                    hovertemplate: "%{y} × %{x}: r = %{z:.2f}<extra></extra>" };
      if (n <= 12) { trace.text = text; trace.texttemplate = "%{text}"; }
      return { data: [trace], layout: baseLayout({ height: Math.max(300, 26 * n + 120), yaxis: { autorange: "reversed" },
                                                  margin: { l: 10, b: 10 } }) };
    },
    missing: function (spec) {
      var mask = rowMask(-1), idx = spec.columns, z = [], rowsKept = [];
      for (var i = 0; i < N && rowsKept.length < 400; i++) { if (mask[i]) { rowsKept.push(i); } }
      rowsKept.forEach(function (r) {
        z.push(idx.map(function (k) { return cols[k].values[r] === null ? 1 : 0; }));
      });
      var names = idx.map(function (k) { return esc(cols[k].name); });
      return {
        data: [{ type: "heatmap", x: names, z: z, zmin: 0, zmax: 1, showscale: false,
                 colorscale: [[0, cssVar("--ghost")], [1, cssVar("--fg")]],
                 hovertemplate: "%{x}, sample row %{y}: %{z}<extra></extra>" }],
        layout: baseLayout({ height: 300, yaxis: { title: { text: "row" }, autorange: "reversed", showgrid: false },
                             xaxis: { showgrid: false } })
      };
    },
    scatter: function (spec) {
      var x = cols[spec.x], y = cols[spec.y], colour = spec.color === null ? null : cols[spec.color];
      var mask = rowMask(-1), groups = Object.create(null), order = [], taken = 0;
      for (var i = 0; i < N && taken < MAX_POINTS; i++) {
        if (!mask[i] || x.values[i] === null || y.values[i] === null) { continue; }
        var key = colour ? (colour.values[i] === null ? -1 : colour.values[i]) : 0;
        if (!groups[key]) { groups[key] = { x: [], y: [] }; order.push(key); }
        groups[key].x.push(x.values[i]);
        groups[key].y.push(y.values[i]);
        taken++;
      }
      order.sort(function (a, b) { return a - b; });
      var traces = order.map(function (key) {
        return { type: "scatter",
                 mode: "markers", x: groups[key].x, y: groups[key].y, customdata: [key],
                 name: colour ? (key === -1 ? "(missing)" : esc(colour.levels[key])) : "rows",
                 marker: { size: 5, opacity: 0.7 }, showlegend: !!colour };
      });
      return {
        data: traces,
        layout: baseLayout({ xaxis: { title: { text: esc(x.name) } }, yaxis: { title: { text: esc(y.name) } },
                             legend: colour ? { title: { text: esc(colour.name) + " " } } : {} }),
        onLegendClick: colour ? function (traceIndex) {
          var key = order[traceIndex];
          if (key !== -1) { toggleLevel(spec.color, key); }
          return false;
        } : null
      };
    },
    timeseries: function (spec) {
      var t = cols[spec.time], b = timeBuckets(t), mask = rowMask(-1);
      if (!b) { return null; }
      var traces = spec.values.map(function (k) {
        var c = cols[k], sum = new Array(b.starts.length).fill(0), cnt = new Array(b.starts.length).fill(0);
        for (var i = 0; i < N; i++) {
          if (!mask[i] || t.values[i] === null || c.values[i] === null) { continue; }
          var j = b.index(t.values[i]);
          sum[j] += c.values[i]; cnt[j]++;
        }
        return { type: "scatter", mode: "lines+markers", name: esc(c.name), marker: { size: 4 },
                 x: b.starts.map(function (s) { return new Date(s).toISOString(); }),
                 y: sum.map(function (s, j) { return cnt[j] ? s / cnt[j] : null; }),
                 yaxis: spec.values.length > 1 && k === spec.values[1] ? "y2" : "y", connectgaps: false };
      });
      var layout = { xaxis: { type: "date" }, hovermode: "x unified", height: 340,
                     shapes: (spec.marks || []).map(function (m) {
                       return { type: "line", x0: m, x1: m, yref: "paper", y0: 0, y1: 1,
                                line: { dash: "dot", width: 1, color: cssVar("--muted") } };
                     }) };
      if (spec.values.length > 1) {
        layout.yaxis2 = { overlaying: "y", side: "right", showgrid: false, automargin: true,
                          title: { text: esc(cols[spec.values[1]].name) } };
        layout.yaxis = { title: { text: esc(cols[spec.values[0]].name) } };
      }
      return { data: traces, layout: baseLayout(layout) };
    },
    box: function (spec) {
      var g = cols[spec.group], v = cols[spec.value], mask = rowMask(-1), f = state.filters[spec.group];
      var shown = Math.min(g.levels.length, 15), ys = [];
      for (var k = 0; k < shown; k++) { ys.push([]); }
      for (var i = 0; i < N; i++) {
        var code = g.values[i];
        if (!mask[i] || code === null || code >= shown || v.values[i] === null) { continue; }
        ys[code].push(v.values[i]);
      }
      var traces = ys.map(function (values, code) {
        var on = !f || f.set.has(code);
        return { type: "box", name: esc(g.levels[code]), y: values, boxpoints: false, customdata: [code],
                 marker: { color: on ? cssVar("--accent") : cssVar("--muted-bar") }, showlegend: false };
      });
      return {
        data: traces,
        layout: baseLayout({ xaxis: { title: { text: esc(g.name) }, type: "category" }, yaxis: { title: { text: esc(v.name) } } }),
        onClick: function (pt) { toggleLevel(spec.group, pt.curveNumber); }
      };
    },
    crosstab: function (spec) {
      var a = cols[spec.x], b = cols[spec.y], mask = rowMask(-1);
      var na = Math.min(a.levels.length, 20), nb = Math.min(b.levels.length, 20), z = [];
      for (var r = 0; r < nb; r++) { z.push(new Array(na).fill(0)); }
      for (var i = 0; i < N; i++) {
        var x = a.values[i], y = b.values[i];
        if (mask[i] && x !== null && y !== null && x < na && y < nb) { z[y][x]++; }
      }
      return {
        data: [{ type: "heatmap", x: a.levels.slice(0, na).map(esc), y: b.levels.slice(0, nb).map(esc), z: z,
                 colorscale: sequential(), texttemplate: na * nb <= 100 ? "%{z}" : undefined,
                 hovertemplate: "%{y} × %{x}: %{z} rows<extra></extra>" }],
        layout: baseLayout({ xaxis: { type: "category", title: { text: esc(a.name) } },
                             yaxis: { type: "category", title: { text: esc(b.name) }, autorange: "reversed" } })
      };
    },
    waterfall: function (spec) {
      var select = document.querySelector("[data-row-select='" + spec.id + "']");
      var row = spec.rows[select ? Number(select.value) : 0] || spec.rows[0];
      var bases = [], running = row.base;
      row.deltas.forEach(function (d) { bases.push(d >= 0 ? running : running + d); running += d; });
      var names = row.names.slice().reverse();
      return {
        data: [{ type: "bar", orientation: "h", y: names, x: row.deltas.map(Math.abs).reverse(), base: bases.slice().reverse(),
                 marker: { color: row.deltas.map(function (d) { return d >= 0 ? "#e4572e" : "#3b6fd8"; }).reverse() },
                 customdata: row.deltas.slice().reverse(), hovertemplate: "%{y}: %{customdata:+.4g}<extra></extra>" }],
        layout: baseLayout({
          margin: { l: 10 }, height: Math.max(260, 24 * names.length + 90), yaxis: { type: "category" },
          xaxis: { title: { text: "model output: base " + fmtNum(row.base) + " → " + fmtNum(running) } },
          shapes: [{ type: "line", x0: row.base, x1: row.base, yref: "paper", y0: 0, y1: 1,
                     line: { dash: "dot", width: 1, color: cssVar("--fg") } },
                   { type: "line", x0: running, x1: running, yref: "paper", y0: 0, y1: 1,
                     line: { width: 1.5, color: cssVar("--fg") } }]
        }),
        fixed: true
      };
    },
    /* Comparison: a numeric column of A and B as shares of each side's known values, on the same bins, overlaid.
     * With no filter on another column the whole data's shares (spec.whole) are drawn, else the samples'. */
    sidehist: function (spec) {
      var c = cols[spec.column], edges = spec.edges, mask = rowMask(spec.column), f = state.filters[spec.column];
      if (!edges || edges.length < 2) { return null; }
      var nb = edges.length - 1, counts = [new Array(nb).fill(0), new Array(nb).fill(0)], known = [0, 0];
      var missing = [0, 0], rows = [0, 0];
      for (var i = 0; i < N; i++) {
        if (!mask[i]) { continue; }
        var s = side[i], v = c.values[i];
        rows[s]++;
        if (v === null) { missing[s]++; continue; }
        known[s]++;
        counts[s][binOf(edges, v)]++;
      }
      var whole = !anyFilterBut(spec.column) && spec.whole;
      var shares = [0, 1].map(function (s) {
        if (whole) { return spec.whole[s]; }
        return counts[s].map(function (n) { return known[s] ? n / known[s] : 0; });
      });
      var lows = edges.slice(0, -1), centers = lows.map(function (e, k) { return (e + edges[k + 1]) / 2; });
      var isDate = c.kind === "datetime";
      var widths = lows.map(function (e, k) { return edges[k + 1] - e; });
      var xs = isDate ? centers.map(function (ms) { return new Date(ms).toISOString(); }) : centers;
      var inside = lows.map(function (e, k) {
        return !f || ((f.min === null || edges[k + 1] >= f.min) && (f.max === null || e <= f.max));
      });
      var traces = [0, 1].map(function (s) {
        return { type: "bar", name: esc(sideNames[s]), x: xs, y: shares[s], width: widths,
                 marker: { color: cssVar(s ? "--side-b" : "--side-a"),
                           opacity: inside.map(function (on) { return on ? 0.55 : 0.2; }),
                           line: { width: 1, color: cssVar(s ? "--side-b" : "--side-a") } },
                 customdata: lows.map(function (e, k) { return [e, edges[k + 1]]; }),
                 hovertemplate: esc(sideNames[s]) + ": " + (isDate ? "%{x}" : "%{customdata[0]:.4~g} – %{customdata[1]:.4~g}") +
                   ": %{y:.1%}<extra></extra>" };
      });
      var rowsText = whole ? "whole data" : "sample rows passing the filters";
      return {
        data: traces,
        layout: baseLayout({ barmode: "overlay", bargap: 0, height: 250, margin: { t: 30, b: 34 },
                             yaxis: { title: { text: "share of rows" }, tickformat: ".0%", rangemode: "tozero" },
                             xaxis: { title: { text: esc(c.name) }, type: isDate ? "date" : "linear" } }),
        caption: "A: " + (whole ? spec.rows[0] : known[0]).toLocaleString() + " values, missing " +
          pct(whole ? spec.missing[0] : (rows[0] ? missing[0] / rows[0] : null)) + " · " +
          "B: " + (whole ? spec.rows[1] : known[1]).toLocaleString() + " values, missing " +
          pct(whole ? spec.missing[1] : (rows[1] ? missing[1] / rows[1] : null)) + " (" + rowsText + ")",
        counts: whole ? spec.rows.slice() : known,
        onClick: function (pt) {
          var lo = pt.customdata[0], hi = pt.customdata[1], cur = state.filters[spec.column];
          if (cur && cur.min === lo && cur.max === hi) { setFilter(spec.column, null); }
          else { setFilter(spec.column, { type: isDate ? "date" : "num", min: lo, max: hi }); }
        }
      };
    },
    /* Comparison: a categorical column's level shares in A and in B, side by side; levels B has and A
     * never had are marked "new in B", levels A has and B never has "gone in B". */
    sidebar: function (spec) {
      var c = cols[spec.column], mask = rowMask(spec.column), f = state.filters[spec.column];
      var shown = Math.min(c.levels.length, spec.max_levels || 20), nl = c.levels.length;
      var counts = [new Array(nl).fill(0), new Array(nl).fill(0)], known = [0, 0], missing = [0, 0], rows = [0, 0];
      for (var i = 0; i < N; i++) {
        if (!mask[i]) { continue; }
        var s = side[i], v = c.values[i];
        rows[s]++;
        if (v === null) { missing[s]++; continue; }
        known[s]++;
        counts[s][v]++;
      }
      var whole = !anyFilterBut(spec.column) && spec.whole;
      var codes = []; for (var k = 0; k < shown; k++) { codes.push(k); }
      var mark = function (lv) {
        if (spec.new_levels && spec.new_levels.indexOf(lv) >= 0) { return lv + " · new in B"; }
        if (spec.gone_levels && spec.gone_levels.indexOf(lv) >= 0) { return lv + " · gone in B"; }
        return lv;
      };
      var labels = codes.map(function (k) { return esc(mark(c.levels[k])); });
      var shares = [0, 1].map(function (s) {
        var all = whole ? spec.whole[s] : counts[s].map(function (n) { return known[s] ? n / known[s] : 0; });
        var out = codes.map(function (k) { return all[k] || 0; });
        var rest = 1 - out.reduce(function (a, b) { return a + b; }, 0);
        if (nl > shown || (whole && rest > 1e-9)) { out.push(Math.max(0, rest)); }
        return out;
      });
      var hasOther = shares[0].length > codes.length;
      if (hasOther) { labels.push(esc("other levels")); }
      var opacity = labels.map(function (_, k) { return k >= codes.length || !f || f.set.has(k) ? 0.9 : 0.3; });
      var traces = [0, 1].map(function (s) {
        return { type: "bar", orientation: "h", name: esc(sideNames[s]), y: labels, x: shares[s],
                 customdata: hasOther ? codes.concat([-1]) : codes,
                 marker: { color: cssVar(s ? "--side-b" : "--side-a"), opacity: opacity },
                 hovertemplate: esc(sideNames[s]) + " · %{y}: %{x:.1%}<extra></extra>" };
      });
      return {
        data: traces,
        layout: baseLayout({ barmode: "group", bargap: 0.2, height: Math.max(200, 34 * labels.length + 70),
                             margin: { t: 30, b: 34, l: 10 },
                             xaxis: { title: { text: "share of rows" }, tickformat: ".0%", rangemode: "tozero" },
                             yaxis: { autorange: "reversed", type: "category" } }),
        caption: "A: " + (whole ? spec.rows[0] : known[0]).toLocaleString() + " values, missing " +
          pct(whole ? spec.missing[0] : (rows[0] ? missing[0] / rows[0] : null)) + " · " +
          "B: " + (whole ? spec.rows[1] : known[1]).toLocaleString() + " values, missing " +
          pct(whole ? spec.missing[1] : (rows[1] ? missing[1] / rows[1] : null)) +
          " (" + (whole ? "whole data" : "sample rows passing the filters") + ")",
        counts: whole ? spec.rows.slice() : known,
        onClick: function (pt) { if (pt.customdata >= 0) { toggleLevel(spec.column, pt.customdata); } }
      };
    },
    /* Comparison: the share of missing values of each column in A and in B. */
    sidemissing: function (spec) {
      var idx = spec.columns, common = rowMask(-1), anyFilter = Object.keys(state.filters).length > 0;
      var shares = [[], []];
      idx.forEach(function (k, j) {
        if (!anyFilter) { shares[0].push(spec.whole[0][j]); shares[1].push(spec.whole[1][j]); return; }
        var mask = state.filters[k] ? rowMask(k) : common, c = cols[k], n = [0, 0], miss = [0, 0];
        for (var i = 0; i < N; i++) {
          if (!mask[i]) { continue; }
          n[side[i]]++;
          if (c.values[i] === null) { miss[side[i]]++; }
        }
        shares[0].push(n[0] ? miss[0] / n[0] : null);
        shares[1].push(n[1] ? miss[1] / n[1] : null);
      });
      var names = idx.map(function (k) { return esc(cols[k].name); });
      return {
        data: [0, 1].map(function (s) {
          return { type: "bar", orientation: "h", name: esc(sideNames[s]), y: names, x: shares[s],
                   marker: { color: cssVar(s ? "--side-b" : "--side-a") },
                   hovertemplate: esc(sideNames[s]) + " · %{y}: %{x:.1%} missing<extra></extra>" };
        }),
        layout: baseLayout({ barmode: "group", height: Math.max(200, 40 * names.length + 70), margin: { t: 30, b: 34, l: 10 },
                             xaxis: { title: { text: "share of rows missing" }, tickformat: ".0%", rangemode: "tozero" },
                             yaxis: { autorange: "reversed", type: "category" } }),
        caption: anyFilter ? "Sample rows passing the filters." : "Whole data."
      };
    },
    figure: function (spec) {
      var data = themed(JSON.parse(JSON.stringify(spec.data)));
      data.forEach(function (trace) {
        if (trace.colorscale === "dsp-sequential") { trace.colorscale = sequential(); }
      });
      return { data: data, layout: baseLayout(JSON.parse(JSON.stringify(spec.layout))), fixed: true };
    }
  };

  /* Figures built on the server name theme colours as "css:--name"; resolve them now. */
  function themed(value) {
    if (typeof value === "string") { return value.indexOf("css:--") === 0 ? cssVar(value.slice(4)) : value; }
    if (Array.isArray(value)) { return value.map(themed); }
    if (value && typeof value === "object") {
      for (var k in value) { value[k] = themed(value[k]); }
    }
    return value;
  }

  function pearson(a, b, rows) {
    var n = 0, sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0;
    for (var k = 0; k < rows.length; k++) {
      var x = a[rows[k]], y = b[rows[k]];
      if (x === null || y === null) { continue; }
      n++; sa += x; sb += y; saa += x * x; sbb += y * y; sab += x * y;
    }
    if (n < 3) { return null; }
    var cov = sab - sa * sb / n, va = saa - sa * sa / n, vb = sbb - sb * sb / n;
    if (va <= 0 || vb <= 0) { return null; }
    return Math.max(-1, Math.min(1, cov / Math.sqrt(va * vb)));
  }

  var bucketCache = new Map();
  function timeBuckets(c) {
    if (bucketCache.has(c.name)) { return bucketCache.get(c.name); }
    var r = wholeRange.get(cols.indexOf(c)) || numericRange(c);
    if (!r) { return null; }
    var span = r[1] - r[0], day = 86400000;
    var units = [[3600000, "hour"], [day, "day"], [7 * day, "week"], [30.44 * day, "month"], [91.31 * day, "quarter"],
                 [365.25 * day, "year"]];
    var unit = units.find(function (u) { return span / u[0] <= 120; }) || units[units.length - 1];
    var starts = [], ends = [], index;
    if (unit[1] === "month" || unit[1] === "quarter" || unit[1] === "year") {
      var step = unit[1] === "month" ? 1 : (unit[1] === "quarter" ? 3 : 12);
      var d0 = new Date(r[0]), y0 = d0.getUTCFullYear(), m0 = d0.getUTCMonth() - d0.getUTCMonth() % step;
      var m = m0, y = y0;
      while (Date.UTC(y, m, 1) <= r[1]) {
        starts.push(Date.UTC(y, m, 1));
        m += step; if (m >= 12) { y += Math.floor(m / 12); m = m % 12; }
        ends.push(Date.UTC(y, m, 1));
      }
      index = function (v) {
        var d = new Date(v);
        return Math.floor(((d.getUTCFullYear() - y0) * 12 + d.getUTCMonth() - m0) / step);
      };
    } else {
      var base = Math.floor(r[0] / unit[0]) * unit[0];
      for (var s = base; s <= r[1]; s += unit[0]) { starts.push(s); ends.push(s + unit[0]); }
      index = function (v) { return Math.floor((v - base) / unit[0]); };
    }
    var last = starts.length - 1;
    var out = { starts: starts, ends: ends, index: function (v) { var k = index(v); return k < 0 ? 0 : (k > last ? last : k); } };
    bucketCache.set(c.name, out);
    return out;
  }

  // ------------------------------------------------------------------ drawing
  var plotConfig = { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["sendDataToCloud", "lasso2d", "select2d"] };

  /* Charts are drawn when they come near the viewport, and re-drawn on a filter
   * change only if visible; the others are marked stale and drawn when scrolled to.
   * This keeps the page quick to open and to filter with many columns. */
  var stale = Object.create(null), visible = Object.create(null);
  function isLive(id) { return specs[id].type !== "figure" && specs[id].type !== "waterfall"; }
  function refresh(id, all) {
    if (!drawn[id] || all || isLive(id)) {
      if (visible[id]) { draw(id); delete stale[id]; } else { stale[id] = true; }
    }
  }
  function drawAll() {
    Object.keys(stale).forEach(function (id) { draw(id); delete stale[id]; });
  }
  function nearViewport(node) {
    var r = node.getBoundingClientRect(), margin = 400;
    return r.bottom > -margin && r.top < window.innerHeight + margin;
  }

  function draw(id) {
    var spec = specs[id], node = document.getElementById(id + "-chart");
    if (!node || !spec) { return; }
    var first = !drawn[id];
    spec.id = id;
    var fig = builders[spec.type](spec);
    if (!fig) { node.classList.add("empty"); node.textContent = "Not enough data to draw this chart."; return; }
    window.Plotly.react(node, fig.data, fig.layout, plotConfig);
    drawn[id] = fig;
    var caption = fig.caption !== undefined ? document.getElementById(id + "-caption") : null;
    if (caption) { caption.textContent = fig.caption; }
    if (first) {
      node.on("plotly_click", function (ev) {
        var f = drawn[id];
        if (f && f.onClick && ev.points && ev.points.length) {
          var pt = ev.points.find(function (p) { return p.customdata !== undefined; }) ||
            (spec.type === "box" ? ev.points[0] : null);
          if (pt) { f.onClick(pt); }
        }
      });
      node.on("plotly_legendclick", function (ev) {
        var f = drawn[id];
        if (f && f.onLegendClick) { return f.onLegendClick(ev.curveNumber); }
        return true;
      });
    }
  }

  function redraw(all) {
    Object.keys(specs).forEach(function (id) { refresh(id, all); });
    var mask = rowMask(-1), n = countMask(mask);
    var counted = "";
    if (Object.keys(state.filters).length) {
      if (side) {
        var bySide = sideCounts(mask), totals = sideTotals();
        counted = [0, 1].map(function (s) {
          return ["A", "B"][s] + ": " + bySide[s].toLocaleString() + " of " + totals[s].toLocaleString();
        }).join(" · ") + " sample rows match";
      } else {
        counted = n.toLocaleString() + " of " + N.toLocaleString() + " sample rows match";
      }
    }
    document.getElementById("filter-count").textContent = counted;
    preview.render(mask);
    document.documentElement.setAttribute("data-dsp-version", String(++version));
  }
  var version = 0;

  // ------------------------------------------------------------------ data preview
  var preview = (function () {
    var root = document.querySelector("[data-widget=preview]");
    var page = 0, perPage = 25, sortCol = null, sortDir = 1, rows = [];
    if (!root) { return { render: function () {} }; }
    var thead = root.querySelector("thead"), tbody = root.querySelector("tbody"), info = root.querySelector(".page-info");
    var header = el("tr");
    cols.forEach(function (c, k) {
      var th = el("th", { scope: "col", "data-column": String(k), title: c.name + " (click to sort)" }, c.name);
      th.addEventListener("click", function () {
        if (sortCol === k) { sortDir = -sortDir; } else { sortCol = k; sortDir = 1; }
        page = 0;
        render(null);
      });
      header.appendChild(th);
    });
    thead.appendChild(header);
    root.querySelector("[data-page=prev]").addEventListener("click", function () { if (page > 0) { page--; render(null); } });
    root.querySelector("[data-page=next]").addEventListener("click", function () {
      if ((page + 1) * perPage < rows.length) { page++; render(null); }
    });
    function sortKey(c, i) {
      var v = c.values[i];
      if (v === null) { return null; }
      return c.kind === "categorical" ? c.levels[v] : v;
    }
    function render(mask) {
      if (mask) {
        rows = [];
        for (var i = 0; i < N; i++) { if (mask[i]) { rows.push(i); } }
        page = 0;
      }
      var list = rows;
      if (sortCol !== null) {
        var c = cols[sortCol];
        list = rows.slice().sort(function (a, b) {
          var x = sortKey(c, a), y = sortKey(c, b);
          if (x === null) { return y === null ? 0 : 1; }
          if (y === null) { return -1; }
          return (x < y ? -1 : (x > y ? 1 : 0)) * sortDir;
        });
      }
      Array.prototype.forEach.call(header.children, function (th, k) {
        th.className = sortCol === k ? (sortDir > 0 ? "sorted-asc" : "sorted-desc") : "";
      });
      tbody.textContent = "";
      list.slice(page * perPage, (page + 1) * perPage).forEach(function (r) {
        var tr = el("tr");
        cols.forEach(function (c) {
          var shown = display(c, r);  // a long value is cut to the cell's width: the whole of it on hover
          tr.appendChild(el("td", shown.length > 24 ? { "class": c.kind, title: shown } : { "class": c.kind }, shown));
        });
        tbody.appendChild(tr);
      });
      var pages = Math.max(1, Math.ceil(list.length / perPage));
      info.textContent = "page " + (page + 1) + " of " + pages + " · " + list.length.toLocaleString() + " rows";
    }
    return { render: render };
  })();

  // ------------------------------------------------------------------ page wiring
  function resizeAll() {
    Object.keys(drawn).forEach(function (id) {
      var node = document.getElementById(id + "-chart");
      if (node) { window.Plotly.Plots.resize(node); }
    });
  }
  document.getElementById("reset-filters").addEventListener("click", function () {
    state.filters = Object.create(null);
    syncControls();
    redraw();
  });
  document.getElementById("theme-toggle").addEventListener("click", function () {
    var root = document.documentElement;
    root.setAttribute("data-theme", root.getAttribute("data-theme") === "dark" ? "light" : "dark");
    redraw(true);
  });
  document.getElementById("print-page").addEventListener("click", function () { window.print(); });
  if (window.matchMedia) {
    window.matchMedia("print").addEventListener("change", resizeAll);
  }
  // Paper is white: print with the light palette, then restore the reader's theme.
  var themeBeforePrint = null;
  window.addEventListener("beforeprint", function () {
    var root = document.documentElement;
    if (root.getAttribute("data-theme") !== "light") {
      themeBeforePrint = root.getAttribute("data-theme");
      root.setAttribute("data-theme", "light");
      redraw(true);
    }
    drawAll();
    resizeAll();
  });
  window.addEventListener("afterprint", function () {
    if (themeBeforePrint) {
      document.documentElement.setAttribute("data-theme", themeBeforePrint);
      themeBeforePrint = null;
      redraw(true);
    }
  });

  Array.prototype.forEach.call(document.querySelectorAll("[data-row-select]"), function (select) {
    select.addEventListener("change", function () { draw(select.getAttribute("data-row-select")); });
  });

  buildControls();
  Object.keys(specs).forEach(function (id) {
    var node = document.getElementById(id + "-chart");
    if (!node) { return; }
    visible[id] = nearViewport(node);
    refresh(id, true);
  });
  if ("IntersectionObserver" in window) {
    var observer = new IntersectionObserver(function (entries) {
      entries.forEach(function (entry) {
        var id = entry.target.getAttribute("data-chart");
        visible[id] = entry.isIntersecting;
        if (entry.isIntersecting && stale[id]) { draw(id); delete stale[id]; }
      });
    }, { rootMargin: "400px 0px" });
    Object.keys(specs).forEach(function (id) {
      var node = document.getElementById(id + "-chart");
      if (node) { observer.observe(node); }
    });
  } else {
    drawAll();
  }
  preview.render(rowMask(-1));
  document.documentElement.setAttribute("data-dsp-ready-ms", String(Math.round(performance.now())));
  document.documentElement.setAttribute("data-dsp-ready", "1");
  document.documentElement.setAttribute("data-dsp-version", "0");

  window.dsp = {
    state: state, columns: cols, redraw: redraw, resizeAll: resizeAll, drawAll: drawAll,
    setTheme: function (theme) {
      document.documentElement.setAttribute("data-theme", theme);
      redraw(true);
    },
    drawnIds: function () { return Object.keys(drawn); },
    /* Rows of A and B passing the filters (a comparison page), and the counts a chart shows. */
    sideCounts: function () { return sideCounts(rowMask(-1)); },
    chartCounts: function (id) { return drawn[id] && drawn[id].counts ? drawn[id].counts.slice() : null; },
    staleIds: function () { return Object.keys(stale); },
    setCategoryFilter: function (name, levels) {
      var idx = cols.findIndex(function (c) { return c.name === name; });
      var c = cols[idx];
      setFilter(idx, { type: "cat", set: new Set(levels.map(function (l) { return c.levels.indexOf(l); })) });
    },
    setRangeFilter: function (name, min, max) {
      var idx = cols.findIndex(function (c) { return c.name === name; });
      setFilter(idx, { type: cols[idx].kind === "datetime" ? "date" : "num", min: min, max: max });
    }
  };
})();
