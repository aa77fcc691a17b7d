/* global echarts, document, window, fetch, location, history, URLSearchParams, setTimeout, clearTimeout */

/** Every data request: a 401 (no session, or it ended) sends the browser to the sign-in page. */
async function api(url) {
  const r = await fetch(url, { credentials: 'same-origin' });
  if (r.status === 401) {
    location.assign(`/login?error=expired&next=${encodeURIComponent(location.pathname + location.search)}`);
    throw new Error('signed out');
  }
  return r;
}
// The built-in dashboard: draws the Grafana dashboards' panels from /api/dashboard/... with Apache ECharts
// and refreshes them every 5 seconds; a customer page reads /v1/customers/:id and its ledger.

const REFRESH_MS = 5000;
const state = {
  meta: null,
  uid: null,
  range: null,
  vars: {},
  charts: new Map(),
  timer: null,
  seq: 0,
  /** Calls of loadVariables: an answer to an earlier one is dropped. */
  varsSeq: 0,
  customer: null,
  loaded: {},
};
window.vafaDashboard = state;

const $ = (sel) => document.querySelector(sel);
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

// --- Formatting -------------------------------------------------------------------------------------

const compact = new Intl.NumberFormat('en', { notation: 'compact', maximumFractionDigits: 2 });
const plain = new Intl.NumberFormat('en', { maximumFractionDigits: 2 });
function fmt(v, unit) {
  if (v === null || v === undefined || v === '') return '–';
  if (typeof v !== 'number') return String(v);
  if (!Number.isFinite(v)) return '–';
  switch (unit) {
    case 'percentunit': return `${plain.format(v * 100)}%`;
    case 'percent': return `${plain.format(v)}%`;
    case 'ms': return `${plain.format(v)} ms`;
    default: return Math.abs(v) >= 10000 ? compact.format(v) : plain.format(v);
  }
}
const unitOf = (panel, column) => panel.units[column] ?? panel.unit;
const timeText = (ms) => new Date(ms).toISOString().replace('T', ' ').slice(0, 16);

// --- Data shaping -----------------------------------------------------------------------------------

