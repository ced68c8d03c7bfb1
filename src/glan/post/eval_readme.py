"""README.md of the lm-eval task folder: what the task is, the command, what each metric means.
Only glan's own values go in (the checked task name and counts), never text from the data."""

from __future__ import annotations

from typing import Any

_TEMPLATE = """\
# GLAN-Test task `{task}` (lm-evaluation-harness)

The held-out split of a glan export, as a generative lm-evaluation-harness task:
{items:,} questions from {disciplines:,} disciplines, each with the reference answer that the
generating model wrote. The model under test answers every question (greedy decoding, at most
{max_gen_toks:,} new tokens) and its answer is scored against the reference.

## Run it

```bash
pip install "lm_eval[hf]>=0.4.9"   # 0.4.9 added custom_dataset, which loads the data beside the YAML
lm_eval --model hf --model_args pretrained=MODEL,dtype=bfloat16 \\
  --tasks {task} --include_path /path/to/this/folder \\
  --apply_chat_template --batch_size auto --output_path results --log_samples
```

- `--include_path` names this folder (or any folder above it). The folder is self-contained:
  copy it anywhere; the data file is found beside `glan_test.yaml`, whatever the working
  directory.
- `--apply_chat_template` is for chat/instruct models: the question is the user turn. Leave it
  out for a base model (the prompt is then the question text alone; such scores are not
  comparable with chat-template runs).
- vLLM: `--model vllm --model_args pretrained=MODEL,dtype=bfloat16,tensor_parallel_size=1`.
- Try a few items first: `--limit 10`. Longer answers: `--gen_kwargs max_gen_toks=2048`.
- {system}

Scores are in the results JSON under `results.{task}`: `rouge_l,none` and `final_answer,none`
(each with a bootstrap `_stderr`); `--log_samples` keeps every answer and its scores.

## Metrics

- `rouge_l` (all {items:,} items): ROUGE-L F1 between the answer and the reference, from the
  longest common subsequence of their lower-cased word tokens: 2·LCS / (answer words + reference
  words). 1 = the reference's words in its order, 0 = no word in common. Mean over items.
- `final_answer` ({final_note}): 1 when the answer states the same short final answer as the
  reference, else 0. A number (equal within 1e-4 relative; units compared when both give one), a
  choice letter or a `\\boxed{{}}` value. The reference's answer is in the data
  (`final_answer`); the model's is read from `Final answer: X`, `The answer is X`,
  `\\boxed{{X}}`, `#### X` or a short last paragraph holding one number. Mean over the items
  scored.

Read them as agreement with the reference, not as correctness: the references were written by
the LLM that generated the data and nobody checked them. A better model can score lower where a
reference is wrong, ROUGE-L rewards shared wording more than shared meaning, and answers are cut
at `max_gen_toks`. Compare models on the same task folder, not across exports. (The paper's
GLAN-Test is 6,300 held-out questions, 50 per discipline: `glan export --test-per-discipline 50`
makes one like it.) lm-eval warns that the metrics "were not scored on the same number of
documents": expected, since `final_answer` scores only the items that have one.

## Files

- `glan_test.yaml`: the task (`generate_until`, zero-shot).
- `glan_test.jsonl`: one item a line: `question`, `reference`, `final_answer` (the reference's
  short answer or null), `context` (earlier turns of a conversation), `system`, and the pair's
  `id`, `field`, `sub_field`, `discipline`, `subject`, `level`, `difficulty`, `method`.
- `utils.py`: the scorer and the task's hooks (standard library, plus `datasets` to load the
  data); it does not need glan.
"""

_SYSTEM = (
    "The items carry the export's system prompt; lm-eval sends it as the system turn (the task's "
    "`description`), after any `--system_instruction`."
)
_NO_SYSTEM = "The items carry no system prompt; give one with `--system_instruction`."


def render_readme(summary: dict[str, Any]) -> str:
    """The folder's README from the writer's summary (task, items, final_answer_items, ...)."""
    n = summary["final_answer_items"]
    note = (
        f"the {n:,} items whose reference states one"
        if n
        else "no reference here states one: not in this task"
    )
    system = _SYSTEM if summary["system_prompt"] else _NO_SYSTEM
    return _TEMPLATE.format(**summary, system=system, final_note=note)
