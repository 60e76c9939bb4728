// The dashboard: reads the REST API once, then stays current from /v1/stream.
// Everything from the network is put in the page as text (never as HTML).

import { TRAINING, follow, getJson, metricsSince, ofTraining } from "./api.js";
import { PHASES, colour, lineChart, setBars, setLines, stackedBars } from "./charts.js";

const state = {
  self: null, training: null, trainings: [], nodes: [], steps: [], cursor: 0,
  metrics: new Map(), // address (lowercase) -> Map(step -> {metrics, timings})
  events: [],
};
const charts = {};
const MAX_EVENTS = 60;
const TIMELINE_STEPS = 30;

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("data-")) node.setAttribute(key, value);
    else node[key] = value;
  }
  for (const child of children) node.append(child instanceof Node ? child : String(child ?? "-"));
  return node;
}

const short = (text, n = 10) => (text ? `${text.slice(0, n)}…` : "-");
const shortAddress = (a) => (a ? `${a.slice(0, 6)}…${a.slice(-4)}` : "-");
function when(seconds) {
  if (seconds == null) return "-";
  const ago = Math.max(0, Math.round(Date.now() / 1000 - seconds));
  return `${new Date(seconds * 1000).toLocaleTimeString()} (${ago}s ago)`;
}
const fixed = (value, digits = 4) => (value == null ? "-" : Number(value).toFixed(digits));
const learnerIndex = (address) =>
  state.nodes.filter((n) => n.role === "learner").map((n) => n.address.toLowerCase())
    .indexOf(address.toLowerCase());

// ------------------------------------------------------------------ data

function addMetrics(doc) {
  const key = doc.address.toLowerCase();
  if (!state.metrics.has(key)) state.metrics.set(key, new Map());
  state.metrics.get(key).set(doc.step, { metrics: doc.metrics, timings: doc.timings, address: doc.address });
}

async function refreshChainViews() {
  const [training, nodes, steps, trainings] = await Promise.all([
    getJson(ofTraining("/v1/training")), getJson(ofTraining("/v1/nodes")),
    getJson(ofTraining("/v1/steps?limit=100")), getJson("/v1/trainings"),
  ]);
  state.training = training;
  state.trainings = trainings.trainings;
  state.nodes = nodes.nodes;
  state.steps = steps.steps;
  render();
}

let refreshTimer = null;
function scheduleRefresh() {
  if (refreshTimer) return;
  refreshTimer = setTimeout(async () => {
    refreshTimer = null;
    try { await refreshChainViews(); } catch (err) { console.warn(err); }
  }, 200);
}

let drawPending = false;
function scheduleDraw() {
  if (drawPending) return;
  drawPending = true;
  requestAnimationFrame(() => { drawPending = false; render(); });
}

function onEvent(type, data) {
  state.events.unshift({ type, data });
  state.events.length = Math.min(state.events.length, MAX_EVENTS);
  if (type === "metrics") {
    addMetrics(data);
    scheduleDraw();
  } else {
    scheduleRefresh();
  }
}

function onConnection(up) {
  const badge = document.getElementById("connection");
  badge.textContent = up ? "live" : "reconnecting";
  badge.className = `badge ${up ? "live" : "off"}`;
  if (up) scheduleRefresh(); // after a reconnect, catch up on anything the replay lacked
}

// ------------------------------------------------------------------ overview

// The swarm's trainings; choosing another loads the page for it (`?training=`).
function renderTrainingChoice() {
  const select = document.getElementById("training-select");
  const names = state.trainings.map((t) => t.name);
  if (!names.includes(TRAINING)) names.push(TRAINING);
  const label = (name) => {
    const entry = state.trainings.find((t) => t.name === name);
    return entry ? `${name} (${entry.state}, ${entry.learners} learners)` : name;
  };
  // Options are replaced only when the list changes, so an open list stays open.
  if ([...select.options].map((o) => o.value).join("\n") !== names.join("\n")) {
    select.replaceChildren(...names.map((name) => el("option", { value: name }, label(name))));
  }
  for (const option of select.options) option.textContent = label(option.value);
  select.value = TRAINING;
}

function renderTraining() {
  const t = state.training;
  if (!t) return;
  const stateBadge = document.getElementById("state");
  stateBadge.textContent = t.state;
  stateBadge.className = `badge ${t.state}`;
  document.getElementById("open-step").textContent = t.current_step;
  document.getElementById("quorum").textContent =
    `${t.checked_in} checked in, ${t.effective_quorum} needed (min_peers ${t.min_peers})`;
  document.getElementById("live-learners").textContent =
    `${t.live_learners} of ${t.learners} (${t.finished_learners} finished)`;
  document.getElementById("merge").textContent = t.merge_method || "-";
  const open = state.steps.find((s) => s.step === t.current_step);
  const awaited = document.getElementById("awaited");
  awaited.replaceChildren();
  if (t.waiting_for.length) {
    const since = open ? open.quorum_at ?? open.opened_at : null;
    awaited.append(
      el("span", { class: "label" }, "awaiting "),
      ...t.waiting_for.map((a) => el("a", { href: `#/node/${a}` }, shortAddress(a), " ")),
      el("span", { class: "label" }, ` since ${when(since)}`),
    );
  }
}

