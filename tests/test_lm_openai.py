"""OpenAI-compatible LM backend: retry/timeout/key handling against scripted loopback HTTP servers, and generation,
logprobs, stop, n, concurrency, scoring and chat against a real llama.cpp server serving the packaged SmolLM2."""

from __future__ import annotations

import json
import math
import pickle
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from socratic.errors import SocraticError
from socratic.models.lm_openai import OpenAILM, is_loopback
from socratic.models.loader import ModelSpec
from support.llama_server import SERVER_MODEL_ALIAS

FAKE_KEY = "sk-test-SECRET-4f1c9a7e"


def completion_json(text="hello", logprobs=None):
    return {"id": "cmpl-1", "object": "text_completion", "created": 0, "model": "fake",
            "choices": [{"text": text, "index": 0, "logprobs": logprobs, "finish_reason": "stop"}]}


@contextmanager
def scripted_server(respond):
    """A loopback HTTP server; `respond(n, body) -> (status, json_or_None, delay_s)` answers the n-th request."""
    seen: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
            seen.append({"path": self.path, "auth": self.headers.get("authorization"), "body": body})
            status, payload, delay = respond(len(seen), body)
            time.sleep(delay)
            ctype = "text/html" if isinstance(payload, bytes) else "application/json"
            data = payload.decode() if isinstance(payload, bytes) else json.dumps(
                payload if payload is not None else {"error": {"message": f"status {status}"}})
            try:
                self.send_response(status)
                self.send_header("content-type", ctype)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data.encode())
            except OSError:  # client gave up (timeout test)
                pass

        def log_message(self, *args):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, args=(0.02,), daemon=True).start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}/v1", seen
    finally:
        srv.shutdown()
        srv.server_close()


def fake_lm(url, **kw):
    kw.setdefault("retry_base_delay", 0.01)
    return OpenAILM(model="fake-model", base_url=url, **kw)


# -- retries, timeouts, keys (no model needed) ------------------------------------------------------------------


def test_retries_429_twice_then_succeeds():
    with scripted_server(lambda n, b: (429, None, 0) if n <= 2 else (200, completion_json("ok!"), 0)) as (url, seen):
        out = fake_lm(url, max_retries=3).generate(["hi"], max_new_tokens=5)
    assert [[c.text for c in cs] for cs in out] == [["ok!"]]
    assert len(seen) == 3
    assert all(s["body"]["prompt"] == "hi" and s["body"]["max_tokens"] == 5 for s in seen)


def test_429_beyond_max_retries_fails():
    with scripted_server(lambda n, b: (429, None, 0) if n <= 2 else (200, completion_json(), 0)) as (url, seen):
        with pytest.raises(SocraticError, match="HTTP 429"):
            fake_lm(url, max_retries=1).generate(["hi"])
    assert len(seen) == 2


def test_always_500_fails_after_retries_without_leaking_key(monkeypatch):
    monkeypatch.setenv("SOCRATIC_TEST_KEY", FAKE_KEY)
    with scripted_server(lambda n, b: (500, {"error": {"message": "boom"}}, 0)) as (url, seen):
        lm = fake_lm(url, max_retries=2, api_key_env="SOCRATIC_TEST_KEY")
        with pytest.raises(SocraticError) as ei:
            lm.generate(["hi"])
    msg = str(ei.value)
    assert len(seen) == 3
    assert seen[0]["auth"] == f"Bearer {FAKE_KEY}"  # the key was used ...
    assert "\n" not in msg and "fake-model" in msg and url in msg and "500" in msg
    for text in (msg, repr(lm), lm.fingerprint, str(vars(lm).get("fingerprint"))):  # ... and shown nowhere
        assert FAKE_KEY not in text
    assert FAKE_KEY.encode() not in pickle.dumps(lm)


def test_client_error_is_not_retried():
    with scripted_server(lambda n, b: (400, {"error": {"message": "bad max_tokens"}}, 0)) as (url, seen):
        with pytest.raises(SocraticError, match="HTTP 400.*bad max_tokens"):
            fake_lm(url, max_retries=3).generate(["hi"])
    assert len(seen) == 1


