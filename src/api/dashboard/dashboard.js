// hive's dashboard: reads the JSON API and follows GET /api/events. Every string from the hive (repository
// names, titles, findings, errors) is outside data and goes into the page as text (textContent), never as HTML.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);

  // An element with attributes and children; strings become text nodes, so nothing is parsed as HTML.
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value !== undefined && value !== null) node.setAttribute(key, String(value));
    }
    for (const child of children.flat()) {
      if (child === undefined || child === null) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function list(items) {
    return items.length ? el("ul", null, items.map((item) => el("li", null, item))) : "";
  }

  async function getJson(path) {
    const response = await fetch(path, { headers: { Accept: "application/json" }, cache: "no-store" });
    if (!response.ok) {
      let message = `${path}: ${response.status}`;
      try {
        const body = await response.json();
        if (body && body.error) message += ` ${body.error}`;
      } catch (_) {}
      const error = new Error(message);
      error.status = response.status;
      throw error;
    }
    return response.json();
  }

  // What the page knows, refetched by part.
  const state = { status: null, repos: [], details: new Map(), audit: [], auditNext: 0, noDetail: false };
  const AUDIT_SHOWN = 20;

  // --- rendering ---

  function describe(value) {
    if (value === null || value === undefined) return "";
    if (Array.isArray(value)) return value.map(describe).join(", ");
    if (typeof value === "object") {
      if ("secs" in value && "nanos" in value) return `${value.secs}s`;
      return Object.values(value).map(describe).join("/");
    }
    return String(value);
  }

  // An emergency cause as a line: the trigger, then its facts.
  function cause(reason) {
    if (typeof reason !== "object" || reason === null) return describe(reason);
    const trigger = String(reason.trigger || "unknown").replaceAll("_", " ");
    const facts = Object.entries(reason)
      .filter(([key]) => key !== "trigger")
      .map(([key, value]) => {
        if ((key === "share" || key === "threshold") && typeof value === "number") return `${key} ${Math.round(value * 100)} %`;
        return `${key.replaceAll("_", " ")}: ${describe(value)}`;
      });
    return facts.length ? `${trigger} (${facts.join("; ")})` : trigger;
  }

  function renderStatus() {
    const status = state.status;
    if (!status) return;
    const fleet = status.fleet || {};
    const level = status.emergency ? "EMERGENCY" : String(fleet.level || "UNKNOWN");
    $("level").textContent = level;
    $("level").dataset.level = level;
    $("score").textContent = typeof fleet.mean_score === "number" ? fleet.mean_score.toFixed(1) : "–";
    $("healthy").textContent = fleet.known ? `${fleet.healthy} of ${fleet.known}` : "–";
    $("cycle").textContent = String(status.cycle ?? "–");
    const banner = $("emergency");
    banner.hidden = !status.emergency;
    $("causes").replaceChildren(...(status.emergency_reasons || []).map((r) => el("li", null, cause(r))));

    const others = (status.members || []).filter((m) => m.kind !== "pilot");
    $("services").tBodies[0].replaceChildren(
      ...others.map((m) =>
        el("tr", { "data-member": m.id, "data-state": m.state },
          el("td", null, m.id),
          el("td", null, typeof m.kind === "object" ? describe(m.kind) : m.kind),
          el("td", null, m.state),
          el("td", null, m.restarts),
          el("td", null, m.last_error || "")),
      ),
    );
  }

  function breakdown(detail) {
    const components = (detail && (detail.components || detail.breakdown || (detail.report && detail.report.components))) || [];
    return list(components.map((c) => {
      const score = c.score === null || c.score === undefined ? "?" : c.score;
      return `${c.name} ${score}/10${c.reason ? ` (${c.reason})` : ""}`;
    }));
  }

  function signals(repo, detail) {
    const raised = (detail && (detail.signals || (detail.report && detail.report.signals))) || [];
    const lines = raised.map((s) => [s.severity, s.kind && describe(s.kind), s.summary || s.message || s.title]
      .filter(Boolean).join(" "));
    return list(lines.concat(repo.findings || []));
  }

  function renderRepos() {
    const rows = state.repos.map((repo) => {
      const health = repo.healthy === true ? "green" : repo.healthy === false ? "red" : "unknown";
      const detail = state.details.get(repo.repo);
      return el("tr", { "data-repo": repo.repo, "data-health": health },
        el("td", null, repo.repo),
        el("td", { class: repo.stale ? "stale" : null }, repo.score ?? "–", repo.stale ? " (stale)" : ""),
        el("td", null, repo.state),
        el("td", null, repo.ci || "unknown"),
        el("td", null, breakdown(detail)),
        el("td", null, signals(repo, detail)));
    });
    $("repos").tBodies[0].replaceChildren(...rows);
    $("repos-empty").hidden = rows.length > 0;
  }

  // The whole cluster's repositories, shown only when this hive is one node of a cluster.
  function renderFleet(body) {
    const clustered = Boolean(body && body.node);
    $("fleet-all").hidden = !clustered;
    if (!clustered) return;
    $("fleet-leader").textContent = body.leader ? `node ${body.leader} leads it.` : "no node leads it now.";
    $("fleet-repos").tBodies[0].replaceChildren(
      ...(body.repositories || []).map((repo) => {
        const health = repo.healthy === true ? "green" : repo.healthy === false ? "red" : "unknown";
        return el("tr", { "data-repo": repo.repo, "data-node": repo.node, "data-health": health },
          el("td", null, repo.repo),
          el("td", null, repo.node || ""),
          el("td", { class: repo.stale ? "stale" : null }, repo.score ?? "–", repo.stale ? " (stale)" : ""),
          el("td", null, repo.state),
          el("td", null, repo.ci || "unknown"),
          el("td", null, list(repo.findings || [])));
      }),
    );
  }

  function renderNext(items) {
    const open = items
      .filter((i) => i.status === "open" || i.status === "in_progress" || i.status === "blocked")
      .sort((a, b) => a.priority - b.priority || String(a.repo).localeCompare(String(b.repo)));
    $("next").replaceChildren(
      ...open.map((i) => el("li", { "data-item": i.id },
        el("strong", null, i.title), " ", el("span", { class: "hint" }, `${i.repo} · ${i.type} · risk ${i.risk} · ${i.status}`))),
    );
    $("next-empty").hidden = open.length > 0;
  }

  function renderAudit() {
    $("audit").tBodies[0].replaceChildren(
      ...state.audit.slice().reverse().map((r) =>
        el("tr", { "data-seq": r.seq },
          el("td", null, r.seq),
          el("td", null, r.timestamp),
          el("td", null, r.actor),
          el("td", null, r.action),
          el("td", null, (r.repositories || []).join(", ")),
          el("td", null, r.result))),
    );
  }

  // --- fetching ---

  const loaders = {
    async status() {
      state.status = await getJson("/api/status");
      renderStatus();
      // The whole fleet is a cluster's: fetched once the status says this hive is a node of one.
      if (state.status.cluster && !state.fleetLoaded) refresh("fleet");
    },
    async repos() {
      const body = await getJson("/api/repos");
      state.repos = body.repositories || [];
      renderRepos();
    },
    // Every repository's detail, after a (re)connection or a lag; otherwise only those an event names.
    async details() {
      if (!state.repos.length) await loaders.repos();
      await Promise.all(state.repos.map((r) => loaders.detail(r.repo)));
    },
    // One repository's breakdown and signals, where the API serves them.
    async detail(repo) {
      if (state.noDetail) return;
      const [owner, name] = String(repo).split("/");
      try {
        state.details.set(repo, await getJson(`/api/repos/${encodeURIComponent(owner)}/${encodeURIComponent(name)}`));
      } catch (error) {
        // Without the per-repository route the rows keep what /api/repos says.
        if (error.status === 404 && !state.repos.some((r) => state.details.has(r.repo))) state.noDetail = true;
        else if (error.status !== 404) throw error;
      }
      renderRepos();
    },
    async fleet() {
      if (!(state.status && state.status.cluster)) return;
      state.fleetLoaded = true;
      renderFleet(await getJson("/api/fleet"));
    },
    async backlog() {
      const body = await getJson("/api/backlog");
      renderNext(body.items || []);
    },
    // The trail from the last record seen on; the first load pages through to the end.
    async audit() {
      for (;;) {
        const body = await getJson(`/api/audit?after=${state.auditNext}&limit=1000`);
        const records = body.records || [];
        state.audit = state.audit.concat(records).slice(-AUDIT_SHOWN);
        state.auditNext = body.next ?? state.auditNext;
        if (records.length < 1000) break;
      }
      renderAudit();
    },
  };

  // Parts to refetch, gathered and fetched at most every THROTTLE ms, so a burst of events costs one round.
  const THROTTLE = 300;
  const dirty = new Set();
  let timer = null;
  let running = false;

  function refresh(...parts) {
    for (const part of parts) dirty.add(part);
    if (!timer && !running) timer = setTimeout(flush, THROTTLE);
  }

  async function flush() {
    timer = null;
    running = true;
    const parts = [...dirty];
    dirty.clear();
    const results = await Promise.allSettled(parts.map((part) =>
      part.startsWith("detail:") ? loaders.detail(part.slice("detail:".length)) : loaders[part]()));
    const failed = results.filter((r) => r.status === "rejected").map((r) => r.reason.message);
    $("error").textContent = failed.length ? `could not load: ${failed.join("; ")}` : "";
    running = false;
    if (dirty.size) timer = setTimeout(flush, THROTTLE);
  }

  const EVERYTHING = ["status", "repos", "details", "fleet", "backlog", "audit"];

  // Which parts an event changes.
  const affects = {
    health_reported: ["status", "repos"],
    health_unknown: ["status", "repos"],
    signal_raised: ["repos"],
    fleet_started: ["status", "repos"],
    member_started: ["status", "repos"],
    member_failed: ["status", "repos"],
    member_restarted: ["status", "repos"],
    member_escalated: ["status", "repos"],
    member_resumed: ["status", "repos"],
    member_stopped: ["status", "repos"],
    source_unreachable: ["status", "repos"],
    source_reachable: ["status", "repos"],
    cycle_started: ["status"],
    cycle_completed: ["status", "repos", "backlog", "audit"],
    autonomy_completed: ["backlog", "audit"],
    emergency_declared: ["status", "audit"],
    emergency_cleared: ["status", "audit"],
    recovery_attempted: ["status", "audit"],
    snapshot_written: [],
    proposal_ready: [],
    batch_finished: ["backlog"],
  };

  // An event's JSON; an empty object when it is not JSON.
  function eventData(event) {
    try {
      return JSON.parse(event.data) || {};
    } catch (_) {
      return {};
    }
  }

  // Whether an event comes from another node of this hive's cluster.
  function elsewhere(data) {
    const status = state.status || {};
    return Boolean(data.node && status.cluster && data.node !== status.cluster.node);
  }

  function follow() {
    const live = $("live");
    const source = new EventSource("/api/events");
    const mark = (text) => { live.dataset.state = text; live.textContent = text; };
    source.onopen = () => {
      mark("live");
      // What happened while the stream was down is unknown.
      refresh(...EVERYTHING);
    };
    source.onerror = () => mark(source.readyState === EventSource.CLOSED ? "stopped" : "reconnecting");
    for (const [kind, parts] of Object.entries(affects)) {
      source.addEventListener(kind, (event) => {
        const data = eventData(event);
        // Another node's event changes only what the page shows of the whole fleet.
        if (elsewhere(data)) {
          refresh("fleet");
          return;
        }
        if (parts.includes("repos") || parts.includes("status")) refresh("fleet");
        refresh(...parts);
        // A report about one repository: its breakdown and signals changed too.
        if (parts.includes("repos")) {
          const member = data.member;
          if (typeof member === "string" && member.includes("/")) refresh(`detail:${member}`);
        }
      });
    }
    // Events were lost for this client: only a full reload of the state is the truth.
    source.addEventListener("lag", () => refresh(...EVERYTHING));
    source.addEventListener("hive_stopped", (event) => {
      // Only this hive's stop ends its stream; another node of its cluster stopping is that node's news.
      if (elsewhere(eventData(event))) return;
      mark("stopped");
      source.close();
    });
  }

  // A command through the one command router, as `hive command` and POST /api/command take it.
  $("command-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const headers = { "Content-Type": "application/json", Accept: "application/json" };
    const token = $("command-token").value;
    if (token) headers.Authorization = `Bearer ${token}`;
    const result = $("command-result");
    try {
      const response = await fetch("/api/command", {
        method: "POST",
        headers,
        body: JSON.stringify({ command: $("command-text").value }),
      });
      const body = await response.json().catch(() => ({}));
      result.dataset.ok = String(response.ok);
      result.textContent = response.ok
        ? `ok: ${body.command ?? $("command-text").value}`
        : `${response.status}: ${body.error ?? "refused"}${body.usage ? `\n${body.usage}` : ""}`;
    } catch (error) {
      result.dataset.ok = "false";
      result.textContent = `could not send: ${error.message}`;
    }
    refresh(...EVERYTHING);
  });

  refresh(...EVERYTHING);
  follow();
})();
