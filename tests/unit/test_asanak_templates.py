"""Reading Asanak's template list, whose shape is not documented: the likely spellings, and entries
that cannot be read are skipped, never guessed."""

from __future__ import annotations

import pytest
from asanak._parse import ShapeError
from asanak.templates import Template, missing_params, templates_of


def test_given_the_sandbox_shape_then_ids_params_and_status_are_read():
    listed = templates_of(
        [
            {"id": 101, "title": "otp", "content": "کد: %code%", "params": ["code"], "status": "active"},
            {"id": "102", "content": "سلام {name}، سفارش {{ order }}"},
            {"template_id": 7, "parameters": {"a": "", "b": ""}, "is_active": 0},
        ]
    )

    assert listed == [
        Template("101", "otp", ("code",), True),
        Template("102", "", ("name", "order"), True),
        Template("7", "", ("a", "b"), False),
    ]


def test_given_entries_without_a_usable_id_then_they_are_skipped():
    assert templates_of([{"title": "no id"}, {"id": True}, {"id": "x1"}, "text", {"ID": "5"}]) == [
        Template("5", "", None, True)
    ]


def test_given_a_list_inside_an_object_then_it_is_read_and_anything_else_is_a_shape_error():
    assert [t.template_id for t in templates_of({"Templates": [{"id": 1}]})] == ["1"]
    assert templates_of([]) == []  # an account without templates
    with pytest.raises(ShapeError):
        templates_of("not a list")
    with pytest.raises(ShapeError):  # entries, none readable: never stored as "no templates"
        templates_of([{"name": "otp", "code": "x"}])
    with pytest.raises(ShapeError):  # an object of another shape likewise
        templates_of({"rows": [{"id": 1}]})


def test_given_a_template_then_missing_or_empty_parameters_are_named_and_unknown_params_never_block():
    template = Template("101", params=("code", "name"))

    assert missing_params(template, {"code": "1234", "name": " "}) == ["name"]
    assert missing_params(Template("9"), {}) == []  # the list did not say: Asanak decides