def test_timeout_is_honoured():
    with scripted_server(lambda n, b: (200, completion_json(), 3.0)) as (url, seen):
        t0 = time.monotonic()
        with pytest.raises(SocraticError, match="timed out after 0.4 s"):
            fake_lm(url, timeout=0.4, max_retries=1).generate(["hi"])
        elapsed = time.monotonic() - t0
    assert len(seen) == 2
    assert elapsed < 2.5


def test_connection_refused_is_retried_then_reported():
    with scripted_server(lambda n, b: (200, completion_json(), 0)) as (url, _):
        pass  # closed again: nothing listens on that port now
    with pytest.raises(SocraticError, match="connection error.*after 3 attempt"):
        fake_lm(url, max_retries=2).generate(["hi"])


def test_remote_url_needs_the_key_env_var(monkeypatch):
    monkeypatch.delenv("SOCRATIC_NO_SUCH_KEY", raising=False)
    with pytest.raises(SocraticError, match="SOCRATIC_NO_SUCH_KEY"):
        OpenAILM(model="m", base_url="https://api.example.com/v1", api_key_env="SOCRATIC_NO_SUCH_KEY")
    assert is_loopback("http://localhost:8000/v1") and is_loopback("http://[::1]:1/v1")
    assert not is_loopback("https://api.openai.com/v1")


def test_loopback_works_without_key(monkeypatch):
    monkeypatch.delenv("SOCRATIC_NO_SUCH_KEY", raising=False)
    with scripted_server(lambda n, b: (200, completion_json("x"), 0)) as (url, seen):
        out = fake_lm(url, api_key_env="SOCRATIC_NO_SUCH_KEY").generate(["p"])
    assert out[0][0].text == "x" and seen[0]["auth"].startswith("Bearer ")


def test_spec_options_and_bad_options():
    spec = ModelSpec("lm", "lm", "openai", {"id": "m1", "base_url": "http://127.0.0.1:9/v1", "mode": "chat"})
    lm = OpenAILM(spec)
    assert (lm.model, lm.mode, lm.model_id) == ("m1", "chat", "m1")
    with pytest.raises(SocraticError, match="models.lm.*unknown option.*'temprature'"):
        OpenAILM(ModelSpec("lm", "lm", "openai", {"model": "m", "temprature": 1}))
    with pytest.raises(SocraticError, match="mode"):
        OpenAILM(model="m", base_url="http://127.0.0.1:9/v1", mode="edits")


def test_stop_cut_when_server_ignores_stop():
    # tokens: "A" " cat" "." "\n" "B" -- and a merged ".\n" token case
    lp = {"tokens": ["A", " cat", ".", "\n", "B"], "token_logprobs": [-0.1, -0.2, -0.3, -0.4, -0.5],
          "text_offset": [10, 11, 15, 16, 17], "top_logprobs": None}
    merged = {"tokens": ["A", " cat", ".\n", "B"], "token_logprobs": [-0.1, -0.2, -0.3, -0.5],
              "text_offset": [10, 11, 15, 17], "top_logprobs": None}
    answers = [completion_json("A cat.\nB", lp), completion_json("A cat.\nB", merged)]
    with scripted_server(lambda n, b: (200, answers[n - 1], 0)) as (url, seen):
        lm = fake_lm(url, concurrency=1)
        (a,), (b,) = lm.generate(["p1", "p2"], stop=["\n"], logprobs=True)
    assert seen[0]["body"]["stop"] == ["\n"] and seen[0]["body"]["logprobs"] == 1
    assert (a.text, a.tokens, a.token_logprobs) == ("A cat.", ["A", " cat", "."], [-0.1, -0.2, -0.3])
    assert (b.text, b.tokens, b.token_logprobs) == ("A cat.", ["A", " cat"], [-0.1, -0.2])


