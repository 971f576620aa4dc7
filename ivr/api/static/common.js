// What the service's pages share: labels in two languages, building elements, times,
// reading server-sent events with fetch() (an EventSource cannot send the bearer token)
// and checking a token. Loaded before each page's own script as window.IVR.
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

  return { i18n, el, seconds, percent, clock, dateTime, setConnection, readEvents, whoami };
})();
