"""Final answers in LLM responses: extraction, normal form, comparison, majority, and the
short-answer heuristic, on responses that look like real ones (markdown, latex, GSM8K, MC)."""

from __future__ import annotations

import pytest

from glan.verify.final_answer import asks_short_answer, final_answer, majority, normalize, same_answer

MARKDOWN_PHYSICS = """To find the final speed we use the kinematic equation:

$$v = u + at$$

Substituting the given values:
- Initial speed $u = 5\\ \\text{m/s}$
- Acceleration $a = 2\\ \\text{m/s}^2$
- Time $t = 3\\ \\text{s}$

$$v = 5 + 2 \\times 3 = 11\\ \\text{m/s}$$

**Final answer:** 11 m/s."""

HEADING_ANSWER = """### Step 1: Rates
Pipe A fills 1/6 of the tank per hour and pipe B fills 1/3.

### Step 2: Together
1/6 + 1/3 = 1/2, so the tank fills in 2 hours.

### Final Answer
The tank is full after **2 hours**."""

BOXED = r"""We need $\int_0^1 3x^2\,dx = [x^3]_0^1 = 1 - 0$.

Therefore, the value of the integral is $\boxed{1}$.

Note that $\boxed{\text{this}}$ is not where we stop: the answer holds for any antiderivative, so
we confirm $\boxed{\frac{3}{3}}$."""

NESTED_BOXED = r"The solutions are $x = \boxed{\{2, 3\}}$ and nothing else."

GSM8K = """Natalia sold 48/2 = <<48/2=24>>24 clips in May.
Natalia sold 48+24 = <<48+24=72>>72 clips altogether in April and May.
#### 72"""

MC_CORRECT_IS = """Let's evaluate each option.

(A) is wrong because doubling the mass does not change the period of a pendulum.
(B) gives the period of a mass on a spring, not a pendulum.
(C) T = 2π√(L/g) = 2π√(1/9.8) ≈ 2.01 s matches.

The correct answer is C."""

MC_OPTION_IS_CORRECT = """Mitochondria produce ATP through oxidative phosphorylation, so option (B) is
correct. Ribosomes synthesise proteins and the Golgi apparatus packages them."""

MC_ANSWER_LINE = """Photosynthesis takes place in chloroplasts.

**Answer: (D)**"""

ESSAY = """The French Revolution (1789-1799) transformed European politics. It began with a fiscal
crisis: France had spent heavily in the Seven Years' War and on the American Revolution.

Social inequality between the three estates fuelled resentment, and Enlightenment ideas gave the
Third Estate a language of rights. By 1793, the monarchy had fallen.

In short, the revolution's causes were economic, social and intellectual, and its effects were
felt across the continent for more than 100 years."""

ESSAY_WITH_ANSWER_HEADING = """Answer: The causes of the First World War are usually grouped as militarism,
alliances, imperialism and nationalism, and historians still debate the weight of each one of them today.

Militarism meant that the great powers had built up large armies and navies."""

ESSAY_ANSWER_IS_THAT = """Why do leaves change colour in autumn? The answer is that chlorophyll breaks down as
days shorten, revealing carotenoids that were present all along."""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (MARKDOWN_PHYSICS, "11 m/s"),
        (HEADING_ANSWER, "2 hours"),
        (BOXED, r"\frac{3}{3}"),
        (NESTED_BOXED, r"\{2, 3\}"),
        (GSM8K, "72"),
        (MC_CORRECT_IS, "C"),
        (MC_OPTION_IS_CORRECT, "(B)"),
        (MC_ANSWER_LINE, "(D)"),
        ("So the total cost is $12.50.\n\nFinal answer: $12.50", "$12.50"),
        ("Final Answer: The final answer is $\\boxed{42}$. I hope it is correct.", "42"),
        ("**Final Answer**: x = 5", "5"),
        ("Final answer: (C) I = 0.25 kg m^2", "(C) I = 0.25 kg m^2"),
        ("Thus the answer is **3/4**, since three of the four parts are shaded.", "3/4"),
        ("The answer would be 1,200 apples.", "1,200 apples"),
        ("The final answer is: 17.", "17"),
        ("Final answer: 3.5\nFinal answer: 4.5", "4.5"),
        ("#### 1,000\n\nThe answer is 999.", "999"),
        ("Final answer: The car travels 120 km.", "120 km"),
        ("Final answer: The speed is about 4.5 m/s.", "4.5 m/s"),
        ("The correct option is (D).", "(D)"),
        ("Therefore the answer is B) 3.2 N.", "B) 3.2 N"),
    ],
)
def test_final_answer_extracts_the_last_stated_answer(text: str, expected: str) -> None:
    assert final_answer(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        ESSAY,
        ESSAY_WITH_ANSWER_HEADING,
        ESSAY_ANSWER_IS_THAT,
        "#### Step 2: Compute the momentum\nThe momentum is conserved in the collision.",
        "",
        "Final answer: " + "the treaty reshaped borders, economies and alliances across the continent " * 2,
    ],
)
def test_final_answer_is_none_without_a_short_answer(text: str) -> None:
    assert final_answer(text) is None