const isNum = (c) => /^(Nullable\()?(U?Int|Float|Decimal)/.test(c.type);
const isText = (c) => !c.time && !isNum(c);

/** Time series from long frames: [time, label…, value…] → one series per label (× value column). */
function timeSeries(panel, frames) {
  const series = new Map();
  for (const f of frames) {
    const ti = f.columns.findIndex((c) => c.time);
    if (ti < 0) continue;
    const labels = f.columns.map((c, i) => (i !== ti && isText(c) ? i : -1)).filter((i) => i >= 0);
    const values = f.columns.map((c, i) => (i !== ti && isNum(c) && !panel.hidden.includes(c.name) ? i : -1)).filter((i) => i >= 0);
    for (const row of f.rows) {
      for (const vi of values) {
        const label = labels.map((i) => String(row[i])).join(' ');
        const name = labels.length === 0 ? f.columns[vi].name : values.length > 1 ? `${label} ${f.columns[vi].name}` : label;
        if (!series.has(name)) series.set(name, { name, column: f.columns[vi].name, data: [] });
        series.get(name).data.push([row[ti], row[vi]]);
      }
    }
  }
  return [...series.values()];
}

function categories(panel, frame) {
  const xi = frame.columns.findIndex((c) => isText(c) || c.time);
  const values = frame.columns.map((c, i) => (i !== xi && isNum(c) && !panel.hidden.includes(c.name) ? i : -1)).filter((i) => i >= 0);
  return { xi, values };
}

// --- Chart options ----------------------------------------------------------------------------------

const axisStyle = { axisLine: { lineStyle: { color: '#444' } }, splitLine: { lineStyle: { color: '#2c3235' } }, axisLabel: { color: '#aaa' } };

function timeseriesOption(panel, frames, range) {
  const series = timeSeries(panel, frames);
  const right = new Set(panel.rightAxis);
  const yAxis = [{ type: 'value', ...axisStyle, axisLabel: { color: '#aaa', formatter: (v) => fmt(v, panel.unit) } }];
  if (series.some((s) => right.has(s.column))) {
    const unit = panel.units[panel.rightAxis[0]] ?? panel.unit;
    yAxis.push({ type: 'value', ...axisStyle, splitLine: { show: false }, axisLabel: { color: '#aaa', formatter: (v) => fmt(v, unit) } });
  }
  return {
    backgroundColor: 'transparent',
    grid: { left: 8, right: 8, top: 10, bottom: 30, containLabel: true },
    tooltip: { trigger: 'axis', valueFormatter: (v) => fmt(v, panel.unit) },
    legend: { bottom: 0, type: 'scroll', textStyle: { color: '#ccc' } },
    xAxis: { type: 'time', min: range.from, max: range.to, ...axisStyle },
    yAxis,
    series: series.map((s) => ({
      name: s.name, type: 'line', showSymbol: s.data.length < 3, smooth: false, areaStyle: { opacity: 0.08 }, data: s.data,
      yAxisIndex: right.has(s.column) && yAxis.length > 1 ? 1 : 0,
    })),
  };
}

function barOption(panel, frames) {
  const f = frames[0];
  const { xi, values } = categories(panel, f);
  const cats = f.rows.map((r) => (xi >= 0 ? (f.columns[xi].time ? timeText(r[xi]) : String(r[xi])) : ''));
  const valueAxis = { type: 'value', ...axisStyle, axisLabel: { color: '#aaa', formatter: (v) => fmt(v, panel.unit) } };
  const catAxis = { type: 'category', data: cats, ...axisStyle, axisLabel: { color: '#aaa', interval: panel.horizontal ? 0 : 'auto', hideOverlap: true } };
  return {
    backgroundColor: 'transparent',
    grid: { left: 8, right: 12, top: 10, bottom: 30, containLabel: true },
    tooltip: { trigger: 'axis', axisPointer: { type: 'shadow' }, valueFormatter: (v) => fmt(v, panel.unit) },
    legend: { bottom: 0, type: 'scroll', textStyle: { color: '#ccc' }, show: values.length > 1 },
    xAxis: panel.horizontal ? valueAxis : catAxis,
    yAxis: panel.horizontal ? { ...catAxis, inverse: true } : valueAxis,
    series: values.map((vi) => ({
      name: f.columns[vi].name, type: 'bar', stack: panel.stacked ? 'total' : undefined, data: f.rows.map((r) => r[vi]), barMaxWidth: 40,
    })),
  };
}

function pieOption(panel, frames) {
  const f = frames[0];
  const { xi, values } = categories(panel, f);
  const vi = values[0];
  return {
    backgroundColor: 'transparent',
    tooltip: { trigger: 'item', valueFormatter: (v) => fmt(v, panel.unit) },
    legend: { orient: 'vertical', right: 0, top: 'middle', textStyle: { color: '#ccc' } },
    series: [{
      name: panel.title, type: 'pie', radius: ['45%', '75%'], center: ['40%', '50%'], label: { color: '#ccc', formatter: '{d}%' },
      data: f.rows.map((r) => ({ name: String(r[xi]), value: r[vi] })),
    }],
  };
}

// --- Panels -----------------------------------------------------------------------------------------

function renderStat(body, panel, frames) {
  const box = el('div', { class: 'stats' });
  for (const f of frames) {
    const row = f.rows[0] ?? [];
    f.columns.forEach((c, i) => {
      if (panel.hidden.includes(c.name)) return;
      box.append(el('div', { class: 'stat', 'data-column': c.name }, el('div', { class: 'value', text: fmt(row[i], unitOf(panel, c.name)) }), el('div', { class: 'name', text: c.name.replaceAll('_', ' ') })));
    });
  }
  body.replaceChildren(box);
}

function renderTable(body, panel, frames) {
  const f = frames[0];
  const table = el('table');
  table.append(el('thead', {}, el('tr', {}, ...f.columns.map((c) => el('th', { class: isNum(c) ? 'num' : '', text: c.name.replaceAll('_', ' ') })))));
  const tbody = el('tbody');
  for (const r of f.rows) {
    tbody.append(el('tr', {}, ...f.columns.map((c, i) => {
      if (c.name === 'customer' || c.name === 'customer_id') {
        return el('td', {}, el('a', { class: 'customer-link', href: `#customer=${encodeURIComponent(r[i])}`, text: String(r[i]) }));
      }
      return el('td', { class: isNum(c) ? 'num' : '', text: c.time ? timeText(r[i]) : fmt(r[i], unitOf(panel, c.name)) });
    })));
  }
  table.append(tbody);
  body.replaceChildren(el('div', { class: 'table-wrap' }, table));
}

function chartFor(panel, body) {
  let entry = state.charts.get(panel.id);
  if (!entry || !body.contains(entry.node)) {
    const node = el('div', { class: 'chart', 'data-chart': String(panel.id), 'data-type': panel.type });
    body.replaceChildren(node);
    entry = { node, chart: echarts.init(node, 'dark', { renderer: 'canvas' }) };
    state.charts.set(panel.id, entry);
  }
  return entry.chart;
}

function renderPanel(panel, result, range) {
  const body = document.querySelector(`[data-panel="${panel.id}"] .body`);
  if (!body) return;
  if (result.error) {
    disposeChart(panel.id);
    body.replaceChildren(el('div', { class: 'error', text: result.error }));
    return;
  }
  const frames = result.frames;
  if (frames.every((f) => f.rows.length === 0)) {
    disposeChart(panel.id);
    body.replaceChildren(el('div', { class: 'empty', text: 'No data in this range.' }));
    return;
  }
  if (panel.type === 'stat') return renderStat(body, panel, frames);
  if (panel.type === 'table') return renderTable(body, panel, frames);
  const option = panel.type === 'timeseries' ? timeseriesOption(panel, frames, range) : panel.type === 'piechart' ? pieOption(panel, frames) : barOption(panel, frames);
  chartFor(panel, body).setOption(option, { notMerge: true });
}

function disposeChart(id) {
  const entry = state.charts.get(id);
  if (entry) entry.chart.dispose();
  state.charts.delete(id);
}

function dashboardMeta() {
  return state.meta.dashboards.find((d) => d.uid === state.uid);
}

function layout(d) {
  for (const id of [...state.charts.keys()]) disposeChart(id);
  const grid = $('#dashboard');
  grid.replaceChildren(...d.panels.map((p) => {
    const node = el('div', { class: 'panel', 'data-panel': String(p.id), 'data-type': p.type, title: p.description },
      el('h2', { text: p.title }), el('div', { class: 'body' }, el('div', { class: 'empty', text: 'loading…' })));
    node.style.gridColumn = `${p.gridPos.x + 1} / span ${p.gridPos.w}`;
    node.style.gridRow = `${p.gridPos.y + 1} / span ${p.gridPos.h}`;
    return node;
  }));
}

// --- Controls ---------------------------------------------------------------------------------------

/**
 * The filters of dashboard `d`. Only the latest call's answer is shown: a tab chosen again, another tab or
 * another range before an earlier answer came makes that answer stale (it would add a second set).
 */
async function loadVariables(d) {
  const box = $('#variables');
  const seq = ++state.varsSeq;
  box.replaceChildren();
  const r = await api(`${d.api}/variables?range=${state.range}`);
  if (!r.ok || seq !== state.varsSeq) return;
  const { variables } = await r.json();
  if (seq !== state.varsSeq) return;
  box.replaceChildren(...variables.map((v) => {
    const select = el('select', { 'data-variable': v.name, onchange: (e) => { state.vars[v.name] = e.target.value; refresh(); } },
      el('option', { value: 'all', text: 'All' }), ...v.options.map((o) => el('option', { value: o, text: o })));
    select.value = state.vars[v.name] ?? 'all';
    return el('label', {}, v.label, select);
  }));
}

function setStatus(text, error = false) {
  const s = $('#status');
  s.textContent = text;
  s.classList.toggle('error', error);
}

async function refresh() {
  clearTimeout(state.timer);
  if (state.uid === 'customer') return;
  const d = dashboardMeta();
  const seq = ++state.seq;
  const params = new URLSearchParams({ range: state.range });
  for (const [k, v] of Object.entries(state.vars)) if (v && v !== 'all') params.set(k, v);
  try {
    const r = await api(`${d.api}?${params}`);
    const body = await r.json();
    if (seq !== state.seq) return;
    if (!r.ok) throw new Error(body.message ?? `HTTP ${r.status}`);
    const range = { from: Date.parse(body.from), to: Date.parse(body.to) };
    for (const p of d.panels) renderPanel(p, body.panels.find((x) => x.id === p.id) ?? { frames: [] }, range);
    state.loaded[d.uid] = (state.loaded[d.uid] ?? 0) + 1;
    document.body.dataset.loaded = d.uid;
    setStatus(`${d.clock === 'event-time' ? 'event time' : 'wall clock'} ${timeText(Date.parse(body.from))} → ${timeText(Date.parse(body.to))} UTC · updated ${new Date().toLocaleTimeString()}`);
  } catch (err) {
    if (seq === state.seq) setStatus(`refresh failed: ${err.message}`, true);
  }
  if (seq === state.seq) scheduleRefresh();
}

function scheduleRefresh() {
  clearTimeout(state.timer);
  if ($('#live').checked) state.timer = setTimeout(() => (state.uid === 'customer' ? refreshCustomer() : refresh()), REFRESH_MS);
}

function selectTab(uid) {
  state.uid = uid;
  state.seq++;
  for (const b of document.querySelectorAll('#tabs button')) b.setAttribute('aria-selected', String(b.dataset.uid === uid));
  const isCustomer = uid === 'customer';
  $('#dashboard').hidden = isCustomer;
  $('#customer').hidden = !isCustomer;
  $('#range').disabled = isCustomer;
  if (isCustomer) {
    state.varsSeq++;
    $('#variables').replaceChildren();
    for (const id of [...state.charts.keys()]) disposeChart(id);
    if (state.customer) refreshCustomer();
    return;
  }
  const d = dashboardMeta();
  state.vars = {};
  state.range = d.defaultRange;
  $('#range').value = state.range;
  layout(d);
  void loadVariables(d);
  void refresh();
}

// --- Customer look-up ------------------------------------------------------------------------------

function card(name, value) {
  return el('div', { class: 'card' }, el('div', { class: 'name', text: name }), el('div', { class: 'value', text: value, 'data-field': name }));
}

function panelBox(title, cls, content) {
  return el('div', { class: `panel ${cls}` }, el('h2', { text: title }), el('div', { class: 'body' }, content));
}

async function refreshCustomer() {
  const id = state.customer;
  const out = $('#customer-body');
  if (!id) return;
  const [c, l] = await Promise.all([api(`/v1/customers/${encodeURIComponent(id)}`), api(`/v1/customers/${encodeURIComponent(id)}/ledger?limit=200`)]);
  if (state.customer !== id || state.uid !== 'customer') return;
  if (!c.ok) {
    const e = await c.json().catch(() => ({}));
    out.replaceChildren(el('div', { class: 'error', text: e.message ?? `HTTP ${c.status}` }));
    scheduleRefresh();
    return;
  }
  const v = await c.json();
  const ledger = l.ok ? (await l.json()).entries : [];
  if (state.customer !== id || state.uid !== 'customer') return; // another customer or tab was chosen meanwhile
  const features = Object.entries(v.features ?? {}).sort(([a], [b]) => a.localeCompare(b));
  const offers = Array.isArray(v.recent_offers) ? v.recent_offers : [];
  const reasons = Array.isArray(v.churn_reasons) ? v.churn_reasons : [];

  const gauge = el('div', { class: 'chart', 'data-chart': 'churn', 'data-type': 'gauge' });
  // Why at risk: each reason's signed contribution to the log-odds of churn (docs/models.md, "Reasons").
  const reasonsChart = reasons.length
    ? el('div', { class: 'chart', 'data-chart': 'reasons', 'data-type': 'barchart' })
    : el('div', { class: 'empty', 'data-field': 'churn reasons', text: 'No reasons stored with this score (below the model\'s threshold for reasons, or a model without an explainer).' });
  const balance = el('div', { class: 'chart', 'data-chart': 'balance', 'data-type': 'timeseries' });
  const featureTable = el('table', {}, el('thead', {}, el('tr', {}, el('th', { text: 'feature the model saw' }), el('th', { class: 'num', text: 'value' }))),
    el('tbody', {}, ...features.map(([k, x]) => el('tr', {}, el('td', { text: k }), el('td', { class: 'num', text: fmt(x) })))));
  const cols = ['occurred_at', 'kind', 'points', 'rule_id', 'channel', 'balance_after', 'expires_at'];
  const ledgerTable = el('table', {}, el('thead', {}, el('tr', {}, ...cols.map((k) => el('th', { text: k.replaceAll('_', ' ') })))),
    el('tbody', {}, ...ledger.map((e) => el('tr', {}, ...cols.map((k) => el('td', { class: typeof e[k] === 'number' ? 'num' : '', text: e[k] === null ? '' : fmt(e[k]) }))))));
  const offerCols = ['created_at', 'offer_code', 'kind', 'campaign_id', 'channel', 'reason', 'holdout', 'converted', 'converted_at'];
  const offerTable = offers.length
    ? el('table', {}, el('thead', {}, el('tr', {}, ...offerCols.map((k) => el('th', { text: k.replaceAll('_', ' ') })))),
      el('tbody', {}, ...offers.map((o) => el('tr', {}, ...offerCols.map((k) => el('td', { text: o[k] === undefined ? '' : fmt(o[k]) }))))))
    : el('div', { class: 'empty', text: 'No offers decided yet.' });

  for (const k of ['churn', 'reasons', 'balance']) disposeChart(k);
  out.replaceChildren(
    el('div', { class: 'cards' },
      card('customer', v.customer_id), card('points balance', fmt(v.points_balance)), card('tier', v.tier || '–'), card('lifecycle stage', v.lifecycle_stage || '–'),
      card('churn probability', fmt(v.churn_probability, 'percentunit')), card('model', v.model_version || '–'), card('segment', v.segment || '–'),
      card('branch', v.branch_id || '–'), card('expected value', fmt(v.expected_value)), card('value at risk', fmt(v.value_at_risk)),
      card('last transaction', v.last_tx_at ? v.last_tx_at.slice(0, 16) : '–')),
    el('div', { class: 'customer-grid' },
      panelBox('Churn probability', 'span-4', gauge),
      panelBox('Churn reasons: what moves the score (log-odds)', 'span-8', reasonsChart),
      panelBox('Points balance (ledger)', 'span-8', balance),
      panelBox('Features behind the score', 'span-4', el('div', { class: 'table-wrap' }, featureTable)),
      panelBox('Points ledger (newest first)', 'span-12', el('div', { class: 'table-wrap' }, ledgerTable)),
      panelBox('Recent offers', offers.length ? 'span-12' : 'span-12 short', offers.length ? el('div', { class: 'table-wrap' }, offerTable) : offerTable)),
  );
  const g = echarts.init(gauge, 'dark');
  g.setOption({
    backgroundColor: 'transparent',
    series: [{ type: 'gauge', min: 0, max: 100, progress: { show: true, width: 14 }, axisLine: { lineStyle: { width: 14 } }, detail: { formatter: '{value}%', color: '#fff', fontSize: 22 },
      data: [{ value: Math.round((v.churn_probability ?? 0) * 1000) / 10, name: 'churn' }], title: { color: '#aaa' } }],
  });
  state.charts.set('churn', { node: gauge, chart: g });
  if (reasons.length) {
    const rc = echarts.init(reasonsChart, 'dark');
    const shown = [...reasons].reverse();
    rc.setOption({
      backgroundColor: 'transparent', animation: false, grid: { left: 8, right: 24, top: 10, bottom: 24, containLabel: true },
      tooltip: { trigger: 'item', formatter: (p) => `${p.name}<br>contribution ${fmt(p.value)} (${p.value > 0 ? 'raises' : 'lowers'} the risk)` },
      xAxis: { type: 'value', ...axisStyle }, yAxis: { type: 'category', ...axisStyle, data: shown.map((r) => `${r.feature} = ${fmt(r.value)}`) },
      series: [{ name: 'contribution', type: 'bar', data: shown.map((r) => ({ value: r.contribution, itemStyle: { color: r.contribution > 0 ? '#e5534b' : '#57ab5a' } })) }],
    });
    state.charts.set('reasons', { node: reasonsChart, chart: rc });
  }
  const b = echarts.init(balance, 'dark');
  const points = ledger.filter((e) => e.occurred_at).map((e) => [Date.parse(`${String(e.occurred_at).replace(' ', 'T')}Z`), e.balance_after]).reverse();
  b.setOption({
    backgroundColor: 'transparent', grid: { left: 8, right: 12, top: 10, bottom: 24, containLabel: true }, tooltip: { trigger: 'axis' },
    xAxis: { type: 'time', ...axisStyle }, yAxis: { type: 'value', ...axisStyle },
    series: [{ name: 'balance', type: 'line', step: 'end', showSymbol: false, areaStyle: { opacity: 0.1 }, data: points }],
  });
  state.charts.set('balance', { node: balance, chart: b });
  document.body.dataset.customer = v.customer_id;
  setStatus(`customer ${v.customer_id} · updated ${new Date().toLocaleTimeString()}`);
  scheduleRefresh();
}

function openCustomer(id) {
  state.customer = id;
  $('#customer-id').value = id;
  if (state.uid !== 'customer') selectTab('customer');
  else void refreshCustomer();
}

// --- Start ------------------------------------------------------------------------------------------

async function start() {
  const r = await api('/api/dashboard');
  const who = await (await api('/api/session')).json();
  if (who.via === 'session' || who.via === 'proxy') {
    $('#who').textContent = who.id;
    $('#signout').hidden = who.via !== 'session';
    $('#who').hidden = false;
  }
  state.meta = await r.json();
  const tabs = $('#tabs');
  for (const d of state.meta.dashboards) {
    tabs.append(el('button', { type: 'button', 'data-uid': d.uid, text: d.title.replace(/^vafa · /, ''), title: d.description, onclick: () => selectTab(d.uid) }));
  }
  tabs.append(el('button', { type: 'button', 'data-uid': 'customer', text: 'Customer', onclick: () => selectTab('customer') }));
  const range = $('#range');
  for (const k of state.meta.ranges) range.append(el('option', { value: k, text: k }));
  range.addEventListener('change', () => {
    state.range = range.value;
    void loadVariables(dashboardMeta());
    void refresh();
  });
  $('#live').addEventListener('change', () => (state.uid === 'customer' ? refreshCustomer() : refresh()));
  $('#lookup').addEventListener('submit', (e) => {
    e.preventDefault();
    const id = $('#customer-id').value.trim();
    if (id) history.replaceState(null, '', `#customer=${encodeURIComponent(id)}`);
    if (id) openCustomer(id);
  });
  window.addEventListener('hashchange', fromHash);
  window.addEventListener('resize', () => { for (const { chart } of state.charts.values()) chart.resize(); });
  if (!fromHash()) selectTab(state.meta.dashboards[0].uid);
}

function fromHash() {
  const h = new URLSearchParams(location.hash.slice(1));
  if (h.get('customer')) {
    openCustomer(h.get('customer'));
    return true;
  }
  if (h.get('dashboard') && state.meta.dashboards.some((d) => d.uid === h.get('dashboard'))) {
    selectTab(h.get('dashboard'));
    return true;
  }
  return false;
}

start().catch((err) => setStatus(`failed to start: ${err.message}`, true));
