"""The held-out split as an lm-evaluation-harness task folder (GLAN-Test style): generative, the
reference answers as targets, scored by a documented scorer that ships in the folder.

The folder holds `glan_test.yaml` (the task), `glan_test.jsonl` (the items: question, reference,
its short final answer if any, and metadata), `utils.py` (the scorer: glan.post.eval_scorer
after a copy of glan.verify.final_answer, standard library only) and README.md (the metrics
and the `lm_eval` command). Nothing here imports lm-eval, and the folder imports nothing of
glan: copy it to a GPU machine and point `lm_eval --include_path` at it.

No text from the data goes into the YAML (lm-eval reads it with a loader that builds Python
objects, and renders some fields as Jinja templates): questions and answers live in the JSONL
only, and the prompt is built by a Python function, so `{{ }}` in a question stays text.
"""

from __future__ import annotations

import ast
import inspect
import json
import re
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

from glan.atomic import JsonlWriter, write_atomic
from glan.errors import ConfigError
from glan.post import eval_scorer
from glan.post.eval_readme import render_readme
from glan.post.normalize import prompt_text
from glan.verify import final_answer as final_answer_module

TASK_DIR = "lm_eval"  # where `glan export` puts the task, inside its output directory
YAML_FILE, DATA_FILE, UTILS_FILE, README_FILE = (
    "glan_test.yaml",
    eval_scorer.DATA_FILE,
    "utils.py",
    "README.md",
)
META = ("id", "field", "sub_field", "discipline", "subject", "level", "difficulty", "method")
MAX_GEN_TOKS = 1024  # GLAN answers are chain-of-thought essays: room for one, not for rambling
# end-of-turn markers of common chat templates (ChatML/Qwen/SmolLM, Llama 3, Phi-3, Gemma,
# Mistral); lm-eval adds the tokenizer's own end-of-sequence token to these
UNTIL = ("<|im_end|>", "<|eot_id|>", "<|end|>", "<end_of_turn>", "</s>")
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$")


def default_task_name(out_dir: Path) -> str:
    """`glan_test_<run name>`, lower case, letters, digits and `_` only. The run name is the
    folder's name, or its parent's for a run's `clean/` folder (RUN/clean -> RUN)."""
    folder = Path(out_dir).resolve()
    run = folder.parent.name if folder.name == "clean" else folder.name
    slug = re.sub(r"[^a-z0-9]+", "_", run.lower()).strip("_")
    return f"glan_test_{slug}" if slug else "glan_test"


def check_task_name(name: str) -> str:
    """The name, or a ConfigError: lm-eval takes task names in a comma-separated list."""
    if not _NAME.match(name):
        raise ConfigError(
            f"task name {name!r}: use letters, digits, '_', '.' or '-' (no spaces or commas), "
            "starting with a letter, digit or '_'"
        )
    return name


def eval_item(rec: dict[str, Any], system: str | None = None) -> dict[str, Any]:
    """One task item from a pair record: the last user turn as the question (earlier turns of a
    conversation as `context`), the last assistant turn as the reference, the reference's short
    final answer (None for an essay), the system prompt, and the pair's metadata."""
    turns = rec.get("messages")
    context: list[dict[str, str]] = []
    if turns:
        last_user = max(i for i, t in enumerate(turns) if t["role"] == "user")
        question, reference = turns[last_user]["content"], turns[-1]["content"]
        if turns[0]["role"] == "system":
            system = turns[0]["content"]
        context = [
            {"role": t["role"], "content": t["content"]} for t in turns[:last_user] if t["role"] != "system"
        ]
    else:
        question, reference = prompt_text(rec), rec["response"]
    item = {
        "question": question,
        "reference": reference,
        "final_answer": final_answer_module.final_answer(reference),
        "context": context,
        "system": system or "",
    }
    item.update({k: None if rec.get(k) is None else str(rec[k]) for k in META})
    return item


def _body(module: Any) -> str:
    """A module's source without its docstring, `from __future__`, glan imports and __all__."""
    src = inspect.getsource(module)
    lines = src.splitlines(keepends=True)
    drop: set[int] = set()
    for i, node in enumerate(ast.parse(src).body):
        doc = i == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
        future = isinstance(node, ast.ImportFrom) and node.module == "__future__"
        ours = (isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "glan") or (
            isinstance(node, ast.Import) and any(a.name.split(".")[0] == "glan" for a in node.names)
        )
        names = isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "__all__" for t in node.targets)
        if doc or future or ours or names:
            drop.update(range(node.lineno - 1, node.end_lineno or node.lineno))
    return "".join(line for n, line in enumerate(lines) if n not in drop).strip("\n")