function renderNodes() {
  const body = document.querySelector("#nodes tbody");
  body.replaceChildren(...state.nodes.map((n) => el("tr", { "data-address": n.address },
    el("td", {}, el("a", { href: `#/node/${n.address}`, class: "node-link" }, el("code", {}, n.address))),
    el("td", {}, n.role),
    el("td", {}, el("span", { class: `badge ${n.status}` }, n.status)),
    el("td", {}, when(n.last_seen)),
    el("td", { class: "num" }, n.last_step),
    el("td", {}, n.file_url),
  )));
}

function metricNames() {
  const names = new Set();
  for (const rows of state.metrics.values()) for (const row of rows.values()) {
    for (const name of Object.keys(row.metrics)) names.add(name);
  }
  return [...names].sort();
}

function syncSelect(select, names, preferred) {
  const current = select.value;
  if (select.options.length !== names.length || [...select.options].some((o, i) => o.value !== names[i])) {
    select.replaceChildren(...names.map((n) => el("option", { value: n }, n)));
  }
  // The default follows the data (a training loss appears after the first step) until the
  // person picks one.
  select.value = select.dataset.chosen && names.includes(current) ? current : preferred(names) ?? "";
}

function series(name) {
  const out = [];
  for (const [key, rows] of state.metrics) {
    const points = [...rows.entries()].filter(([, r]) => name in r.metrics)
      .map(([step, r]) => ({ x: step, y: r.metrics[name] })).sort((a, b) => a.x - b.x);
    if (points.length) {
      const address = rows.values().next().value.address;
      out.push({ label: shortAddress(address), address: key, colour: colour(Math.max(0, learnerIndex(key))), points });
    }
  }
  return out;
}

function renderCharts() {
  const names = metricNames();
  const lossNames = names.filter((n) => n.includes("loss"));
  const otherNames = names.filter((n) => !n.includes("loss"));
  const lossSelect = document.getElementById("loss-name");
  const metricSelect = document.getElementById("metric-name");
  syncSelect(lossSelect, lossNames, (ns) => (ns.includes("loss") ? "loss" : ns[0]));
  syncSelect(metricSelect, otherNames, (ns) => ns[0]);
  setLines(charts.loss, lossSelect.value ? series(lossSelect.value) : [], lossSelect.value || "loss");
  setLines(charts.metric, metricSelect.value ? series(metricSelect.value) : [], metricSelect.value || "metric");
  const byStep = new Map();
  for (const rows of state.metrics.values()) for (const [step, r] of rows) {
    if (!byStep.has(step)) byStep.set(step, []);
    byStep.get(step).push(r.timings);
  }
  const steps = [...byStep.keys()].sort((a, b) => b - a).slice(0, TIMELINE_STEPS);
  setBars(charts.timeline, steps.map((step) => {
    const all = byStep.get(step);
    const mean = Object.fromEntries(PHASES.map((p) => [p.key, all.reduce((s, t) => s + t[p.key], 0) / all.length]));
    return { label: `step ${step}`, timings: mean };
  }));
}

function renderSteps() {
  const body = document.querySelector("#steps tbody");
  body.replaceChildren(...state.steps.map((s) => {
    const refusals = s.participants.filter((p) => p.rejected_by.length)
      .map((p) => `${shortAddress(p.address)} refused by ${p.rejected_by.map(shortAddress).join(", ")}`);
    // Several reported hashes is a conflict; one hash and no majority yet is only pending.
    const reported = new Set(s.participants.map((p) => p.merged_hash).filter(Boolean));
    const conflict = reported.size > 1;
    const marked = refusals.length || conflict;
    return el("tr", { class: marked ? "bad" : "", "data-step": s.step },
      el("td", { class: "num" }, s.step),
      el("td", {}, s.closed ? "yes" : "open"),
      el("td", { class: "num" }, s.participants.length),
      el("td", {}, el("code", {}, short(s.agreed_hash, 12))),
      el("td", {}, conflict ? s.conflicting_hashes.map((h) => short(h, 12)).join(", ") : "-"),
      el("td", {}, refusals.length ? refusals.join("; ") : "-"),
    );
  }));
}

