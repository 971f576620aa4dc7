"""Building the typed nodes of a plan from their YAML, one builder per node type."""

from __future__ import annotations

import re
from collections.abc import Callable

import yaml

from ivr.dialplan.model import (
    DTMF_KEYS,
    CallbackNode,
    CollectNode,
    ConditionNode,
    GotoNode,
    HangupNode,
    HttpLookupNode,
    MenuNode,
    MessageNode,
    Node,
    Prompt,
    PromptNode,
    Rule,
    SetNode,
    SurveyNode,
    TransferNode,
)
from ivr.dialplan.prompt_loader import PROMPT_KEYS, PlanScope, prompt_list, prompt_of
from ivr.dialplan.templates import template_fields
from ivr.dialplan.yaml_reader import Entries, YamlContext, entries_of, number_of, scalar, text_of

_RETRIES = {"timeout", "tries", "no_input", "no_match"}
NODE_KEYS: dict[str, set[str]] = {
    "prompt": {"next"},
    "menu": {"keys", "fallback", "intents", "barge_in", "confidence"} | _RETRIES,
    "collect": {
        "identify",
        "variable",
        "min_digits",
        "max_digits",
        "terminator",
        "pattern",
        "inter_digit_timeout",
        "next",
        "fallback",
    }
    | _RETRIES,
    "survey": {"next"} | _RETRIES,
    "set": {"values", "next"},
    "condition": {"when", "otherwise"},
    "http": {"url", "method", "timeout", "results", "next", "on_failure"},
    "message": {"max_seconds", "silence_seconds", "end_key", "next"},
    "goto": {"plan", "node"},
    "transfer": {"queue", "extension", "method", "announce", "whisper", "next", "fallback"},
    "callback": {
        "queue",
        "accept_key",
        "timeout",
        "confirm",
        "ask_number",
        "choose_slot",
        "booked",
        "next",
        "decline",
        "fallback",
    },
    "hangup": set(),
}
TRANSFER_METHODS = ("bridge", "refer")
DEFAULT_CALLBACK_PROMPTS = {
    "say": "All our agents are busy. Press 1 and we will call you back, keeping your place "
    "in line. Press 2 to keep waiting.",
    "confirm": "We will call you back on {callback_number:digits}. Press 1 to confirm, "
    "or 2 to give another number.",
    "ask_number": "Please key in the number to call back, then the hash key.",
    "choose_slot": "Press 1 to be called as soon as possible{slot_choices}.",
    "booked": "Thank you. We will call you back. You can hang up now.",
}
DEFAULT_ANNOUNCEMENT = (
    "You are number {position} in line. The wait is about {wait_minutes} minutes."
)
DEFAULT_MENU_TIMEOUT_SECONDS = 5.0
DEFAULT_MENU_TRIES = 3
DEFAULT_INTER_DIGIT_SECONDS = 3.0


RULE_KEYS = {"hours", "caller", "variable", "equals", "matches", "queue", "wait_above", "goto"}


