from glan.post.base import Removed
from glan.post.config import FilterConfig
from glan.post.filters import QualityFilter


def _pair(i, instruction="Explain how enzymes lower activation energy in cells.", **kw):
    rec = {"id": str(i), "instruction": instruction, "response": "Enzymes bind substrates. " * 5}
    rec.update(kw)
    return rec


BAD = {
    "empty_response": _pair(1, response="   "),
    "truncated": _pair(2, finish_reason="length"),
    "refusal": _pair(3, response="I'm sorry, but I can't help with that request."),
    "repeats_question": _pair(4, response="Explain how enzymes lower activation energy in cells?"),
    "instruction_length": _pair(5, instruction="Why?"),
    "template_leftover": _pair(6, response="<|im_start|>assistant Enzymes bind."),
}


def test_each_filter_catches_its_case_and_names_it():
    removed = Removed()
    good = [_pair(100 + i) for i in range(5)]
    kept = list(QualityFilter(FilterConfig()).run([*BAD.values(), *good], removed))
    assert [r["id"] for r in kept] == [g["id"] for g in good]
    assert dict(removed.counts) == {("filter", name): 1 for name in BAD}


def test_more_refusals_and_leftovers():
    cases = [
        _pair(1, response="As an AI language model, I do not have opinions."),
        _pair(2, response="I don't know."),
        _pair(3, instruction="Sure! Here is a homework question: what is an enzyme made of?"),
        _pair(4, instruction="### Instruction: explain enzymes in the cell"),
        _pair(5, instruction="Explain {concepts} to a student of biology"),
    ]
    removed = Removed()
    assert list(QualityFilter(FilterConfig()).run(cases, removed)) == []


def test_filters_are_switchable_and_configurable():
    cfg = FilterConfig(enabled=["truncated"], response_max_words=3)
    kept = list(QualityFilter(cfg).run(list(BAD.values()), Removed()))
    assert len(kept) == len(BAD) - 1
    cfg = FilterConfig(enabled=["response_length"], response_max_words=3)
    removed = Removed()
    list(QualityFilter(cfg).run([_pair(1)], removed))
    assert removed.counts[("filter", "response_length")] == 1


def test_long_answers_that_restate_the_question_are_kept():
    q = "Explain how enzymes lower activation energy in cells."
    rec = _pair(1, instruction=q, response=q + " They stabilise the transition state. " * 3)
    assert list(QualityFilter(FilterConfig()).run([rec], Removed())) == [rec]
