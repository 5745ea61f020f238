"""Socratic Models (Zeng et al. 2022) method nodes: the egocentric world-state log and its video search
(egocentric.py), hierarchical summaries (log_summary.py), Q&A over the log (log_qa.py), video-to-text retrieval
(retrieval.py, retrieval_scoring.py). Generic CLIP/LM/ASR nodes live in socratic/nodes/."""
