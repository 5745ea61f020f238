import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Node caches per test session, away from the user's cache; model caches are shared (slow conversions)."""
    monkeypatch.setenv("SOCRATIC_NODE_CACHE", str(tmp_path_factory.getbasetemp() / "node-cache"))
    yield


def pytest_collection_modifyitems(config, items):
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def repo() -> Path:
    return REPO


@pytest.fixture
def run_cli():
    """Run `python -m socratic ...` as a user would; returns the CompletedProcess."""
    import subprocess

    def run(*args, cwd=None, env=None, timeout=600):
        full_env = {**os.environ, **(env or {})}
        return subprocess.run([sys.executable, "-m", "socratic", *map(str, args)], capture_output=True, text=True,
                              cwd=cwd or REPO, env=full_env, timeout=timeout)

    return run


# One llama.cpp server per test session, shared by every module that asks for it.
from support.llama_server import llama_server  # noqa: E402,F401
