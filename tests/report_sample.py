"""A realistic report dict (the shape of report.json) for the HTML report's tests."""

from __future__ import annotations

import math
import random
from typing import Any

TAXONOMY = {
    "Natural sciences": {
        "Physical sciences": {
            "Physics": ["Classical mechanics", "Electromagnetism", "Thermodynamics", "Quantum mechanics"],
            "Chemistry": ["Organic chemistry", "Physical chemistry", "Analytical chemistry"],
        },
        "Life sciences": {"Biology": ["Cell biology", "Genetics", "Ecology", "Neuroscience"]},
    },
    "Engineering and technology": {
        "Computing": {
            "Computer science": ["Algorithms", "Operating systems", "Databases", "Compilers"],
            "Software engineering": ["Testing", "Version control"],
        },
        "Electrical engineering": {
            "Electronics": ["Circuit analysis", "Signal processing", "Control systems"]
        },
    },
    "Humanities": {
        "History and archaeology": {"History": ["Ancient history", "Medieval history", "Modern history"]},
        "Philosophy, ethics and religion": {"Philosophy": ["Logic", "Ethics", "Epistemology"]},
    },
    "Social sciences": {
        "Economics and business": {"Economics": ["Microeconomics", "Macroeconomics", "Econometrics"]},
        "Psychology": {"Psychology": ["Cognitive psychology", "Developmental psychology"]},
    },
}

INSTRUCTIONS = [
    "A block of mass {m} kg slides down a frictionless incline of {a} degrees. Find its acceleration.",
    "Explain, step by step, why the time complexity of binary search is O(log n).",
    "Write a Python function that returns the {m}th Fibonacci number using memoization.",
    "Compare the causes of the First and Second World Wars in about {a} words.",
    "A firm faces demand Q = {a} - 2P. Compute the revenue-maximising price.",
    "Balance the equation for the combustion of propane and name the limiting reagent for {m} g of O2.",
    "Describe how a Kalman filter fuses two noisy sensor readings.",
    "Is lying ever morally permissible? Discuss with reference to Kant and Mill.",
]
RESPONSE = (
    "We start from the definitions. {body}\n\nStep 1: write down what is known.\nStep 2: apply the relevant "
    "principle and simplify.\nStep 3: check the units and the limiting cases.\n\n"
    "```python\ndef answer(x):\n    return x * 2\n```\n\nSo the final answer is {m}."
)


def _subjects() -> list[tuple[str, str, str, str]]:
    return [
        (f, sf, d, s)
        for f, sfs in TAXONOMY.items()
        for sf, ds in sfs.items()
        for d, subs in ds.items()
        for s in subs
    ]


def _hist(rng: random.Random, n: int, centre: float, spread: float, edges: list[float]) -> dict[str, Any]:
    counts = [0] * (len(edges) - 1)
    for _ in range(n):
        v = rng.lognormvariate(math.log(centre), spread)
        i = min(len(counts) - 1, max(0, next((k for k, e in enumerate(edges[1:]) if v < e), len(counts) - 1)))
        counts[i] += 1
    return {"edges": edges, "counts": counts}


def _tree(rng: random.Random, pairs_of: dict[str, int]) -> dict[str, Any]:
    def node(name: str, level: str, kids: list[dict[str, Any]]) -> dict[str, Any]:
        return {"name": name, "level": level, "pairs": sum(k["pairs"] for k in kids), "children": kids}

    fields = []
    for f, sfs in TAXONOMY.items():
        sub_fields = []
        for sf, ds in sfs.items():
            discs = []
            for d, subs in ds.items():
                leaves = []
                for s in subs:
                    sessions = rng.randint(8, 16)
                    concepts = sessions * rng.randint(3, 5)
                    p = pairs_of[s]
                    cov = 0.0 if p == 0 else min(1.0, 0.55 + rng.random() * 0.45)
                    leaves.append(
                        {
                            "name": s,
                            "level": "subject",
                            "pairs": p,
                            "sessions": [round(sessions * cov), sessions],
                            "concepts": [round(concepts * cov * 0.9), concepts],
                        }
                    )
                discs.append(node(d, "discipline", leaves))
            sub_fields.append(node(sf, "sub_field", discs))
        fields.append(node(f, "field", sub_fields))
    root = node("all", "root", fields)
    del root["level"]  # the root has no level in report.json
    return root


