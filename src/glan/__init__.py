"""glan: Generalized Instruction Tuning data, almost from scratch (Li et al. 2024)."""

__version__ = "0.1.0"
