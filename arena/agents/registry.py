"""The agent registry: names for agent classes, and agents built from text specs.

A spec is what a user types on the command line or in a config file:

* ``sma_cross`` — a registered agent with its default parameters;
* ``sma_cross:fast=5,slow=30,short=true`` — with parameters;
* ``llm:model=gpt-4o-mini,template="text, with commas"`` — a value in double
  quotes is a JSON string (commas, ``=`` and ``\\n`` allowed);
* ``mypkg.agents:MyAgent`` or ``mypkg.agents:MyAgent:lookback=50`` — any
  :class:`~arena.agents.base.Agent` subclass by import path (recognised by a
  ``.`` before the first ``:``).

Values are parsed to each parameter's type; every mistake raises
:class:`AgentSpecError` with a one-line message naming the culprit.
"""

from __future__ import annotations

import importlib
import json
import math

import pandas as pd
import param

from arena.agents.base import Agent

__all__ = ["AgentSpecError", "available", "create_agent", "describe", "register"]

_REGISTRY: dict[str, type[Agent]] = {}
_TRUE = {"true", "1", "yes", "y", "on"}
_FALSE = {"false", "0", "no", "n", "off"}
_JSON = json.JSONDecoder()


class AgentSpecError(ValueError):
    """An agent spec (name, import path or parameter) that cannot be turned into an agent."""


def register(name: str):
    """Class decorator: register an Agent subclass under ``name``.

    Sets ``cls.registered_name``. Registering a different class under a taken
    name is an error (re-registering the same class, e.g. on reload, is not).
    """
    if not isinstance(name, str) or not name or not name.replace("_", "").isalnum():
        raise ValueError(f"agent name must be letters, digits and '_', got {name!r}")

    def deco(cls):
        if not (isinstance(cls, type) and issubclass(cls, Agent)):
            raise TypeError(f"@register({name!r}) needs an Agent subclass, got {cls!r}")
        old = _REGISTRY.get(name)
        if old is not None and _qualname(old) != _qualname(cls):
            raise ValueError(f"agent name {name!r} is already taken by {_qualname(old)}")
        cls.registered_name = name
        _REGISTRY[name] = cls
        return cls

    return deco


def available() -> dict[str, type[Agent]]:
    """Registered agent classes by name, sorted by name."""
    return dict(sorted(_REGISTRY.items()))


def describe() -> pd.DataFrame:
    """One row per registered agent: name, description and parameters with defaults."""
    rows = [
        {
            "name": name,
            "description": cls.description,
            "parameters": ", ".join(f"{k}={_short(p.default)}" for k, p in _params(cls).items()),
        }
        for name, cls in available().items()
    ]
    return pd.DataFrame(rows, columns=["name", "description", "parameters"])


def _short(value, width: int = 40) -> str:
    """repr of a default, long text cut to ``width`` characters with an ellipsis."""
    text = repr(value)
    return text if len(text) <= width else text[: width - 2] + "…" + text[0]


def create_agent(spec, **overrides) -> Agent:
    """Build an agent from a spec string, an Agent subclass or an Agent instance.

    ``overrides`` are parameter values that win over those in the spec (strings
    are parsed like spec values). An instance is returned itself, with the
    overrides set on it.
    """
    if isinstance(spec, Agent):
        _apply(spec, type(spec), _label(spec), overrides, construct=False)
        return spec
    if isinstance(spec, type):
        if not issubclass(spec, Agent):
            raise AgentSpecError(f"{_qualname(spec)} is not an Agent subclass")
        return _apply(None, spec, _label(spec), overrides)
    if not isinstance(spec, str):
        raise AgentSpecError(
            f"agent spec must be a name, 'module:Class' or an Agent, got {type(spec).__name__}"
        )
    cls, label, text = _resolve(spec.strip())
    values = _parse_pairs(text, label, spec)
    values.update(overrides)
    return _apply(None, cls, label, values)


