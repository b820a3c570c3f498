"""The template loader and the intrinsic-function evaluator of `rootwatch local`."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from rootwatch.local.template import (
    NO_VALUE,
    Pseudo,
    StackEvaluation,
    TemplateError,
    UnresolvedResourceError,
    load_template,
    merge_globals,
    parse_template,
    references,
)

PSEUDO = Pseudo(region="eu-west-1", account_id="111122223333", stack_name="hub")

TEMPLATE = """
AWSTemplateFormatVersion: 2010-09-09
Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage:
    Type: String
    Default: dev
    AllowedValues: [dev, prod]
  AllowedAccountIds:
    Type: CommaDelimitedList
    Default: ""
  Window:
    Type: Number
    Default: 60
  Required:
    Type: String
Mappings:
  Sizes:
    dev: {Memory: 256}
    prod: {Memory: 1024}
Conditions:
  IsProd: !Equals [!Ref Stage, prod]
  NotProd: !Not [!Condition IsProd]
  HasAccounts: !Not [!Equals [!Join ["", !Ref AllowedAccountIds], ""]]
  Both: !And [!Condition NotProd, !Condition HasAccounts]
  Either: !Or [!Condition IsProd, !Condition HasAccounts]
Globals:
  Function:
    Runtime: python3.13
    Environment:
      Variables:
        TABLE_NAME: !Ref Table
        LEVEL: INFO
    Layers: [!Ref Layer]
Resources:
  Table:
    Type: AWS::DynamoDB::Table
  Layer:
    Type: AWS::Serverless::LayerVersion
  ProdOnly:
    Type: AWS::SQS::Queue
    Condition: IsProd
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.handler
      Environment:
        Variables:
          LEVEL: DEBUG
          QUEUE_ARN: !GetAtt Queue.Arn
      Layers: [extra]
  Queue:
    Type: AWS::SQS::Queue
Outputs:
  TableName:
    Value: !Ref Table
  ProdQueue:
    Condition: IsProd
    Value: !Ref ProdOnly
