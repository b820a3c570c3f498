"""CloudFormation and SAM templates: loading with their short-form tags, and evaluation.

`load_template` reads YAML or JSON and turns every short-form tag (`!Ref`, `!Sub`,
`!GetAtt a.b`, ...) into the long form CloudFormation itself uses (`{"Ref": ...}`,
`{"Fn::Sub": ...}`, `{"Fn::GetAtt": ["a", "b"]}`), so the rest of rootwatch reads one form.

`StackEvaluation` resolves the intrinsic functions of a template for one stack: parameters
with their defaults and overrides, pseudo parameters, mappings, conditions, and the values
of resources (`Ref`, `Fn::GetAtt`) as some provisioner reports them. It never talks to AWS.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Protocol

import yaml

SERVERLESS_TRANSFORM: Final = "AWS::Serverless-2016-10-31"

_INTRINSIC_TAGS: Final = (
    "Base64",
    "Cidr",
    "FindInMap",
    "GetAZs",
    "ImportValue",
    "Join",
    "Length",
    "Select",
    "Split",
    "Sub",
    "ToJsonString",
    "Transform",
    "If",
    "Equals",
    "Not",
    "And",
    "Or",
)


class TemplateError(Exception):
    """A template, or a value in it, that cannot be loaded or evaluated."""


class UnresolvedResourceError(TemplateError):
    """A `Ref` or `Fn::GetAtt` to a resource whose values are not known yet."""

    def __init__(self, logical_id: str) -> None:
        super().__init__(f"resource {logical_id} has no value yet")
        self.logical_id = logical_id


class _NoValue:
    """`AWS::NoValue`: the property or list item that holds it disappears."""

    _instance: _NoValue | None = None

    def __new__(cls) -> _NoValue:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE: Final = _NoValue()


class _TemplateLoader(yaml.SafeLoader):
    """YAML as CloudFormation reads it: short-form tags, and dates kept as strings."""


_TemplateLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _construct_node(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    raise TemplateError(f"unsupported YAML node {node!r}")


def _tag_constructor(function_name: str) -> Callable[[yaml.SafeLoader, yaml.Node], Any]:
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
        return {function_name: _construct_node(loader, node)}

    return construct


def _construct_get_att(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    value = _construct_node(loader, node)
    if isinstance(value, str):
        logical_id, _, attribute = value.partition(".")
        return {"Fn::GetAtt": [logical_id, attribute]}
    return {"Fn::GetAtt": value}


_TemplateLoader.add_constructor("!Ref", _tag_constructor("Ref"))
_TemplateLoader.add_constructor("!Condition", _tag_constructor("Condition"))
_TemplateLoader.add_constructor("!GetAtt", _construct_get_att)
for _name in _INTRINSIC_TAGS:
    _TemplateLoader.add_constructor(f"!{_name}", _tag_constructor(f"Fn::{_name}"))


@dataclass(frozen=True, slots=True)
class Template:
    """A loaded template and the directory its relative paths (`CodeUri`) start from."""

    body: Mapping[str, Any]
    directory: Path

    @property
    def parameters(self) -> Mapping[str, Mapping[str, Any]]:
        return _section(self.body, "Parameters")

    @property
    def mappings(self) -> Mapping[str, Mapping[str, Any]]:
        return _section(self.body, "Mappings")

    @property
    def conditions(self) -> Mapping[str, Any]:
        return _section(self.body, "Conditions")

    @property
    def resources(self) -> Mapping[str, Mapping[str, Any]]:
        return _section(self.body, "Resources")

    @property
    def outputs(self) -> Mapping[str, Mapping[str, Any]]:
        return _section(self.body, "Outputs")

    @property
    def is_serverless(self) -> bool:
        transform = self.body.get("Transform")
        transforms = transform if isinstance(transform, list) else [transform]
        return SERVERLESS_TRANSFORM in transforms

    def globals_for(self, section: str) -> Mapping[str, Any]:
        """SAM `Globals` of one section (`Function`, ...), empty when there are none."""
        globals_section = self.body.get("Globals") or {}
        value = globals_section.get(section) if isinstance(globals_section, dict) else None
        return value if isinstance(value, dict) else {}

    def properties_of(self, logical_id: str) -> Mapping[str, Any]:
        """A resource's properties, with SAM `Globals` merged in for serverless resources."""
        resource = self.resources[logical_id]
        properties = resource.get("Properties") or {}
        resource_type = str(resource.get("Type", ""))
        if resource_type.startswith("AWS::Serverless::"):
            section = resource_type.removeprefix("AWS::Serverless::")
            return merge_globals(self.globals_for(section), properties)
        return dict(properties)