def sample_run(seed: int = 0, name: str = "demo", points: int = 600, samples_per_discipline: int = 2) -> dict:
    """One run: every section filled, a few empty subjects, realistic losses and histograms."""
    rng = random.Random(seed)
    subjects = _subjects()
    empty = {subjects[(seed * 7 + k * 11) % len(subjects)][3] for k in range(2)}
    pairs_of = {s: 0 if s in empty else rng.randint(20, 90) for _, _, _, s in subjects}
    tree = _tree(rng, pairs_of)
    pairs = tree["pairs"]
    kept = int(pairs * (0.86 + 0.03 * seed))
    syllabi = len(subjects)
    planned, lost = pairs + 220, pairs - kept
    funnel = [
        {"step": "disciplines", "input": 12, "output": 12, "losses": []},
        {"step": "subjects", "input": 12, "output": syllabi, "losses": []},
        {"step": "syllabi", "input": syllabi, "output": syllabi, "losses": []},
        {"step": "questions", "input": planned, "output": pairs + 40, "losses": [
            {"reason": "failed: invalid JSON", "count": 120},
            {"reason": "failed: schema validation", "count": 60},
        ]},
        {"step": "answers", "input": pairs + 40, "output": pairs, "losses": [
            {"reason": "failed: finish_reason=length", "count": 31},
            {"reason": "failed: empty response", "count": 9},
        ]},
        {"step": "clean", "input": pairs, "output": kept, "losses": [
            {"reason": "near_dup", "count": int(lost * 0.6)},
            {"reason": "exact_dup", "count": int(lost * 0.25)},
            {"reason": "too_short", "count": lost - int(lost * 0.6) - int(lost * 0.25)},
        ]},
    ]  # fmt: skip
    cost = []
    for step, calls, p_tok, c_tok in [
        ("subjects", 12, 300, 900),
        ("syllabi", syllabi, 420, 1400),
        ("questions", planned, 520, 160),
        ("answers", pairs + 40, 260, 380),
    ]:
        model_s = calls * c_tok / 14.5
        cost.append({
            "step": step, "calls": calls, "prompt_tokens": calls * p_tok, "completion_tokens": calls * c_tok,
            "model_s": model_s, "cost_usd": None,
            "per_kept_pair": {"completion_tokens": calls * c_tok / kept, "model_s": model_s / kept,
                              "cost_usd": None},
        })  # fmt: skip
    fields = list(TAXONOMY)
    centres = [(rng.uniform(-6, 6), rng.uniform(-6, 6)) for _ in fields]
    pts = []
    for k in range(points):
        fi = k % len(fields)
        cx, cy = centres[fi]
        text = INSTRUCTIONS[k % len(INSTRUCTIONS)].format(m=k % 9 + 1, a=20 + k % 50)
        pts.append([round(rng.gauss(cx, 1.6), 3), round(rng.gauss(cy, 1.6), 3), fi, text])
    nn_edges = [round(0.05 * i, 2) for i in range(17)]
    samples = []
    for _, _, d, s in subjects:
        if d in {x["discipline"] for x in samples}:
            continue
        for k in range(samples_per_discipline):
            text = INSTRUCTIONS[(len(samples) + k) % len(INSTRUCTIONS)].format(m=k + 3, a=35)
            body = " ".join(["The quantity we need follows from the governing relation."] * (1 + 4 * k))
            samples.append({
                "discipline": d, "subject": s, "difficulty": ("basic", "challenging", "evolved")[k % 3],
                "instruction": text, "response": RESPONSE.format(body=body, m=k + 3),
            })  # fmt: skip
    c_tok = sum(c["completion_tokens"] for c in cost)
    return {
        "name": name,
        "path": f"runs/{name}",
        "recipe": "glan",
        "model": "qwen2.5-coder-1.5b",
        "totals": {
            "pairs": pairs,
            "kept": kept,
            "calls": sum(c["calls"] for c in cost),
            "prompt_tokens": sum(c["prompt_tokens"] for c in cost),
            "completion_tokens": c_tok,
            "model_s": sum(c["model_s"] for c in cost),
            "cost_usd": None,
        },  # fmt: skip
        "coverage": {
            "tree": tree,
            "difficulty": {
                "basic": pairs // 2,
                "challenging": pairs // 3,
                "evolved": pairs - pairs // 2 - pairs // 3,
            },
        },
        "funnel": funnel,
        "cost": cost,
        "diversity": {
            "sample": min(2000, kept),
            "distinct_1": 0.11 + 0.02 * seed,
            "distinct_2": 0.42,
            "distinct_3": 0.71,
            "compression_ratio": 3.1 - 0.2 * seed,
            "mean_pairwise_rouge_l": 0.12,
            "near_dup_rate": 0.021,
            "vendi": 150.2 + 30 * seed,
            "embedding_model": "all-MiniLM-L6-v2",
            "nn_distance": _hist(rng, 2000, 0.32 + 0.06 * seed, 0.35, nn_edges),
            "map": {"fields": fields, "points": pts},
        },  # fmt: skip
        "lengths": {
            "instruction_words": _hist(
                rng, kept, 28 + 6 * seed, 0.45, [0, 10, 20, 30, 40, 50, 60, 80, 100, 150]
            ),
            "response_words": _hist(
                rng, kept, 180, 0.5, [0, 50, 100, 150, 200, 250, 300, 400, 500, 700, 1000]
            ),
            "finish_reasons": {"stop": pairs - 34, "length": 34},
            "verification": {
                "checked": 500,
                "passed": 420 - 20 * seed,
                "by_check": {
                    "double_critic": [300, 250],
                    "code_check": [120, 104],
                    "self_consistency": [80, 66],
                },
            },  # fmt: skip
        },
        "samples": samples,
    }


