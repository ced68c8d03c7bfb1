"""The physics kinds of the verification set (benchmarks/verify_set.py): a solid sphere's moment
of inertia, uniform acceleration, electrical power; see verify_set_kinds.py for the shape of a
kind."""

from __future__ import annotations

import random

try:  # imported as benchmarks.verify_set_physics (the tests)
    from benchmarks.verify_set_kinds import Problem, run, show
except ModuleNotFoundError:  # run as a script: benchmarks/ is on sys.path
    from verify_set_kinds import Problem, run, show


def moment_of_inertia(rng: random.Random) -> Problem:
    m, r = round(rng.uniform(4, 40), 1), round(rng.uniform(0.4, 1.5), 2)
    by_diameter = rng.random() < 0.4
    size = f"diameter {show(2 * r)} m" if by_diameter else f"radius {show(r)} m"
    stem = f"A solid sphere of mass {show(m)} kg and {size} spins about an axis through its centre. "
    stem += "Calculate its moment of inertia."
    first = (f"r = {show(2 * r)} / 2 = {show(r)} m and " if by_diameter else "") + f"r² = {show(r * r)} m²"
    rv, program = run(
        [("r", f"{2 * r!r} / 2" if by_diameter else f"{r!r}"), ("inertia", f"2 / 5 * {m!r} * r**2")]
    )
    if by_diameter:  # the mistake: the diameter taken for the radius
        wv, _ = run([("inertia", f"2 / 5 * {m!r} * {2 * r!r}**2")])
        wrong_working = (
            f"For a solid sphere I = (2/5) M r². With r = {show(2 * r)} m, r² = {show(4 * r * r)} m², "
            f"so I = 0.4 × {show(m)} kg × {show(4 * r * r)} m² = {wv['inertia']:.2f} kg·m²."
        )
        why = "used the diameter as the radius"
    else:  # the mistake: a thin hollow shell's 2/3
        wv, _ = run([("inertia", f"2 / 3 * {m!r} * {r!r}**2")])
        wrong_working = (
            f"For a sphere I = (2/3) M r². Here {first}, so I = (2/3) × {show(m)} kg × {show(r * r)} m² "
            f"= {wv['inertia']:.2f} kg·m²."
        )
        why = "used 2/3 M r² (a hollow shell) for a solid sphere"
    return Problem(
        stem=stem,
        rounding="Give the answer in kg·m² to 2 decimal places.",
        what="moment of inertia",
        unit="kg·m²",
        key=f"{rv['inertia']:.2f}",
        working=f"For a solid sphere about a diameter, I = (2/5) M r². Here {first}, so I = 0.4 × "
        f"{show(m)} kg × {show(r * r)} m² = {rv['inertia']:.2f} kg·m².",
        program=program,
        wrong_key=f"{wv['inertia']:.2f}",
        wrong_working=wrong_working,
        wrong_why=why,
        distractors=[f"{m * r**2:.2f}", f"{m * r**2 / 2:.2f}"],  # a hoop's M r², a cylinder's ½ M r²
    )