# -- internals -----------------------------------------------------------------


def _qualname(cls) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _label(obj) -> str:
    cls = obj if isinstance(obj, type) else type(obj)
    return cls.__dict__.get("registered_name") or cls.__name__


def _params(cls) -> dict[str, param.Parameter]:
    """The agent's parameters (not ``name``), its own before inherited ones."""
    items = [(k, p) for k, p in cls.param.objects("existing").items() if k != "name"]
    items.sort(key=lambda kp: -len(kp[1].owner.__mro__))
    return dict(items)


def _resolve(spec: str) -> tuple[type[Agent], str, str]:
    """Split a spec into (agent class, label for messages, parameter text)."""
    if not spec:
        raise AgentSpecError(f"empty agent spec; known agents: {', '.join(available())}")
    head, _, rest = spec.partition(":")
    head = head.strip()
    if "." not in head:
        cls = _REGISTRY.get(head)
        if cls is None:
            raise AgentSpecError(
                f"unknown agent {head!r}; known agents: {', '.join(available())} "
                "(or give an import path 'module:Class')"
            )
        return cls, head, rest
    attr, _, text = rest.partition(":")
    module, attr = head, attr.strip()
    if not attr:  # 'pkg.mod.Class' without a colon
        module, _, attr = head.rpartition(".")
    try:
        mod = importlib.import_module(module)
    except Exception as e:
        raise AgentSpecError(
            f"cannot import module {module!r} for agent spec {spec!r}: {type(e).__name__}: {e}"
        ) from e
    try:
        obj = getattr(mod, attr)
    except AttributeError:
        raise AgentSpecError(f"module {module!r} has no attribute {attr!r} (agent spec {spec!r})") from None
    if not (isinstance(obj, type) and issubclass(obj, Agent)):
        kind = obj.__name__ if isinstance(obj, type) else type(obj).__name__
        raise AgentSpecError(f"{module}:{attr} is not an Agent subclass (it is {kind})")
    return obj, f"{module}:{attr}", text


def _parse_pairs(text: str, label: str, spec: str) -> dict[str, str]:
    """``k=v,k2=v2`` → {k: v}. A value in double quotes is a JSON string, so it may
    hold commas, ``=`` or newlines (``template="a, b\\nc"``)."""
    values: dict[str, str] = {}
    pos, n = 0, len(text)
    if not text.strip():
        return values
    while pos <= n:
        end = text.find(",", pos)
        eq = text.find("=", pos)
        if eq < 0 or (0 <= end < eq):
            item = text[pos:end if end >= 0 else n]
            raise AgentSpecError(
                f"{label}: expected 'param=value' in agent spec {spec!r}, got {item.strip()!r}"
            )
        key = text[pos:eq].strip()
        rest = eq + 1
        while rest < n and text[rest] == " ":
            rest += 1
        if rest < n and text[rest] == '"':
            try:
                value, stop = _JSON.raw_decode(text, rest)
            except json.JSONDecodeError as exc:
                raise AgentSpecError(f"{label}: bad quoted value for {key!r} in agent spec "
                                     f"{spec!r}: {exc.msg}") from None
            tail = text[stop:].lstrip(" ")
            if tail and not tail.startswith(","):
                raise AgentSpecError(f"{label}: expected ',' after the quoted value of "
                                     f"{key!r} in agent spec {spec!r}")
            end = n - len(tail) if tail else -1
        else:
            end = text.find(",", rest)
            value = text[rest:end if end >= 0 else n].strip()
        if not key:
            raise AgentSpecError(
                f"{label}: expected 'param=value' in agent spec {spec!r}, got {text[pos:].strip()!r}"
            )
        if key in values:
            raise AgentSpecError(f"{label}: parameter {key!r} given twice in agent spec {spec!r}")
        values[key] = value
        if end < 0:
            break
        pos = end + 1
    return values