class _Fields:
    """One node's entries, read with the node's name and the plan's scope at hand."""

    def __init__(
        self,
        ctx: YamlContext,
        name: str,
        node: yaml.Node,
        entries: Entries,
        scope: PlanScope,
    ):
        self.ctx, self.name, self.node, self.entries, self.scope = ctx, name, node, entries, scope
        self.calendars = scope.calendars
        prompt = prompt_of(ctx, entries, scope)
        self.prompts = (prompt,) if prompt else ()
        self.location = ctx.at(node)

    def target(self, key: str) -> str | None:
        if key not in self.entries:
            return None
        value_node = self.entries[key][1]
        destination = text_of(self.ctx, value_node, key)
        if destination:
            self.ctx.references.setdefault((self.name, destination), self.ctx.at(value_node))
        return destination

    def number(self, key: str, low: float, high: float, default: float) -> float:
        if key not in self.entries:
            return default
        value = number_of(self.ctx, self.entries[key][1], key, low, high)
        return default if value is None else value

    def text(self, key: str) -> str | None:
        return text_of(self.ctx, self.entries[key][1], key) if key in self.entries else None

    def flag(self, key: str) -> bool:
        if key not in self.entries:
            return False
        value = scalar(self.entries[key][1])
        if not isinstance(value, bool):
            self.ctx.error(self.entries[key][1], f"{key} must be true or false")
            return False
        return value

    def reference(self, value_node: yaml.Node, what: str) -> str | None:
        destination = text_of(self.ctx, value_node, what)
        if destination:
            self.ctx.references.setdefault((self.name, destination), self.ctx.at(value_node))
        return destination

    def regex(self, value_node: yaml.Node, what: str) -> re.Pattern[str] | None:
        source = text_of(self.ctx, value_node, what)
        if source is None:
            return None
        try:
            return re.compile(source)
        except re.error as exc:
            self.ctx.error(value_node, f"invalid {what} {source!r}: {exc}")
            return None

    def prompts_of(self, key: str) -> tuple[Prompt, ...]:
        if key not in self.entries:
            return ()
        return prompt_list(self.ctx, self.entries[key][1], key, self.scope)


def _menu(f: _Fields) -> MenuNode:
    keys: dict[str, str] = {}
    if "keys" not in f.entries and "intents" not in f.entries:
        f.ctx.error(f.node, f"menu {f.name!r} has no 'keys' (or 'intents')")
    elif "keys" in f.entries:
        for key, (key_node, value_node) in entries_of(
            f.ctx, f.entries["keys"][1], "keys", None
        ).items():
            if len(key) != 1 or key not in DTMF_KEYS:
                f.ctx.error(key_node, f"invalid DTMF key {key!r} (use one of 0-9, * or #, quoted)")
                continue
            destination = text_of(f.ctx, value_node, f"target of key {key!r}")
            if destination:
                keys[key] = destination
                f.ctx.references.setdefault((f.name, destination), f.ctx.at(value_node))
    return MenuNode(
        name=f.name,
        location=f.location,
        prompts=f.prompts,
        keys=keys,
        timeout_seconds=f.number("timeout", 0.5, 120, DEFAULT_MENU_TIMEOUT_SECONDS),
        tries=int(f.number("tries", 1, 20, DEFAULT_MENU_TRIES)),
        no_input=f.prompts_of("no_input"),
        no_match=f.prompts_of("no_match"),
        fallback=f.target("fallback"),
        intents=_menu_intents(f),
        barge_in=f.flag("barge_in") if "barge_in" in f.entries else None,
        confidence=f.number("confidence", 0, 1, -1) if "confidence" in f.entries else None,
    )


def _menu_intents(f: _Fields) -> dict[str, str]:
    """intent -> node; every intent must be defined in the plan's ``intents``."""
    if "intents" not in f.entries:
        return {}
    defined = f.scope.intents
    if defined is None:
        f.ctx.error(f.entries["intents"][0], "menu intents need 'speech' and 'intents' in the plan")
    intents = {}
    for intent, (key_node, value_node) in entries_of(
        f.ctx, f.entries["intents"][1], "intents", None
    ).items():
        if defined is not None and intent not in defined:
            known = ", ".join(sorted(defined)) or "none"
            f.ctx.error(key_node, f"intent {intent!r} used but not defined (defined: {known})")
            continue
        destination = f.reference(value_node, f"target of intent {intent!r}")
        if destination:
            intents[intent] = destination
    return intents


