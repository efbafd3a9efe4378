// edgecoap dashboard: the fleet's deployments, devices and history, live.
// Plain JavaScript, no library: it reads /api/... (docs/API.md section 8)
// and follows /api/events with an EventSource.
"use strict";

const STATES = ["Pending", "Installing", "Installed", "Failed", "Removing", "Removed"];
const PAGE = 100;          // devices per page
const FEED_MAX = 60;       // live reports listed
const REFRESH_MS = 500;    // bars re-read at most this often while reports come

const $ = (id) => document.getElementById(id);
const view = {
  deployment: "",          // "" = every deployment
  state: "",               // "" = every state
  prefix: "",              // deviceId prefix
  cursors: [null],         // the page's "after" for each page so far
  page: 0,
  next: null,              // nextAfter of the page shown
  history: null,           // { device } while the history is open
};
const deps = new Map();    // deploymentId -> roll-up
let depNext = null;
let reports = 0, reportsAt = [];

// ---- helpers -------------------------------------------------------------

function el(tag, props, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("data-")) e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const k of kids) if (k != null) e.append(k);
  return e;
}

function pill(state) {
  return el("span", { class: "pill state s-" + state, text: state });
}

function short(id) {
  return id && id.length > 13 ? id.slice(0, 8) + "…" : id;
}

function ago(iso) {
  if (!iso) return "";
  const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (s < 5) return "just now";
  if (s < 60) return Math.floor(s) + " s ago";
  if (s < 3600) return Math.floor(s / 60) + " min ago";
  if (s < 86400) return Math.floor(s / 3600) + " h ago";
  return Math.floor(s / 86400) + " d ago";
}

function when(iso) {
  return el("time", { dateTime: iso, title: stamp(iso), text: ago(iso) });
}

const pad = (n) => String(n).padStart(2, "0");
function clock(iso) {
  const d = new Date(iso);
  return pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
}
function stamp(iso) {
  const d = new Date(iso);
  return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " + clock(iso);
}

// A row or item that changed is marked for a moment (a class, not only an
// animation: a tab in the background does not run animations).
function flash(e) {
  e.classList.add("flash");
  setTimeout(() => e.classList.remove("flash"), 1600);
}

async function getJSON(path) {
  const r = await fetch(path, { credentials: "same-origin", cache: "no-store" });
  if (r.status === 401) { location.reload(); throw new Error("signed out"); }
  if (r.status === 404) return null;
  if (!r.ok) throw new Error(path + ": " + r.status);
  return r.json();
}

function throttle(fn, ms) {
  let timer = null, again = false;
  return function run() {
    if (timer) { again = true; return; }
    fn();
    timer = setTimeout(() => { timer = null; if (again) { again = false; run(); } }, ms);
  };
}

// ---- deployments -----------------------------------------------------------

function depCard(d) {
  const total = d.devices || 0;
  const bar = el("div", { class: "bar", role: "img" });
  const counts = el("div", { class: "counts" });
  const said = [];
  for (const s of STATES) {
    const n = d.states[s] || 0;
    if (n > 0) {
      bar.append(el("span", { class: "s-" + s, title: s + ": " + n, style: "width:" + (100 * n / total) + "%" }));
      said.push(s + " " + n);
    }
    // Removing and Removed only once a removal started: the bar says the rest.
    if (n === 0 && (s === "Removing" || s === "Removed")) continue;
    const b = el("button", { class: "s-" + s + (n === 0 ? " zero" : ""), title: "Show the " + s + " devices",
      "data-state": s }, el("i"), el("b", { text: String(n) }), " " + s);
    b.addEventListener("click", (e) => { e.stopPropagation(); choose(d.deploymentId, s); });
    counts.append(b);
  }
  bar.setAttribute("aria-label", said.join(", "));
  const done = total ? Math.round(100 * (d.states.Installed || 0) / total) : 0;
  const failed = d.states.Failed || 0;
  const foot = el("div", { class: "dep-foot" },
    el("span", {}, el("span", { class: "pct", text: done + "%" }), " installed",
      failed ? el("span", { class: "fail", text: " · " + failed + " failed" }) : null),
    d.updatedAt ? el("span", {}, "last report ", when(d.updatedAt)) : null);
  const card = el("div", { class: "dep" + (view.deployment === d.deploymentId ? " selected" : ""),
    "data-deployment": d.deploymentId, tabIndex: 0, title: d.deploymentId },
  el("div", { class: "dep-title" }, el("code", { text: d.deploymentId }),
    el("span", { class: "total", text: total + (total === 1 ? " device" : " devices") })),
  bar, counts, foot);
  if (d.failures && d.failures.length) {
    const f = d.failures.slice(0, 3).map((x) => x.component + (x.code ? " " + x.code : "") + " ×" + x.devices);
    card.append(el("div", { class: "dep-foot" }, el("span", { class: "fail", text: "Failed: " + f.join(", ") })));
  }
  const pick = () => choose(view.deployment === d.deploymentId ? "" : d.deploymentId, view.state);
  card.addEventListener("click", pick);
  card.addEventListener("keydown", (e) => { if (e.key === "Enter") pick(); });
  return card;
}

