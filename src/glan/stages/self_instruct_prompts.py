"""Self-Instruct's prompts, written from the method's description (Wang et al. 2022): ask for
new tasks shown a sample of the pool; classify a task; write its instances input-first, or
output-first (label, then input) for a classification task."""

BOOTSTRAP = (
    "Here are {shown} instructions for tasks that someone might give an AI assistant:\n\n{tasks}\n\n"
    "Write {n} new task instructions like these. Make them diverse: vary the verbs, the topics and "
    "the kinds of task (open-ended writing, classification, editing, brainstorming, question "
    "answering, reasoning, ...), and make each one different from the examples and from the others. "
    "Each instruction is self-contained, one to three sentences, and can be done in text alone (no "
    "images, files, drawings or actions in the world). When a task works on an input (a text to "
    "edit, a list to sort), describe the input instead of including it. "
    'Reply with JSON: {{"instructions": ["...", ...]}}.'
)
CLASSIFY = (
    "Decide whether a task is a classification task: one whose answer is a label from a small, "
    "fixed set (yes or no, true or false, positive or negative, one of the categories it names).\n\n"
    "{examples}Task: {instruction}\nIs it classification? "
    'Reply with JSON: {{"is_classification": true}} or {{"is_classification": false}}.'
)
INPUT_FIRST = (
    "Write up to {n} varied, realistic instances of the task below. An instance is an input for "
    "the task (an empty string when the task needs none) and then the correct output for that "
    "input.\n\n{examples}Task: {instruction}\n"
    'Reply with JSON: {{"instances": [{{"input": "...", "output": "..."}}, ...]}}.'
)
OUTPUT_FIRST = (
    "The task below is a classification task. Write up to {n} instances of it: for each, first "
    "choose a class label, then write an input that belongs to that class. Use different labels "
    "across the instances.\n\n{examples}Task: {instruction}\n"
    'Reply with JSON: {{"instances": [{{"output": "<class label>", "input": "..."}}, ...]}}.'
)
