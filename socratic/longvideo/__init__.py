"""Long-video multiple-choice QA by captions and an LM (methods.md §4): LLoVi's clip captions and question-aware
summary (timeline.py), VideoTree's relevance-guided frame tree (tree.py, videotree.py)."""