def test_loose_takes_the_one_number_of_a_short_last_paragraph() -> None:
    text = "First we add the two groups: 12 + 30.\n\nSo there are 42 students."
    assert final_answer(text) is None
    assert final_answer(text, loose=True) == "42"
    # Essays keep None even in loose mode: a long last paragraph, or several numbers in it.
    assert final_answer(ESSAY, loose=True) is None
    assert final_answer("Speeds were 3 m/s and 5 m/s.\n\nBoth are slow.", loose=True) is None
    # A marker still wins over the loose guess.
    assert final_answer("Some working.\n\nFinal answer: 7\n\nThat makes 8 in total.", loose=True) == "7"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1,200", "1200"),
        ("$12.50", "12.5"),
        ("$1,200.50.", "1200.5"),
        ("45%", "45%"),
        ("45 percent", "45%"),
        (r"45\%", "45%"),
        ("3/4", "0.75"),
        (r"\frac{3}{4}", "0.75"),
        (r"$\dfrac{1}{8}$", "0.125"),
        ("12 m/s", "12 m/s"),
        ("12.0 m/s", "12 m/s"),
        (r"$12\,\text{m/s}$", "12 m/s"),
        (r"\boxed{1\,200}", "1200"),
        (r"$3 \times 10^{8}$ m/s", "300000000 m/s"),
        ("-4.50", "-4.5"),
        ("v = 12 m/s", "12 m/s"),
        ("(B)", "b"),
        ("B)", "b"),
        ("B.", "b"),
        ("option B", "b"),
        ("(B) 42 m", "b"),
        ("**C**", "c"),
        ("Paris.", "paris"),
        (r"\text{Mitochondria}", "mitochondria"),
        ("a 42 m", "a 42 m"),
    ],
)
def test_normalize(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("12.0 m/s", "12 m/s"),
        ("1,200", "1200.00"),
        ("$12.50", "12.5 dollars"),
        ("0.75", r"\frac{3}{4}"),
        ("3.14159", "3.14159265"),
        ("(B)", "B. 42 m"),
        ("option b", "The (B)"[4:]),
        ("45%", "45"),
        ("Paris", "paris."),
    ],
)
def test_same_answer(a: str, b: str) -> None:
    assert same_answer(a, b)
    assert same_answer(b, a)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("12 m/s", "12 km/h"),
        ("12.5", "12.6"),
        ("3.14", "3.1416"),
        ("(B)", "(C)"),
        ("b", "42"),
        ("0.45", "45%"),
        ("Paris", "Lyon"),
    ],
)
def test_different_answers(a: str, b: str) -> None:
    assert not same_answer(a, b)


def test_same_answer_tolerance_is_a_parameter() -> None:
    assert not same_answer("100", "100.5")
    assert same_answer("100", "100.5", rel_tol=0.01)
    assert same_answer("0", "0.0000000001")  # the absolute tolerance near zero


def test_majority() -> None:
    assert majority(["12 m/s", None, "12.0 m/s", "13 m/s", "$12"]) == ("12 m/s", 3, 4)
    assert majority(["(B)", "(C)", "C", "B."]) == ("(B)", 2, 4)  # a tie: the first group seen
    assert majority([None, None]) == (None, 0, 0)
    assert majority([]) == (None, 0, 0)
    assert majority([None, "7"]) == ("7", 1, 1)


@pytest.mark.parametrize(
    "question",
    [
        "Calculate the kinetic energy of a 2 kg ball moving at 3 m/s.",
        "How many moles are in 18 g of water?",
        "A train leaves at 3 pm at 80 km/h. How far has it gone by 5 pm?",
        "Determine the pH of a 0.01 M HCl solution.",
        "Which organelle makes ATP? (A) Ribosome (B) Mitochondrion (C) Golgi (D) Nucleus",
        "Which is a noble gas?\nA. Oxygen\nB. Neon\nC. Nitrogen\nD. Carbon",
    ],
)
def test_asks_short_answer(question: str) -> None:
    assert asks_short_answer(question)


@pytest.mark.parametrize(
    "question",
    [
        "Explain the causes of the French Revolution.",
        "Discuss the impact of the 1848 revolutions on European politics.",
        "Calculate the trade-offs a firm faces when it expands abroad.",  # no digits
        "Write an essay on (a) climate policy.",
    ],
)
def test_does_not_ask_short_answer(question: str) -> None:
    assert not asks_short_answer(question)
