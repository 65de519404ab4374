"""The search space file: which `trainer fit` options a sweep searches over, and which it
fixes for every trial. Read and checked completely before anything runs; every error names
the file and the entry.

    # space.yaml (or the same as JSON)
    fixed:                      # optional: trainer fit options every trial shares
      model: tiny
      epochs: 6
    search:                     # trainer fit option -> distribution
      lr: {type: log_uniform, low: 1.0e-4, high: 3.0e-3}
      warmup_ratio: {type: uniform, low: 0.0, high: 0.3}
      epochs: {type: int, low: 2, high: 8, step: 2}
      batch_size: {type: categorical, choices: [8, 16, 32]}
      snapshot: {type: categorical, choices: [v3, v4]}   # snapshot-level choices (O:entity ratio...)

Types: `log_uniform` and `uniform` (float options; `uniform` takes a `step`), `int` (integer
options; `step`, or `log: true`), `categorical` (`choices`, any option). YAML reads `1e-4`
without a dot as text: for float options such text is read as the number it spells.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trainer.errors import ConfigError
from trainer.sweep.options import FIXED_ONLY, SWEPT, SpaceError, option
from trainer.training.options import FitOption, apply
from trainer.training.request import FitRequest

DISTRIBUTIONS = ("log_uniform", "uniform", "int", "categorical")
ENTRY_KEYS = {
    "log_uniform": {"low", "high"},
    "uniform": {"low", "high", "step"},
    "int": {"low", "high", "step", "log"},
    "categorical": {"choices"},
}
MAX_CORNERS = 4096
"""Up to this many combinations of bounds and choices are each built into a request (so two
options that only clash together, such as max_seq_length and doc_stride, fail up front)."""


@dataclass(frozen=True)
class Param:
    """One searched option and its distribution."""

    name: str
    kind: str
    low: float | int | None = None
    high: float | int | None = None
    step: float | int | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()

    @property
    def bounds(self) -> tuple[float | int, float | int]:
        """`low` and `high` of a numeric parameter (parse_space refuses one without them)."""
        assert self.low is not None and self.high is not None, f"{self.name} is {self.kind}: it has no bounds"
        return self.low, self.high

    @property
    def is_log(self) -> bool:
        return self.kind == "log_uniform" or self.log

    @property
    def corners(self) -> tuple[Any, ...]:
        """The values that bound what a trial can get: both ends of a range, every choice."""
        return self.choices if self.kind == "categorical" else (self.low, self.high)

    def to_dict(self) -> dict[str, Any]:
        if self.kind == "categorical":
            return {"type": self.kind, "choices": list(self.choices)}
        entry = {"type": self.kind, "low": self.low, "high": self.high}
        entry.update({k: v for k, v in (("step", self.step), ("log", self.log or None)) if v is not None})
        return entry

    def distribution(self) -> Any:
        from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

        if self.kind == "categorical":
            return CategoricalDistribution(list(self.choices))
        low, high = self.bounds
        if self.kind == "int":
            return IntDistribution(int(low), int(high), log=self.log, step=int(self.step or 1))
        return FloatDistribution(float(low), float(high), log=self.is_log, step=self.step)

    def contains(self, value: Any) -> bool:
        if self.kind == "categorical":
            return any(value == c and type(value) is type(c) for c in self.choices)
        low, high = self.bounds
        return isinstance(value, int | float) and not isinstance(value, bool) and low <= value <= high


@dataclass(frozen=True)
class SearchSpace:
    params: tuple[Param, ...]
    fixed: Mapping[str, Any] = field(default_factory=dict)
    source: str = "<space>"

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.params]

    def param(self, name: str) -> Param:
        return next(p for p in self.params if p.name == name)

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "fixed": dict(self.fixed), "search": {p.name: p.to_dict() for p in self.params}}

    @classmethod
    def from_dict(cls, recorded: Mapping[str, Any]) -> SearchSpace:
        return parse_space(
            {"fixed": recorded.get("fixed") or {}, "search": recorded["search"]},
            str(recorded.get("source", "<recorded>")),
        )

    def distributions(self) -> dict[str, Any]:
        return {p.name: p.distribution() for p in self.params}

    def suggest(self, trial: Any) -> dict[str, Any]:
        """This optuna trial's values (an enqueued trial gets the values it was given)."""
        values = {}
        for p in self.params:
            if p.kind == "categorical":
                values[p.name] = trial.suggest_categorical(p.name, list(p.choices))
            elif p.kind == "int":
                low, high = p.bounds
                values[p.name] = trial.suggest_int(p.name, int(low), int(high), step=int(p.step or 1), log=p.log)
            else:
                low, high = p.bounds
                values[p.name] = trial.suggest_float(p.name, float(low), float(high), step=p.step, log=p.is_log)
        return values

    def values_of(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """The searched options' values in a recorded request (`FitRequest.to_dict()`)."""
        return {p.name: SWEPT[p.name].read(request) for p in self.params}

    def with_fixed(self, values: Mapping[str, Any]) -> SearchSpace:
        """The space with these options fixed too (`--set`; they win over the file's `fixed:`)."""
        clash = sorted(set(values) & set(self.names))
        if clash:
            raise SpaceError(f"--set {clash[0]}: {clash[0]} is searched in {self.source} (search.{clash[0]}): keep one")
        if "snapshot" in values:
            raise SpaceError("--set snapshot: give the snapshot as --snapshot")
        return SearchSpace(self.params, {**self.fixed, **values}, self.source)

    def with_snapshots(self, snapshots: list[str]) -> SearchSpace:
        """The space with a categorical over these snapshot ids added (`--snapshot v1,v2`)."""
        if "snapshot" in self.names:
            raise SpaceError(
                f"{self.source}: search.snapshot is set, and --snapshot lists several snapshots: choose one place"
            )
        added = parse_space(
            {"search": {"snapshot": {"type": "categorical", "choices": snapshots}}}, "--snapshot"
        ).params
        return SearchSpace(self.params + added, self.fixed, self.source)

    def check(self, base: FitRequest) -> None:
        """Every bound and choice, and (up to MAX_CORNERS) every combination of them, builds a
        valid request: the config dataclasses' own checks apply before anything runs."""
        combos = math.prod(len(p.corners) for p in self.params)
        for p in self.params:
            for value in p.corners:
                _build(base, {p.name: value}, f"{self.source}: search.{p.name}: {value!r}")
        if combos <= MAX_CORNERS:
            for values in itertools.product(*(p.corners for p in self.params)):
                chosen = dict(zip(self.names, values, strict=True))
                _build(base, chosen, f"{self.source}: search: the combination {chosen}")


def _build(base: FitRequest, values: Mapping[str, Any], where: str) -> FitRequest:
    try:
        return apply(base, values)
    except ConfigError as exc:
        raise SpaceError(f"{where}: {exc}") from exc


def load_space(path: Path | str) -> SearchSpace:
    """Read a YAML or JSON space file (by its suffix; YAML, a superset of JSON, otherwise)."""
    path = Path(path)
    if not path.is_file():
        raise SpaceError(f"--space {path}: no such file")
    text, as_json = path.read_text(encoding="utf-8"), path.suffix.lower() == ".json"
    try:
        data = json.loads(text) if as_json else _yaml(text)
    except ValueError as exc:  # both name the line and column
        raise SpaceError(f"{path}: not valid {'JSON' if as_json else 'YAML'}: {exc}".replace("\n", " ")) from exc
    return parse_space(data, str(path))


def _yaml(text: str) -> Any:
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(str(exc)) from exc


def parse_assignment(text: str) -> tuple[str, Any]:
    """`--set OPTION=VALUE`: the option and its value, typed as the option is."""
    name, sep, raw = text.partition("=")
    where = f"--set {text}"
    if not sep or not name.strip():
        raise SpaceError(f"{where}: expected OPTION=VALUE (e.g. --set epochs=4)")
    spec = option(name, where)
    value: Any = raw.strip()
    if value.lower() in ("null", "none") and spec.nullable:
        value = None
    elif spec.kind is bool:
        value = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}.get(
            value.lower(), value
        )
    elif spec.kind is int:
        value = int(value) if value.lstrip("-").isdigit() else value
    return spec.name, _value(spec, value, where)


