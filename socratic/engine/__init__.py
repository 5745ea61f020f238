"""The engine: a pipeline's definition (spec.py, yaml_io.py), its compiled Plan (compile.py, payload.py), running it
(runner.py, with cache.py and trace.py), dataset runs (datasets/) and graph export (graph.py). pipeline.py ties
them into the public `Pipeline`; see docs/architecture.md."""