def utils_source() -> str:
    """The task folder's utils.py: the scorer's docstring, then a copy of glan's final-answer
    extractor, then the scorer's code (checked to compile)."""
    doc = ast.get_docstring(ast.parse(inspect.getsource(eval_scorer)), clean=False) or ""
    text = (
        f'"""{doc}"""\n\nfrom __future__ import annotations\n\n'
        "# ---- copied from glan.verify.final_answer: short final answers ----\n"
        f"{_body(final_answer_module)}\n\n\n"
        "# ---- copied from glan.post.eval_scorer: the metrics and the task's hooks ----\n"
        f"{_body(eval_scorer)}\n"
    )
    compile(text, UTILS_FILE, "exec")
    return text


def render_yaml(name: str, max_gen_toks: int, has_system: bool, has_final: bool) -> str:
    """The task YAML. Every value here is glan's own (the name is checked): no data text."""
    until = ", ".join(json.dumps(u) for u in UNTIL)
    metrics = ["rouge_l", *(["final_answer"] if has_final else [])]
    metric_list = "".join(
        f"  - metric: {m}\n    aggregation: mean\n    higher_is_better: true\n" for m in metrics
    )
    # lm-eval renders `description` as a template over the item: the item's system prompt, as text
    system = 'description: "{{system}}"\n' if has_system else ""
    return (
        "# lm-evaluation-harness task written by glan (GLAN-Test style); README.md says how to run it.\n"
        f"task: {json.dumps(check_task_name(name))}\n"
        "dataset_path: json\n"
        f"dataset_kwargs:\n  data_files:\n    test: {DATA_FILE}\n"
        "# loads data_files beside this file (lm-eval would resolve them against the working directory)\n"
        "custom_dataset: !function utils.load_test_split\n"
        "test_split: test\n"
        "output_type: generate_until\n"
        "doc_to_text: !function utils.doc_to_text\n"
        "doc_to_target: reference\n"
        f"{system}"
        "num_fewshot: 0\n"
        "generation_kwargs:\n"
        f"  until: [{until}]\n"
        f"  max_gen_toks: {int(max_gen_toks)}\n"
        "  do_sample: false\n"
        "  temperature: 0.0\n"
        "process_results: !function utils.process_results\n"
        f"metric_list:\n{metric_list}"
        "metadata:\n  version: 1.0\n"
    )


class EvalTaskWriter:
    """Writes a task folder into `folder` (a fresh folder, e.g. inside a staging directory):
    `write()` each held-out record, then `close()`; the data streams to disk."""

    def __init__(
        self, folder: Path, name: str, system_prompt: str | None = None, max_gen_toks: int = MAX_GEN_TOKS
    ):
        self.folder, self.name = Path(folder), check_task_name(name)
        self.system_prompt, self.max_gen_toks = system_prompt, max_gen_toks
        if max_gen_toks < 1:
            raise ConfigError(f"max_gen_toks {max_gen_toks}: must be at least 1")
        self._data = JsonlWriter(self.folder / DATA_FILE)
        self.count = self.with_final = 0
        self.has_system = False
        self.disciplines: Counter[str] = Counter()

    def write(self, rec: dict[str, Any]) -> None:
        item = eval_item(rec, self.system_prompt)
        self._data.write(item)
        self.count += 1
        self.with_final += item["final_answer"] is not None
        self.has_system |= bool(item["system"])
        self.disciplines[item["discipline"] or "(none)"] += 1

    def close(self, ok: bool = True) -> None:
        """Finish the folder (the YAML, utils.py, README.md); with `ok` False remove it."""
        if not ok:
            self._data.abort()
            shutil.rmtree(self.folder, ignore_errors=True)  # the writer's own, fresh folder
            return
        self._data.commit()
        files = {
            YAML_FILE: render_yaml(self.name, self.max_gen_toks, self.has_system, self.with_final > 0),
            UTILS_FILE: utils_source(),
            README_FILE: render_readme(self.summary()),
        }
        for file, text in files.items():
            write_atomic(self.folder / file, text.encode())

    def summary(self) -> dict[str, Any]:
        """What the folder holds (for report.json and the README)."""
        return {
            "task": self.name,
            "items": self.count,
            "final_answer_items": self.with_final,
            "disciplines": len(self.disciplines),
            "max_gen_toks": self.max_gen_toks,
            "system_prompt": self.has_system,
            "files": [YAML_FILE, DATA_FILE, UTILS_FILE, README_FILE],
        }