function renderDeployments() {
  const box = $("deployments");
  box.replaceChildren();
  if (deps.size === 0) box.append(el("p", { class: "empty", text: "No device has reported yet." }));
  for (const d of deps.values()) box.append(depCard(d));
  $("dep-more").hidden = !depNext;
  // The deployment filter's choices.
  const sel = $("f-deployment");
  const keep = view.deployment;
  sel.replaceChildren(el("option", { value: "", text: "every deployment" }));
  for (const id of deps.keys()) sel.append(el("option", { value: id, text: id }));
  sel.value = keep;
  let devices = 0, failed = 0;
  for (const d of deps.values()) { devices += d.devices; failed += d.states.Failed || 0; }
  $("summary").replaceChildren(
    el("span", {}, el("b", { text: String(deps.size) }), " deployments"),
    el("span", {}, el("b", { text: String(devices) }), " devices in them"),
    el("span", {}, el("b", { text: String(failed) }), " failed"));
  renderChips();
}

async function loadDeployments() {
  // The first pages, as many as were shown (a deployment's bar keeps its place).
  const want = Math.max(deps.size, 1);
  const all = new Map();
  let after = null;
  do {
    const doc = await getJSON("/api/deployments?limit=100" + (after ? "&after=" + encodeURIComponent(after) : ""));
    for (const d of doc.deployments) all.set(d.deploymentId, d);
    after = doc.nextAfter || null;
  } while (after && all.size < want);
  // The selected one with its failures.
  if (view.deployment && all.has(view.deployment)) {
    const r = await getJSON("/api/deployments/" + encodeURIComponent(view.deployment));
    if (r) all.set(r.deploymentId, r);
  }
  deps.clear();
  for (const [k, v] of all) deps.set(k, v);
  depNext = after;
  renderDeployments();
}

async function moreDeployments() {
  const last = [...deps.keys()].pop();
  const doc = await getJSON("/api/deployments?limit=100&after=" + encodeURIComponent(last));
  for (const d of doc.deployments) deps.set(d.deploymentId, d);
  depNext = doc.nextAfter || null;
  renderDeployments();
}

const refreshDeployments = throttle(() => loadDeployments().catch(showError), REFRESH_MS);

// ---- devices ---------------------------------------------------------------

function renderChips() {
  const box = $("state-chips");
  const d = view.deployment ? deps.get(view.deployment) : null;
  const count = (s) => {
    if (d) return s ? d.states[s] || 0 : d.devices;
    let n = 0;
    for (const x of deps.values()) n += s ? x.states[s] || 0 : x.devices;
    return n;
  };
  box.replaceChildren();
  for (const s of [""].concat(STATES)) {
    if ((s === "Removing" || s === "Removed") && count(s) === 0 && view.state !== s) continue;
    const c = el("button", { class: "chip" + (s ? " s-" + s : ""), role: "tab", "data-state": s },
      s ? el("i") : null, s || "All", el("b", { text: String(count(s)) }));
    c.setAttribute("aria-selected", String(view.state === s));
    c.addEventListener("click", () => choose(view.deployment, s));
    box.append(c);
  }
}

function deviceRow(r) {
  const tr = el("tr", { "data-device": r.deviceId, "data-deployment": r.deploymentId },
    el("td", { class: "dev mono", text: r.deviceId }),
    el("td", { class: "mono", title: r.deploymentId, text: short(r.deploymentId) }),
    el("td", { class: "st" }, pill(r.state)),
    el("td", { class: "err", title: r.error || "", text: r.error || "" }),
    el("td", { class: "when" }, when(r.updatedAt)));
  if (view.history && view.history.device === r.deviceId) tr.classList.add("current");
  tr.addEventListener("click", () => openHistory(r.deviceId));
  return tr;
}

function devicesPath() {
  const q = new URLSearchParams();
  q.set("limit", String(PAGE));
  if (view.state) q.set("state", view.state);
  if (view.prefix) q.set("q", view.prefix);
  const after = view.cursors[view.page];
  if (after) q.set("after", after);
  if (view.deployment)
    return "/api/deployments/" + encodeURIComponent(view.deployment) + "/devices?" + q;
  return "/api/devices?" + q;
}

