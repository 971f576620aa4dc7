// The supervisor's part of the dashboard: ticket search (GET /api/tickets and its filters)
// and the timeline of one ticket or one live call, with its recordings playing in the page.
// An <audio> element cannot send the bearer token: it gets a short-lived signed link from
// GET /api/tickets/{id}/recording-link instead. Text from calls goes in through textContent.
"use strict";

window.IVR_TICKETS = function (words, api) {
  const { $, el, seconds, dateTime, clock } = window.IVR;
  const PAGE_SIZE = 20;
  const t = words.t;
  let offset = 0;
  let filters = null; // the search shown, null before the first one
  let results = null; // its last answer
  let shown = null; // {kind: "ticket", id} or {kind: "live", callId, ticketId}
  let generation = 0; // answers for a timeline no longer shown are dropped
  let liveCall = null;
  let ticket = null;

  // ---- search ----

  function readFilters() {
    const form = $("ticket-search");
    const query = new URLSearchParams();
    for (const field of form.elements) {
      if (!field.name || !field.value.trim()) continue;
      const value = field.type === "datetime-local" ? new Date(field.value).toISOString() : field.value.trim();
      query.set(field.name, value);
    }
    return query;
  }

  async function search(from) {
    const query = new URLSearchParams(filters);
    query.set("limit", String(PAGE_SIZE));
    query.set("offset", String(from));
    $("tickets-error").textContent = "";
    const answer = await api.get(`/api/tickets?${query}`);
    if (answer === null) return;
    if (!answer.ok) {
      results = null;
      $("tickets-error").textContent = (answer.body && answer.body.error) || t("unavailable");
      renderResults();
      return;
    }
    offset = from;
    results = answer.body;
    renderResults();
  }

  function renderResults() {
    const list = results ? results.tickets : [];
    const rows = list.map((found) => {
      const row = el("tr", null, { "data-ticket": found.id, tabindex: "0", class: "opens" });
      row.append(
        el("td", found.id),
        el("td", dateTime(found.started_at, words)),
        el("td", found.caller_number),
        el("td", t(`disp_${found.disposition}`)),
        el("td", (found.nodes || []).join(" › ")),
        el("td", found.intent || "–"),
        el("td", found.queue || "–"),
        el("td", found.agent_id || "–"),
        el("td", t(`work_${found.work_status}`)),
      );
      return row;
    });
    $("tickets").querySelector("tbody").replaceChildren(...rows);
    const empty = $("tickets-empty");
    empty.dataset.i18n = filters === null ? "search_hint" : "no_tickets_found";
    empty.textContent = t(empty.dataset.i18n);
    empty.hidden = rows.length > 0;
    $("tickets-count").textContent = results ? results.total : "";
    const pages = $("tickets-pages");
    pages.hidden = !results || results.total <= PAGE_SIZE;
    $("tickets-range").textContent = "";
    if (results) {
      const last = Math.min(results.offset + list.length, results.total);
      $("tickets-range").textContent = `${results.offset + (list.length ? 1 : 0)}–${last} / ${results.total}`;
      $("tickets-previous").disabled = results.offset === 0;
      $("tickets-next").disabled = last >= results.total;
    }
  }

  // ---- timeline ----

  function pair(term, value, field) {
    const group = el("div", null, { "data-field": field });
    group.append(el("dt", t(term)), el("dd", value === null || value === undefined || value === "" ? "–" : value));
    return group;
  }

  function eventText(event) {
    const detail = Object.entries(event)
      .filter(([key]) => key !== "at" && key !== "kind")
      .map(([key, value]) => `${key}: ${value !== null && typeof value === "object" ? JSON.stringify(value) : value}`);
    return detail.join(", ");
  }

  function kindLabel(kind) {
    const label = t(`ev_${kind}`);
    return label === `ev_${kind}` ? kind : label;
  }

  function eventItem(event) {
    const item = el("li", null, { "data-kind": event.kind });
    item.append(el("time", clock(event.at, words)), el("strong", kindLabel(event.kind)));
    const text = eventText(event);
    if (text) item.append(el("span", text, { class: "detail" }));
    return item;
  }

  function open(what) {
    generation += 1;
    shown = what;
    $("timeline").hidden = false;
    $("timeline-error").textContent = "";
    return generation;
  }

  function close() {
    generation += 1;
    shown = null;
    liveCall = null;
    ticket = null;
    stopAudio();
    $("timeline").hidden = true;
    $("timeline-title").textContent = "";
    $("timeline-summary").replaceChildren();
    $("timeline-recordings").replaceChildren();
    $("timeline-sections").replaceChildren();
    $("timeline-notes").replaceChildren();
    $("timeline-notes-title").hidden = true;
    $("timeline-live").hidden = true;
    $("timeline-error").textContent = "";
    api.monitor.hide();
  }

  function stopAudio() {
    for (const audio of document.querySelectorAll("#timeline audio")) {
      audio.pause();
      audio.removeAttribute("src");
      audio.load();
    }
  }

  // A live call, from the dashboard's snapshot, and the steps it went through from
  // GET /api/calls/{id} (the snapshot's list leaves them out: it is read every second).
  function openLiveCall(call) {
    const mine = open({ kind: "live", callId: call.call_id, ticketId: call.ticket_id });
    stopAudio();
    $("timeline-recordings").replaceChildren();
    $("timeline-notes").replaceChildren();
    $("timeline-notes-title").hidden = true;
    renderLive({ ...call, path: [] });
    followLive(mine);
  }

  let following = false; // one read of the call's steps at a time

  async function followLive(mine) {
    if (following) return;
    following = true;
    try {
      const answer = await api.get(`/api/calls/${encodeURIComponent(shown.callId)}`);
      if (mine !== generation || answer === null) return;
      if (answer.ok) renderLive(answer.body);
      else if (answer.status === 404 && shown.ticketId) openTicket(shown.ticketId, true);
    } finally {
      following = false;
    }
  }

  function renderLive(call) {
    liveCall = call;
    $("timeline").dataset.kind = "live";
    $("timeline").dataset.ticket = call.ticket_id || "";
    $("timeline-live").hidden = false;
    $("timeline-title").textContent = `${t("live_call")} · ${t("ticket")} ${call.ticket_id || "–"}`;
    api.monitor.show(call.call_id);
    const started = Date.parse(call.started_at) / 1000;
    $("timeline-summary").replaceChildren(
      pair("caller", call.caller_number, "caller"),
      pair("called", call.called_number, "called"),
      pair("plan", call.plan, "plan"),
      pair("node", call.node, "node"),
      pair("started", dateTime(call.started_at, words), "started"),
      pair("duration", seconds(Date.now() / 1000 - started), "duration"),
      pair("worker", call.worker_id, "worker"),
    );
    const steps = (call.path || []).map((step) => eventItem({ at: step.at, kind: "node", node: step.node }));
    const section = el("section", null, { class: "timeline-section", "data-section": "call" });
    section.append(el("h4", t("section_call")), el("ol", null, { class: "events" }));
    section.querySelector("ol").replaceChildren(...steps);
    $("timeline-sections").replaceChildren(section);
  }

  // Each snapshot's live calls (null: unavailable): follows the call shown, and when it
  // has ended shows its ticket once the ticket is closed.
  function liveCalls(calls) {
    if (!shown || shown.kind !== "live" || calls === null) return;
    const call = calls.find((c) => c.call_id === shown.callId);
    if (call) {
      renderLive({ ...call, path: liveCall ? liveCall.path : [] });
      followLive(generation);
    } else if (shown.ticketId) openTicket(shown.ticketId, true);
  }

  async function openTicket(id, afterLive) {
    const mine = open({ kind: "ticket", id });
    if (!afterLive) {
      stopAudio();
      $("timeline-title").textContent = `${t("ticket")} ${id}`;
    }
    // A call just ended: its ticket is closed a moment after it leaves the live calls.
    for (let tries = afterLive ? 20 : 1; tries > 0; tries--) {
      const answer = await api.get(`/api/tickets/${encodeURIComponent(id)}`);
      if (mine !== generation || answer === null) return;
      if (!answer.ok) {
        $("timeline-error").textContent = (answer.body && answer.body.error) || t("unavailable");
        return;
      }
      if (answer.body.disposition !== "live" || tries === 1) {
        renderTicket(answer.body, mine);
        return;
      }
      await new Promise((resolve) => window.setTimeout(resolve, 500));
      if (mine !== generation) return;
    }
  }

  function renderTicket(found, mine) {
    ticket = found;
    liveCall = null;
    api.monitor.hide();
    $("timeline").dataset.kind = "ticket";
    $("timeline").dataset.ticket = found.id;
    $("timeline").dataset.disposition = found.disposition;
    $("timeline-live").hidden = found.disposition !== "live";
    $("timeline-title").textContent = `${t("ticket")} ${found.id}`;
    const variables = found.variables || {};
    $("timeline-summary").replaceChildren(
      pair("caller", found.caller_number, "caller"),
      pair("called", found.called_number, "called"),
      pair("f_employee", variables.employee_id, "employee"),
      pair("plan", found.plan ? `${found.plan.name} ${found.plan.version || ""}`.trim() : "", "plan"),
      pair("started", dateTime(found.started_at, words), "started"),
      pair("ended", dateTime(found.ended_at, words), "ended"),
      pair("f_disposition", `${t(`disp_${found.disposition}`)}${found.end_reason ? ` (${found.end_reason})` : ""}`, "disposition"),
      pair("path", (found.nodes || []).join(" › "), "path"),
      pair("keys", found.keys, "keys"),
      pair("f_intent", found.intent, "intent"),
      pair("queue", found.queue, "queue"),
      pair("agent", found.agent_id, "agent"),
      pair("waited", found.wait_seconds === null || found.wait_seconds === undefined ? "" : seconds(found.wait_seconds), "wait"),
      pair("satisfaction", found.satisfaction, "satisfaction"),
      pair("f_work_status", t(`work_${found.work_status}`), "work_status"),
      pair("f_assignee", found.assignee, "assignee"),
    );
    const sections = (found.timeline || []).map((part) => {
      const section = el("section", null, { class: "timeline-section", "data-section": part.section });
      const heading =
        part.section === "call"
          ? t("section_call")
          : `${t("section_callback")} ${part.attempt}${part.outcome ? ` · ${part.outcome}` : ""}`;
      const list = el("ol", null, { class: "events" });
      list.replaceChildren(...(part.events || []).map(eventItem));
      section.append(el("h4", heading), list);
      return section;
    });
    $("timeline-sections").replaceChildren(...sections);
    const notes = (found.notes || []).map((note) => {
      const item = el("li");
      item.append(el("time", dateTime(note.at, words)), el("strong", note.author || "–"), el("span", note.text));
      return item;
    });
    $("timeline-notes").replaceChildren(...notes);
    $("timeline-notes-title").hidden = notes.length === 0;
    const recordings = $("timeline-recordings");
    recordings.replaceChildren();
    if (found.recording_path) attachRecording(found.id, "", t("recording_call"), mine);
    for (const part of found.timeline || []) {
      if (part.section !== "call" && part.recording_url) {
        const query = new URLSearchParams({ callback: part.request, attempt: String(part.attempt) });
        attachRecording(found.id, query.toString(), `${t("recording_callback")} ${part.attempt}`, mine);
      }
    }
    if (!recordings.children.length) recordings.append(el("p", t("no_recording"), { class: "empty" }));
  }

  async function attachRecording(id, query, caption, mine) {
    const figure = el("figure", null, { class: "recording" });
    const audio = el("audio", null, { controls: "", preload: "metadata" });
    figure.append(el("figcaption", caption), audio);
    $("timeline-recordings").append(figure);
    let renewed = false;
    async function link() {
      const answer = await api.get(`/api/tickets/${encodeURIComponent(id)}/recording-link?${query}`);
      if (mine !== generation || answer === null) return;
      if (!answer.ok) {
        figure.append(el("p", (answer.body && answer.body.error) || t("unavailable"), { class: "error" }));
        return;
      }
      audio.src = answer.body.url;
    }
    // A link lives a few minutes: a page left open asks for a fresh one once.
    audio.addEventListener("error", () => {
      if (renewed || !audio.getAttribute("src") || mine !== generation) return;
      renewed = true;
      link();
    });
    await link();
  }

  // Every second: the live call's duration goes on between snapshots.
  function tick() {
    if (!shown || shown.kind !== "live" || !liveCall) return;
    const cell = document.querySelector('#timeline-summary [data-field="duration"] dd');
    if (cell) cell.textContent = seconds(Date.now() / 1000 - Date.parse(liveCall.started_at) / 1000);
  }

  function relabel() {
    api.monitor.relabel();
    if (filters !== null) renderResults();
    if (shown && shown.kind === "live" && liveCall) renderLive(liveCall);
    else if (shown && shown.kind === "ticket" && ticket) renderTicket(ticket, generation);
  }

  // Logged out: nothing of tickets or calls stays in the page.
  function clear() {
    close();
    filters = null;
    results = null;
    offset = 0;
    $("ticket-search").reset();
    $("tickets-error").textContent = "";
    renderResults();
  }

  $("ticket-search").addEventListener("submit", (event) => {
    event.preventDefault();
    filters = readFilters();
    search(0);
  });
  $("ticket-search").addEventListener("reset", () => {
    filters = null;
    results = null;
    window.setTimeout(renderResults, 0);
  });
  $("tickets-previous").addEventListener("click", () => search(Math.max(0, offset - PAGE_SIZE)));
  $("tickets-next").addEventListener("click", () => search(offset + PAGE_SIZE));
  $("tickets").addEventListener("click", (event) => {
    const row = event.target.closest("tr[data-ticket]");
    if (row) openTicket(row.dataset.ticket, false);
  });
  $("tickets").addEventListener("keydown", (event) => {
    const row = event.target.closest("tr[data-ticket]");
    if (row && event.key === "Enter") openTicket(row.dataset.ticket, false);
  });
  $("timeline-close").addEventListener("click", close);

  return { openTicket, openLiveCall, liveCalls, relabel, clear, tick };
};
