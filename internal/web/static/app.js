// Skein's status page: renders /api/cluster, /api/queries and
// /api/queries/{id}. No framework, no build step: every value is put in
// the page as text (never as HTML).
"use strict";

const REFRESH_MS = 2000;

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null) continue;
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

async function getJSON(path) {
  const r = await fetch(path, { headers: { Accept: "application/json" }, cache: "no-store" });
  if (!r.ok) throw new Error(path + ": " + r.status + " " + (await r.text()));
  return r.json();
}

function seconds(s) {
  if (s === undefined || s === null) return "";
  if (s < 1) return Math.round(s * 1000) + " ms";
  if (s < 60) return s.toFixed(s < 10 ? 2 : 1) + " s";
  const m = Math.floor(s / 60);
  return m + " min " + Math.round(s - 60 * m) + " s";
}

function count(n) {
  return (n || 0).toLocaleString("en-US");
}

function bytes(n) {
  n = n || 0;
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n : n.toFixed(1)) + " " + units[i];
}

function time(t) {
  if (!t) return "";
  const d = new Date(t);
  return d.toLocaleTimeString([], { hour12: false }) + "." + String(d.getMilliseconds()).padStart(3, "0");
}

function short(id) {
  return id && id.length > 12 ? id.slice(0, 12) : id || "";
}

function status(s) {
  return el("span", { class: "status " + s, text: s });
}

function table(headers, rows, attrs) {
  const head = el("tr", {}, ...headers.map(h => el("th", { class: h.cls, text: h.name })));
  return el("div", { class: "scroll" }, el("table", attrs || {}, el("thead", {}, head), el("tbody", {}, ...rows)));
}

function clip(s, n) {
  return s.length > n ? s.slice(0, n) + "…" : s;
}

// The overview: cluster members, running and recent queries.

function executorCard(x) {
  const load = x.threads > 0 ? Math.min(1, x.running / x.threads) : 0;
  const meter = el("div", { class: "meter", title: "running tasks over threads" }, el("div"));
  meter.firstChild.style.width = Math.round(load * 100) + "%";
  const facts = el("dl", { class: "facts" },
    el("dt", { text: "state" }), el("dd", {}, el("span", { class: "state " + x.state, text: x.state })),
    el("dt", { text: "location" }), el("dd", { text: x.location }),
    el("dt", { text: "load" }), el("dd", { text: x.running + " of " + x.threads + " threads busy" }),
    el("dt", { text: "heard from" }), el("dd", { text: seconds(x.heartbeat_age_seconds) + " ago" }));
  if (x.spool) {
    facts.append(el("dt", { text: "spool" }),
      el("dd", { text: bytes(x.spool.memory_bytes) + " in memory (" + bytes(x.spool.input_bytes) + " of it exchange inputs) of " +
        bytes(x.spool.memory_limit_bytes) + ", " + bytes(x.spool.disk_bytes) + " on disk" }));
  }
  return el("div", { class: "card executor", "data-executor": x.id },
    el("div", { class: "id", text: x.id }), meter, facts);
}

// queryRows are two rows a query: what it is, then its SQL across the
// table, so that a phone shows both without scrolling sideways.
function queryRows(qs) {
  return qs.flatMap(q => [el("tr", { class: "query", "data-query-id": q.query_id },
    el("td", {}, el("a", { href: "/queries/" + encodeURIComponent(q.query_id), text: short(q.query_id) })),
    el("td", {}, status(q.status)),
    el("td", { text: q.mode }),
    el("td", { class: "hide-narrow", text: q.user || "" }),
    el("td", { class: "num", text: seconds(q.duration_seconds) }),
    el("td", { class: "num hide-narrow", text: q.status === "running" ? "" : count(q.rows) }),
    el("td", { class: "num hide-narrow", text: q.tasks || "" }),
    el("td", { class: "hide-narrow", text: time(q.started_at) })),
  el("tr", { class: "sqlrow", "data-query-id": q.query_id },
    el("td", { colspan: "8", class: "sql", text: clip(q.sql, 300) }))]);
}

