// Listen in on the live call the timeline shows, when it is bridged to an agent:
// GET /api/calls/{id}/monitor says so (404 not bridged, 403 a role below supervisor:
// then nothing shows); Listen, Whisper and Barge ring the extension given and change the
// mode of the running monitor; End hangs the supervisor's phone up.
"use strict";

window.IVR_MONITOR = function (words, token) {
  const { $ } = window.IVR;
  const t = words.t;
  const EXTENSION_KEY = "ivr-monitor-extension"; // not secret: the supervisor's desk phone
  let callId = null;
  let view = null; // the last answer for callId
  let reading = false;
  let busy = false; // a request of the buttons in flight (a ring takes seconds)

  async function request(method, body) {
    const headers = { Authorization: `Bearer ${token()}` };
    if (body) headers["Content-Type"] = "application/json";
    try {
      const response = await fetch(`/api/calls/${encodeURIComponent(callId)}/monitor`, {
        method,
        headers,
        body: body ? JSON.stringify(body) : undefined,
      });
      let answer = null;
      try {
        answer = await response.json();
      } catch (error) {
        answer = null;
      }
      return { ok: response.ok, status: response.status, body: answer };
    } catch (error) {
      return { ok: false, status: 0, body: { error: t("unavailable") } };
    }
  }

  function render() {
    const form = $("monitor");
    form.hidden = view === null;
    if (view === null) return;
    const monitor = view.monitor;
    form.dataset.mode = monitor ? monitor.mode : "";
    for (const button of form.querySelectorAll("button[data-mode]")) {
      button.setAttribute("aria-pressed", String(Boolean(monitor) && button.dataset.mode === monitor.mode));
      button.disabled = busy;
    }
    $("monitor-end").hidden = !monitor;
    $("monitor-end").disabled = busy;
    if (!busy) {
      $("monitor-state").textContent = monitor
        ? `${t(`monitor_${monitor.mode}`)} · ${monitor.extension} · ${monitor.by}`
        : t("monitor_off");
    }
  }

  // The timeline shows live call ``id`` (again): read its bridge, at most one read at a time.
  async function show(id) {
    if (id !== callId) {
      callId = id;
      view = null;
      $("monitor-error").textContent = "";
      render();
    }
    if (reading || busy) return;
    reading = true;
    try {
      const answer = await request("GET");
      if (id !== callId || busy) return;
      view = answer.ok ? answer.body : null;
      render();
    } finally {
      reading = false;
    }
  }

  function hide() {
    callId = null;
    view = null;
    $("monitor-error").textContent = "";
    render();
  }

  async function act(method, body) {
    const id = callId;
    busy = true;
    $("monitor-error").textContent = "";
    $("monitor-state").textContent = method === "POST" && !(view && view.monitor) ? t("monitor_ringing") : "";
    render();
    const answer = await request(method, body);
    busy = false;
    if (id !== callId) return;
    if (answer.ok) view = answer.body;
    else $("monitor-error").textContent = (answer.body && answer.body.error) || t("unavailable");
    render();
  }

  $("monitor-extension").value = window.localStorage.getItem(EXTENSION_KEY) || "";
  $("monitor").addEventListener("submit", (event) => event.preventDefault());
  for (const button of document.querySelectorAll("#monitor button[data-mode]")) {
    button.addEventListener("click", () => {
      const extension = $("monitor-extension").value.trim();
      if (view && view.monitor) {
        act("PATCH", { mode: button.dataset.mode });
        return;
      }
      if (!extension) {
        $("monitor-error").textContent = t("monitor_need_extension");
        return;
      }
      window.localStorage.setItem(EXTENSION_KEY, extension);
      act("POST", { mode: button.dataset.mode, extension });
    });
  }
  $("monitor-end").addEventListener("click", () => act("DELETE"));

  return { show, hide, relabel: render };
};
