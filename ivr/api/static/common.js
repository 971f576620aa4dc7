// What the service's pages share: labels in two languages, finding and building elements,
// times, reading server-sent events with fetch() (an EventSource cannot send the bearer
// token) and keeping such a stream open, and checking a token. Loaded before each page's
// own script as window.IVR.
"use strict";

window.IVR = (function () {
  const LANG_KEY = "ivr-dashboard-lang"; // one choice for every page of the service

  // Labels of one page: t(key), apply() to every [data-i18n] (the title from ``titleKey``),
  // switching by the #lang-switch buttons.
  function i18n(labels, titleKey) {
    const saved = window.localStorage.getItem(LANG_KEY);
    const browser = (navigator.language || "en").toLowerCase().startsWith("zh") ? "zh" : "en";
    const words = {
      lang: saved && labels[saved] ? saved : browser,
      t(key) {
        return labels[words.lang][key] ?? key;
      },
      locale() {
        return words.lang === "zh" ? "zh-CN" : "en-GB";
      },
      apply() {
        document.documentElement.lang = words.lang === "zh" ? "zh-CN" : "en";
        document.title = words.t(titleKey || "title");
        for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = words.t(node.dataset.i18n);
        for (const node of document.querySelectorAll("[data-i18n-placeholder]")) {
          node.placeholder = words.t(node.dataset.i18nPlaceholder);
        }
        for (const button of document.querySelectorAll("#lang-switch button")) {
          button.classList.toggle("active", button.dataset.lang === words.lang);
        }
      },
      // Calls ``changed`` after the page's labels switched to the language clicked.
      onSwitch(changed) {
        for (const button of document.querySelectorAll("#lang-switch button")) {
          button.addEventListener("click", () => {
            words.lang = button.dataset.lang;
            window.localStorage.setItem(LANG_KEY, words.lang);
            words.apply();
            changed();
          });
        }
      },
    };
    return words;
  }

  function $(id) {
    return document.getElementById(id);
  }

  // An element whose text goes in through textContent only (text from calls is never markup).
  function el(tag, text, attrs) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, value);
    return node;
  }

  function seconds(value) {
    if (value === null || value === undefined) return "–";
    const total = Math.max(0, Math.round(value));
    const m = Math.floor(total / 60);
    const s = total % 60;
    return m > 0 ? `${m}:${String(s).padStart(2, "0")}` : `${s}s`;
  }

  // A queue's estimated wait; null (nobody staffed to answer) says so in words.
  function estimatedWait(queue, words) {
    return queue.estimated_wait_seconds === null ? words.t("nobody_staffed") : seconds(queue.estimated_wait_seconds);
  }

  function percent(value) {
    return value === null || value === undefined ? "–" : `${Math.round(value * 100)}%`;
  }

  function asDate(value) {
    return typeof value === "number" ? new Date(value * 1000) : new Date(value);
  }

  // The time of day of Unix seconds or an ISO time; "–" for none.
  function clock(value, words) {
    if (value === null || value === undefined || value === 0 || value === "") return "–";
    return asDate(value).toLocaleTimeString(words.locale(), { hour12: false });
  }

  // Date and time of Unix seconds or an ISO time; "–" for none.
  function dateTime(value, words) {
    if (value === null || value === undefined || value === 0 || value === "") return "–";
    return asDate(value).toLocaleString(words.locale(), { hour12: false });
  }

  function setConnection(state, words) {
    const node = document.getElementById("connection");
    node.dataset.state = state;
    node.dataset.i18n = state;
    node.textContent = words.t(state);
  }

  // Reads a text/event-stream body, calling onEvent(name, data) for each event (keep-alive
  // comments skipped) while stillWanted() holds.
  async function readEvents(response, onEvent, stillWanted) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffered = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done || !stillWanted()) return;
      buffered += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffered.indexOf("\n\n")) >= 0) {
        const block = buffered.slice(0, end);
        buffered = buffered.slice(end + 2);
        let name = "message";
        const data = [];
        for (const line of block.split("\n")) {
          if (line.startsWith("event:")) name = line.slice(6).trim();
          else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
        }
        if (data.length > 0) onEvent(name, JSON.parse(data.join("\n")));
      }
    }
  }

  const RETRY_MS = 2000; // a stream that dropped, or a service away, is tried again after this

  // A server-sent event stream kept open. ``open()`` says what to read as each attempt
  // starts: {url, headers}. Each event goes to onEvent(name, data). An answer whose status
  // ``refused`` names (status -> label key) goes to onRefused(key) and is not tried again;
  // any other end shows "disconnected" and opens the stream again after RETRY_MS.
  // connect() (re)opens it, disconnect() closes it on purpose, isOpen() says if it is wanted.
  function eventStream(words, { open, onEvent, refused, onRefused }) {
    let controller = null; // the AbortController of the attempt now wanted
    let retry = null;

    function disconnect() {
      if (retry !== null) window.clearTimeout(retry);
      retry = null;
      if (controller !== null) controller.abort();
      controller = null;
    }

    async function connect() {
      disconnect();
      const attempt = new AbortController();
      controller = attempt;
      try {
        const { url, headers } = open();
        const response = await fetch(url, { headers, signal: attempt.signal });
        if (refused[response.status]) return onRefused(refused[response.status]);
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        await readEvents(response, onEvent, () => controller === attempt);
      } catch (error) {
        if (attempt.signal.aborted) return; // replaced or closed on purpose
      }
      if (controller !== attempt) return;
      setConnection("disconnected", words); // the service went away: try again shortly
      retry = window.setTimeout(connect, RETRY_MS);
    }

    return { connect, disconnect, isOpen: () => controller !== null };
  }

  // Midnight of today, local time.
  function startOfToday() {
    const midnight = new Date();
    midnight.setHours(0, 0, 0, 0);
    return midnight;
  }

  // The snapshots of /api/dashboard/stream counted from the start of today, each to
  // onSnapshot(data) with "live" shown; ``headers()`` carries the token, a refused token
  // goes to onRefused(key). Besides connect/disconnect: checkDay(), called every second or
  // so, opens the stream again from midnight once the day has turned.
  function todaysSnapshots(words, { headers, onSnapshot, onRefused }) {
    let day = null; // the midnight the open stream counts from, in milliseconds
    const stream = eventStream(words, {
      open() {
        day = startOfToday().getTime();
        return { url: `/api/dashboard/stream?from=${day / 1000}`, headers: headers() };
      },
      onEvent(name, data) {
        if (name !== "snapshot") return;
        setConnection("live", words);
        onSnapshot(data);
      },
      refused: { 401: "token_refused" }, // the token was withdrawn from the configuration
      onRefused,
    });
    function checkDay() {
      if (stream.isOpen() && startOfToday().getTime() !== day) stream.connect();
    }
    return { connect: stream.connect, disconnect: stream.disconnect, checkDay };
  }

  // GET /api/whoami with ``token``: {who} when accepted, else {error: a label key}.
  async function whoami(token) {
    let response;
    try {
      response = await fetch("/api/whoami", { headers: { Authorization: `Bearer ${token}` } });
    } catch (error) {
      return { error: "login_failed" };
    }
    if (response.status === 401) return { error: "token_refused" };
    if (!response.ok) return { error: "login_failed" };
    return { who: await response.json() };
  }

  return {
    i18n,
    $,
    el,
    seconds,
    estimatedWait,
    percent,
    clock,
    dateTime,
    setConnection,
    readEvents,
    RETRY_MS,
    eventStream,
    startOfToday,
    todaysSnapshots,
    whoami,
  };
})();