def typed_params(cls: type[Agent], values: dict, validate: bool = False,
                 label: str | None = None) -> dict:
    """``values`` parsed (text) and checked against ``cls``'s parameters (names, bounds;
    with ``validate`` also param's own type checks), without building an agent."""
    label = label or _label(cls)
    params = _params(cls)
    typed = {}
    for key, raw in values.items():
        if key not in params and key != "name":
            known = ", ".join(params) or "none"
            raise AgentSpecError(f"{label}: unknown parameter {key!r}; parameters: {known}")
        p = cls.param[key]
        value = _convert(label, key, p, raw) if isinstance(raw, str) else raw
        _check_bounds(label, key, p, value)
        if validate:
            try:
                p._validate(value)
            except (ValueError, TypeError) as e:
                raise AgentSpecError(f"{label}: bad value for {key}: {' '.join(str(e).split())}"
                                     ) from None
        typed[key] = value
    return typed


def _apply(agent: Agent | None, cls: type[Agent], label: str, values: dict, construct=True):
    """Parse and check ``values`` against ``cls``'s parameters; build or update the agent."""
    typed = typed_params(cls, values, label=label)
    try:
        if construct:
            return cls(**typed)
        agent.param.update(**typed)
        check = getattr(agent, "_check", None)  # rule agents check combinations
        if check is not None:
            check()
        return agent
    except (ValueError, TypeError) as e:
        msg = " ".join(str(e).split())
        raise AgentSpecError(msg if msg.startswith(f"{label}:") else f"{label}: {msg}") from e


def _check_bounds(label: str, key: str, p: param.Parameter, value) -> None:
    if not isinstance(p, param.Number) or isinstance(p, param.Boolean) or p.bounds is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        return  # wrong types are reported by param itself
    lo, hi = p.bounds
    lo_inc, hi_inc = p.inclusive_bounds
    below = lo is not None and (value < lo or (value == lo and not lo_inc))
    above = hi is not None and (value > hi or (value == hi and not hi_inc))
    if below or above:
        raise AgentSpecError(
            f"{label}: bad value for {key}: {value!r} is out of bounds; "
            f"expected {_kind(p)} in {_fmt_bounds(p)}"
        )


def _kind(p: param.Parameter) -> str:
    if isinstance(p, param.Boolean):
        return "a boolean"
    if isinstance(p, param.Integer):
        return "an integer"
    if isinstance(p, param.Number):
        return "a number"
    if isinstance(p, param.Selector):
        return "one of " + ", ".join(map(str, p.objects))
    return "text"


def _fmt_bounds(p: param.Number) -> str:
    lo, hi = p.bounds if p.bounds is not None else (None, None)
    lo_inc, hi_inc = p.inclusive_bounds
    left = "(-inf" if lo is None else ("[" if lo_inc else "(") + f"{lo:g}"
    right = "inf)" if hi is None else f"{hi:g}" + ("]" if hi_inc else ")")
    return f"{left}, {right}"


def _convert(label: str, key: str, p: param.Parameter, raw: str):
    """Parse one spec value to the type of parameter ``p``."""
    text = raw.strip()
    try:
        if isinstance(p, param.Boolean):
            low = text.lower()
            if low in _TRUE:
                return True
            if low in _FALSE:
                return False
            raise ValueError
        if isinstance(p, param.Integer):
            return int(text)
        if isinstance(p, param.Number):
            value = float(text)
            if not math.isfinite(value):
                raise ValueError
            return value
        if isinstance(p, param.Selector):
            by_text = {str(o): o for o in p.objects}
            if text not in by_text:
                raise ValueError
            return by_text[text]
    except ValueError:
        bounds = f" in {_fmt_bounds(p)}" if isinstance(p, param.Number) else ""
        if isinstance(p, param.Boolean):
            bounds = " (true/false/1/0/yes/no)"
        raise AgentSpecError(
            f"{label}: bad value for {key}: {raw!r} is not {_kind(p)}{bounds}"
        ) from None
    return text