def _collect(f: _Fields) -> CollectNode:
    variable = f.text("variable")
    if "variable" not in f.entries:
        f.ctx.error(f.node, f"collect node {f.name!r} has no 'variable' to store the digits in")
    min_digits = int(f.number("min_digits", 1, 64, 1))
    max_digits = int(f.number("max_digits", 1, 64, max(min_digits, 16)))
    if min_digits > max_digits:
        f.ctx.error(
            f.entries["min_digits"][1], f"min_digits {min_digits} is above max_digits {max_digits}"
        )
    terminator = f.text("terminator")
    if terminator is not None and terminator not in ("#", "*"):
        f.ctx.error(f.entries["terminator"][1], "terminator must be '#' or '*' (quoted)")
        terminator = None
    pattern = None
    if "pattern" in f.entries:
        source = f.text("pattern") or ""
        try:
            pattern = re.compile(source)
        except re.error as exc:
            f.ctx.error(f.entries["pattern"][1], f"invalid pattern {source!r}: {exc}")
    return CollectNode(
        name=f.name,
        location=f.location,
        prompts=f.prompts,
        variable=variable or "",
        min_digits=min_digits,
        max_digits=max_digits,
        terminator=terminator,
        pattern=pattern,
        timeout_seconds=f.number("timeout", 0.5, 120, DEFAULT_MENU_TIMEOUT_SECONDS),
        inter_digit_seconds=f.number("inter_digit_timeout", 0.5, 30, DEFAULT_INTER_DIGIT_SECONDS),
        tries=int(f.number("tries", 1, 20, DEFAULT_MENU_TRIES)),
        no_input=f.prompts_of("no_input"),
        no_match=f.prompts_of("no_match"),
        next=f.target("next"),
        fallback=f.target("fallback"),
        identify=f.flag("identify"),
    )


def _survey(f: _Fields) -> SurveyNode:
    return SurveyNode(
        name=f.name,
        location=f.location,
        prompts=f.prompts,
        timeout_seconds=f.number("timeout", 0.5, 120, DEFAULT_MENU_TIMEOUT_SECONDS),
        tries=int(f.number("tries", 1, 20, 2)),
        no_input=f.prompts_of("no_input"),
        no_match=f.prompts_of("no_match"),
        next=f.target("next"),
    )


def _set(f: _Fields) -> SetNode:
    values: dict[str, str] = {}
    if "values" not in f.entries:
        f.ctx.error(f.node, f"set node {f.name!r} has no 'values'")
    else:
        for key, (_, value_node) in entries_of(
            f.ctx, f.entries["values"][1], "values", None
        ).items():
            value = scalar(value_node)
            if isinstance(value, dict | list) or not isinstance(value_node, yaml.ScalarNode):
                f.ctx.error(value_node, f"value of {key!r} must be text or a number")
                continue
            values[key] = "" if value is None else str(value)
    return SetNode(f.name, f.location, f.prompts, values, f.target("next"))


def _rule(f: _Fields, node: yaml.Node) -> Rule | None:
    entries = entries_of(f.ctx, node, "rule", RULE_KEYS)
    if not entries:
        return None
    if "goto" not in entries:
        f.ctx.error(node, "rule has no 'goto'")
        return None
    target = f.reference(entries["goto"][1], "goto")
    hours = None
    if "hours" in entries:
        calendar = text_of(f.ctx, entries["hours"][1], "hours")
        hours = f.calendars.get(calendar or "")
        if hours is None and calendar:
            known = ", ".join(sorted(f.calendars)) or "none defined"
            f.ctx.error(entries["hours"][1], f"unknown hours {calendar!r} (known: {known})")
    caller = f.regex(entries["caller"][1], "caller pattern") if "caller" in entries else None
    variable = text_of(f.ctx, entries["variable"][1], "variable") if "variable" in entries else None
    equals = text_of(f.ctx, entries["equals"][1], "equals") if "equals" in entries else None
    matches = f.regex(entries["matches"][1], "pattern") if "matches" in entries else None
    if (equals is not None or matches is not None) and variable is None:
        f.ctx.error(node, "'equals' and 'matches' need a 'variable'")
    queue = text_of(f.ctx, entries["queue"][1], "queue") if "queue" in entries else None
    wait_above = None
    if "wait_above" in entries:
        wait_above = number_of(f.ctx, entries["wait_above"][1], "wait_above", 0, 86400)
    if (queue is None) != ("wait_above" not in entries):
        f.ctx.error(node, "'queue' and 'wait_above' go together (seconds of estimated wait)")
    if not ({"hours", "caller", "variable", "wait_above"} & set(entries)):
        f.ctx.error(node, "rule tests nothing: give hours, caller, variable or queue/wait_above")
    if target is None:
        return None
    return Rule(target, hours, caller, variable, equals, matches, queue, wait_above)