def _section(body: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = body.get(name) or {}
    if not isinstance(value, dict):
        raise TemplateError(f"template section {name} is not a mapping")
    return value


def load_template(path: str | Path) -> Template:
    """Load a CloudFormation or SAM template (YAML or JSON) with its short-form tags."""
    template_path = Path(path)
    try:
        text = template_path.read_text(encoding="utf-8")
    except OSError as error:
        raise TemplateError(f"cannot read template {template_path}: {error}") from error
    return parse_template(text, directory=template_path.resolve().parent)


def parse_template(text: str, *, directory: Path | None = None) -> Template:
    try:
        body = yaml.load(text, Loader=_TemplateLoader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as error:
        raise TemplateError(f"template is not valid YAML or JSON: {error}") from error
    if not isinstance(body, dict) or not isinstance(body.get("Resources"), dict):
        raise TemplateError("a template is a mapping with a Resources section")
    return Template(body=body, directory=directory or Path.cwd())


def merge_globals(
    globals_section: Mapping[str, Any], properties: Mapping[str, Any]
) -> dict[str, Any]:
    """SAM's merge: mappings merge key by key, lists concatenate, the resource's scalars win."""
    merged: dict[str, Any] = dict(globals_section)
    for key, value in properties.items():
        current = merged.get(key)
        if isinstance(current, dict) and isinstance(value, dict):
            merged[key] = merge_globals(current, value)
        elif isinstance(current, list) and isinstance(value, list):
            merged[key] = [*current, *value]
        else:
            merged[key] = value
    return merged


class ResourceValues(Protocol):
    """What a provisioner knows of the resources it created."""

    def ref(self, logical_id: str) -> Any:
        """The value of `Ref` (raises `UnresolvedResourceError` when not created yet)."""
        ...

    def get_att(self, logical_id: str, attribute: str) -> Any:
        """The value of `Fn::GetAtt` (raises `UnresolvedResourceError` when unknown)."""
        ...


@dataclass(frozen=True, slots=True)
class Pseudo:
    """The pseudo parameters of the stack being evaluated."""

    region: str
    account_id: str
    stack_name: str
    partition: str = "aws"
    url_suffix: str = "amazonaws.com"

    @property
    def stack_id(self) -> str:
        return (
            f"arn:{self.partition}:cloudformation:{self.region}:{self.account_id}:"
            f"stack/{self.stack_name}/00000000-0000-0000-0000-000000000000"
        )

    def value(self, name: str) -> Any:
        values: dict[str, Any] = {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account_id,
            "AWS::StackName": self.stack_name,
            "AWS::StackId": self.stack_id,
            "AWS::Partition": self.partition,
            "AWS::URLSuffix": self.url_suffix,
            "AWS::NotificationARNs": [],
            "AWS::NoValue": NO_VALUE,
        }
        if name not in values:
            raise TemplateError(f"unknown pseudo parameter {name}")
        return values[name]


_SUB_VARIABLE: Final = re.compile(r"\$\{([^}]*)\}")
_LIST_PARAMETER_TYPES: Final = ("CommaDelimitedList", "List<")


@dataclass
class StackEvaluation:
    """The intrinsic functions of one template, evaluated for one stack."""

    template: Template
    pseudo: Pseudo
    overrides: Mapping[str, str | Iterable[str]] = field(default_factory=dict)
    resources: ResourceValues | None = None
    _parameters: dict[str, Any] = field(init=False)
    _conditions: dict[str, bool] = field(init=False, default_factory=dict)
    _evaluating: set[str] = field(init=False, default_factory=set)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.overrides) - set(self.template.parameters))
        if unknown:
            raise TemplateError(f"the template has no parameter {', '.join(unknown)}")
        self._parameters = {
            name: self._parameter_value(name, declaration)
            for name, declaration in self.template.parameters.items()
        }

    @property
    def parameters(self) -> Mapping[str, Any]:
        return self._parameters

    def _parameter_value(self, name: str, declaration: Mapping[str, Any]) -> Any:
        parameter_type = str(declaration.get("Type", "String"))
        if name in self.overrides:
            given = self.overrides[name]
            raw: Any = given if isinstance(given, str) else ",".join(given)
        elif "Default" in declaration:
            raw = declaration["Default"]
        else:
            raise TemplateError(f"parameter {name} has no default and no value was given")
        text = _scalar_text(raw) if not isinstance(raw, list) else ",".join(map(str, raw))
        if parameter_type.startswith(_LIST_PARAMETER_TYPES):
            # As CloudFormation does, an empty list parameter is a list of one empty string.
            items = [item.strip() for item in text.split(",")]
            for item in items:
                self._check_allowed(name, declaration, item)
            return items
        self._check_allowed(name, declaration, text)
        return text

    @staticmethod
    def _check_allowed(name: str, declaration: Mapping[str, Any], value: str) -> None:
        allowed = declaration.get("AllowedValues")
        if allowed is not None and value not in [_scalar_text(item) for item in allowed]:
            raise TemplateError(f"parameter {name}: {value!r} is not one of {allowed}")
        pattern = declaration.get("AllowedPattern")
        if pattern is not None and not re.fullmatch(str(pattern), value):
            raise TemplateError(f"parameter {name}: {value!r} does not match {pattern}")

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            if name not in self.template.conditions:
                raise TemplateError(f"unknown condition {name}")
            if name in self._evaluating:
                raise TemplateError(f"condition {name} depends on itself")
            self._evaluating.add(name)
            try:
                value = self.resolve(self.template.conditions[name])
            finally:
                self._evaluating.discard(name)
            if not isinstance(value, bool):
                raise TemplateError(f"condition {name} is not a boolean: {value!r}")
            self._conditions[name] = value
        return self._conditions[name]

    def is_active(self, logical_id: str) -> bool:
        """Whether a resource exists in this stack (its `Condition`, if any, holds)."""
        condition = self.template.resources[logical_id].get("Condition")
        return condition is None or self.condition(str(condition))

    def active_resources(self) -> list[str]:
        return [logical_id for logical_id in self.template.resources if self.is_active(logical_id)]

    def resolve(self, value: Any) -> Any:
        """`value` with every intrinsic function evaluated and `AWS::NoValue` removed."""
        if isinstance(value, dict):
            if len(value) == 1:
                ((key, argument),) = value.items()
                if key == "Ref" or key.startswith("Fn::") or key == "Condition":
                    return self._intrinsic(key, argument)
            resolved_mapping = {key: self.resolve(item) for key, item in value.items()}
            return {key: item for key, item in resolved_mapping.items() if item is not NO_VALUE}
        if isinstance(value, list):
            resolved_items = [self.resolve(item) for item in value]
            return [item for item in resolved_items if item is not NO_VALUE]
        return value

    def resolve_output(self, name: str) -> Any:
        output = self.template.outputs[name]
        condition = output.get("Condition")
        if condition is not None and not self.condition(str(condition)):
            return NO_VALUE
        return self.resolve(output.get("Value"))

    def _intrinsic(self, function: str, argument: Any) -> Any:
        handlers: dict[str, Callable[[Any], Any]] = {
            "Ref": self._ref,
            "Condition": lambda name: self.condition(str(name)),
            "Fn::GetAtt": self._get_att,
            "Fn::Sub": self._sub,
            "Fn::Join": self._join,
            "Fn::Select": self._select,
            "Fn::Split": self._split,
            "Fn::FindInMap": self._find_in_map,
            "Fn::If": self._if,
            "Fn::Equals": self._equals,
            "Fn::Not": lambda args: not self._boolean(_arguments(args, 1, "Fn::Not")[0]),
            "Fn::And": lambda args: all(self._boolean(item) for item in args),
            "Fn::Or": lambda args: any(self._boolean(item) for item in args),
            "Fn::Base64": lambda text: base64.b64encode(str(self.resolve(text)).encode()).decode(),
            "Fn::GetAZs": self._get_azs,
            "Fn::Length": lambda items: len(self._list(items, "Fn::Length")),
            "Fn::ToJsonString": lambda item: json.dumps(self.resolve(item), separators=(",", ":")),
        }
        handler = handlers.get(function)
        if handler is None:
            raise TemplateError(f"{function} is not supported by the local evaluator")
        return handler(argument)

    def _ref(self, name: Any) -> Any:
        name = str(self.resolve(name))
        if name.startswith("AWS::"):
            return self.pseudo.value(name)
        if name in self._parameters:
            return self._parameters[name]
        if name in self.template.resources:
            if self.resources is None:
                raise UnresolvedResourceError(name)
            return self.resources.ref(name)
        raise TemplateError(f"Ref to unknown name {name}")

    def _get_att(self, argument: Any) -> Any:
        if isinstance(argument, str):
            logical_id, _, attribute = argument.partition(".")
        else:
            logical_id, attribute = (
                str(self.resolve(part)) for part in _arguments(argument, 2, "Fn::GetAtt")
            )
        if logical_id not in self.template.resources:
            raise TemplateError(f"Fn::GetAtt of unknown resource {logical_id}")
        if self.resources is None:
            raise UnresolvedResourceError(logical_id)
        return self.resources.get_att(logical_id, attribute)

    def _sub(self, argument: Any) -> str:
        if isinstance(argument, list):
            text, variables = _arguments(argument, 2, "Fn::Sub")
            local_values = {name: self.resolve(item) for name, item in dict(variables).items()}
        else:
            text, local_values = argument, {}
        if not isinstance(text, str):
            raise TemplateError(f"Fn::Sub needs a string, not {text!r}")

        def substitute(match: re.Match[str]) -> str:
            expression = match.group(1)
            if expression.startswith("!"):
                return "${" + expression[1:] + "}"
            if expression in local_values:
                return _scalar_text(local_values[expression])
            if "." in expression and not expression.startswith("AWS::"):
                logical_id, _, attribute = expression.partition(".")
                return _scalar_text(self._get_att([logical_id, attribute]))
            return _scalar_text(self._ref(expression))

        return _SUB_VARIABLE.sub(substitute, text)

    def _join(self, argument: Any) -> str:
        delimiter, items = _arguments(argument, 2, "Fn::Join")
        return str(delimiter).join(_scalar_text(item) for item in self._list(items, "Fn::Join"))

    def _select(self, argument: Any) -> Any:
        index, items = _arguments(argument, 2, "Fn::Select")
        values = self._list(items, "Fn::Select")
        position = int(_scalar_text(self.resolve(index)))
        if not 0 <= position < len(values):
            raise TemplateError(f"Fn::Select index {position} is outside a list of {len(values)}")
        return values[position]

    def _split(self, argument: Any) -> list[str]:
        delimiter, text = _arguments(argument, 2, "Fn::Split")
        return _scalar_text(self.resolve(text)).split(str(delimiter))

    def _find_in_map(self, argument: Any) -> Any:
        if not isinstance(argument, list) or len(argument) not in (3, 4):
            raise TemplateError("Fn::FindInMap takes a map name and two keys")
        map_name, top_key, second_key = (_scalar_text(self.resolve(item)) for item in argument[:3])
        try:
            return self.resolve(self.template.mappings[map_name][top_key][second_key])
        except KeyError:
            if len(argument) == 4 and isinstance(argument[3], dict):
                return self.resolve(argument[3].get("DefaultValue"))
            raise TemplateError(
                f"Fn::FindInMap: no {map_name}/{top_key}/{second_key} in Mappings"
            ) from None

    def _if(self, argument: Any) -> Any:
        name, when_true, when_false = _arguments(argument, 3, "Fn::If")
        return self.resolve(when_true if self.condition(str(name)) else when_false)

    def _equals(self, argument: Any) -> bool:
        left, right = (self.resolve(item) for item in _arguments(argument, 2, "Fn::Equals"))
        return bool(_comparable(left) == _comparable(right))

    def _boolean(self, value: Any) -> bool:
        resolved = self.resolve(value)
        if isinstance(resolved, bool):
            return resolved
        if isinstance(resolved, str) and resolved.lower() in ("true", "false"):
            return resolved.lower() == "true"
        raise TemplateError(f"not a condition: {resolved!r}")

    def _get_azs(self, region: Any) -> list[str]:
        name = _scalar_text(self.resolve(region)) or self.pseudo.region
        return [f"{name}{zone}" for zone in "abc"]

    def _list(self, value: Any, function: str) -> list[Any]:
        resolved = self.resolve(value)
        if not isinstance(resolved, list):
            raise TemplateError(f"{function} needs a list, not {resolved!r}")
        return resolved


