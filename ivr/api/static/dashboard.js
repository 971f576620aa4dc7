// The dashboard: renders snapshots from /api/dashboard/stream (server-sent events).
// Text from calls (numbers, names) only ever goes in through textContent.
// The API wants a bearer token, which EventSource cannot send: the stream is read
// with fetch() instead. The token is kept in sessionStorage (this tab only). Logged out,
// everything read with it is emptied from the page. A live call's row or a ticket found
// by the search opens its timeline (tickets.js).
"use strict";

(function () {
  const LABELS = window.LABELS;
  const { el, seconds, estimatedWait, percent, startOfToday } = window.IVR;
  const words = window.IVR.i18n(LABELS);
  const t = words.t;
  const TOKEN_KEY = "ivr-dashboard-token";
  let latest = null;

  function clock(value) {
    return window.IVR.clock(value, words);
  }

  function pair(term, value, attrs) {
    const group = el("div");
    group.append(el("dt", term), el("dd", value, attrs));
    return group;
  }

  function fill(tableId, rows, emptyKey) {
    const body = document.querySelector(`#${tableId} tbody`);
    body.replaceChildren(...(rows || []));
    const empty = document.getElementById(`${tableId}-empty`);
    if (rows === null) {
      empty.dataset.i18n = "unavailable";
      empty.hidden = false;
    } else {
      empty.dataset.i18n = emptyKey;
      empty.hidden = rows.length > 0;
    }
    empty.textContent = t(empty.dataset.i18n);
  }

  function renderCalls(calls) {
    const list = calls ? calls.calls : null;
    document.getElementById("calls-count").textContent = list ? list.length : "–";
    const now = Date.now() / 1000;
    fill(
      "calls",
      list &&
        list.map((call) => {
          const row = el("tr", null, { "data-call-id": call.call_id, tabindex: "0", class: "opens" });
          const started = Date.parse(call.started_at) / 1000;
          row.append(
            el("td", call.caller_number),
            el("td", call.called_number),
            el("td", call.plan),
            el("td", call.node),
            el("td", seconds(now - started), { class: "duration", "data-started": started }),
            el("td", call.ticket_id || "–"),
            el("td", call.worker_id),
          );
          return row;
        }),
      "no_calls",
    );
  }

  function renderQueues(queues) {
    fill(
      "queues",
      queues &&
        queues.map((queue) => {
          const row = el("tr", null, { "data-queue": queue.name });
          const estimate = estimatedWait(queue, words);
          row.append(
            el("td", queue.name),
            el("td", queue.waiting, { class: "waiting" }),
            el("td", seconds(queue.longest_wait_seconds)),
            el("td", estimate),
            el("td", queue.agents_available),
            el("td", queue.agents_staffed),
          );
          return row;
        }),
      "no_queues",
    );
  }

  function renderAgents(agents) {
    fill(
      "agents",
      agents &&
        agents.map((agent) => {
          const row = el("tr", null, { "data-agent": agent.id, "data-state": agent.state });
          const held = agent.break_at ? ` (${t("break_from")} ${clock(agent.break_at)})` : "";
          const note = [agent.break_requested ? t("break_requested") + held : "", agent.reason || ""];
          row.append(
            el("td", agent.name ? `${agent.name} (${agent.id})` : agent.id),
            el("td", t(`state_${agent.state}`), { class: `state state-${agent.state}` }),
            el("td", clock(agent.since)),
            el("td", (agent.queues || []).join(", ")),
            el("td", note.filter(Boolean).join("; ")),
          );
          return row;
        }),
      "no_agents",
    );
  }

  function renderCallbacks(callbacks) {
    const counts = document.getElementById("callback-counts");
    counts.replaceChildren();
    for (const state of ["pending", "dialling", "done", "failed", "cancelled"]) {
      counts.append(pair(t(`state_${state}`), (callbacks.counts || {})[state] ?? 0, { "data-count": state }));
    }
    const open = (callbacks.callbacks || []).filter((c) => c.state === "pending" || c.state === "dialling");
    fill(
      "callbacks",
      open.map((request) => {
        const row = el("tr", null, { "data-callback": request.id });
        row.append(
          el("td", request.number),
          el("td", request.queue),
          el("td", t(`state_${request.state}`)),
          el("td", request.attempts ?? 0),
          el("td", clock(request.next_at)),
        );
        return row;
      }),
      "no_callbacks",
    );
  }

  const FIGURES = [
    ["fig_calls", (s) => s.calls],
    ["fig_live", (s) => s.live],
    ["fig_completed", (s) => s.completed],
    ["fig_abandoned", (s) => s.abandoned],
    ["fig_failed", (s) => s.failed],
    ["fig_media_timeouts", (s) => s.media_timeouts],
    ["fig_self_service_rate", (s) => percent(s.self_service_rate)],
    ["fig_transfer_rate", (s) => percent(s.transfer_rate)],
    ["fig_abandonment_rate", (s) => percent(s.abandonment_rate)],
    ["fig_average_speed_of_answer", (s) => seconds(s.average_speed_of_answer_seconds)],
    ["fig_wait_p90", (s) => seconds(s.wait_p90_seconds)],
    ["fig_satisfaction", (s) => (s.satisfaction_average === null ? "–" : s.satisfaction_average.toFixed(1))],
    ["fig_callbacks_requested", (s) => s.callbacks_requested],
    ["fig_callbacks_completed", (s) => s.callbacks_completed],
  ];

  function renderToday(stats) {
    const list = document.getElementById("today-figures");
    list.replaceChildren();
    for (const [key, value] of FIGURES) {
      list.append(pair(t(key), stats ? value(stats) : "–", { "data-figure": key }));
    }
  }

  const SLOT_SECONDS = 900;
  const SLOTS_PER_DAY = 96;

  // The whole day in 15-minute bars, from the viewer's midnight; hours labelled every 3.
  function renderChart(stats) {
    const svg = document.getElementById("chart");
    const counts = new Map();
    for (const slot of stats ? stats.calls_per_15_minutes : []) {
      counts.set(Math.round(Date.parse(slot.at) / 1000), slot.calls);
    }
    svg.replaceChildren();
    document.getElementById("chart-empty").hidden = counts.size > 0;
    const ns = "http://www.w3.org/2000/svg";
    const midnight = startOfToday().getTime() / 1000;
    const width = 960 / SLOTS_PER_DAY;
    const highest = Math.max(1, ...counts.values());
    for (let index = 0; index < SLOTS_PER_DAY; index++) {
      const at = midnight + index * SLOT_SECONDS;
      const calls = counts.get(at) || 0;
      const height = (calls / highest) * 150;
      const bar = document.createElementNS(ns, "rect");
      bar.setAttribute("x", String(index * width + 1));
      bar.setAttribute("y", String(155 - height));
      bar.setAttribute("width", String(width - 2));
      bar.setAttribute("height", String(height));
      bar.setAttribute("data-calls", String(calls));
      const title = document.createElementNS(ns, "title");
      title.textContent = `${clock(at)}: ${calls}`;
      bar.append(title);
      svg.append(bar);
      if (index % 12 === 0) {
        const label = document.createElementNS(ns, "text");
        label.setAttribute("x", String(index * width + 1));
        label.setAttribute("y", "175");
        label.textContent = `${String(index / 4).padStart(2, "0")}:00`;
        svg.append(label);
      }
    }
    if (counts.size === 0) return;
    const peak = document.createElementNS(ns, "text");
    peak.setAttribute("x", "955");
    peak.setAttribute("y", "12");
    peak.setAttribute("text-anchor", "end");
    peak.textContent = String(highest);
    svg.append(peak);
  }

  function render() {
    if (latest === null) return;
    renderToday(latest.stats);
    renderChart(latest.stats);
    renderCalls(latest.calls);
    renderQueues(latest.queues);
    renderAgents(latest.agents);
    renderCallbacks(latest.callbacks);
    supervisor.liveCalls(latest.calls ? latest.calls.calls : null);
    document.getElementById("updated").textContent = `${t("updated")} ${clock(Date.now() / 1000)}`;
  }

  // Speech tuning suggestions: read on their own (grouping costs the service CPU), at
  // log-in, on "Refresh" and every SUGGESTIONS_MS; not part of the live stream.
  const SUGGESTIONS_MS = 300000;
  const SUGGESTIONS_SPAN_S = 7 * 24 * 3600;
  let suggestions = undefined; // undefined: not read yet; null: unavailable
  let suggestionsTimer = null;

  function renderSuggestions() {
    if (suggestions === undefined) return;
    const list = suggestions ? suggestions.suggestions : null;
    document.getElementById("suggestions-count").textContent = list ? list.length : "–";
    fill(
      "suggestions",
      list &&
        list.map((s) => {
          const row = el("tr", null, { "data-suggestion": s.id, "data-kind": s.kind });
          const what =
            s.kind === "examples" ? `${t("suggest_examples")} ${s.intent}` : `${t("suggest_new_intent")} ${s.intent || "–"}`;
          row.append(
            el("td", `${s.count} (${s.refused} ${t("refused")})`, { class: "utterances" }),
            el("td", `${s.plan} / ${s.menu}`),
            el("td", `${what} (${s.score.toFixed(2)})`),
            el("td", s.texts.join(" | ")),
            el("td", s.ticket_ids.join(" "), { class: "tickets" }),
            el("td", s.id),
          );
          return row;
        }),
      "no_suggestions",
    );
  }

  async function readSuggestions() {
    if (token() === null) return;
    const since = Date.now() / 1000 - SUGGESTIONS_SPAN_S;
    try {
      const response = await fetch(`/api/speech/suggestions?from=${since}`, { headers: authorised() });
      suggestions = response.ok ? await response.json() : null;
    } catch (error) {
      suggestions = null;
    }
    if (token() === null) return; // logged out while it was read
    renderSuggestions();
  }

  function watchSuggestions() {
    if (suggestionsTimer !== null) window.clearInterval(suggestionsTimer);
    suggestionsTimer = window.setInterval(readSuggestions, SUGGESTIONS_MS);
    readSuggestions();
  }

  // The forecast (GET /api/forecast): read on its own every FORECAST_MS, not streamed.
  const FORECAST_MS = 60000;
  const FORECAST_INTERVALS = 8; // two hours from the current quarter
  let forecast = undefined; // undefined: not read yet; null: unavailable
  let forecastTimer = null;

  function renderForecast() {
    if (forecast === undefined) return;
    const queues = forecast ? forecast.queues : null;
    const now = Date.now();
    const errors = (queues || []).map((q) => {
      const bt = q.backtest;
      const share = bt.relative_error === null ? "" : ` (${percent(bt.relative_error)})`;
      return `${q.queue} ±${bt.mean_absolute_error_calls}${share}`;
    });
    document.getElementById("forecast-error").textContent = errors.join("; ") || "–";
    const rows =
      queues &&
      queues.flatMap((q) =>
        q.intervals
          .filter((i) => Date.parse(i.start) + SLOT_SECONDS * 1000 > now)
          .slice(0, FORECAST_INTERVALS)
          .map((i) => {
            const short = i.agents_needed > q.agents_signed_in;
            const row = el("tr", null, { "data-interval": `${q.queue} ${i.start}` });
            if (short) row.classList.add("short");
            row.append(
              el("td", q.queue),
              el("td", clock(i.start)),
              el("td", String(i.expected_calls)),
              el("td", i.actual_calls === null ? "–" : String(i.actual_calls)),
              el("td", String(i.agents_needed), { "data-needed": String(i.agents_needed) }),
              el("td", String(q.agents_signed_in)),
            );
            return row;
          }),
      );
    fill("forecast", rows, "no_forecast");
  }

  async function readForecast() {
    if (token() === null) return;
    try {
      const response = await fetch("/api/forecast", { headers: authorised() });
      forecast = response.ok ? await response.json() : null;
    } catch (error) {
      forecast = null;
    }
    if (token() === null) return; // logged out while it was read
    renderForecast();
  }

  function watchForecast() {
    if (forecastTimer !== null) window.clearInterval(forecastTimer);
    forecastTimer = window.setInterval(readForecast, FORECAST_MS);
    readForecast();
  }

  function setConnection(state) {
    window.IVR.setConnection(state, words);
  }

  function token() {
    return window.sessionStorage.getItem(TOKEN_KEY);
  }

  function authorised() {
    return { Authorization: `Bearer ${token()}` };
  }

  // GET with the token: {ok, status, body}; null when the token was refused (logged out).
  async function get(path) {
    let response;
    try {
      response = await fetch(path, { headers: authorised() });
    } catch (error) {
      return { ok: false, status: 0, body: { error: t("login_failed") } };
    }
    if (response.status === 401) {
      showLogin("token_refused");
      return null;
    }
    let body = null;
    try {
      body = await response.json();
    } catch (error) {
      body = null;
    }
    return { ok: response.ok, status: response.status, body };
  }

  const stream = window.IVR.todaysSnapshots(words, {
    headers: authorised,
    onSnapshot(data) {
      latest = data;
      render();
    },
    onRefused: showLogin,
  });

  const supervisor = window.IVR_TICKETS(words, { get, monitor: window.IVR_MONITOR(words, token) });

  // Everything read with the token leaves the page.
  function clearData() {
    latest = null;
    suggestions = undefined;
    forecast = undefined;
    for (const id of ["calls", "queues", "agents", "callbacks", "suggestions", "forecast"]) {
      document.querySelector(`#${id} tbody`).replaceChildren();
    }
    for (const id of ["today-figures", "callback-counts", "chart"]) document.getElementById(id).replaceChildren();
    for (const id of ["calls-count", "suggestions-count", "updated"]) document.getElementById(id).textContent = "";
    document.getElementById("forecast-error").textContent = "–";
    supervisor.clear();
  }

  function showLogin(errorKey) {
    stream.disconnect();
    if (suggestionsTimer !== null) window.clearInterval(suggestionsTimer);
    suggestionsTimer = null;
    if (forecastTimer !== null) window.clearInterval(forecastTimer);
    forecastTimer = null;
    window.sessionStorage.removeItem(TOKEN_KEY);
    clearData();
    document.getElementById("login").hidden = false;
    document.querySelector("main").hidden = true;
    document.getElementById("logout").hidden = true;
    document.getElementById("who").textContent = "";
    document.getElementById("login-error").textContent = errorKey ? t(errorKey) : "";
    setConnection("logged_out");
    document.getElementById("token").focus();
  }

  function showDashboard(who) {
    document.getElementById("login").hidden = true;
    document.querySelector("main").hidden = false;
    document.getElementById("logout").hidden = false;
    document.getElementById("who").textContent = `${who.name} (${who.role})`;
    stream.connect();
    watchSuggestions();
    watchForecast();
  }

  async function logIn(candidate) {
    const answer = await window.IVR.whoami(candidate);
    if (answer.error) {
      showLogin(answer.error);
      return;
    }
    window.sessionStorage.setItem(TOKEN_KEY, candidate);
    showDashboard(answer.who);
  }

  function tick() {
    const now = Date.now() / 1000;
    for (const cell of document.querySelectorAll("#calls .duration")) {
      cell.textContent = seconds(now - Number(cell.dataset.started));
    }
    supervisor.tick();
    stream.checkDay();
  }

  function openCall(row) {
    const calls = latest && latest.calls ? latest.calls.calls : [];
    const call = calls.find((c) => c.call_id === row.dataset.callId);
    if (call) supervisor.openLiveCall(call);
  }

  words.onSwitch(() => {
    render();
    renderSuggestions();
    renderForecast();
    supervisor.relabel();
  });
  document.getElementById("login").addEventListener("submit", (event) => {
    event.preventDefault();
    const field = document.getElementById("token");
    const candidate = field.value.trim();
    field.value = "";
    logIn(candidate);
  });
  document.getElementById("logout").addEventListener("click", () => showLogin(null));
  document.getElementById("suggestions-refresh").addEventListener("click", readSuggestions);
  document.getElementById("calls").addEventListener("click", (event) => {
    const row = event.target.closest("tr[data-call-id]");
    if (row) openCall(row);
  });
  document.getElementById("calls").addEventListener("keydown", (event) => {
    const row = event.target.closest("tr[data-call-id]");
    if (row && event.key === "Enter") openCall(row);
  });
  words.apply();
  if (token() === null) showLogin(null);
  else logIn(token());
  window.setInterval(tick, 1000);
})();
