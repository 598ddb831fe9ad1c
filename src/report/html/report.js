// httpreuse HTML report: the connection waterfall. Hand-written, no
// library, no network. Reads the two JSON blocks the renderer wrote
// (#hr-meta and #hr-data) and draws only the rows in view.
(function () {
  'use strict';
  // ROW_FIELDS: the positions in one data row (see src/report/html.rs).
  var F = { id: 0, srv: 1, client: 2, start: 3, dur: 4, hs: 5, reason: 6, by: 7, kind: 8,
    close: 9, reqs: 10, ex: 11, exMore: 12, an: 13, hist: 14, expl: 15 };
  var ROW_H = 18, OVERSCAN = 8;
  var errors = window.__hrErrors || [];

  function $(id) { return document.getElementById(id); }
  function esc(s) {
    return String(s).replace(/[&<>"']/g, function (c) {
      return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c];
    });
  }
  function fmt(us) {
    var s = us / 1e6;
    if (Math.abs(s) >= 1) return s.toFixed(s >= 100 ? 0 : 2) + ' s';
    if (Math.abs(s) >= 0.001) return (s * 1e3).toFixed(1) + ' ms';
    return Math.round(us) + ' µs';
  }

  var meta = JSON.parse($('hr-meta').textContent);
  var data = JSON.parse($('hr-data').textContent);
  var view = $('wf-view'), spacer = $('wf-spacer'), axis = $('wf-axis'), tip = $('wf-tip');
  var selServer = $('f-server'), selReason = $('f-reason'), selAnomaly = $('f-anomaly');

  var tMax = 1;
  for (var i = 0; i < data.length; i++) {
    var e = data[i][F.start] + data[i][F.dur];
    if (e > tMax) tMax = e;
  }
  var win = { a: 0, b: tMax };
  var filtered = [];
  var drawn = { first: -1, last: -1, a: -1, b: -1 };

  // Filters and legend.
  meta.servers.forEach(function (s, i) {
    var o = document.createElement('option'); o.value = String(i); o.textContent = s; selServer.appendChild(o);
  });
  var reasonsSeen = {}, anomaliesSeen = {};
  data.forEach(function (r) {
    reasonsSeen[r[F.reason]] = true;
    r[F.an].forEach(function (a) { anomaliesSeen[a[0]] = true; });
  });
  meta.reasons.forEach(function (name, i) {
    if (!reasonsSeen[i]) return;
    var o = document.createElement('option'); o.value = String(i); o.textContent = name; selReason.appendChild(o);
    var l = document.createElement('span');
    l.innerHTML = '<span class="sw" style="background:' + meta.reason_colours[i] + '"></span>' + esc(name);
    $('legend').appendChild(l);
  });
  meta.anomalies.forEach(function (name, i) {
    if (!anomaliesSeen[i]) return;
    var o = document.createElement('option'); o.value = String(i); o.textContent = name; selAnomaly.appendChild(o);
  });
  var leg = document.createElement('span');
  leg.innerHTML = '▌ FIN · ✖ RST · C/S client/server closed · ◆ anomaly · <span class="sw" style="background:#8c8c8c"></span>handshake · <span class="sw" style="background:#0072B2"></span>exchange';
  $('legend').appendChild(leg);

  function applyFilters() {
    var s = selServer.value, r = selReason.value, a = selAnomaly.value;
    filtered = [];
    for (var i = 0; i < data.length; i++) {
      var row = data[i];
      if (s !== '' && String(row[F.srv]) !== s) continue;
      if (r !== '' && String(row[F.reason]) !== r) continue;
      if (a === '*' && row[F.an].length === 0) continue;
      if (a !== '' && a !== '*' && !row[F.an].some(function (x) { return String(x[0]) === a; })) continue;
      filtered.push(i);
    }
    spacer.style.height = (filtered.length * ROW_H) + 'px';
    view.style.height = Math.max(60, Math.min(560, filtered.length * ROW_H + 2)) + 'px';
    $('wf-count').textContent = filtered.length + ' of ' + data.length + ' connections';
    drawn.first = -1;
    render();
  }

  function pct(t) { return ((t - win.a) / (win.b - win.a)) * 100; }
  function visible(t0, t1) { return t1 >= win.a && t0 <= win.b; }
  function span(t0, t1) {
    var l = Math.max(pct(t0), -1), r = Math.min(pct(t1), 101);
    return 'left:' + l.toFixed(3) + '%;width:' + Math.max(r - l, 0).toFixed(3) + '%';
  }

  function rowHtml(k, idx) {
    var r = data[idx], s = r[F.start], h = '';
    var who = r[F.by] === 1 ? 'C' : r[F.by] === 2 ? 'S' : '';
    var label = '#' + r[F.id] + ' ' + r[F.client] + (r[F.srv] >= 0 ? ' → ' + meta.servers[r[F.srv]] : '');
    h += '<div class="wf-row" style="top:' + (k * ROW_H) + 'px" data-conn-id="' + r[F.id] + '" data-i="' + idx + '">';
    h += '<div class="wf-label">' + esc(label) + '</div><div class="wf-track">';
    if (visible(s, s + r[F.dur])) h += '<div class="wf-life" style="' + span(s, s + r[F.dur]) + '"></div>';
    if (r[F.hs] >= 0 && visible(s, s + r[F.hs])) h += '<div class="wf-hs" style="' + span(s, s + r[F.hs]) + '"></div>';
    var lastPx = -1, width = (view.clientWidth || 1000) - 260;
    r[F.ex].forEach(function (x, j) {
      var t0 = s + Math.max(x[0], 0), t1 = x[1] >= 0 ? s + x[1] : s + r[F.dur];
      if (!visible(t0, t1)) return;
      var px = Math.round(pct(t0) * width / 100);
      if (px === lastPx && pct(t1) - pct(t0) < 100 / width) return; // same pixel as the last bar
      lastPx = px;
      h += '<div class="wf-ex' + (x[1] < 0 ? ' lost' : '') + '" data-ex="' + j + '" style="' + span(t0, t1) + '"></div>';
    });
    if (r[F.close] >= 0 && visible(s + r[F.close], s + r[F.close])) {
      h += '<div class="wf-close" style="left:' + pct(s + r[F.close]).toFixed(3) + '%;background:' +
        meta.reason_colours[r[F.reason]] + '" data-close="1">' + (r[F.kind] === 2 ? '✖' : '▌') + who + '</div>';
    }
    r[F.an].forEach(function (a, j) {
      var t = s + Math.max(a[1], 0);
      if (visible(t, t)) h += '<div class="wf-an" data-an="' + j + '" style="left:' + pct(t).toFixed(3) + '%">◆</div>';
    });
    return h + '</div></div>';
  }

  function renderRange(first, last) {
    var h = '';
    for (var k = first; k < last; k++) h += rowHtml(k, filtered[k]);
    spacer.innerHTML = h;
    drawn = { first: first, last: last, a: win.a, b: win.b };
  }

  function render() {
    var top = view.scrollTop, height = view.clientHeight || 560;
    var first = Math.max(0, Math.floor(top / ROW_H) - OVERSCAN);
    var last = Math.min(filtered.length, Math.ceil((top + height) / ROW_H) + OVERSCAN);
    if (first === drawn.first && last === drawn.last && win.a === drawn.a && win.b === drawn.b) return;
    renderRange(first, last);
  }

  function drawAxis(sel) {
    var w = axis.clientWidth - 260, span = win.b - win.a, h = '';
    var steps = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5,
      1e6, 2e6, 5e6, 1e7, 3e7, 6e7, 1.2e8, 3e8, 6e8, 1.8e9, 3.6e9, 7.2e9, 1.44e10, 8.64e10];
    var step = steps[steps.length - 1];
    for (var i = 0; i < steps.length; i++) { if (span / steps[i] <= Math.max(2, w / 90)) { step = steps[i]; break; } }
    for (var t = Math.ceil(win.a / step) * step; t <= win.b; t += step) {
      h += '<span class="tk" style="left:' + (260 + (t - win.a) / span * w).toFixed(1) + 'px">' + fmt(t) + '</span>';
    }
    h += '<span class="tk" style="left:130px">time since first connection</span>';
    if (sel) h += '<div class="sel" style="left:' + sel[0] + 'px;width:' + (sel[1] - sel[0]) + 'px"></div>';
    axis.innerHTML = h;
  }

  function setWindow(a, b) {
    var min = 10; // µs
    if (b - a < min) { var m = (a + b) / 2; a = m - min / 2; b = m + min / 2; }
    win.a = Math.max(0, a); win.b = Math.min(tMax, b);
    if (win.b <= win.a) { win.a = 0; win.b = tMax; }
    drawAxis(); render();
  }
  function zoom(f) { var m = (win.a + win.b) / 2, h = (win.b - win.a) * f / 2; setWindow(m - h, m + h); }
  function pan(f) { var d = (win.b - win.a) * f; if (win.a + d < 0) d = -win.a; if (win.b + d > tMax) d = tMax - win.b; setWindow(win.a + d, win.b + d); }

  $('z-in').addEventListener('click', function () { zoom(0.5); });
  $('z-out').addEventListener('click', function () { zoom(2); });
  $('z-left').addEventListener('click', function () { pan(-0.25); });
  $('z-right').addEventListener('click', function () { pan(0.25); });
  $('z-reset').addEventListener('click', function () { setWindow(0, tMax); });
  [selServer, selReason, selAnomaly].forEach(function (s) { s.addEventListener('change', applyFilters); });
  view.addEventListener('scroll', render);
  window.addEventListener('resize', function () { drawAxis(); drawn.first = -1; render(); });

  // Drag on the axis to zoom into a time range.
  var drag = null;
  function axisX(ev) { var b = axis.getBoundingClientRect(); return Math.min(Math.max(ev.clientX - b.left, 260), b.width); }
  axis.addEventListener('mousedown', function (ev) { drag = axisX(ev); ev.preventDefault(); });
  window.addEventListener('mousemove', function (ev) {
    if (drag === null) return;
    var x = axisX(ev); drawAxis([Math.min(drag, x), Math.max(drag, x)]);
  });
  window.addEventListener('mouseup', function (ev) {
    if (drag === null) return;
    var x = axisX(ev), w = axis.clientWidth - 260, x0 = Math.min(drag, x) - 260, x1 = Math.max(drag, x) - 260;
    drag = null;
    if (x1 - x0 < 4) { drawAxis(); return; }
    var span = win.b - win.a;
    setWindow(win.a + x0 / w * span, win.a + x1 / w * span);
  });

  // Hover details.
  var BY = ['nobody', 'client', 'server'], KIND = ['', 'FIN', 'RST'];
  spacer.addEventListener('mousemove', function (ev) {
    var rowEl = ev.target.closest('[data-conn-id]');
    if (!rowEl) { tip.hidden = true; return; }
    var r = data[Number(rowEl.getAttribute('data-i'))], t;
    if (ev.target.hasAttribute('data-ex')) {
      var x = r[F.ex][Number(ev.target.getAttribute('data-ex'))];
      t = x[3] + '\n' + (x[2] ? 'status ' + x[2] : 'no response') + '\nrequest at ' + fmt(x[0]) +
        (x[1] >= 0 ? ', response ended at ' + fmt(x[1]) + ' (' + fmt(x[1] - x[0]) + ')' : '') + '\n(times from the connection\'s first packet)';
    } else if (ev.target.hasAttribute('data-an')) {
      var a = r[F.an][Number(ev.target.getAttribute('data-an'))];
      t = meta.anomalies[a[0]] + '\nframe ' + a[2] + ', at ' + fmt(a[1]);
    } else {
      t = '#' + r[F.id] + ' ' + r[F.client] + (r[F.srv] >= 0 ? ' → ' + meta.servers[r[F.srv]] : '') +
        '\n' + r[F.reqs] + ' requests, open ' + fmt(r[F.dur]) + (r[F.hs] >= 0 ? ', handshake ' + fmt(r[F.hs]) : '') +
        '\n' + meta.reasons[r[F.reason]] + ': ' + r[F.expl] +
        (r[F.by] ? '\nfirst close: ' + BY[r[F.by]] + ' ' + KIND[r[F.kind]] + ' at ' + fmt(r[F.close]) : '') +
        '\nhistory ' + r[F.hist] + (r[F.exMore] ? '\n' + r[F.exMore] + ' more exchanges not drawn' : '') +
        (r[F.an].length ? '\nanomalies: ' + r[F.an].map(function (a) { return meta.anomalies[a[0]]; }).join(', ') : '');
    }
    tip.textContent = t;
    tip.hidden = false;
    var x0 = Math.min(ev.clientX + 14, window.innerWidth - 470);
    tip.style.left = Math.max(0, x0) + 'px';
    tip.style.top = (ev.clientY + 14) + 'px';
  });
  spacer.addEventListener('mouseleave', function () { tip.hidden = true; });

  // Evidence links in the findings jump to their row.
  document.addEventListener('click', function (ev) {
    var a = ev.target.closest && ev.target.closest('a[data-goto]');
    if (!a) return;
    ev.preventDefault();
    var id = Number(a.getAttribute('data-goto'));
    var k = filtered.findIndex(function (i) { return data[i][F.id] === id; });
    if (k < 0) { selServer.value = ''; selReason.value = ''; selAnomaly.value = ''; applyFilters(); k = filtered.findIndex(function (i) { return data[i][F.id] === id; }); }
    if (k < 0) return;
    view.scrollIntoView();
    view.scrollTop = Math.max(0, k * ROW_H - view.clientHeight / 3);
    render();
    var el = spacer.querySelector('[data-conn-id="' + id + '"]');
    if (el) el.classList.add('hl');
  });

  // The self-check's tour of the controls: each filter gives the rows it
  // should, zoom and drag change the time window, hover shows details.
  function interactions() {
    var res = {};
    function pick(sel, value) { sel.value = value; sel.dispatchEvent(new Event('change')); return filtered.length; }
    var ok = true;
    for (var i = 1; i < selServer.options.length; i++) {
      var v = selServer.options[i].value;
      if (pick(selServer, v) !== data.filter(function (r) { return String(r[F.srv]) === v; }).length) ok = false;
    }
    pick(selServer, '');
    res.server_filter = ok;
    ok = true;
    for (i = 1; i < selReason.options.length; i++) {
      var rv = selReason.options[i].value;
      if (pick(selReason, rv) !== data.filter(function (r) { return String(r[F.reason]) === rv; }).length) ok = false;
    }
    pick(selReason, '');
    res.reason_filter = ok;
    res.anomaly_filter = pick(selAnomaly, '*') === data.filter(function (r) { return r[F.an].length > 0; }).length;
    pick(selAnomaly, '');
    var span0 = win.b - win.a;
    $('z-in').click();
    var zin = Math.abs((win.b - win.a) - span0 / 2) < 1e-6 * span0 + 1;
    $('z-out').click();
    res.zoom_buttons = zin && Math.abs((win.b - win.a) - span0) < 1e-6 * span0 + 1;
    var b = axis.getBoundingClientRect(), x0 = b.left + 260 + (b.width - 260) * 0.25, x1 = b.left + 260 + (b.width - 260) * 0.5;
    axis.dispatchEvent(new MouseEvent('mousedown', { bubbles: true, clientX: x0, clientY: b.top + 5 }));
    window.dispatchEvent(new MouseEvent('mousemove', { bubbles: true, clientX: x1, clientY: b.top + 5 }));
    window.dispatchEvent(new MouseEvent('mouseup', { bubbles: true, clientX: x1, clientY: b.top + 5 }));
    res.drag_zoom = b.width > 300 ? Math.abs((win.b - win.a) - span0 / 4) < 0.02 * span0 : null;
    $('z-reset').click();
    var ex = spacer.querySelector('.wf-ex'), row = spacer.querySelector('.wf-row .wf-label');
    if (row) {
      row.dispatchEvent(new MouseEvent('mousemove', { bubbles: true, clientX: 10, clientY: 10 }));
      res.hover_row = !tip.hidden && tip.textContent.indexOf('#') === 0;
    }
    if (ex) {
      ex.dispatchEvent(new MouseEvent('mousemove', { bubbles: true, clientX: 10, clientY: 10 }));
      res.hover_exchange = !tip.hidden && /request at/.test(tip.textContent);
    }
    tip.hidden = true;
    return res;
  }

  // First draw, then the self-check (see src/report/html.rs).
  try {
    drawAxis();
    applyFilters();
  } catch (e) { errors.push('render: ' + e.message); }
  var check = {
    data_rows: data.length,
    summary_connections: meta.connections,
    rendered_rows: spacer.querySelectorAll('.wf-row[data-conn-id]').length,
    errors: errors,
    resources: (performance.getEntriesByType ? performance.getEntriesByType('resource').length : 0)
  };
  if (location.hash === '#selfcheck') {
    try {
      var seen = {}, n = 0, guard = 0, step = Math.max(ROW_H, view.clientHeight - ROW_H);
      var collect = function () {
        spacer.querySelectorAll('.wf-row[data-conn-id]').forEach(function (el) {
          var id = el.getAttribute('data-conn-id');
          if (!seen[id]) { seen[id] = true; n++; }
        });
      };
      if (view.clientHeight > 0) {
        for (var top = 0; guard < 1e6; top += step, guard++) {
          view.scrollTop = top; render(); collect();
          if (view.scrollTop + view.clientHeight >= view.scrollHeight - 1) break;
        }
      } else {
        for (var k = 0; k < filtered.length; k += 200) { renderRange(k, Math.min(filtered.length, k + 200)); collect(); }
      }
      check.distinct_rows_seen = n;
      check.scroll_steps = guard + 1;
      view.scrollTop = 0; drawn.first = -1; render();
      check.interactions = interactions();
    } catch (e) { errors.push('selfcheck: ' + e.message); }
  }
  $('selfcheck').textContent = JSON.stringify(check);
})();