def _condition(f: _Fields) -> ConditionNode:
    rules: list[Rule] = []
    if "when" not in f.entries:
        f.ctx.error(f.node, f"condition node {f.name!r} has no 'when' rules")
    else:
        when = f.entries["when"][1]
        if not isinstance(when, yaml.SequenceNode):
            f.ctx.error(when, "'when' must be a list of rules")
        else:
            rules = [r for r in (_rule(f, item) for item in when.value) if r is not None]
    return ConditionNode(f.name, f.location, f.prompts, tuple(rules), f.target("otherwise"))


def _http(f: _Fields) -> HttpLookupNode:
    url = f.text("url") or ""
    if "url" not in f.entries:
        f.ctx.error(f.node, f"http node {f.name!r} has no 'url'")
    elif not url.startswith(("http://", "https://", "{")):
        f.ctx.error(
            f.entries["url"][1],
            "url must start with http://, https:// or a base like {service_api}",
        )
    else:
        try:
            template_fields(url)
        except ValueError as exc:
            f.ctx.error(f.entries["url"][1], str(exc))
    method = (f.text("method") or "GET").upper()
    if method not in ("GET", "POST"):
        f.ctx.error(f.entries["method"][1], "method must be GET or POST")
    results: dict[str, str] = {}
    if "results" in f.entries:
        for variable, (_, path_node) in entries_of(
            f.ctx, f.entries["results"][1], "results", None
        ).items():
            path = text_of(f.ctx, path_node, f"path of {variable!r}")
            if path:
                results[variable] = path
    return HttpLookupNode(
        name=f.name,
        location=f.location,
        prompts=f.prompts,
        url=url,
        method=method,
        timeout_seconds=f.number("timeout", 0.1, 30, 3.0),
        results=results,
        next=f.target("next"),
        on_failure=f.target("on_failure"),
    )


def _message(f: _Fields) -> MessageNode:
    end_key = f.text("end_key") or "#"
    if len(end_key) != 1 or end_key not in DTMF_KEYS:
        f.ctx.error(f.entries["end_key"][1], "end_key must be one DTMF key, quoted")
    return MessageNode(
        name=f.name,
        location=f.location,
        prompts=f.prompts,
        max_seconds=f.number("max_seconds", 5, 600, 120),
        silence_seconds=f.number("silence_seconds", 1, 30, 5),
        end_key=end_key,
        next=f.target("next"),
    )


def _goto(f: _Fields) -> GotoNode:
    if "plan" not in f.entries:
        f.ctx.error(f.node, f"goto node {f.name!r} has no 'plan'")
    return GotoNode(f.name, f.location, f.prompts, f.text("plan") or "", f.text("node"))


def _transfer(f: _Fields) -> TransferNode:
    queue, extension = f.text("queue"), f.text("extension")
    if (queue is None) == (extension is None):
        f.ctx.error(f.node, f"transfer node {f.name!r} needs either 'queue' or 'extension'")
    if extension is not None and not re.fullmatch(r"[0-9*#+]{1,32}", extension):
        f.ctx.error(f.entries["extension"][1], f"extension {extension!r} is not a number")
    method = f.text("method") or "bridge"
    if method not in TRANSFER_METHODS:
        f.ctx.error(f.entries["method"][1], "method must be bridge or refer")
    elif "method" in f.entries and queue is not None:
        f.ctx.error(f.entries["method"][1], "a queue's transfer method is set in ivr.yaml")
    announce = f.prompts_of("announce")
    if not announce and queue is not None:
        announce = (
            Prompt(f.location, text=DEFAULT_ANNOUNCEMENT, voice=f.scope.voice, has_values=True),
        )
    whisper = f.prompts_of("whisper")
    return TransferNode(
        name=f.name,
        location=f.location,
        prompts=f.prompts,
        queue=queue,
        extension=extension,
        method=method,
        announce=announce,
        whisper=whisper[0] if whisper else None,
        next=f.target("next"),
        fallback=f.target("fallback"),
    )