function renderEvents() {
  const list = document.getElementById("events");
  list.replaceChildren(...state.events.map(({ type, data }) => {
    const who = data.address || data.by;
    const step = data.step != null ? ` step ${data.step}` : "";
    const extra = type === "node_status" ? ` ${data.was} -> ${data.status}`
      : type === "training_state" ? ` ${data.was} -> ${data.state}`
      : type === "ended" ? ` (step ${data.open_step} never ran)`
      : type === "refusal" ? ` refused ${data.refused.map(shortAddress).join(", ")}`
      : type === "conflict" ? ` ${data.hashes.map((h) => short(h, 8)).join(" vs ")}` : "";
    return el("li", { class: type }, `${type}${step}${who ? ` ${shortAddress(who)}` : ""}${extra}`);
  }));
}

// ------------------------------------------------------------------ one node

function renderNodePage(address) {
  const key = address.toLowerCase();
  const node = state.nodes.find((n) => n.address.toLowerCase() === key);
  document.getElementById("node-address").textContent = address;
  const facts = document.getElementById("node-facts");
  facts.replaceChildren(...(node ? [
    ["role", node.role], ["status", node.status], ["last seen", when(node.last_seen)],
    ["last step", node.last_step], ["enrolled at step", node.enrolled_at_step], ["file server", node.file_url],
  ] : [["", "not enrolled"]]).map(([label, value]) => el("div", {}, el("span", { class: "label" }, `${label} `), value)));
  const rows = [...(state.metrics.get(key) || new Map()).entries()].sort((a, b) => a[0] - b[0]);
  const names = [...new Set(rows.flatMap(([, r]) => Object.keys(r.metrics)))].sort();
  const phases = PHASES.map((p) => p.key);
  document.querySelector("#node-history thead").replaceChildren(el("tr", {},
    el("th", {}, "step"), ...names.map((n) => el("th", {}, n)), ...PHASES.map((p) => el("th", {}, p.label)),
    el("th", {}, "started")));
  document.querySelector("#node-history tbody").replaceChildren(...rows.map(([step, r]) => el("tr", { "data-step": step },
    el("td", { class: "num" }, step),
    ...names.map((n) => el("td", { class: "num", "data-key": n, "data-value": r.metrics[n] ?? "" }, fixed(r.metrics[n]))),
    ...phases.map((k) => el("td", { class: "num", "data-key": k, "data-value": r.timings[k] }, fixed(r.timings[k], 3))),
    el("td", {}, new Date(r.timings.started_at * 1000).toLocaleTimeString()),
  )));
  setLines(charts.node, names.map((n, i) => ({
    label: n, colour: colour(i), points: rows.filter(([, r]) => n in r.metrics).map(([step, r]) => ({ x: step, y: r.metrics[n] })),
  })), "value");
  setBars(charts.nodeTimeline, rows.slice(-TIMELINE_STEPS).reverse().map(([step, r]) => ({ label: `step ${step}`, timings: r.timings })));
}

// ------------------------------------------------------------------ routing

function route() {
  const match = location.hash.match(/^#\/node\/(0x[0-9a-fA-F]{40})$/);
  return match ? match[1] : null;
}

function render() {
  const address = route();
  document.getElementById("overview").hidden = address !== null;
  document.getElementById("node-page").hidden = address === null;
  renderTrainingChoice();
  if (address) {
    renderNodePage(address);
  } else {
    renderTraining();
    renderNodes();
    renderCharts();
    renderSteps();
    renderEvents();
  }
}

async function main() {
  charts.loss = lineChart(document.getElementById("loss-chart"), "loss");
  charts.metric = lineChart(document.getElementById("metric-chart"), "metric");
  charts.timeline = stackedBars(document.getElementById("timeline-chart"));
  charts.node = lineChart(document.getElementById("node-chart"), "value");
  charts.nodeTimeline = stackedBars(document.getElementById("node-timeline"));
  for (const id of ["loss-name", "metric-name"]) {
    const select = document.getElementById(id);
    select.onchange = () => { select.dataset.chosen = "yes"; render(); };
  }
  window.addEventListener("hashchange", render);
  document.getElementById("training-select").onchange = (event) => {
    const query = new URLSearchParams(location.search);
    query.set("training", event.target.value);
    location.search = query.toString(); // a fresh page: nothing of the other training stays
  };
  state.self = await getJson("/v1/health");
  document.getElementById("this-node").textContent = `${state.self.role} ${state.self.address}`;
  follow(onEvent, onConnection); // first, so that nothing between the reads below is missed
  const { documents, cursor } = await metricsSince(0);
  documents.forEach(addMetrics);
  state.cursor = cursor;
  await refreshChainViews();
}

// For people debugging, and for the browser test: what the charts show, per learner.
window.swarmDashboard = {
  state,
  points(chart) {
    return Object.fromEntries(charts[chart].data.datasets.map((d) => [d.address ?? d.label, d.data.length]));
  },
};

main().catch((err) => {
  console.error(err);
  document.getElementById("connection").textContent = `error: ${err.message}`;
});
