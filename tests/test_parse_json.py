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