def kinematics(rng: random.Random) -> Problem:
    t = rng.randint(2, 9)
    if rng.random() < 0.5:  # braking: v = u - a t
        a = round(rng.uniform(0.5, 4), 1)
        u = round(a * t + rng.uniform(2, 15), 1)
        rv, program = run([("v", f"{u!r} - {a!r} * {t}")])
        wv, _ = run([("v", f"{u!r} + {a!r} * {t}")])
        stem = f"A car travelling at {show(u)} m/s brakes with a constant deceleration of {show(a)} m/s²"
        stem += f" for {t} s."
        return Problem(
            stem=stem + " Calculate its speed at the end of the braking.",
            rounding="Give the answer in m/s to 2 decimal places.",
            what="final speed",
            unit="m/s",
            key=f"{rv['v']:.2f}",
            working=f"With v = u + a t and a = −{show(a)} m/s² (the car slows down), v = {show(u)} − "
            f"{show(a)} × {t} = {show(u)} − {show(a * t)} = {rv['v']:.2f} m/s.",
            program=program,
            wrong_key=f"{wv['v']:.2f}",
            wrong_working=f"Using v = u + a t: v = {show(u)} + {show(a)} × {t} = {show(u)} + {show(a * t)} = "
            f"{wv['v']:.2f} m/s.",
            wrong_why="added the deceleration instead of subtracting it",
            distractors=[f"{u - a:.2f}", f"{a * t:.2f}"],
        )
    u, a = round(rng.uniform(0, 12), 1), round(rng.uniform(0.5, 5), 1)
    rv, program = run([("s", f"{u!r} * {t} + {a!r} * {t}**2 / 2")])
    wv, _ = run([("s", f"{u!r} * {t} + {a!r} * {t}**2")])
    stem = f"A cart moving at {show(u)} m/s accelerates uniformly at {show(a)} m/s² for {t} s."
    return Problem(
        stem=stem + " How far does it travel in that time?",
        rounding="Give the answer in metres to 2 decimal places.",
        what="distance",
        unit="m",
        key=f"{rv['s']:.2f}",
        working=f"Using s = u t + ½ a t²: u t = {show(u)} × {t} = {show(u * t)} m and ½ a t² = 0.5 × "
        f"{show(a)} × {t * t} = {show(a * t * t / 2)} m, so s = {rv['s']:.2f} m.",
        program=program,
        wrong_key=f"{wv['s']:.2f}",
        wrong_working=f"Using s = u t + a t²: u t = {show(u * t)} m and a t² = {show(a)} × {t * t} = "
        f"{show(a * t * t)} m, so s = {wv['s']:.2f} m.",
        wrong_why="left out the ½ in s = u t + ½ a t²",
        distractors=[f"{u * t:.2f}", f"{u * t + a * t:.2f}"],
    )


def electrical_power(rng: random.Random) -> Problem:
    if rng.random() < 0.5:  # P = V I with the current in mA
        volts, ma = rng.choice([3.7, 5, 9, 12, 24]), rng.randint(120, 950)
        rv, program = run([("current", f"{ma} / 1000"), ("power", f"{volts!r} * current")])
        wv, _ = run([("current", f"{ma} / 100"), ("power", f"{volts!r} * current")])
        stem = f"A device draws {ma} mA from a {show(volts)} V supply. Calculate the power it uses."
        return Problem(
            stem=stem,
            rounding="Give the answer in watts to 2 decimal places.",
            what="power",
            unit="W",
            key=f"{rv['power']:.2f}",
            working=f"P = V I. The current is {ma} mA = {show(rv['current'])} A, so P = {show(volts)} V × "
            f"{show(rv['current'])} A = {rv['power']:.2f} W.",
            program=program,
            wrong_key=f"{wv['power']:.2f}",
            wrong_working=f"P = V I. The current is {ma} mA = {show(wv['current'])} A, so P = {show(volts)} V"
            f" × {show(wv['current'])} A = {wv['power']:.2f} W.",
            wrong_why="converted mA to A by dividing by 100, not 1000",
        )
    amps, ohms = round(rng.uniform(1.2, 6), 1), rng.randint(3, 60)
    rv, program = run([("power", f"{amps!r}**2 * {ohms}")])
    wv, _ = run([("power", f"{amps!r} * {ohms}")])
    return Problem(
        stem=f"A current of {show(amps)} A flows through a {ohms} Ω resistor. Calculate the power it "
        "dissipates.",
        rounding="Give the answer in watts to 2 decimal places.",
        what="power",
        unit="W",
        key=f"{rv['power']:.2f}",
        working=f"P = I² R = {show(amps)}² × {ohms} = {show(amps * amps)} × {ohms} = {rv['power']:.2f} W.",
        program=program,
        wrong_key=f"{wv['power']:.2f}",
        wrong_working=f"P = I R = {show(amps)} × {ohms} = {wv['power']:.2f} W.",
        wrong_why="forgot to square the current (P = I R is the voltage)",
        distractors=[f"{amps * ohms**2:.2f}", f"{ohms / amps:.2f}"],
    )