def test_concurrent_prompts_keep_order():
    # later prompts answer faster, so completion order differs from prompt order
    spans = []  # (arrival, arrival + delay) of each request, as the server saw it

    def respond(n, body):
        i = int(body["prompt"].split()[-1])
        start = time.perf_counter()
        spans.append((start, start + 0.02 * (12 - i)))
        return 200, completion_json(f"answer {i}"), 0.02 * (12 - i)

    with scripted_server(respond) as (url, seen):
        out = fake_lm(url, concurrency=6).generate([f"prompt {i}" for i in range(12)])
    assert [cs[0].text for cs in out] == [f"answer {i}" for i in range(12)]
    in_flight = max(sum(1 for a, b in spans if a <= t < b) for t, _ in spans)
    assert in_flight > 1  # requests overlapped (arrival order alone says nothing under load)


def test_n_filled_by_extra_requests_when_server_ignores_n():
    with scripted_server(lambda n, b: (200, completion_json(f"s{b.get('seed')}"), 0)) as (url, seen):
        out = fake_lm(url).generate(["p"], n=3, temperature=1.0, seed=7)
    assert [c.text for c in out[0]] == ["s7", "s8", "s9"]
    assert [s["body"]["n"] for s in seen] == [3, 2, 1]


def test_score_takes_continuation_tokens_by_offset():
    # echo of "The cat sat" + one generated token; " sat" is the continuation; max_tokens=0 is rejected first
    lp = {"tokens": ["The", " cat", " sat", "."], "token_logprobs": [None, -1.0, -2.0, -3.0],
          "text_offset": [0, 3, 7, 11], "top_logprobs": None}

    def respond(n, body):
        if body["max_tokens"] == 0:
            return 400, {"error": {"message": "max_tokens must be at least 1"}}, 0
        return 200, completion_json("The cat sat.", lp), 0

    with scripted_server(respond) as (url, seen):
        assert fake_lm(url, score_max_tokens=0).score(["The cat"], [" sat"]) == [[-2.0]]
        assert fake_lm(url).score(["The"], [" cat sat"]) == [[-1.0, -2.0]]
    assert [s["body"]["max_tokens"] for s in seen] == [0, 1, 1]
    assert all(s["body"]["echo"] is True and s["body"]["logprobs"] == 0 for s in seen)


def test_non_api_answer_is_a_clear_error():
    with scripted_server(lambda n, b: (200, b"<html>captive portal</html>", 0)) as (url, _):
        with pytest.raises(SocraticError, match="fake-model.*unexpected response.*captive portal"):
            fake_lm(url).generate(["hi"])


def test_score_without_echo_support_is_a_clear_error():
    with scripted_server(lambda n, b: (200, completion_json("", None), 0)) as (url, _):
        with pytest.raises(SocraticError, match="does not support echo"):
            fake_lm(url).score(["The cat"], [" sat"])
    with pytest.raises(SocraticError, match="chat mode cannot score"):
        fake_lm("http://127.0.0.1:9/v1", mode="chat").score(["a"], ["b"])


# -- a real OpenAI-compatible server (llama.cpp serving the packaged SmolLM2) ------------------------------------

QA = "The capital of France is"


@pytest.fixture(scope="module")
def real_lm(llama_server):
    return OpenAILM(model=SERVER_MODEL_ALIAS, base_url=llama_server, timeout=120, max_retries=1)


def fresh(lm):
    """Send an unrelated prompt first. llama.cpp reuses the KV cache of a shared prompt prefix, and re-evaluating
    only the last prompt token rounds differently (log-probs move by ~0.03-0.1) from evaluating it in a batch;
    this makes the next request evaluate its whole prompt, as the first request ever did."""
    lm.generate(["Zebras are"], max_new_tokens=1)


@pytest.mark.slow
def test_real_greedy_is_deterministic_with_logprobs(real_lm):
    fresh(real_lm)
    a = real_lm.generate([QA], max_new_tokens=8, logprobs=True)[0][0]
    fresh(real_lm)
    b = real_lm.generate([QA], max_new_tokens=8, logprobs=True)[0][0]
    assert a.text.strip() and a.text == b.text
    assert len(a.tokens) == len(a.token_logprobs) == 8
    assert "".join(a.tokens) == a.text
    assert all(math.isfinite(v) and v <= 0 for v in a.token_logprobs)
    assert a.token_logprobs == pytest.approx(b.token_logprobs, abs=1e-4)
    assert a.logprob < 0