const queryHeaders = [{ name: "query" }, { name: "status" }, { name: "mode" }, { name: "user", cls: "hide-narrow" },
  { name: "time", cls: "num" }, { name: "rows", cls: "num hide-narrow" }, { name: "tasks", cls: "num hide-narrow" },
  { name: "started", cls: "hide-narrow" }];

// header says which coordinator this is, and how busy.
function header(cluster) {
  const c = cluster.coordinator;
  document.getElementById("coordinator").textContent =
    c.uri + " · " + c.version + " · " + c.sessions + " sessions · " + c.queries_running + " running, " + c.queries_queued + " queued";
}

async function overview(main) {
  const [cluster, queries] = await Promise.all([getJSON("/api/cluster"), getJSON("/api/queries?limit=100")]);
  header(cluster);
  const live = cluster.executors.filter(x => x.state === "live").length;
  const running = queries.filter(q => q.status === "running");
  const recent = queries.filter(q => q.status !== "running");
  const parts = [
    el("h2", { text: "Executors (" + live + " live of " + cluster.executors.length + ")" }),
    cluster.executors.length
      ? el("div", { class: "cards", id: "executors" }, ...cluster.executors.map(executorCard))
      : el("p", { class: "muted", id: "executors", text: "No executor has registered: queries run on the coordinator." }),
    el("h2", { text: "Running queries (" + running.length + ")" }),
    running.length ? table(queryHeaders, queryRows(running), { id: "running" }) : el("p", { class: "muted", text: "None." }),
    el("h2", { text: "Recent queries" }),
    recent.length ? table(queryHeaders, queryRows(recent), { id: "queries" }) : el("p", { class: "muted", text: "None yet." }),
  ];
  main.replaceChildren(...parts);
}

// A query's page: what it is, its plan, its tasks and their timeline.

function timeline(q) {
  const start = Date.parse(q.started_at);
  let end = q.finished_at ? Date.parse(q.finished_at) : Date.now();
  for (const t of q.attempts) if (t.finished_at) end = Math.max(end, Date.parse(t.finished_at));
  const span = Math.max(end - start, 1);
  const lanes = q.attempts.map(t => {
    const bar = el("div", { class: "bar " + t.status, title: "task " + t.task + " " + t.status + " " + seconds(dur(t)) });
    if (t.started_at) {
      const s = Date.parse(t.started_at), f = t.finished_at ? Date.parse(t.finished_at) : Date.now();
      bar.style.left = Math.max(0, (s - start) / span * 100) + "%";
      bar.style.width = Math.max(0.3, (f - s) / span * 100) + "%";
    } else {
      bar.style.left = "0";
      bar.style.width = "0";
    }
    return el("div", { class: "lane" },
      el("div", { class: "label", text: "t" + t.task + (t.attempt > 1 ? "#" + t.attempt : "") + " s" + t.stage + " " + short(t.executor) }),
      el("div", { class: "track" }, bar));
  });
  return el("div", { class: "timeline", id: "timeline" },
    el("div", { class: "muted", text: "0 → " + seconds(span / 1000) + " from the query's start" }), ...lanes);
}

function dur(t) {
  if (!t.started_at || !t.finished_at) return null;
  return (Date.parse(t.finished_at) - Date.parse(t.started_at)) / 1000;
}

function stagesTable(plan) {
  if (!plan || !plan.stages) return null;
  const rows = plan.stages.map(s => el("tr", { class: "stage" },
    el("td", { class: "num", text: s.stage }),
    el("td", { text: s.what }),
    el("td", { class: "num", text: s.tasks }),
    el("td", { text: s.output + (s.keys ? " by " + s.keys : "") }),
    el("td", { text: s.to_stage !== undefined ? "stage " + s.to_stage : "" }),
    el("td", { text: (s.reads || []).map(r => "stage " + r).join(", ") }),
    el("td", {}, el("details", {}, el("summary", { text: "SQL" }), el("pre", { text: s.sql })))));
  return table([{ name: "stage", cls: "num" }, { name: "computes" }, { name: "tasks", cls: "num" }, { name: "output" },
    { name: "to" }, { name: "reads" }, { name: "SQL" }], rows, { id: "stages" });
}

