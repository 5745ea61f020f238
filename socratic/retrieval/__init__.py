"""Socratic video-to-text retrieval (methods.md §1c): CLIP scores of caption sets, re-ranked by an LM summary of
the speech through sentence-embedding similarity."""