let devicesSeq = 0;
let heardDuringRead = null; // reports heard while the newest read is out
async function loadDevices() {
  const seq = ++devicesSeq;
  const heard = heardDuringRead = [];
  const doc = await getJSON(devicesPath());
  if (seq !== devicesSeq) return; // a newer read is on its way
  heardDuringRead = null;
  const rows = doc ? doc.devices : [];
  const body = document.querySelector("#devices tbody");
  body.replaceChildren(...rows.map(deviceRow));
  // The page may have been read before a report heard meanwhile was
  // stored: those reports go on top of it, in the order they came.
  for (const ev of heard) applyToRow(ev);
  $("devices-empty").hidden = rows.length > 0;
  // One deployment's devices: its column would repeat one id.
  $("devices").classList.toggle("one-dep", !!view.deployment);
  view.next = doc && doc.nextAfter ? doc.nextAfter : null;
  const from = view.page * PAGE + 1;
  $("pg-info").textContent = rows.length ? "devices " + from + "–" + (from + rows.length - 1) + (view.next ? "" : " (last page)") : "";
  $("pg-first").disabled = view.page === 0;
  $("pg-prev").disabled = view.page === 0;
  $("pg-next").disabled = !view.next;
  const scope = [];
  if (view.deployment) scope.push("of " + short(view.deployment));
  if (view.state) scope.push(view.state);
  if (view.prefix) scope.push("starting " + view.prefix);
  $("devices-scope").textContent = scope.join(" · ");
}

const refreshDevices = throttle(() => loadDevices().catch(showError), 1000);

// A new view starts at its first page; the old page's cursor is no
// longer one of its own, so Next waits for the new page.
function firstPage() {
  view.cursors = [null];
  view.page = 0;
  view.next = null;
  $("pg-next").disabled = true;
}

function choose(deployment, state) {
  view.deployment = deployment;
  view.state = state;
  firstPage();
  for (const c of document.querySelectorAll(".dep"))
    c.classList.toggle("selected", c.dataset.deployment === deployment);
  $("f-deployment").value = deployment;
  renderChips();
  loadDevices().catch(showError);
  if (deployment) refreshDeployments();
  saveView();
}

// A report in the table's page: its row changes in place.
function applyToRow(ev) {
  const sel = 'tr[data-device="' + CSS.escape(ev.deviceId) + '"][data-deployment="' + CSS.escape(ev.deploymentId) + '"]';
  const tr = document.querySelector("#devices tbody " + sel);
  const fits = (!view.deployment || view.deployment === ev.deploymentId) &&
    (!view.prefix || ev.deviceId.startsWith(view.prefix));
  if (!tr) {
    // A device new to this page's range: read the page again (throttled).
    if (fits && (!view.state || view.state === ev.state)) refreshDevices();
    return;
  }
  if (view.state && view.state !== ev.state) { refreshDevices(); }
  const fresh = deviceRow({ deviceId: ev.deviceId, deploymentId: ev.deploymentId, state: ev.state,
    error: ev.error, updatedAt: ev.at });
  tr.replaceWith(fresh);
  flash(fresh);
}

// ---- history ---------------------------------------------------------------

async function openHistory(device) {
  view.history = { device };
  $("history-panel").hidden = false;
  $("history-device").textContent = device;
  for (const tr of document.querySelectorAll("#devices tbody tr"))
    tr.classList.toggle("current", tr.dataset.device === device);
  await loadHistory();
  saveView();
}

async function loadHistory() {
  if (!view.history) return;
  const device = view.history.device;
  const doc = await getJSON("/api/devices/" + encodeURIComponent(device) + "/history?limit=30");
  if (!view.history || view.history.device !== device) return;
  const list = $("history");
  list.replaceChildren();
  if (!doc || !doc.reports.length) {
    list.append(el("li", { class: "empty", text: "No report from this device." }));
    return;
  }
  for (const r of doc.reports) {
    const what = el("div", { class: "what" },
      el("div", { class: "line" }, pill(r.state), el("code", { title: r.deploymentId, text: short(r.deploymentId) }),
        el("span", { class: "comps", text: "#" + r.seq })));
    if (r.error && (r.error.code || r.error.message))
      what.append(el("div", { class: "msg" }, el("b", { text: r.error.code || "" }),
        r.error.message ? " " + r.error.message : ""));
    const failed = (r.components || []).filter((c) => c.state !== r.state || c.error);
    if (failed.length)
      what.append(el("div", { class: "comps", text: failed.map((c) => c.name + ": " + c.state +
        (c.error && c.error.code ? " (" + c.error.code + ")" : "")).join(" · ") }));
    list.append(el("li", {},
      el("div", { class: "when" }, stamp(r.receivedAt), el("br"), when(r.receivedAt)),
      what));
  }
}