def parse_space(data: Any, source: str) -> SearchSpace:
    if not isinstance(data, Mapping):
        raise SpaceError(
            f"{source}: expected a mapping with `search:` (and optionally `fixed:`), got {type(data).__name__}"
        )
    unknown = set(data) - {"search", "fixed"}
    if unknown:
        raise SpaceError(
            f"{source}: unknown top-level key(s) {', '.join(map(str, sorted(unknown)))}: "
            "the file has `search:` (option -> distribution) and optionally `fixed:` (option -> value)"
        )
    search, fixed = data.get("search"), data.get("fixed") or {}
    if not isinstance(search, Mapping) or not search:
        raise SpaceError(f"{source}: `search:` must map at least one `trainer fit` option to a distribution")
    if not isinstance(fixed, Mapping):
        raise SpaceError(f"{source}: `fixed:` must map `trainer fit` options to values")
    params, names = [], set()
    for name, entry in search.items():
        param = _param(option(str(name), f"{source}: search.{name}"), entry, f"{source}: search.{name}")
        if param.name in names:
            raise SpaceError(f"{source}: search.{name}: {param.name} appears twice")
        names.add(param.name)
        params.append(param)
    values = {}
    for name, value in fixed.items():
        where = f"{source}: fixed.{name}"
        spec = option(str(name), where)
        if spec.name == "snapshot":
            raise SpaceError(f"{where}: give the snapshot as --snapshot (a comma-separated list sweeps over snapshots)")
        if spec.name in names:
            raise SpaceError(f"{where}: {spec.name} is also searched (search.{spec.name}): keep one")
        values[spec.name] = _value(spec, value, where)
    return SearchSpace(tuple(params), values, source)