def _callback(f: _Fields) -> CallbackNode:
    queue = f.text("queue")
    if queue is None:
        f.ctx.error(f.node, f"callback node {f.name!r} has no 'queue'")
    accept_key = f.text("accept_key") or "1"
    if len(accept_key) != 1 or accept_key not in DTMF_KEYS:
        f.ctx.error(f.entries["accept_key"][1], "accept_key must be one DTMF key, quoted")

    def prompts(key: str) -> tuple[Prompt, ...]:
        given = f.prompts if key == "say" else f.prompts_of(key)
        if given:
            return given
        text = DEFAULT_CALLBACK_PROMPTS[key]
        return (Prompt(f.location, text=text, voice=f.scope.default_voice, has_values="{" in text),)

    return CallbackNode(
        name=f.name,
        location=f.location,
        prompts=prompts("say"),
        queue=queue or "",
        accept_key=accept_key,
        timeout_seconds=f.number("timeout", 0.5, 120, DEFAULT_MENU_TIMEOUT_SECONDS),
        confirm=prompts("confirm"),
        ask_number=prompts("ask_number"),
        choose_slot=prompts("choose_slot"),
        booked=prompts("booked"),
        next=f.target("next"),
        decline=f.target("decline"),
        fallback=f.target("fallback"),
    )


_BUILDERS: dict[str, Callable[[_Fields], Node]] = {
    "prompt": lambda f: PromptNode(f.name, f.location, f.prompts, f.target("next")),
    "menu": _menu,
    "collect": _collect,
    "survey": _survey,
    "set": _set,
    "condition": _condition,
    "http": _http,
    "message": _message,
    "goto": _goto,
    "transfer": _transfer,
    "callback": _callback,
    "hangup": lambda f: HangupNode(f.name, f.location, f.prompts),
}


def build_node(
    ctx: YamlContext,
    name: str,
    node: yaml.Node,
    scope: PlanScope,
) -> Node | None:
    if not isinstance(node, yaml.MappingNode):
        ctx.error(node, f"node {name!r} must be a mapping")
        return None
    type_entry = next((v for k, v in node.value if getattr(k, "value", None) == "type"), None)
    if type_entry is None:
        ctx.error(node, f"node {name!r} has no 'type' (one of: {', '.join(NODE_KEYS)})")
        return None
    node_type = scalar(type_entry)
    if node_type not in NODE_KEYS:
        ctx.error(type_entry, f"unknown node type {node_type!r} (known: {', '.join(NODE_KEYS)})")
        return None
    allowed = {"type"} | PROMPT_KEYS | NODE_KEYS[node_type]
    entries = entries_of(ctx, node, f"{node_type} node {name!r}", allowed)
    return _BUILDERS[node_type](_Fields(ctx, name, node, entries, scope))


def targets_of(node: Node) -> list[str]:
    if isinstance(node, MenuNode):
        spoken = list(node.intents.values())
        return list(node.keys.values()) + spoken + ([node.fallback] if node.fallback else [])
    if isinstance(node, CollectNode):
        return [t for t in (node.next, node.fallback) if t]
    if isinstance(node, HttpLookupNode):
        return [t for t in (node.next, node.on_failure) if t]
    if isinstance(node, TransferNode):
        return [t for t in (node.next, node.fallback) if t]
    if isinstance(node, CallbackNode):
        return [t for t in (node.next, node.decline, node.fallback) if t]
    if isinstance(node, PromptNode | SurveyNode | SetNode | MessageNode):
        return [node.next] if node.next else []
    if isinstance(node, ConditionNode):
        return [r.target for r in node.rules] + ([node.otherwise] if node.otherwise else [])
    return []
