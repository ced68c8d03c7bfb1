"""Fine-tuning checks on an export: GGUF -> Hugging Face folders and a short SFT run (glan[train])."""
