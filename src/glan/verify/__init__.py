"""Answer checks that call no LLM: the programs answers show, run in a sandbox, and their final answers."""