"""


class _Provisioned:
    def __init__(self, refs: Mapping[str, Any], attributes: Mapping[tuple[str, str], Any]) -> None:
        self._refs = refs
        self._attributes = attributes

    def ref(self, logical_id: str) -> Any:
        if logical_id not in self._refs:
            raise UnresolvedResourceError(logical_id)
        return self._refs[logical_id]

    def get_att(self, logical_id: str, attribute: str) -> Any:
        if (logical_id, attribute) not in self._attributes:
            raise UnresolvedResourceError(logical_id)
        return self._attributes[(logical_id, attribute)]


def _evaluation(
    overrides: Mapping[str, str] | None = None, provisioned: _Provisioned | None = None
) -> StackEvaluation:
    return StackEvaluation(
        parse_template(TEMPLATE),
        PSEUDO,
        overrides={"Required": "x", **(overrides or {})},
        resources=provisioned,
    )


def test_short_form_tags_become_the_long_form() -> None:
    template = parse_template(TEMPLATE)
    function = template.resources["Fn"]["Properties"]
    assert function["Environment"]["Variables"]["QUEUE_ARN"] == {"Fn::GetAtt": ["Queue", "Arn"]}
    assert template.conditions["NotProd"] == {"Fn::Not": [{"Condition": "IsProd"}]}
    assert template.conditions["IsProd"] == {"Fn::Equals": [{"Ref": "Stage"}, "prod"]}


def test_dates_stay_strings_and_the_transform_is_recognised() -> None:
    template = parse_template(TEMPLATE)
    assert template.body["AWSTemplateFormatVersion"] == "2010-09-09"
    assert template.is_serverless


def test_json_templates_load_too(tmp_path: Path) -> None:
    path = tmp_path / "template.json"
    path.write_text('{"Resources": {"Q": {"Type": "AWS::SQS::Queue"}}}')
    template = load_template(path)
    assert template.directory == tmp_path.resolve()
    assert not template.is_serverless


@pytest.mark.parametrize("text", ["[1, 2]", "Resources: 3", "a: [unclosed"])
def test_a_document_that_is_not_a_template_is_rejected(text: str) -> None:
    with pytest.raises(TemplateError):
        parse_template(text)


def test_parameters_take_defaults_overrides_and_list_types() -> None:
    evaluation = _evaluation({"Stage": "prod", "AllowedAccountIds": "111122223333, 444455556666"})
    assert evaluation.parameters["Stage"] == "prod"
    assert evaluation.parameters["Window"] == "60"
    assert evaluation.parameters["AllowedAccountIds"] == ["111122223333", "444455556666"]


def test_an_empty_list_parameter_is_one_empty_string_as_in_cloudformation() -> None:
    assert _evaluation().parameters["AllowedAccountIds"] == [""]


def test_parameter_errors_name_the_parameter() -> None:
    with pytest.raises(TemplateError, match="Required"):
        StackEvaluation(parse_template(TEMPLATE), PSEUDO)
    with pytest.raises(TemplateError, match="Stage"):
        _evaluation({"Stage": "qa"})
    with pytest.raises(TemplateError, match="Unknown"):
        _evaluation({"Unknown": "1"})


def test_conditions_combine() -> None:
    development = _evaluation()
    assert not development.condition("IsProd")
    assert development.condition("NotProd")
    assert not development.condition("HasAccounts")
    assert not development.condition("Both")
    assert not development.condition("Either")
    with_accounts = _evaluation({"AllowedAccountIds": "111122223333"})
    assert with_accounts.condition("Both")
    assert with_accounts.condition("Either")


def test_resources_with_a_false_condition_are_inactive() -> None:
    assert "ProdOnly" not in _evaluation().active_resources()
    assert "ProdOnly" in _evaluation({"Stage": "prod"}).active_resources()


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ({"Ref": "AWS::Region"}, "eu-west-1"),
        ({"Ref": "AWS::AccountId"}, "111122223333"),
        (
            {"Fn::Sub": "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:x"},
            "arn:aws:events:eu-west-1:111122223333:x",
        ),
        ({"Fn::Sub": "${Stage}-${!Literal}"}, "dev-${Literal}"),
        ({"Fn::Sub": ["${Name}/${Stage}", {"Name": {"Ref": "AWS::StackName"}}]}, "hub/dev"),
        ({"Fn::Join": ["-", ["a", {"Ref": "Stage"}, 3]]}, "a-dev-3"),
        ({"Fn::Select": [1, {"Fn::Split": [",", "a,b,c"]}]}, "b"),
        ({"Fn::Select": ["0", ["only"]]}, "only"),
        ({"Fn::FindInMap": ["Sizes", {"Ref": "Stage"}, "Memory"]}, 256),
        ({"Fn::If": ["IsProd", "big", "small"]}, "small"),
        ({"Fn::Equals": [60, {"Ref": "Window"}]}, True),
        ({"Fn::Base64": "hi"}, "aGk="),
        ({"Fn::GetAZs": ""}, ["eu-west-1a", "eu-west-1b", "eu-west-1c"]),
        ({"Fn::Length": [1, 2, 3]}, 3),
        ({"Fn::ToJsonString": {"a": [1, "b"]}}, '{"a":[1,"b"]}'),
    ],
)
def test_intrinsic_functions(expression: dict[str, Any], expected: Any) -> None:
    assert _evaluation().resolve(expression) == expected


def test_no_value_removes_properties_and_list_items() -> None:
    value = {
        "Keep": 1,
        "Drop": {"Fn::If": ["IsProd", "x", {"Ref": "AWS::NoValue"}]},
        "Items": ["a", {"Ref": "AWS::NoValue"}, "b"],
    }
    assert _evaluation().resolve(value) == {"Keep": 1, "Items": ["a", "b"]}
    assert _evaluation().resolve({"Ref": "AWS::NoValue"}) is NO_VALUE


def test_resource_values_come_from_the_provisioner() -> None:
    provisioned = _Provisioned(
        refs={"Table": "hub-Table"},
        attributes={("Queue", "Arn"): "arn:aws:sqs:eu-west-1:111122223333:q"},
    )
    evaluation = _evaluation(provisioned=provisioned)
    assert evaluation.resolve({"Fn::Sub": "${Table}|${Queue.Arn}"}) == (
        "hub-Table|arn:aws:sqs:eu-west-1:111122223333:q"
    )
    assert evaluation.resolve({"Fn::GetAtt": "Queue.Arn"}).endswith(":q")
    assert evaluation.resolve_output("TableName") == "hub-Table"
    assert evaluation.resolve_output("ProdQueue") is NO_VALUE


def test_a_resource_not_provisioned_yet_is_reported_by_name() -> None:
    with pytest.raises(UnresolvedResourceError) as raised:
        _evaluation(provisioned=_Provisioned({}, {})).resolve({"Ref": "Queue"})
    assert raised.value.logical_id == "Queue"
    with pytest.raises(UnresolvedResourceError):
        _evaluation().resolve({"Fn::GetAtt": ["Queue", "Arn"]})


@pytest.mark.parametrize(
    "expression",
    [
        {"Ref": "Nothing"},
        {"Fn::GetAtt": ["Nothing", "Arn"]},
        {"Fn::Select": [5, ["a"]]},
        {"Fn::FindInMap": ["Sizes", "qa", "Memory"]},
        {"Fn::If": ["NoSuchCondition", 1, 2]},
        {"Fn::Join": ["-", "not a list"]},
        {"Fn::ImportValue": "exported"},
        {"Ref": "AWS::Unknown"},
    ],
)
def test_evaluation_errors_are_template_errors(expression: dict[str, Any]) -> None:
    with pytest.raises(TemplateError):
        _evaluation().resolve(expression)


def test_find_in_map_default_value() -> None:
    expression = {"Fn::FindInMap": ["Sizes", "qa", "Memory", {"DefaultValue": 128}]}
    assert _evaluation().resolve(expression) == 128


def test_sam_globals_merge_into_functions() -> None:
    properties = parse_template(TEMPLATE).properties_of("Fn")
    assert properties["Runtime"] == "python3.13"
    assert properties["Environment"]["Variables"] == {
        "TABLE_NAME": {"Ref": "Table"},
        "LEVEL": "DEBUG",
        "QUEUE_ARN": {"Fn::GetAtt": ["Queue", "Arn"]},
    }
    assert properties["Layers"] == [{"Ref": "Layer"}, "extra"]
    assert merge_globals({"A": 1}, {}) == {"A": 1}


def test_references_name_every_resource_a_value_depends_on() -> None:
    properties = parse_template(TEMPLATE).properties_of("Fn")
    assert set(references(properties)) == {"Table", "Layer", "Queue"}
    sub = {"Fn::Sub": ["${A}-${B.Arn}-${!C}-${Local}", {"Local": {"Ref": "D"}}]}
    assert set(references(sub)) == {"A", "B", "D"}


def test_conditions_that_depend_on_themselves_are_reported() -> None:
    template = parse_template(
        """
Conditions:
  A: !And [!Condition B, true]
  B: !Or [!Condition A, false]
  C: !Equals [1, 1]
Resources:
  Q: {Type: AWS::SQS::Queue, Condition: A}
"""
    )
    evaluation = StackEvaluation(template, PSEUDO)
    assert evaluation.condition("C")
    with pytest.raises(TemplateError, match="depends on itself"):
        evaluation.condition("A")