async function detail(main, id) {
  const [q, cluster] = await Promise.all([getJSON("/api/queries/" + encodeURIComponent(id)), getJSON("/api/cluster")]);
  header(cluster);
  document.title = "Skein query " + q.query_id;
  const facts = el("dl", { class: "facts" },
    el("dt", { text: "status" }), el("dd", {}, status(q.status)),
    el("dt", { text: "mode" }), el("dd", { text: q.mode + (q.result_mode ? " (results " + q.result_mode + ")" : "") }),
    el("dt", { text: "user" }), el("dd", { text: q.user || "(no auth)" }),
    el("dt", { text: "started" }), el("dd", { text: new Date(q.started_at).toLocaleString() }),
    el("dt", { text: "time" }), el("dd", { text: seconds(q.duration_seconds) }),
    el("dt", { text: "rows" }), el("dd", { text: count(q.rows) + " (" + bytes(q.bytes) + ")" }),
    el("dt", { text: "tasks" }), el("dd", { text: q.tasks }));
  const parts = [el("h1", { text: "Query " + q.query_id }), facts];
  if (q.error) parts.push(el("p", { class: "error", text: q.error }));
  parts.push(el("h2", { text: "SQL" }), el("pre", { id: "sql", text: q.sql }));
  const plan = q.plan;
  if (plan) {
    parts.push(el("h2", { text: "Plan" }));
    const stages = stagesTable(plan);
    if (stages) parts.push(stages);
    else parts.push(el("pre", { text: (plan.task_sql ? "task SQL: " + plan.task_sql : "") + (plan.merge_sql ? "\nmerge SQL: " + plan.merge_sql : "") }));
  } else if (q.mode === "local") {
    parts.push(el("p", { class: "muted", text: "Ran whole on the coordinator." }));
  }
  if (q.attempts.length) {
    const rows = q.attempts.map(t => el("tr", { class: "task", "data-task": t.task },
      el("td", { class: "num", text: t.task }),
      el("td", { class: "num", text: t.stage }),
      el("td", { class: "num", text: t.attempt || "" }),
      el("td", {}, status(t.status)),
      el("td", { title: t.location || "", text: short(t.executor) }),
      el("td", { class: "num", text: seconds(dur(t)) }),
      el("td", { class: "num", text: t.status === "pending" ? "" : count(t.rows) }),
      el("td", { class: "num hide-narrow", text: t.status === "pending" ? "" : bytes(t.bytes) }),
      el("td", { class: "error", text: t.error || "" })));
    parts.push(el("h2", { text: "Tasks" }),
      table([{ name: "task", cls: "num" }, { name: "stage", cls: "num" }, { name: "attempt", cls: "num" }, { name: "status" },
        { name: "executor" }, { name: "time", cls: "num" }, { name: "rows", cls: "num" }, { name: "bytes", cls: "num hide-narrow" },
        { name: "error" }], rows, { id: "tasks" }),
      el("h2", { text: "Timeline" }), timeline(q));
  }
  main.replaceChildren(...parts);
  return q.status === "running";
}

async function render() {
  const main = document.getElementById("main");
  const m = location.pathname.match(/^\/queries\/([^/]+)$/);
  let again = true;
  try {
    again = m ? await detail(main, decodeURIComponent(m[1])) : (await overview(main), true);
  } catch (err) {
    main.replaceChildren(el("p", { class: "error", text: String(err.message || err) }));
  }
  if (again) setTimeout(() => { document.hidden ? document.addEventListener("visibilitychange", render, { once: true }) : render(); }, REFRESH_MS);
}

render();
