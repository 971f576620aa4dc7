// The wallboard: large live queue figures for a shared screen, from /api/dashboard/stream.
// The screen is set up once: its viewer token is kept in this browser's localStorage on
// purpose (it survives reloads and restarts) until "Forget this screen". Because it stays,
// only a viewer token (read-only) is taken. Nothing personal is shown: no numbers, no names.
"use strict";

(function () {
  const { $, el, seconds, estimatedWait, percent } = window.IVR;
  const words = window.IVR.i18n(window.LABELS, "wallboard_title");
  const t = words.t;
  const TOKEN_KEY = "ivr-wallboard-token";
  let latest = null;
  let retry = null; // a log-in tried again while the service is away

  function token() {
    return window.localStorage.getItem(TOKEN_KEY);
  }

  const stream = window.IVR.todaysSnapshots(words, {
    headers: () => ({ Authorization: `Bearer ${token()}` }),
    onSnapshot(data) {
      latest = data;
      render();
    },
    onRefused: showLogin,
  });

  function figure(value) {
    return value === null || value === undefined ? "–" : String(value);
  }

  function queueCard(queue) {
    const card = el("article", null, { class: "queue-card", "data-queue": queue.name });
    card.dataset.busy = String(queue.waiting > 0);
    const estimate = estimatedWait(queue, words);
    const figures = el("dl");
    for (const [key, value, field] of [
      ["longest_wait", seconds(queue.longest_wait_seconds), "longest"],
      ["estimated_wait", estimate, "estimated"],
      ["agents_available", figure(queue.agents_available), "available"],
      ["agents_staffed", figure(queue.agents_staffed), "staffed"],
    ]) {
      const group = el("div", null, { "data-figure": field });
      group.append(el("dt", t(key)), el("dd", value));
      figures.append(group);
    }
    card.append(el("h2", queue.name), el("div", figure(queue.waiting), { class: "waiting" }), el("div", t("waiting")), figures);
    return card;
  }

  function render() {
    if (latest === null) return;
    const queues = latest.queues;
    const agents = latest.agents;
    const calls = latest.calls ? latest.calls.calls : null;
    const stats = latest.stats;
    const waiting = queues ? queues.reduce((sum, q) => sum + q.waiting, 0) : null;
    $("total-waiting").textContent = figure(waiting);
    $("total-calls").textContent = figure(calls ? calls.length : null);
    $("total-available").textContent = figure(agents ? agents.filter((a) => a.state === "available").length : null);
    $("total-on-calls").textContent = figure(
      agents ? agents.filter((a) => a.state === "on_call" || a.state === "ringing").length : null,
    );
    const counts = latest.callbacks && latest.callbacks.available ? latest.callbacks.counts : null;
    $("total-callbacks").textContent = figure(counts ? counts.pending : null);
    $("total-today").textContent = figure(stats ? stats.calls : null);
    $("total-abandoned").textContent = stats ? percent(stats.abandonment_rate) : "–";
    $("queue-cards").replaceChildren(...(queues || []).map(queueCard));
    const empty = $("queues-empty");
    empty.dataset.i18n = queues === null ? "unavailable" : "no_queues";
    empty.textContent = t(empty.dataset.i18n);
    empty.hidden = queues !== null && queues.length > 0;
  }

  function clearBoard() {
    latest = null;
    for (const node of document.querySelectorAll("#totals .figure")) node.textContent = "";
    $("queue-cards").replaceChildren();
  }

  function showLogin(errorKey) {
    disconnect();
    window.localStorage.removeItem(TOKEN_KEY);
    clearBoard();
    $("login").hidden = false;
    $("board").hidden = true;
    $("logout").hidden = true;
    $("login-error").textContent = errorKey ? t(errorKey) : "";
    window.IVR.setConnection("logged_out", words);
    $("token").focus();
  }

  async function logIn(candidate) {
    const answer = await window.IVR.whoami(candidate);
    if (answer.error === "login_failed" && token() === candidate) {
      // The service is away (a restart): keep the screen's token and try again.
      window.IVR.setConnection("disconnected", words);
      retry = window.setTimeout(() => logIn(candidate), window.IVR.RETRY_MS);
      return;
    }
    if (answer.error) return showLogin(answer.error);
    // The token stays in this browser: a stronger one must not be left on a shared screen.
    if (answer.who.role !== "viewer") return showLogin("viewer_only");
    window.localStorage.setItem(TOKEN_KEY, candidate);
    $("login").hidden = true;
    $("board").hidden = false;
    $("logout").hidden = false;
    disconnect();
    stream.connect();
  }

  function disconnect() {
    if (retry !== null) window.clearTimeout(retry);
    retry = null;
    stream.disconnect();
  }

  function tick() {
    $("clock").textContent = window.IVR.clock(Date.now() / 1000, words);
    stream.checkDay();
  }

  words.onSwitch(render);
  $("login").addEventListener("submit", (event) => {
    event.preventDefault();
    const field = $("token");
    const candidate = field.value.trim();
    field.value = "";
    logIn(candidate);
  });
  $("logout").addEventListener("click", () => showLogin(null));
  words.apply();
  if (token() === null) showLogin(null);
  else logIn(token());
  tick();
  window.setInterval(tick, 1000);
})();