const refreshHistory = throttle(() => loadHistory().catch(showError), 1000);

// ---- live ------------------------------------------------------------------

function setLive(state, text) {
  $("live").dataset.state = state;
  $("live-text").textContent = text;
}

function feedItem(ev) {
  const list = $("feed");
  const empty = list.querySelector(".empty");
  if (empty) empty.remove();
  const li = el("li", { "data-device": ev.deviceId },
    el("span", { class: "t", text: clock(ev.at) }),
    el("span", { class: "who mono", title: ev.deviceId + " · " + ev.deploymentId },
      ev.deviceId, el("small", { text: short(ev.deploymentId) + (ev.error ? " · " + ev.error : "") })),
    pill(ev.state));
  li.addEventListener("click", () => openHistory(ev.deviceId));
  list.prepend(li);
  flash(li);
  while (list.children.length > FEED_MAX) list.lastChild.remove();
}

function rate() {
  const now = Date.now();
  reportsAt = reportsAt.filter((t) => now - t < 10000);
  $("feed-rate").textContent = reports ? reports + " since opened · " + (reportsAt.length / 10).toFixed(1) + "/s" : "";
}

function follow() {
  const es = new EventSource("/api/events");
  es.addEventListener("open", () => setLive("live", "live"));
  es.addEventListener("error", () => {
    setLive(es.readyState === EventSource.CLOSED ? "offline" : "connecting",
      es.readyState === EventSource.CLOSED ? "offline" : "reconnecting");
    if (es.readyState === EventSource.CLOSED) setTimeout(follow, 5000);
  });
  es.addEventListener("report", (m) => {
    const ev = JSON.parse(m.data);
    reports++;
    reportsAt.push(Date.now());
    feedItem(ev);
    if (heardDuringRead) heardDuringRead.push(ev);
    applyToRow(ev);
    if (!deps.has(ev.deploymentId) || deps.size <= 100) refreshDeployments();
    if (view.history && view.history.device === ev.deviceId) refreshHistory();
  });
  // Too much missed (the server restarted, or the page was away long):
  // read everything again.
  es.addEventListener("reset", () => { refreshDeployments(); refreshDevices(); refreshHistory(); });
}

// ---- errors, the address bar, start -------------------------------------------

function showError(e) {
  if (String(e).includes("signed out")) return;
  setLive("offline", "error: " + (e.message || e));
}

function saveView() {
  const q = new URLSearchParams();
  if (view.deployment) q.set("deployment", view.deployment);
  if (view.state) q.set("state", view.state);
  if (view.prefix) q.set("device", view.prefix);
  if (view.history) q.set("history", view.history.device);
  const s = q.toString();
  history.replaceState(null, "", s ? "?" + s : location.pathname);
}

function start() {
  const q = new URLSearchParams(location.search);
  view.deployment = q.get("deployment") || "";
  view.state = STATES.includes(q.get("state")) ? q.get("state") : "";
  view.prefix = q.get("device") || "";
  $("f-device").value = view.prefix;
  $("legend").replaceChildren(...STATES.map((s) => el("span", { class: "s-" + s }, el("i"), s)));

  let typing = null;
  $("f-device").addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(() => {
      view.prefix = $("f-device").value.trim();
      firstPage();
      loadDevices().catch(showError);
      saveView();
    }, 250);
  });
  $("filters").addEventListener("submit", (e) => e.preventDefault());
  $("f-deployment").addEventListener("change", (e) => choose(e.target.value, view.state));
  $("pg-next").addEventListener("click", () => {
    if (!view.next) return;
    view.cursors[view.page + 1] = view.next;
    view.page++;
    view.next = null;
    loadDevices().catch(showError);
  });
  $("pg-prev").addEventListener("click", () => { if (view.page > 0) { view.page--; loadDevices().catch(showError); } });
  $("pg-first").addEventListener("click", () => { view.page = 0; loadDevices().catch(showError); });
  $("dep-more").addEventListener("click", () => moreDeployments().catch(showError));
  $("history-close").addEventListener("click", () => {
    view.history = null;
    $("history-panel").hidden = true;
    for (const tr of document.querySelectorAll("#devices tbody tr.current")) tr.classList.remove("current");
    saveView();
  });
  // Relative times age in place.
  setInterval(() => {
    for (const t of document.querySelectorAll("time")) t.textContent = ago(t.dateTime);
    rate();
  }, 5000);

  follow();
  loadDeployments().catch(showError);
  loadDevices().catch(showError);
  if (q.get("history")) openHistory(q.get("history")).catch(showError);
}

start();
