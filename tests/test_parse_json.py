import pytest
from pydantic import BaseModel

from glan.errors import ParseError
from glan.stages.base import parse_json
from glan.stages.subjects import SubjectList


class Q(BaseModel):
    question: str


def test_fenced_and_chatty_json() -> None:
    assert parse_json('Sure!\n```json\n{"question": "why?"}\n```', Q).question == "why?"


def test_validation_error_names_the_field() -> None:
    with pytest.raises(ParseError, match="question: Field required"):
        parse_json('{"q": 1}', Q)


CUT = (
    '{"subjects": [{"subject_name": "Optics", "level": "undergraduate", "subtopics": ["lenses"]},'
    ' {"subject_name": "Mechanics", "level": "undergraduate", "subtopics": ["forces", "mo'
)


def test_truncated_reply_keeps_its_complete_items() -> None:
    got = parse_json(CUT, SubjectList, truncated=True)
    assert [s.subject_name for s in got.subjects] == ["Optics"]


def test_truncated_reply_is_not_salvaged_unless_cut_off() -> None:
    with pytest.raises(ParseError, match="invalid JSON"):
        parse_json(CUT, SubjectList)


def test_nothing_to_salvage_says_be_concise() -> None:
    with pytest.raises(ParseError, match="cut off at max_tokens"):
        parse_json('{"subjects": [{"subject_name": "Opt', SubjectList, truncated=True)


def test_braces_inside_strings_do_not_confuse_salvage() -> None:
    cut = '{"subjects": [{"subject_name": "Sets {a, b}", "level": "x", "subtopics": ["\\"}"]}, {"subj'
    got = parse_json(cut, SubjectList, truncated=True)
    assert got.subjects[0].subject_name == "Sets {a, b}" and got.subjects[0].subtopics == ['"}']


def test_schemas_sent_bound_every_list_and_string() -> None:
    """Small models at a high temperature loop in a list until max_tokens: the schema a server
    constrains its output by bounds them (the reply itself is validated unbounded)."""
    from glan.stages.base import bounded
    from glan.stages.subjects import SCHEMA, SubjectList
    from glan.stages.syllabus import syllabus_schema

    item = SCHEMA["$defs"]["SubjectItem"]["properties"]
    assert SCHEMA["properties"]["subjects"]["maxItems"] == item["subtopics"]["maxItems"] == 30
    assert item["subtopics"]["items"]["maxLength"] == item["subject_name"]["maxLength"] == 300
    syllabus = syllabus_schema(3, 5)
    assert syllabus["properties"]["sessions"]["maxItems"] == 5  # its own bound is kept
    assert syllabus["properties"]["objectives"]["maxItems"] == 12
    long = {"subjects": [{"subject_name": "x", "level": "y", "subtopics": ["t"] * 50}] * 40}
    assert len(SubjectList.model_validate(long).subjects) == 40  # replies are not cut
    assert bounded({"type": "array", "maxItems": 2}, items=9, chars=1) == {"type": "array", "maxItems": 2}
