"""The shipped SAM templates (`smrotate.sam`) as data, evaluated for one set of parameter values:
the single description of what a deployment holds, which `SmrotateRotation` builds from.

`load` reads a template's CloudFormation YAML (short-form intrinsics such as `!Sub` as their long
form). `Evaluation` decides the template's conditions and evaluates its intrinsic functions for
given parameter values, which may be CDK tokens: a token is an opaque non-empty string here
(never equal to a literal), and `Fn::Sub` or `Fn::Join` concatenate it as a string, which the
CDK resolves at synthesis. Pseudo parameters, and Ref/GetAtt of resources, are whatever the
caller maps them to. Nothing here imports the CDK.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from importlib import resources
from typing import Any

import yaml  # type: ignore[import-untyped]  # (no stubs in the locks)

from smrotate.errors import ConfigurationError

NO_VALUE: Any = object()  # AWS::NoValue: dropped from the list or mapping that holds it
_FUNCTIONS_TAGGED = ("Sub", "If", "Equals", "Not", "And", "Or", "Join", "Split", "Select", "GetAZs")
_TAGS = ("Ref", "Condition", "GetAtt", *(f"Fn::{name}" for name in _FUNCTIONS_TAGGED))


class _Loader(yaml.SafeLoader):  # type: ignore[misc]
    """YAML with CloudFormation's short-form tags."""


def _construct(tag: str) -> Callable[[yaml.SafeLoader, yaml.Node], dict[str, Any]]:
    key = "Fn::GetAtt" if tag == "GetAtt" else tag

    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
        value: Any
        if isinstance(node, yaml.ScalarNode):
            value = loader.construct_scalar(node)
            if tag == "GetAtt":
                value = str(value).split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        return {key: value}

    return construct


for _tag in _TAGS:
    _Loader.add_constructor("!" + _tag.removeprefix("Fn::"), _construct(_tag))


def engines() -> tuple[str, ...]:
    """The engines smrotate ships a template for (`smrotate.sam`'s `<engine>.yaml`)."""
    sam = resources.files("smrotate.sam")
    return tuple(
        sorted(p.name.removesuffix(".yaml") for p in sam.iterdir() if p.name.endswith(".yaml"))
    )


def load(engine: str) -> dict[str, Any]:
    """The engine's SAM template as plain data; ConfigurationError for an unknown engine."""
    if engine not in engines():
        raise ConfigurationError(
            f"no template for engine {engine!r}: one of {', '.join(engines())}"
        )
    text = resources.files("smrotate.sam").joinpath(f"{engine}.yaml").read_text()
    data = yaml.load(text, Loader=_Loader)  # noqa: S506 (a SafeLoader with CloudFormation's tags)
    assert isinstance(data, dict)
    return data