@pytest.mark.slow
def test_real_stop_cuts_text_and_logprobs(real_lm):
    fresh(real_lm)
    full = real_lm.generate([QA], max_new_tokens=6, logprobs=True)[0][0]
    assert "\n" in full.text, full.text  # the model breaks the line after its answer
    fresh(real_lm)
    cut = real_lm.generate([QA], max_new_tokens=6, logprobs=True, stop=["\n"])[0][0]
    assert cut.text == full.text.split("\n")[0]
    k = len(cut.tokens)
    assert 0 < k < len(full.tokens)
    assert cut.tokens == full.tokens[:k] and "".join(cut.tokens) == cut.text
    assert "\n" in full.tokens[k]  # the first token left out holds the stop string
    assert cut.token_logprobs == pytest.approx(full.token_logprobs[:k], abs=1e-4)


@pytest.mark.slow
def test_real_n_samples_are_seeded(real_lm):
    kw = dict(max_new_tokens=8, temperature=1.0, n=3, seed=11)
    fresh(real_lm)
    first = [c.text for c in real_lm.generate(["Once upon a time"], **kw)[0]]
    fresh(real_lm)
    again = [c.text for c in real_lm.generate(["Once upon a time"], **kw)[0]]
    assert len(first) == 3 and all(t.strip() for t in first)
    assert len(set(first)) > 1  # sampling, not three copies
    assert first == again  # same seed, same samples


@pytest.mark.slow
def test_real_concurrent_prompts_match_sequential(real_lm, llama_server):
    prompts = [f"The number after {i} is" for i in range(8)]
    seq = real_lm.generate(prompts, max_new_tokens=4)
    par = OpenAILM(model=SERVER_MODEL_ALIAS, base_url=llama_server, concurrency=4).generate(prompts, max_new_tokens=4)
    assert [c[0].text for c in par] == [c[0].text for c in seq]
    assert len({c[0].text for c in seq}) > 1  # answers depend on the prompt


@pytest.mark.slow
def test_real_score_agrees_with_generate(real_lm):
    fresh(real_lm)
    gen = real_lm.generate([QA], max_new_tokens=6, logprobs=True)[0][0]
    # right after generate, the server reuses generate's cached rows: the continuation's values come back exactly
    (cached,) = real_lm.score([QA], [gen.text])
    assert cached == pytest.approx(gen.token_logprobs, abs=1e-4)
    fresh(real_lm)  # now one batched pass over prompt + continuation: same values up to kernel rounding
    (scored,) = real_lm.score([QA], [gen.text])
    assert len(scored) == len(gen.token_logprobs)
    assert scored == pytest.approx(gen.token_logprobs, abs=0.25)  # measured max difference 0.14
    # a continuation the model would not produce scores lower
    (odd,) = real_lm.score([QA], [" Banana banana banana"])
    assert all(math.isfinite(v) and v <= 0 for v in odd)
    assert sum(odd) / len(odd) < sum(scored) / len(scored)


@pytest.mark.slow
def test_real_chat_mode(llama_server):
    chat = OpenAILM(model=SERVER_MODEL_ALIAS, base_url=llama_server, mode="chat")
    (c,), = chat.generate(["What is the capital of France? Answer in one word."], max_new_tokens=8, logprobs=True)
    assert c.text.strip()
    assert len(c.tokens) == len(c.token_logprobs) > 0
    assert "".join(c.tokens).startswith(c.text.strip()[:3])
    assert all(math.isfinite(v) and v <= 0 for v in c.token_logprobs)
    (cut,), = chat.generate(["What is the capital of France? Answer in one word."], max_new_tokens=8, stop=[" of"])
    assert " of" not in cut.text and cut.text.strip()
