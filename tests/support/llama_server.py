"""A real OpenAI-compatible server on loopback: llama.cpp's server (llama-cpp-python) serving the packaged SmolLM2.

Use the `llama_server` fixture (session-scoped; yields the base_url, e.g. http://127.0.0.1:PORT/v1), or
`start_llama_server(gguf)` as a context manager outside pytest (benchmarks).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

PACKAGED_LM = "smollm2-135m-instruct"
SERVER_MODEL_ALIAS = "smollm2"  # the name clients send as `model`


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _models_ready(base_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base_url}/models", timeout=2) as r:
            return r.status == 200 and "data" in json.loads(r.read())
    except (OSError, ValueError, urllib.error.URLError):
        return False


@contextlib.contextmanager
def start_llama_server(gguf: str | Path, *, n_ctx: int = 2048, n_threads: int = 2,
                       wait_s: float = 120.0) -> Iterator[str]:
    """Run `python -m llama_cpp.server` on a free loopback port until the block exits; yields the base_url."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}/v1"
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias", SERVER_MODEL_ALIAS,
           "--host", "127.0.0.1", "--port", str(port), "--logits_all", "true", "--n_ctx", str(n_ctx),
           "--n_threads", str(n_threads), "--n_threads_batch", str(n_threads),
           # llama-cpp-python's echo log-probs are shifted by one token when no BOS is added (SmolLM2 adds none)
           "--kv_overrides", "tokenizer.ggml.add_bos_token=bool:true"]
    log = tempfile.NamedTemporaryFile("w+", prefix="llama_server_", suffix=".log", delete=False)
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        t0 = time.monotonic()
        while not _models_ready(base_url):
            if proc.poll() is not None or time.monotonic() - t0 > wait_s:
                log.flush()
                tail = Path(log.name).read_text(errors="replace")[-3000:]
                state = f"exited with {proc.returncode}" if proc.poll() is not None else f"not ready in {wait_s:g} s"
                raise RuntimeError(f"llama_cpp.server {state}; command: {' '.join(cmd)}\n{tail}")
            time.sleep(0.25)
        start_llama_server.last_start_s = time.monotonic() - t0
        yield base_url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        os.unlink(log.name)


start_llama_server.last_start_s = None


@pytest.fixture(scope="session")
def llama_server() -> Iterator[str]:
    """base_url of a llama.cpp server serving the packaged SmolLM2 (model name: SERVER_MODEL_ALIAS)."""
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("llama_cpp is not importable: pip install 'llama-cpp-python[server]' (the `test` extra)")
    from socratic.models.packaged import resolve_packaged

    with start_llama_server(resolve_packaged(PACKAGED_LM)) as url:
        yield url
