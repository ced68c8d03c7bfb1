"""Problems of the verification set (benchmarks/verify_set.py) with a computed answer, and the
everyday kinds (shopping, unit conversions, successive percentages, compound interest, work
rates; the physics kinds are in verify_set_physics.py). A kind draws its numbers from a
random.Random and returns the question, the computation done right and done with one plausible
mistake, as Python assignments that are run here (so a program a response shows prints exactly
the key) and as sentences of working with the intermediate numbers."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

Lines = list[tuple[str, str]]  # (name, python expression); the last name holds the answer


@dataclass
class Problem:
    stem: str  # the question without its rounding instruction (multiple choice reuses it)
    rounding: str  # "Give the answer ... to 2 decimal places."
    what: str  # what the answer is: "change", "moment of inertia"
    unit: str  # "$" (written before the number), "" or a unit written after it
    key: str  # the answer, 2 decimals
    working: str  # correct working, ending with the answer
    program: str  # the correct computation as a program that prints the key
    wrong_key: str
    wrong_working: str  # working with the mistake, ending with the wrong answer
    wrong_why: str
    distractors: list[str] = field(default_factory=list)  # other mistakes' answers, for options

    @property
    def question(self) -> str:
        return f"{self.stem} {self.rounding}"


def run(lines: Lines) -> tuple[dict[str, float], str]:
    """The values of the assignments and the program that prints the last one to 2 decimals:
    the same source runs here and in the program, so the key is exactly what it prints."""
    source = "".join(f"{name} = {expr}\n" for name, expr in lines)
    values: dict[str, float] = {}
    exec(source, {"__builtins__": {}}, values)  # our own generated arithmetic, nothing else
    return values, source + f'print(f"{{{lines[-1][0]}:.2f}}")\n'


def show(x: float) -> str:
    """An intermediate number as working shows it: up to 4 decimals, no trailing zeros."""
    return f"{x:.4f}".rstrip("0").rstrip(".")


def money(x: float) -> str:
    return f"${x:.2f}"


def with_unit(number: str, unit: str) -> str:
    return f"${number}" if unit == "$" else f"{number} {unit}".strip()


def _two(values: dict[str, float], lines: Lines) -> str:
    return f"{values[lines[-1][0]]:.2f}"


PEOPLE = ["Maya", "Tom", "Aisha", "Lucas", "Priya", "Jonas", "Elena", "Kofi"]
GOODS = [
    ("notebook", "notebooks"),
    ("pen", "pens"),
    ("apple", "apples"),
    ("mug", "mugs"),
    ("candle", "candles"),
]


def shopping(rng: random.Random) -> Problem:
    (a, a_pl), (b, b_pl) = rng.sample(GOODS, 2)
    qa, qb = rng.randint(2, 6), rng.randint(2, 5)
    pa, pb = round(rng.uniform(0.5, 6), 2), round(rng.uniform(0.5, 6), 2)
    ask_change = rng.random() < 0.6
    paid = next(bill for bill in (10, 20, 50, 100) if bill > qa * pa + qb * pb)
    right: Lines = [(f"{a}_cost", f"{qa} * {pa!r}"), (f"{b}_cost", f"{qb} * {pb!r}")]
    wrong: Lines = [(f"{a}_cost", f"{qa} * {pa!r}"), (f"{b}_cost", f"{pb!r}")]
    for lines in (right, wrong):
        lines.append(("total", f"{a}_cost + {b}_cost"))
        if ask_change:
            lines.append(("change", f"{paid} - total"))
    rv, program = run(right)
    wv, _ = run(wrong)
    who = rng.choice(PEOPLE)
    stem = f"{who} buys {qa} {a_pl} at {money(pa)} each and {qb} {b_pl} at {money(pb)} each"
    stem += f" and pays with a ${paid} bill. How much change does {who} get?" if ask_change else "."
    stem += "" if ask_change else " How much does the shopping cost in total?"

    def working(v: dict[str, float], b_count: str) -> str:
        text = (
            f"The {a_pl} cost {qa} × {money(pa)} = {money(v[a + '_cost'])} and the {b_pl} cost "
            f"{b_count}{money(v[b + '_cost'])}. Together that is {money(v['total'])}."
        )
        if ask_change:
            text += f" The change from ${paid} is ${paid} − {money(v['total'])} = {money(v['change'])}."
        return text

    return Problem(
        stem=stem,
        rounding="Give the answer in dollars to 2 decimal places.",
        what="change" if ask_change else "total cost",
        unit="$",
        key=_two(rv, right),
        working=working(rv, f"{qb} × {money(pb)} = "),
        program=program,
        wrong_key=_two(wv, wrong),
        wrong_working=working(wv, ""),
        wrong_why=f"counted one {b} instead of {qb}",
    )


# (from unit, to unit, what, right operator, factor, the fact right, the fact inverted, range)
CONVERSIONS = [
    (
        "km/h",
        "m/s",
        "speed",
        "/",
        "3.6",
        "1 km/h is 1000 m / 3600 s, that is 1/3.6 m/s",
        "1 km/h is 3.6 m/s",
        (20, 130),
    ),
    ("m/s", "km/h", "speed", "*", "3.6", "1 m/s is 3.6 km/h", "1 km/h is 3.6 m/s", (3, 40)),
    ("in", "cm", "length", "*", "2.54", "1 inch is 2.54 cm", "1 cm is 2.54 inches", (3, 80)),
    ("cm", "in", "length", "/", "2.54", "1 inch is 2.54 cm", "1 cm is 2.54 inches", (10, 200)),
    ("miles", "km", "distance", "*", "1.609344", "1 mile is 1.609344 km", "1 km is 1.609344 miles", (3, 300)),
    ("lb", "kg", "mass", "*", "0.45359237", "1 lb is 0.45359237 kg", "1 kg is 0.45359237 lb", (2, 250)),
]


def unit_conversion(rng: random.Random) -> Problem:
    src, dst, what, op, factor, fact, inverted, (lo, hi) = rng.choice(CONVERSIONS)
    x = round(rng.uniform(lo, hi), 1)
    flipped = "*" if op == "/" else "/"
    rv, program = run([(what, f"{x!r} {op} {factor}")])
    wv, _ = run([(what, f"{x!r} {flipped} {factor}")])
    stem = f"Convert {show(x)} {src} to {dst}."
    sym = {"*": "×", "/": "/"}
    return Problem(
        stem=stem,
        rounding=f"Give the answer in {dst} to 2 decimal places.",
        what=what,
        unit=dst,
        key=f"{rv[what]:.2f}",
        working=f"{fact}, so {show(x)} {src} = {show(x)} {sym[op]} {factor} = {rv[what]:.2f} {dst}.",
        program=program,
        wrong_key=f"{wv[what]:.2f}",
        wrong_working=f"{inverted}, so {show(x)} {src} = {show(x)} {sym[flipped]} {factor} = "
        f"{wv[what]:.2f} {dst}.",
        wrong_why=f"inverted the conversion factor ({sym[flipped]} {factor} instead of {sym[op]} {factor})",
    )


def successive_percentages(rng: random.Random) -> Problem:
    price, p1, p2 = (
        rng.randint(40, 900),
        rng.choice([10, 15, 20, 25, 30, 40]),
        rng.choice([5, 10, 15, 20, 25]),
    )
    rise = rng.random() < 0.5
    f1 = f"(1 + {p1} / 100)" if rise else f"(1 - {p1} / 100)"
    rv, program = run([("first", f"{price} * {f1}"), ("price", f"first * (1 - {p2} / 100)")])
    net = p1 - p2 if rise else -(p1 + p2)
    wv, _ = run([("price", f"{price} * (1 + {net} / 100)")])
    sign = "+" if net > 0 else "−" if net < 0 else ""
    first_change = f"raised by {p1}%" if rise else f"discounted by {p1}%"
    stem = f"A coat costs ${price}. Its price is {first_change} and the new price is then reduced by {p2}%."
    return Problem(
        stem=stem + " Calculate the final price.",
        rounding="Give the answer in dollars to 2 decimal places.",
        what="final price",
        unit="$",
        key=f"{rv['price']:.2f}",
        working=f"After the first change the price is ${price} × {show(1 + (p1 if rise else -p1) / 100)} = "
        f"{money(rv['first'])}. The {p2}% reduction gives {money(rv['first'])} × {show(1 - p2 / 100)} = "
        f"{money(rv['price'])}.",
        program=program,
        wrong_key=f"{wv['price']:.2f}",
        wrong_working=f"The two changes add up to {sign}{abs(net)}%, so the final price is"
        f" ${price} × {show(1 + net / 100)} = {money(wv['price'])}.",
        wrong_why="added the percentages instead of applying them one after the other",
    )


def compound_interest(rng: random.Random) -> Problem:
    principal, rate, years = (
        rng.randint(5, 200) * 100,
        rng.choice([2, 2.5, 3, 4, 4.5, 5, 6, 7]),
        rng.randint(2, 12),
    )
    rv, program = run([("amount", f"{principal} * (1 + {rate!r} / 100)**{years}")])
    wv, _ = run(
        [("interest", f"{principal} * {rate!r} / 100 * {years}"), ("amount", f"{principal} + interest")]
    )
    yearly = principal * rate / 100
    return Problem(
        stem=f"${principal} is invested at {show(rate)}% a year, compounded annually. How much is in the "
        f"account after {years} years?",
        rounding="Give the answer in dollars to 2 decimal places.",
        what="balance",
        unit="$",
        key=f"{rv['amount']:.2f}",
        working=f"Each year multiplies the balance by 1 + {show(rate)}/100 = {show(1 + rate / 100)}. "
        f"After {years} years it is ${principal} × {show(1 + rate / 100)}^{years} = {money(rv['amount'])}.",
        program=program,
        wrong_key=f"{wv['amount']:.2f}",
        wrong_working=f"Each year earns {show(rate)}% of ${principal} = {money(yearly)}, so {years} years "
        f"earn {years} × {money(yearly)} = {money(wv['interest'])} and the balance is {money(wv['amount'])}.",
        wrong_why="computed simple interest instead of compound interest",
        distractors=[f"{principal * (1 + rate / 100) ** (years + 1):.2f}", f"{wv['interest']:.2f}"],
    )


def work_rates(rng: random.Random) -> Problem:
    a, b = rng.sample(range(2, 16), 2)
    p, q = rng.sample(PEOPLE, 2)
    job = rng.choice(["paint a fence", "tile a floor", "sort the library's returns", "weed the garden"])
    rv, program = run([("rate", f"1 / {a} + 1 / {b}"), ("hours", "1 / rate")])
    wv, _ = run([("average", f"({a} + {b}) / 2"), ("hours", "average / 2")])
    return Problem(
        stem=f"{p} can {job} alone in {a} hours and {q} can do it alone in {b} hours. How long does the job "
        "take if they work together?",
        rounding="Give the answer in hours to 2 decimal places.",
        what="time together",
        unit="hours",
        key=f"{rv['hours']:.2f}",
        working=f"{p} does 1/{a} of the job per hour and {q} does 1/{b}. Together they do 1/{a} + 1/{b} = "
        f"{show(rv['rate'])} of the job per hour, so it takes 1 / {show(rv['rate'])} = "
        f"{rv['hours']:.2f} hours.",
        program=program,
        wrong_key=f"{wv['hours']:.2f}",
        wrong_working=f"On average one person takes ({a} + {b}) / 2 = {show(wv['average'])} hours, and two "
        f"people working together halve that: {show(wv['average'])} / 2 = {wv['hours']:.2f} hours.",
        wrong_why="averaged the two times and halved, instead of adding the rates",
        distractors=[f"{(a + b) / 2:.2f}", f"{abs(a - b):.2f}"],
    )