class Evaluation:
    """`template` evaluated for `values` (parameter name -> value; absent ones take their
    default). ConfigurationError for a parameter the template lacks, a missing required one, a
    literal value that its AllowedValues, AllowedPattern, MinValue or MaxValue refuses, or a
    broken template rule. `opaque(value)` says a value is a token (not checked, never empty);
    `ref(logical_id)` and `get_att(logical_id, attribute)` give a resource's Ref and GetAtt.
    With `enforce_rules` false, broken rules are only reported (`broken_rules`), for tests."""

    def __init__(
        self,
        template: Mapping[str, Any],
        values: Mapping[str, Any],
        *,
        pseudo: Mapping[str, Any],
        ref: Callable[[str], Any],
        get_att: Callable[[str, str], Any],
        opaque: Callable[[Any], bool],
        enforce_rules: bool = True,
    ) -> None:
        self.template = template
        self._pseudo = {**pseudo, "AWS::NoValue": NO_VALUE}
        self._ref, self._get_att, self._opaque = ref, get_att, opaque
        specs: Mapping[str, Any] = template.get("Parameters", {})
        unknown = sorted(set(values) - set(specs))
        if unknown:
            raise ConfigurationError(f"the template has no parameter {', '.join(unknown)}")
        self.values: dict[str, Any] = {}
        for name, spec in specs.items():
            value = values.get(name, spec.get("Default"))
            if value is None:
                raise ConfigurationError(f"{name} is required")
            if spec["Type"] == "CommaDelimitedList" and isinstance(value, str):
                value = value.split(",")
            elif not isinstance(value, list):
                value = value if opaque(value) else str(value)
                self._check(name, spec, value)
            self.values[name] = value
        broken = self.broken_rules() if enforce_rules else []
        if broken:
            raise ConfigurationError(" ".join(broken))

    def check(self, name: str, value: Any) -> None:
        """ConfigurationError if parameter `name` cannot take `value` (a literal)."""
        self._check(name, self.template["Parameters"][name], value)

    def _check(self, name: str, spec: Mapping[str, Any], value: Any) -> None:
        if self._opaque(value):
            return
        allowed = spec.get("AllowedValues")
        if allowed is not None and value not in [str(v) for v in allowed]:
            raise ConfigurationError(f"{name}={value!r}: one of {', '.join(map(str, allowed))}")
        pattern = spec.get("AllowedPattern")
        if pattern is not None and not re.fullmatch(pattern, value):
            raise ConfigurationError(f"{name}={value!r} does not match {pattern}")
        for bound, beyond in (("MinValue", float.__lt__), ("MaxValue", float.__gt__)):
            if bound in spec and beyond(float(value), float(spec[bound])):
                raise ConfigurationError(f"{name}={value}: {bound} is {spec[bound]}")

    def broken_rules(self) -> list[str]:
        """The AssertDescription of every template rule these values break."""
        broken = []
        for rule in self.template.get("Rules", {}).values():
            if "RuleCondition" in rule and not self.value(rule["RuleCondition"]):
                continue
            broken += [
                a["AssertDescription"] for a in rule["Assertions"] if not self.value(a["Assert"])
            ]
        return broken

    def condition(self, name: str) -> bool:
        """The value of the template's condition `name`."""
        return bool(self.value(self.template["Conditions"][name]))

    def resources(self) -> dict[str, dict[str, Any]]:
        """The resources the stack would create (their Condition holds), as in the template:
        not evaluated (evaluate the parts needed with `value`)."""
        return {
            name: resource
            for name, resource in self.template["Resources"].items()
            if "Condition" not in resource or self.condition(resource["Condition"])
        }

    def value(self, node: Any) -> Any:  # noqa: PLR0911
        """`node` with its intrinsic functions evaluated and AWS::NoValue dropped."""
        if isinstance(node, list):
            return [v for v in (self.value(item) for item in node) if v is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::GetAtt":
                logical, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
                return self._get_att(logical, attribute)
            if key == "Fn::Sub":
                return self._sub(arg)
            if key == "Fn::If":
                name, yes, no = arg
                return self.value(yes if self.condition(name) else no)
            if key == "Condition":
                return self.condition(arg)
            if key in _FUNCTIONS:
                return _FUNCTIONS[key](self.value(arg))
        evaluated = {k: self.value(v) for k, v in node.items()}
        return {k: v for k, v in evaluated.items() if v is not NO_VALUE}

    def ref(self, name: str) -> Any:
        """A pseudo parameter's, a parameter's or a resource's Ref."""
        if name in self._pseudo:
            return self._pseudo[name]
        if name in self.values:
            return self.values[name]
        return self._ref(name)

    def _sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], self.value(arg[1]))

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if "." in name and name not in self._pseudo:
                return str(self._get_att(*name.split(".", 1)))
            return str(self.ref(name))

        return re.sub(r"\$\{([^}]+)\}", replace, text)


_FUNCTIONS: dict[str, Callable[[Any], Any]] = {
    "Fn::Equals": lambda a: a[0] == a[1],  # a token never equals a literal, nor ""
    "Fn::Not": lambda a: not a[0],
    "Fn::And": all,
    "Fn::Or": any,
    "Fn::Join": lambda a: a[0].join(a[1]),
    "Fn::Split": lambda a: a[1].split(a[0]),
    "Fn::Select": lambda a: a[1][int(a[0])],
}