def _param(spec: FitOption, entry: Any, where: str) -> Param:
    if not isinstance(entry, Mapping) or "type" not in entry:
        raise SpaceError(f"{where}: expected a mapping with `type` ({', '.join(DISTRIBUTIONS)}), got {entry!r}")
    kind = entry["type"]
    if kind not in DISTRIBUTIONS:
        raise SpaceError(f"{where}: unknown type {kind!r} (use {', '.join(DISTRIBUTIONS)})")
    extra = set(entry) - {"type"} - ENTRY_KEYS[kind]
    if extra:
        raise SpaceError(
            f"{where}: {kind} takes {', '.join(sorted(ENTRY_KEYS[kind]))}, not {', '.join(map(str, sorted(extra)))}"
        )
    if spec.name in FIXED_ONLY:
        raise SpaceError(f"{where}: {spec.name} cannot be searched ({FIXED_ONLY[spec.name]}); set it under fixed:")
    if kind == "categorical":
        return _categorical(spec, entry.get("choices"), where)
    if spec.kind is str or spec.kind is bool:
        raise SpaceError(f"{where}: {spec.name} takes {spec.kind.__name__} values: use type categorical with choices")
    if kind == "int" and spec.kind is not int:
        raise SpaceError(f"{where}: {spec.name} takes floats: use uniform or log_uniform, not int")
    if kind != "int" and spec.kind is int:
        raise SpaceError(
            f"{where}: {spec.name} takes integers: use int (with log: true for a log scale) or categorical"
        )
    for key in ("low", "high"):
        if key not in entry:
            raise SpaceError(f"{where}: {kind} needs low and high")
    low, high = (_number(spec, entry[k], f"{where}: {k}") for k in ("low", "high"))
    step = _number(spec, entry["step"], f"{where}: step") if entry.get("step") is not None else None
    log = entry.get("log", False)
    if not isinstance(log, bool):
        raise SpaceError(f"{where}: log must be true or false, got {log!r}")
    if low > high:
        raise SpaceError(f"{where}: empty range: low {low!r} is above high {high!r}")
    if low == high:
        raise SpaceError(f"{where}: empty range: low and high are both {low!r} (a single value belongs under fixed:)")
    if (kind == "log_uniform" or log) and low <= 0:
        raise SpaceError(f"{where}: a log scale needs bounds above 0, got low {low!r}")
    if step is not None:
        if step <= 0:
            raise SpaceError(f"{where}: step must be above 0, got {step!r}")
        if log:
            raise SpaceError(f"{where}: step and log cannot be combined")
        if not math.isclose((high - low) / step, round((high - low) / step), abs_tol=1e-9):
            raise SpaceError(f"{where}: high - low ({high - low!r}) must be a multiple of step {step!r}")
    return Param(spec.name, kind, low, high, step, bool(log))


def _categorical(spec: FitOption, choices: Any, where: str) -> Param:
    if not isinstance(choices, list) or not choices:
        raise SpaceError(f"{where}: categorical needs a non-empty list of choices, got {choices!r}")
    values = [_value(spec, c, f"{where}: choice {c!r}") for c in choices]
    if len({json.dumps(v) for v in values}) < len(values):
        raise SpaceError(f"{where}: a choice appears twice in {choices!r}")
    if len(values) == 1:
        raise SpaceError(f"{where}: one choice only ({values[0]!r}): a single value belongs under fixed:")
    return Param(spec.name, "categorical", choices=tuple(values))


def _number(spec: FitOption, value: Any, where: str) -> int | float:
    parsed = _value(spec, value, where)
    if parsed is None:
        raise SpaceError(f"{where}: expected a number, got null")
    return parsed


def _value(spec: FitOption, value: Any, where: str) -> Any:
    """A value of the option's type; ints stand for floats, and text spelling a float (YAML's
    `1e-4`) is read as one for float options."""
    if value is None and spec.nullable:
        return None
    if spec.kind is float:
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, int | float) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise SpaceError(f"{where}: {spec.name} must be a finite number, got {value!r}")
            return float(value)
    elif isinstance(value, spec.kind) and not (spec.kind is int and isinstance(value, bool)):
        return value
    raise SpaceError(
        f"{where}: wrong type: {spec.name} takes {spec.kind.__name__}"
        f"{' or null' if spec.nullable else ''}, got {type(value).__name__} {value!r}"
    )
