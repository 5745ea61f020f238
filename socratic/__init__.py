"""socratic: zero-training compositional pipelines."""
