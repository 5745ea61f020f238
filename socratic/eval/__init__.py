"""Evaluation metrics (VQA accuracy) and the `socratic eval` commands."""

from .vqa import VQAResult, evaluate, evaluate_files, question_accuracy

__all__ = ["VQAResult", "evaluate", "evaluate_files", "question_accuracy"]