def _arguments(argument: Any, count: int, function: str) -> list[Any]:
    if not isinstance(argument, list) or len(argument) != count:
        raise TemplateError(f"{function} takes {count} arguments, not {argument!r}")
    return argument


def _scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    raise TemplateError(f"expected a string, number or boolean, not {value!r}")


def _comparable(value: Any) -> Any:
    if isinstance(value, (bool, int, float)):
        return _scalar_text(value)
    return value


def references(value: Any) -> Iterator[str]:
    """Names a value refers to (`Ref`, `Fn::GetAtt`, `${...}` of `Fn::Sub`), in any branch."""
    if isinstance(value, list):
        for item in value:
            yield from references(item)
        return
    if not isinstance(value, dict):
        return
    if len(value) == 1:
        ((key, argument),) = value.items()
        if key == "Ref" and isinstance(argument, str):
            yield argument
            return
        if key == "Fn::GetAtt":
            if isinstance(argument, str):
                yield argument.partition(".")[0]
            elif isinstance(argument, list) and argument and isinstance(argument[0], str):
                yield argument[0]
            return
        if key == "Fn::Sub":
            text, variables = (
                (argument[0], argument[1])
                if isinstance(argument, list)
                else (
                    argument,
                    {},
                )
            )
            yield from references(variables)
            if isinstance(text, str):
                local_names = set(variables) if isinstance(variables, dict) else set()
                for expression in _SUB_VARIABLE.findall(text):
                    if expression.startswith("!") or expression in local_names:
                        continue
                    yield expression.partition(".")[0]
            return
    for item in value.values():
        yield from references(item)