def sample_report(runs: int = 1) -> dict:
    """A report of `runs` runs (named demo, demo-b, demo-c ...), each with every section filled."""
    names = ["demo"] + [f"demo-{chr(ord('b') + i)}" for i in range(runs - 1)]
    return {
        "version": 1,
        "generated": "2026-12-01T12:00:00Z",
        "runs": [sample_run(i, n) for i, n in enumerate(names)],
    }


# Strings that would run script, load an image or break out of a tag if they were written as markup.
SCRIPT = "<script>window.__pwned=1</script>"
IMG = '<img src=x onerror="window.__pwned=2">'
BREAKOUT = "</script><script>window.__pwned=3</script>"
ATTR = '"><svg onload="window.__pwned=4">'
HOSTILE = [SCRIPT, IMG, BREAKOUT, ATTR]


def hostile_report(runs: int = 1) -> dict:
    """sample_report with the hostile strings planted in every text the page shows."""
    report = sample_report(runs)
    report["generated"] = IMG
    for run in report["runs"]:
        run["name"] = f"run {ATTR}"
        run.update(recipe=SCRIPT, model=IMG, path=BREAKOUT)
        run["totals"]["pairs"] = SCRIPT  # a string where a number belongs
        field = run["coverage"]["tree"]["children"][0]
        field["name"] = f"field {SCRIPT}"
        field["level"] = ATTR
        sub_field = field["children"][0]
        sub_field["name"] = f"sub {IMG}"
        discipline = sub_field["children"][0]
        discipline["name"] = f"discipline {BREAKOUT}"
        discipline["children"][0]["name"] = f"subject {ATTR}"
        discipline["children"][0]["sessions"] = [SCRIPT, 3]
        run["coverage"]["difficulty"][IMG] = 5
        run["funnel"][0]["step"] = f"step {SCRIPT}"
        run["funnel"][-1]["losses"].append({"reason": f"reason {IMG}", "count": 3})
        run["cost"][0]["step"] = f"cost {BREAKOUT}"
        run["cost"][0]["calls"] = ATTR
        div = run["diversity"]
        div["embedding_model"] = ATTR
        div["vendi"] = SCRIPT
        div["map"]["fields"][1] = f"mapfield {BREAKOUT}"
        div["map"]["points"].append([0.0, 0.0, 1, SCRIPT])  # last: drawn on top, the one a test hovers
        div["nn_distance"]["counts"][0] = IMG  # a broken histogram: drawn as missing, never as text
        lengths = run["lengths"]
        lengths["finish_reasons"][f"finish {IMG}"] = 2
        lengths["verification"]["by_check"][f"check {BREAKOUT}"] = [10, 5]
        run["samples"].insert(0, {
            "discipline": f"discipline {BREAKOUT}", "subject": f"subject {ATTR}", "difficulty": IMG,
            "instruction": SCRIPT, "response": IMG,
        })  # fmt: skip
        run["samples"].append({
            "discipline": "Long", "subject": "x", "difficulty": "basic",
            "instruction": "word " * 200 + SCRIPT, "response": IMG + " more" * 300,
        })  # fmt: skip
    return report
