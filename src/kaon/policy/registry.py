"""Policy names -> classes, and parsing of `name:key=value,key=value` specs from the command line.

Every module in `kaon.policy` registers its classes with `@register`; `available()` imports them
all, so adding a policy is adding a module. Parameters are the class's keyword arguments, converted
by their annotations; a list is written with `;` (`tiresias:thresholds=3600;36000`).
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import typing
from dataclasses import fields
from enum import Enum

from kaon.policy.base import Policy, PolicyParamError

_REGISTRY: dict[str, type[Policy]] = {}


def register(cls: type[Policy]) -> type[Policy]:
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ValueError(f"policy name {cls.name!r} registered twice")
    _REGISTRY[cls.name] = cls
    return cls


def _load_all() -> None:
    import kaon.policy as pkg

    for mod in pkgutil.iter_modules(pkg.__path__):
        if mod.name not in {"base", "registry"}:
            importlib.import_module(f"kaon.policy.{mod.name}")


def available() -> dict[str, type[Policy]]:
    _load_all()
    return dict(sorted(_REGISTRY.items()))


def _convert(raw: str, annotation: object, where: str) -> object:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Union or str(origin) == "<class 'types.UnionType'>":
        inner = [a for a in args if a is not type(None)]
        if raw.lower() in {"none", ""}:
            return None
        return _convert(raw, inner[0], where)
    if origin is tuple:
        item = args[0] if args else str
        return tuple(_convert(p, item, where) for p in raw.split(";") if p != "")
    try:
        if annotation is bool:
            if raw.lower() in {"1", "true", "yes", "on"}:
                return True
            if raw.lower() in {"0", "false", "no", "off"}:
                return False
            raise ValueError(raw)
        if isinstance(annotation, type) and issubclass(annotation, Enum):
            return annotation(raw)
        if annotation in (int, float, str):
            return annotation(raw)  # type: ignore[operator]
    except ValueError:
        raise PolicyParamError(f"{where}: cannot read {raw!r} as {getattr(annotation, '__name__', annotation)}") from None
    raise PolicyParamError(f"{where}: unsupported parameter type {annotation}")


def parameters(cls: type[Policy]) -> dict[str, inspect.Parameter]:
    sig = inspect.signature(cls.__init__)
    return {k: v for k, v in sig.parameters.items() if k != "self" and v.kind is v.KEYWORD_ONLY or k == "placement"}


def make_policy(spec: str) -> Policy:
    """Build a policy from `name` or `name:key=value,...` (`name:value,...` for a class with a
    `positional` parameter)."""
    name, _, params = spec.partition(":")
    policies = available()
    if name not in policies:
        raise PolicyParamError(f"unknown policy {name!r}; known: {', '.join(policies)}")
    cls = policies[name]
    hints = typing.get_type_hints(cls.__init__)
    allowed = parameters(cls)
    kwargs: dict[str, object] = {}
    for i, part in enumerate(filter(None, params.split(","))):
        key, eq, raw = part.partition("=")
        key = key.strip().replace("-", "_")
        if not eq and i == 0 and cls.positional is not None:
            key, raw = cls.positional, part
        elif not eq:
            hint = f" (only the first may omit its key, {cls.positional})" if cls.positional else ""
            raise PolicyParamError(f"policy {name}: parameter {part!r} must be key=value{hint}")
        if key not in allowed:
            raise PolicyParamError(f"policy {name}: unknown parameter {key!r}; known: {', '.join(allowed) or 'none'}")
        kwargs[key] = _convert(raw.strip(), hints.get(key, str), f"policy {name}, parameter {key}")
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as e:
        raise PolicyParamError(f"policy {name}: {e}") from None


def params_spec(name: str, params: object, model: str | None = None) -> str:
    """The spec string `name:model=DIR,field=value,...` of a parameter dataclass (what `kaon train
    --algo es` learns), values to 6 significant digits, which the learned values are rounded to;
    `make_policy` reads it back into the same policy."""
    args = [f"{f.name}={getattr(params, f.name):.6g}" for f in fields(params)]  # type: ignore[arg-type]
    if model:
        args.insert(0, f"model={model}")
    return f"{name}:" + ",".join(args)
