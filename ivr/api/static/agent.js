// The agent desk: renders /api/desk/{agent}/stream (server-sent events read with fetch(),
// which can send the bearer token), changes the agent's state, writes the wrap-up.
// Text from calls only ever goes in through textContent. The token is kept in
// sessionStorage (this tab only); logged out, every part that held call data is emptied.
"use strict";

(function () {
  const LABELS = {
    en: {
      title: "Agent desk",
      connecting: "connecting",
      live: "live",
      disconnected: "reconnecting",
      logged_out: "logged out",
      login_title: "Sign in",
      login_hint: "Paste your agent token. It is kept for this browser tab only.",
      token: "Agent token",
      agent_id_label: "Agent ID (supervisors only)",
      log_in: "Sign in",
      log_out: "Log out",
      token_refused: "Token not recognised",
      login_failed: "The service did not answer; try again",
      not_an_agent: "This token may not use an agent desk (agent role or higher)",
      which_agent: "This token is not bound to an agent: enter an agent ID",
      no_such_agent: "No such agent",
      my_state: "My state",
      break_held: "Held: the queue is busy, granted when an agent frees up",
      break_held_at: "Held by the forecast: granted at {time}, in {minutes} min",
      go_available: "Available",
      go_break: "Break",
      go_offline: "Offline",
      state_offline: "offline",
      state_available: "available",
      state_ringing: "ringing",
      state_on_call: "on a call",
      state_wrap_up: "wrap-up",
      state_break: "on break",
      since: "since",
      my_queues: "My queues",
      queue: "Queue",
      waiting: "Waiting",
      estimated_wait: "Estimated wait",
      longest_wait: "Longest wait",
      agents_available: "Agents free",
      no_queues: "No queues",
      nobody_staffed: "nobody logged in",
      unavailable: "unavailable",
      call: "Call",
      no_call: "No call",
      phase_ringing: "ringing",
      phase_connected: "connected",
      phase_ended: "ended",
      kind_call: "",
      kind_callback: "callback",
      attempt: "attempt",
      caller_name: "Name",
      department: "Department",
      employee_id: "Employee ID",
      number: "Number",
      ticket: "Ticket",
      intent: "Intent",
      keys: "Keys",
      waited: "Waited",
      unknown_caller: "not in the directory",
      ivr_path: "In the IVR",
      last_tickets: "Last tickets",
      started: "Started",
      work_status: "Work status",
      no_tickets: "No earlier tickets",
      wrap_up: "Wrap-up",
      disposition: "Disposition",
      no_codes: "(none for this queue)",
      work_open: "open",
      work_in_progress: "in progress",
      work_resolved: "resolved",
      assignee: "Assignee",
      note: "Note",
      save_wrap_up: "Save wrap-up",
      nothing_to_wrap_up: "Nothing to wrap up",
      saved: "Saved",
      save_failed: "Not saved",
      already_wrapped_up: "Wrapped up",
      wrap_up_left: "Wrap-up time left",
      ready_now: "Ready now",
      escalate: "Escalate to the second line",
      escalate_queue: "Queue",
      escalate_extension: "or extension",
      escalate_blind: "Transfer now (blind)",
      escalate_attended: "Talk to them first (attended)",
      escalate_complete: "Complete the transfer",
      escalate_cancel: "Back to the caller",
      pick_queue: "— choose —",
      pick_target: "Choose a queue or type an extension",
      escalated_by: "Escalated by",
      from_queue: "from",
      mode_blind: "blind",
      mode_attended: "attended",
      esc_dialling: "Calling {target}; the caller hears hold music",
      esc_consulting: "Talking to {target}; the caller is on hold",
      esc_completed: "Transferred to {target}",
      esc_transferred: "Transferred to {target}",
      esc_cancelled: "Back with the caller ({target} not taken)",
      esc_failed: "{target} not reached: {reason}; back with the caller",
      my_callbacks: "My callbacks",
      position: "Place",
      due: "Due",
      attempts: "Attempts",
      cb_state: "State",
      cb_pending: "waiting",
      cb_dialling: "being dialled",
      cb_for_me: "dialled to you now",
      no_callbacks: "No callbacks coming",
    },
    zh: {
      title: "坐席工作台",
      connecting: "连接中",
      live: "实时",
      disconnected: "重新连接中",
      logged_out: "未登录",
      login_title: "登录",
      login_hint: "粘贴您的坐席令牌。仅保存在此浏览器标签页中。",
      token: "坐席令牌",
      agent_id_label: "坐席编号（仅限主管）",
      log_in: "登录",
      log_out: "退出",
      token_refused: "令牌无效",
      login_failed: "服务没有响应，请重试",
      not_an_agent: "此令牌不能使用坐席工作台（需坐席或更高角色）",
      which_agent: "此令牌未绑定坐席：请输入坐席编号",
      no_such_agent: "没有这个坐席",
      my_state: "我的状态",
      break_held: "已挂起：队列繁忙，有坐席空闲时批准",
      break_held_at: "按预测挂起：{time} 批准，还有 {minutes} 分钟",
      go_available: "空闲",
      go_break: "休息",
      go_offline: "离线",
      state_offline: "离线",
      state_available: "空闲",
      state_ringing: "振铃中",
      state_on_call: "通话中",
      state_wrap_up: "话后处理",
      state_break: "休息中",
      since: "自",
      my_queues: "我的队列",
      queue: "队列",
      waiting: "等待中",
      estimated_wait: "预计等待",
      longest_wait: "最长等待",
      agents_available: "空闲坐席",
      no_queues: "没有队列",
      nobody_staffed: "无人登录",
      unavailable: "不可用",
      call: "来电",
      no_call: "没有来电",
      phase_ringing: "振铃中",
      phase_connected: "已接通",
      phase_ended: "已结束",
      kind_call: "",
      kind_callback: "回拨",
      attempt: "第几次",
      caller_name: "姓名",
      department: "部门",
      employee_id: "工号",
      number: "号码",
      ticket: "工单",
      intent: "意图",
      keys: "按键",
      waited: "等待",
      unknown_caller: "不在通讯录中",
      ivr_path: "IVR 流程",
      last_tickets: "最近工单",
      started: "开始",
      work_status: "处理状态",
      no_tickets: "没有更早的工单",
      wrap_up: "话后处理",
      disposition: "处理结果",
      no_codes: "（此队列没有）",
      work_open: "待处理",
      work_in_progress: "处理中",
      work_resolved: "已解决",
      assignee: "负责人",
      note: "备注",
      save_wrap_up: "保存",
      nothing_to_wrap_up: "没有待处理的来电",
      saved: "已保存",
      save_failed: "未保存",
      already_wrapped_up: "已处理",
      wrap_up_left: "话后处理剩余时间",
      ready_now: "立即就绪",
      escalate: "升级到二线",
      escalate_queue: "队列",
      escalate_extension: "或分机",
      escalate_blind: "直接转接（盲转）",
      escalate_attended: "先沟通再转（咨询转）",
      escalate_complete: "完成转接",
      escalate_cancel: "回到来电者",
      pick_queue: "— 请选择 —",
      pick_target: "请选择队列或输入分机",
      escalated_by: "升级自",
      from_queue: "来自",
      mode_blind: "盲转",
      mode_attended: "咨询转",
      esc_dialling: "正在呼叫 {target}；来电者听等待音乐",
      esc_consulting: "正在与 {target} 通话；来电者保持中",
      esc_completed: "已转接到 {target}",
      esc_transferred: "已转接到 {target}",
      esc_cancelled: "已回到来电者（{target} 未接手）",
      esc_failed: "未接通 {target}：{reason}；已回到来电者",
      my_callbacks: "我的回拨",
      position: "排位",
      due: "预定时间",
      attempts: "尝试次数",
      cb_state: "状态",
      cb_pending: "等待中",
      cb_dialling: "呼叫中",
      cb_for_me: "正在为您呼叫",
      no_callbacks: "没有待回拨",
    },
  };
  window.DESK_LABELS = LABELS;
  const TOKEN_KEY = "ivr-desk-token";
  const AGENT_KEY = "ivr-desk-agent";
  const words = window.IVR.i18n(LABELS);
  const t = words.t;
  const { $, el, seconds, estimatedWait } = window.IVR;
  let latest = null;
  let agentId = null;
  let formTicket = null; // the ticket the wrap-up form is for
  let result = null; // the last wrap-up's answer, shown until the next call
  let escalateError = ""; // the last escalation request's refusal, until the next call

  function clock(iso) {
    return window.IVR.dateTime(iso, words);
  }

  function token() {
    return window.sessionStorage.getItem(TOKEN_KEY);
  }

  function authorised(extra) {
    return { Authorization: `Bearer ${token()}`, ...(extra || {}) };
  }

  function setConnection(state) {
    window.IVR.setConnection(state, words);
  }

  const stream = window.IVR.eventStream(words, {
    open() {
      setConnection("connecting");
      return { url: `/api/desk/${encodeURIComponent(agentId)}/stream`, headers: authorised() };
    },
    onEvent(name, data) {
      if (name !== "desk") return;
      latest = data;
      if (!latest.error) setConnection("live");
      render();
    },
    refused: { 401: "token_refused", 403: "not_an_agent", 404: "no_such_agent" },
    onRefused: showLogin,
  });

  function renderState(agent) {
    $("state").textContent = t(`state_${agent.state}`);
    $("state").className = `state state-${agent.state}`;
    $("state").dataset.state = agent.state;
    $("state-since").textContent = `${t("since")} ${clock(agent.since)}`;
    const held = $("break-held");
    held.hidden = !agent.break_requested;
    // Held against the forecast: when it will be granted (the service's time).
    if (agent.break_at) {
      const minutes = Math.max(0, Math.ceil((Date.parse(agent.break_at) - Date.now()) / 60000));
      delete held.dataset.i18n;
      const at = window.IVR.clock(agent.break_at, words);
      held.textContent = t("break_held_at").replace("{time}", at).replace("{minutes}", minutes);
    } else {
      held.dataset.i18n = "break_held";
      held.textContent = t("break_held");
    }
    $("state-reason").textContent = agent.reason || "";
    for (const button of document.querySelectorAll("#state-buttons button")) {
      button.classList.toggle("active", button.dataset.state === agent.state);
    }
    $("who").textContent = agent.name && agent.name !== agent.id ? `${agent.name} (${agent.id})` : agent.id;
    countDown();
  }

  // The wrap-up the queue gives after a call, counting down; the service makes the
  // agent available when it ends (unless they chose break or offline meanwhile).
  function countDown() {
    const agent = latest && latest.agent;
    const until = agent && agent.state === "wrap_up" && agent.wrap_up_until;
    $("wrap-up-timer").hidden = !until;
    $("wrap-up-left").textContent = until ? seconds(Math.max(0, (Date.parse(until) - Date.now()) / 1000)) : "";
  }

  function fill(key, values) {
    return t(key).replace(/\{(\w+)\}/g, (_, name) => values[name] ?? "");
  }

  function targetOf(state) {
    return state.queue || state.extension || "";
  }

  function renderEscalation(call) {
    const connected = call !== null && call.phase === "connected" && call.kind !== "callback";
    const state = call && call.escalation;
    const consulting = Boolean(state && state.mode === "attended" && ["dialling", "consulting"].includes(state.state));
    $("escalation").hidden = !connected;
    $("escalate").hidden = consulting;
    $("consult").hidden = !consulting;
    $("escalate-complete").disabled = !(consulting && state.state === "consulting");
    const status = $("escalation-status");
    if (state) {
      const target = state.second_agent ? `${targetOf(state)} (${state.second_agent})` : targetOf(state);
      status.textContent = fill(`esc_${state.state}`, { target, reason: state.reason || "" });
      status.dataset.state = state.state;
    } else {
      status.textContent = "";
      delete status.dataset.state;
    }
    $("escalate-error").textContent = escalateError;
    const queues = (call && call.escalation_queues) || [];
    const select = $("escalate-queue");
    if (select.dataset.queues !== queues.join(",")) {
      select.dataset.queues = queues.join(",");
      const options = [el("option", t("pick_queue"), { value: "" })];
      for (const name of queues) options.push(el("option", name, { value: name }));
      select.replaceChildren(...options);
    }
  }

  function renderEscalated(escalated) {
    const banner = $("call-escalated");
    banner.hidden = !escalated;
    if (!escalated) {
      banner.textContent = "";
      return;
    }
    const from = escalated.from_queue ? ` ${t("from_queue")} ${escalated.from_queue}` : "";
    const who = escalated.by_name && escalated.by_name !== escalated.by ? `${escalated.by_name} (${escalated.by})` : escalated.by;
    banner.textContent = `${t("escalated_by")} ${who}${from} · ${t(`mode_${escalated.mode}`)} · ${clock(escalated.at)}`;
    banner.dataset.by = escalated.by;
    banner.dataset.mode = escalated.mode;
  }

  function renderCallbacks(callbacks) {
    const rows = (callbacks || []).map((booking) => {
      const row = el("tr", null, { "data-callback": booking.id, "data-queue": booking.queue });
      if (booking.for_me) row.classList.add("for-me");
      const state = booking.for_me ? t("cb_for_me") : t(`cb_${booking.state}`);
      row.append(
        el("td", booking.queue),
        el("td", booking.position ?? "–"),
        el("td", booking.caller_name || "–"),
        el("td", booking.number || "–"),
        el("td", clock(booking.due_at)),
        el("td", booking.attempts),
        el("td", state),
      );
      return row;
    });
    document.querySelector("#callbacks tbody").replaceChildren(...rows);
    const empty = $("callbacks-empty");
    empty.dataset.i18n = callbacks === null || callbacks === undefined ? "unavailable" : "no_callbacks";
    empty.textContent = t(empty.dataset.i18n);
    empty.hidden = rows.length > 0;
  }

  function renderQueues(queues) {
    const rows = (queues || []).map((queue) => {
      const row = el("tr", null, { "data-queue": queue.name });
      const estimate = estimatedWait(queue, words);
      row.append(
        el("td", queue.name),
        el("td", queue.waiting, { class: "waiting" }),
        el("td", estimate, { class: "estimate" }),
        el("td", seconds(queue.longest_wait_seconds)),
        el("td", queue.agents_available),
      );
      return row;
    });
    document.querySelector("#queues tbody").replaceChildren(...rows);
    const empty = $("queues-empty");
    empty.dataset.i18n = queues === null ? "unavailable" : "no_queues";
    empty.textContent = t(empty.dataset.i18n);
    empty.hidden = rows.length > 0;
  }

  function renderSteps(steps) {
    return (steps || []).map((step) => {
      const item = el("li", step.node, { "data-node": step.node });
      if (step.keys) item.append(el("span", step.keys, { class: "keys" }));
      for (const said of step.said || []) {
        const text = said.intent ? `“${said.text}” → ${said.intent}` : `“${said.text}”`;
        item.append(el("span", text, { class: "said" }));
      }
      return item;
    });
  }

  function renderHistory(history) {
    const rows = (history || []).map((ticket) => {
      const row = el("tr", null, { "data-ticket": ticket.id });
      row.append(
        el("td", ticket.id),
        el("td", clock(ticket.started_at)),
        el("td", ticket.intent || "–"),
        el("td", ticket.queue || "–"),
        el("td", t(`work_${ticket.work_status}`)),
      );
      return row;
    });
    document.querySelector("#history tbody").replaceChildren(...rows);
    const empty = $("history-empty");
    empty.dataset.i18n = history === null ? "unavailable" : "no_tickets";
    empty.textContent = t(empty.dataset.i18n);
    empty.hidden = rows.length > 0;
  }

  function renderCall(call) {
    $("call").hidden = call === null;
    $("call-empty").hidden = call !== null;
    const phase = $("call-phase");
    if (call === null) {
      phase.textContent = "";
      delete phase.dataset.phase;
      $("call-kind").textContent = "";
      $("call-timer").textContent = "";
      clearCallDetails();
      return;
    }
    phase.dataset.phase = call.phase;
    phase.textContent = t(`phase_${call.phase}`);
    $("call-kind").textContent =
      call.kind === "callback" && call.callback
        ? `${t("kind_callback")} · ${t("attempt")} ${call.callback.attempt}`
        : "";
    const caller = call.caller;
    $("caller-name").textContent = caller.employee_name || t("unknown_caller");
    if (caller.vip) $("caller-name").append(el("span", "VIP", { class: "vip" }));
    $("caller-department").textContent = caller.department || "–";
    $("caller-employee-id").textContent = caller.employee_id || "–";
    $("caller-number").textContent = caller.number || "–";
    $("call-ticket").textContent = call.ticket_id ?? "–";
    $("call-queue").textContent = call.queue || "–";
    $("ivr-intent").textContent = call.ivr.intent || "–";
    $("ivr-keys").textContent = call.ivr.keys || "–";
    $("ivr-wait").textContent = seconds(call.ivr.waited_seconds);
    $("ivr-steps").replaceChildren(...renderSteps(call.ivr.steps));
    renderHistory(call.history);
    renderEscalated(call.escalated);
    tick();
  }

  function clearCallDetails() {
    for (const id of ["caller-name", "caller-department", "caller-employee-id", "caller-number",
                      "call-ticket", "call-queue", "ivr-intent", "ivr-keys", "ivr-wait"]) {
      $(id).textContent = "";
    }
    $("ivr-steps").replaceChildren();
    document.querySelector("#history tbody").replaceChildren();
    renderEscalated(null);
  }

  function renderWrapUp(call) {
    const form = $("wrap-up");
    const open = call !== null && call.ticket_id !== null && call.ticket_id !== undefined;
    $("wrap-up-empty").hidden = open;
    form.hidden = !open || call.wrapped_up;
    if (!open) {
      resetForm(null, []);
      return;
    }
    if (formTicket !== call.ticket_id) {
      resetForm(call.ticket_id, call.dispositions || []);
      clearResult();
      escalateError = "";
    }
    if (call.wrapped_up && !$("wrap-up-result").textContent) {
      $("wrap-up-result").textContent = `${t("already_wrapped_up")}: ${t("ticket")} ${call.ticket_id}`;
    }
  }

  function resetForm(ticketId, codes) {
    formTicket = ticketId;
    const select = $("disposition");
    const options = codes.map((code) => el("option", code, { value: code }));
    if (options.length === 0) options.push(el("option", t("no_codes"), { value: "" }));
    select.replaceChildren(...options);
    select.disabled = codes.length === 0;
    $("work-status").value = "open";
    $("assignee").value = "";
    $("note").value = "";
  }

  function clearResult() {
    result = null;
    showResult();
  }

  function showResult() {
    const status = $("wrap-up-result");
    if (result === null) {
      status.textContent = "";
      delete status.dataset.outcome;
    } else if (result.ok) {
      const body = result.body;
      const code = body.disposition ? ` · ${body.disposition}` : "";
      status.textContent = `${t("saved")}: ${t("ticket")} ${body.ticket_id}${code} · ${t(`work_${body.work_status}`)}`;
      status.dataset.outcome = "saved";
    } else {
      status.textContent = `${t("save_failed")}: ${result.error}`;
      status.dataset.outcome = "failed";
    }
  }

  function render() {
    if (latest === null) return;
    if (latest.error) {
      setConnection("disconnected");
      return;
    }
    renderState(latest.agent);
    renderQueues(latest.queues);
    renderCall(latest.call);
    renderWrapUp(latest.call);
    renderEscalation(latest.call);
    renderCallbacks(latest.callbacks);
  }

  function tick() {
    countDown();
    const call = latest && latest.call;
    if (!call) return;
    const from = call.phase === "ringing" ? call.rung_at : call.connected_at;
    const until = call.ended_at ? Date.parse(call.ended_at) : Date.now();
    $("call-timer").textContent = from ? seconds((until - Date.parse(from)) / 1000) : "";
  }

  function clearDesk() {
    latest = null;
    formTicket = null;
    $("state").textContent = "";
    $("state-since").textContent = "";
    $("state-reason").textContent = "";
    $("state-error").textContent = "";
    $("break-held").hidden = true;
    document.querySelector("#queues tbody").replaceChildren();
    document.querySelector("#callbacks tbody").replaceChildren();
    $("wrap-up-timer").hidden = true;
    $("wrap-up-left").textContent = "";
    escalateError = "";
    renderEscalation(null);
    renderCall(null);
    resetForm(null, []);
    clearResult();
    $("wrap-up").hidden = true;
  }

  function showLogin(errorKey) {
    stream.disconnect();
    window.sessionStorage.removeItem(TOKEN_KEY);
    window.sessionStorage.removeItem(AGENT_KEY);
    agentId = null;
    clearDesk();
    $("login").hidden = false;
    $("desk").hidden = true;
    $("logout").hidden = true;
    $("who").textContent = "";
    $("login-error").textContent = errorKey ? t(errorKey) : "";
    setConnection("logged_out");
    $("token").focus();
  }

  async function logIn(candidate, wanted) {
    const answer = await window.IVR.whoami(candidate);
    if (answer.error) return showLogin(answer.error);
    const who = answer.who;
    if (who.role === "viewer") return showLogin("not_an_agent");
    const agent = who.agent_id || wanted;
    if (!agent) return showLogin("which_agent");
    window.sessionStorage.setItem(TOKEN_KEY, candidate);
    window.sessionStorage.setItem(AGENT_KEY, agent);
    agentId = agent;
    $("login").hidden = true;
    $("desk").hidden = false;
    $("logout").hidden = false;
    $("who").textContent = agent;
    stream.connect();
  }

  async function post(path, body) {
    const response = await fetch(path, {
      method: "POST",
      headers: authorised({ "Content-Type": "application/json" }),
      body: JSON.stringify(body),
    });
    let answer = null;
    try {
      answer = await response.json();
    } catch (error) {
      answer = null;
    }
    if (response.status === 401) showLogin("token_refused");
    return { ok: response.ok, body: answer };
  }

  async function changeState(state) {
    $("state-error").textContent = "";
    try {
      const result = await post(`/api/agents/${encodeURIComponent(agentId)}/state`, { state });
      if (!result.ok) $("state-error").textContent = (result.body && result.body.error) || t("save_failed");
    } catch (error) {
      $("state-error").textContent = t("login_failed");
    }
  }

  async function escalate(mode) {
    const queue = $("escalate-queue").value;
    const extension = $("escalate-extension").value.trim();
    escalateError = "";
    if (!queue === !extension) {
      escalateError = t("pick_target");
      $("escalate-error").textContent = escalateError;
      return;
    }
    await sendEscalation("", queue ? { mode, queue } : { mode, extension });
  }

  async function sendEscalation(step, body) {
    try {
      const answer = await post(`/api/desk/${encodeURIComponent(agentId)}/escalate${step}`, body);
      escalateError = answer.ok ? "" : (answer.body && answer.body.error) || t("save_failed");
    } catch (error) {
      escalateError = t("login_failed");
    }
    $("escalate-error").textContent = escalateError;
  }

  async function saveWrapUp() {
    const call = latest && latest.call;
    if (!call || formTicket === null) return;
    const body = {
      ticket_id: formTicket,
      work_status: $("work-status").value,
      note: $("note").value,
      assignee: $("assignee").value,
    };
    if (!$("disposition").disabled) body.disposition = $("disposition").value;
    try {
      const answer = await post(`/api/desk/${encodeURIComponent(agentId)}/wrap-up`, body);
      result = answer.ok
        ? { ok: true, body: answer.body }
        : { ok: false, error: (answer.body && answer.body.error) || "" };
    } catch (error) {
      result = { ok: false, error: t("login_failed") };
    }
    showResult();
  }

  words.onSwitch(() => {
    if ($("disposition").disabled) $("disposition").options[0].textContent = t("no_codes");
    render();
    showResult();
  });
  for (const button of document.querySelectorAll("#state-buttons button")) {
    button.addEventListener("click", () => changeState(button.dataset.state));
  }
  $("login").addEventListener("submit", (event) => {
    event.preventDefault();
    const field = $("token");
    const candidate = field.value.trim();
    const wanted = $("agent-id").value.trim();
    field.value = "";
    logIn(candidate, wanted);
  });
  $("wrap-up").addEventListener("submit", (event) => {
    event.preventDefault();
    saveWrapUp();
  });
  $("logout").addEventListener("click", () => showLogin(null));
  for (const button of document.querySelectorAll("#escalate button")) {
    button.addEventListener("click", () => escalate(button.dataset.mode));
  }
  $("escalate-complete").addEventListener("click", () => sendEscalation("/complete", {}));
  $("escalate-cancel").addEventListener("click", () => sendEscalation("/cancel", {}));
  $("ready-now").addEventListener("click", () => changeState("available"));
  words.apply();
  if (token() === null) showLogin(null);
  else logIn(token(), window.sessionStorage.getItem(AGENT_KEY));
  window.setInterval(tick, 500);
})();
