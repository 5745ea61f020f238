"""An LM behind any OpenAI-compatible HTTP API (OpenAI, vLLM, llama.cpp's server, ...).

Chat: `generate(chat=True)` sends the prompt as one user message to /chat/completions, `chat=False` sends it raw
to /completions; `chat=None` follows the spec's `chat:` option, or else `mode:` (chat or completions, the default).
`context_length:` tells the model's context (None when unset); count_tokens() has no tokenizer here and
over-estimates (base.estimate_tokens: digits, punctuation and non-ASCII bytes one each, other characters / 3, +48
for the chat wrapping, whose template may add a default system prompt).

Known server quirk: llama-cpp-python (0.3.36 measured) shifts echo=True log-probs by one token for models whose
tokenizer adds no BOS token (SmolLM2 is one), so score() is wrong there; serve such models with
`--kv_overrides tokenizer.ggml.add_bos_token=bool:true` (tests/support/llama_server.py does).
"""

from __future__ import annotations

import ipaddress
import math
import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Sequence
from urllib.parse import urlparse

from ..encoding import safe_text
from ..errors import SocraticError
from .base import LM, Completion, instruct_name
from .loader import ModelSpec

DEFAULT_BASE_URL = "https://api.openai.com/v1"
MAX_DETAIL = 300  # characters of a server's message kept in an error
_LOOPBACK_KEY = "sk-no-key-required"  # llama.cpp / vLLM on loopback accept any key
_OPTIONS = {"base_url", "model", "id", "api_key_env", "mode", "timeout", "max_retries", "concurrency",
            "retry_base_delay", "retry_max_delay", "score_max_tokens", "chat", "instruct", "context_length"}


def is_loopback(base_url: str) -> bool:
    host = (urlparse(base_url).hostname or "").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class OpenAILM(LM):
    """Completions (default) or chat endpoint. The API key is read from `api_key_env` and only handed to the
    HTTP client: it never appears in repr, fingerprint, traces or error messages."""

    def __init__(self, spec: ModelSpec | None = None, /, **options: Any):
        opts = {**(spec.options if spec else {}), **options}
        unknown = sorted(set(opts) - _OPTIONS)
        where = f"models.{spec.name}" if spec else "openai"
        if unknown:
            raise SocraticError(f"unknown option(s) {unknown} for the openai LM backend (known: {sorted(_OPTIONS)})",
                                field=where)
        self.model = opts.get("model") or opts.get("id")
        if not self.model:
            raise SocraticError("the openai LM backend needs `model` (the server's model name)", field=f"{where}.model")
        self.base_url = str(opts.get("base_url") or DEFAULT_BASE_URL).rstrip("/")
        self.mode = opts.get("mode", "completions")
        if self.mode not in ("completions", "chat"):
            raise SocraticError(f"mode must be 'completions' or 'chat', got {self.mode!r}", field=f"{where}.mode")
        self.api_key_env = opts.get("api_key_env", "OPENAI_API_KEY")
        if not os.environ.get(self.api_key_env) and not is_loopback(self.base_url):
            raise SocraticError(f"environment variable {self.api_key_env} (the API key for {self.base_url}) is not set",
                                field=f"{where}.api_key_env")
        self.timeout = float(opts.get("timeout", 120.0))
        self.max_retries = int(opts.get("max_retries", 4))
        self.concurrency = max(1, int(opts.get("concurrency", 4)))
        self.retry_base_delay = float(opts.get("retry_base_delay", 0.5))
        self.retry_max_delay = float(opts.get("retry_max_delay", 30.0))
        # OpenAI scores with max_tokens=0, but llama.cpp's server reads 0 as "no limit"; 1 works everywhere.
        self.score_max_tokens = int(opts.get("score_max_tokens", 1))
        if self.score_max_tokens not in (0, 1):
            raise SocraticError("score_max_tokens must be 0 or 1", field=f"{where}.score_max_tokens")
        self.chat = bool(opts.get("chat", self.mode == "chat"))
        instruct = opts.get("instruct")
        self.instruct = bool(instruct) if instruct is not None else (self.chat or instruct_name(self.model))
        ctx = opts.get("context_length")
        if ctx is not None and (isinstance(ctx, bool) or not isinstance(ctx, int) or ctx < 1):
            raise SocraticError(f"context_length must be a positive integer, got {ctx!r}",
                                field=f"{where}.context_length")
        self.context_length = ctx
        self.model_id = self.model
        self.fingerprint = f"openai:{self.base_url}|{self.model}|{self.mode}"
        if self.chat != (self.mode == "chat"):
            self.fingerprint += f"|chat={self.chat}"
        self._client = None
        self._client_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"OpenAILM(model={self.model!r}, base_url={self.base_url!r}, mode={self.mode!r})"

    def __getstate__(self) -> dict:
        # The client holds the key: never pickle it.
        state = dict(self.__dict__)
        state["_client"] = None
        state.pop("_client_lock", None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._client_lock = threading.Lock()

    # -- HTTP --------------------------------------------------------------------------------------------------

    def _api(self):
        with self._client_lock:
            if self._client is None:
                import openai

                key = os.environ.get(self.api_key_env) or _LOOPBACK_KEY
                self._client = openai.OpenAI(base_url=self.base_url, api_key=key, timeout=self.timeout,
                                             max_retries=0)
            return self._client

    def _fail(self, what: str, tail: str = "") -> SocraticError:
        """An error naming the model and server. The key is hidden before the message is cut short: a key at
        the cut must not leave its first characters."""
        key = os.environ.get(self.api_key_env)
        if key and len(key) >= 8:
            what = what.replace(key, "***")
        if len(what) > MAX_DETAIL:
            what = what[:MAX_DETAIL] + "…"
        return SocraticError(f"LM {self.model!r} at {self.base_url}: {what}{tail}")

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        delay = min(self.retry_max_delay, self.retry_base_delay * 2 ** attempt)
        delay *= 0.5 + random.random() / 2  # jitter: spread retries of concurrent requests
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.retry_max_delay))
        return delay

    def _call(self, fn: Callable[..., Any], **kwargs: Any) -> Any:
        """`fn(**kwargs)`, retried on 429, 5xx, connection errors and timeouts."""
        import openai

        for attempt in range(self.max_retries + 1):
            retry_after = None
            try:
                return fn(**kwargs)
            except openai.APIStatusError as e:
                status = e.status_code
                if status != 429 and status < 500:
                    raise self._fail(f"HTTP {status}: {_brief(e)}") from None
                why = f"HTTP {status}: {_brief(e)}"
                retry_after = _retry_after(e)
            except openai.APITimeoutError:
                why = f"timed out after {self.timeout:g} s"
            except openai.APIConnectionError as e:
                why = f"connection error: {_brief(e)}"
            except openai.APIError as e:  # e.g. a response that is not what the API promises
                raise self._fail(_brief(e)) from None
            if attempt == self.max_retries:
                raise self._fail(why, f" (after {attempt + 1} attempt(s))") from None
            time.sleep(self._backoff(attempt, retry_after))
        raise AssertionError("unreachable")

    def _choices(self, resp: Any) -> list[Any]:
        choices = getattr(resp, "choices", None)
        if not isinstance(choices, list):
            raise self._fail(f"unexpected response (not an OpenAI completion): {str(resp)[:100_000]!r}")
        return sorted(choices, key=lambda c: c.index or 0)

    def _map(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        if self.concurrency == 1 or len(items) <= 1:
            return [fn(x) for x in items]
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(items))) as pool:
            return list(pool.map(fn, items))  # keeps input order

    # -- LM interface ------------------------------------------------------------------------------------------

    def generate(self, prompts: Sequence[str], *, max_new_tokens: int = 64, temperature: float = 0.0,
                 top_p: float = 1.0, n: int = 1, stop: Sequence[str] = (), seed: int | None = None,
                 logprobs: bool = False, chat: bool | None = None) -> list[list[Completion]]:
        if isinstance(stop, str):
            stop = [stop]
        stop = list(stop)
        one = self._chat_one if self.use_chat(chat) else self._complete_one

        def run(prompt: str) -> list[Completion]:
            out: list[Completion] = []
            while len(out) < n:  # servers that ignore `n` answer one choice per request
                s = None if seed is None else seed + len(out)
                got = one(prompt, max_new_tokens, temperature, top_p, n - len(out), stop, s, logprobs)
                if not got:
                    raise self._fail("the server returned no choices")
                out.extend(got)
            return out[:n]

        return self._map(run, list(prompts))

    def _complete_one(self, prompt, max_new_tokens, temperature, top_p, n, stop, seed, logprobs):
        kw: dict[str, Any] = dict(model=self.model, prompt=safe_text(prompt), max_tokens=max_new_tokens,
                                  temperature=temperature, top_p=top_p, n=n)
        if stop:
            kw["stop"] = [safe_text(s) for s in stop]
        if seed is not None:
            kw["seed"] = seed
        if logprobs:
            kw["logprobs"] = 1
        resp = self._call(self._api().completions.create, **kw)
        out = []
        for ch in self._choices(resp):
            text = _cut_at_stop(ch.text or "", stop)
            lp = ch.logprobs
            if not logprobs:
                out.append(_reply(text))
                continue
            if lp is None or lp.tokens is None or lp.token_logprobs is None:
                raise self._fail("logprobs were asked for but the server returned none")
            tokens, values = list(lp.tokens), list(lp.token_logprobs)
            offsets = list(lp.text_offset) if lp.text_offset else None
            k = _tokens_before(tokens, offsets, len(text) if stop else None)
            out.append(_reply(text, [float(v) for v in values[:k]], tokens[:k]))
        return out

    def _chat_one(self, prompt, max_new_tokens, temperature, top_p, n, stop, seed, logprobs):
        kw: dict[str, Any] = dict(model=self.model, messages=[{"role": "user", "content": safe_text(prompt)}],
                                  max_tokens=max_new_tokens, temperature=temperature, top_p=top_p, n=n)
        if stop:
            kw["stop"] = [safe_text(s) for s in stop]
        if seed is not None:
            kw["seed"] = seed
        if logprobs:
            kw["logprobs"], kw["top_logprobs"] = True, 0
        resp = self._call(self._api().chat.completions.create, **kw)
        out = []
        for ch in self._choices(resp):
            text = _cut_at_stop(ch.message.content or "", stop)
            if not logprobs:
                out.append(_reply(text))
                continue
            content = ch.logprobs.content if ch.logprobs is not None else None
            if content is None:
                raise self._fail("logprobs were asked for but the server returned none")
            tokens = [c.token for c in content]
            offsets = list(_running_offsets(tokens))
            k = _tokens_before(tokens, offsets, len(text))
            out.append(_reply(text, [float(c.logprob) for c in content[:k]], tokens[:k]))
        return out

    def score(self, prompts: Sequence[str], continuations: Sequence[str], *, chat: bool | None = None
              ) -> list[list[float]]:
        if len(prompts) != len(continuations):
            raise SocraticError(f"score: {len(prompts)} prompts but {len(continuations)} continuations")
        if self.use_chat(chat):
            raise self._fail("score() needs the completions endpoint with echo; chat mode cannot score text")
        return self._map(lambda pc: self._score_one(*pc), list(zip(prompts, continuations)))

    def _score_one(self, prompt: str, continuation: str) -> list[float]:
        prompt, continuation = safe_text(prompt), safe_text(continuation)
        full = prompt + continuation
        kw = dict(model=self.model, prompt=full, echo=True, logprobs=0, temperature=0.0)
        unsupported = ("the server does not support echo=True with logprobs on /completions, which score() "
                       "needs")
        resp = None
        for max_tokens in range(self.score_max_tokens, 2):  # a server rejecting 0 gets a second try with 1
            try:
                resp = self._call(self._api().completions.create, max_tokens=max_tokens, **kw)
                break
            except SocraticError as e:
                if "HTTP 4" not in e.message:
                    raise
                if max_tokens == 1:
                    raise self._fail(f"{unsupported} ({e.message.split(': ', 2)[-1]})") from None
        ch = (self._choices(resp) or [None])[0]
        lp = ch.logprobs if ch is not None else None
        if (ch is None or not (ch.text or "").startswith(full) or lp is None or not lp.tokens
                or lp.token_logprobs is None or not lp.text_offset):
            raise self._fail(unsupported)
        base = lp.text_offset[0]  # some servers count offsets from the prompt's end, not 0
        offs = [o - base for o in lp.text_offset]
        ends = offs[1:] + [offs[-1] + len(lp.tokens[-1])]
        out = []
        for start, end, v in zip(offs, ends, lp.token_logprobs):
            # a token straddling the prompt/continuation boundary counts as continuation
            if end > len(prompt) and start < len(full):
                if v is None or not math.isfinite(v):
                    raise self._fail("the server returned no log-prob for a continuation token")
                out.append(float(v))
        return out


def _reply(text: str, logprobs: list[float] | None = None, tokens: Sequence[str] = ()) -> Completion:
    """A completion as the rest of the run sees it: a lone surrogate a server sent (valid JSON, not UTF-8)
    becomes its escape, so that keys, files and later requests can hold it."""
    return Completion(safe_text(text), logprobs or [], [safe_text(t) for t in tokens])


def _cut_at_stop(text: str, stop: Sequence[str]) -> str:
    """Text before the first stop string (servers normally cut already; this covers those that do not)."""
    hits = [i for i in (text.find(s) for s in stop if s) if i >= 0]
    return text[:min(hits)] if hits else text


def _running_offsets(tokens: Sequence[str]):
    pos = 0
    for t in tokens:
        yield pos
        pos += len(t)


def _tokens_before(tokens: Sequence[str], offsets: Sequence[int] | None, limit: int | None) -> int:
    """How many leading tokens end within text[:limit]; the token holding a stop string (and all after) is left
    out, so the log-probs sum up to, not including, the stop."""
    if limit is None or not tokens:
        return len(tokens)
    offs = [o - offsets[0] for o in offsets] if offsets else list(_running_offsets(tokens))
    k = 0
    for i, t in enumerate(tokens):
        end = offs[i + 1] if i + 1 < len(offs) else offs[i] + len(t)
        if end > limit or (end == offs[i] and offs[i] >= limit):
            break
        k += 1
    return k


def _brief(e: Exception) -> str:
    """An API error's message on one line (`_fail` hides the key, then cuts it short)."""
    msg = getattr(e, "message", None) or str(e) or type(e).__name__
    return " ".join(str(msg).split())


def _retry_after(e: Any) -> float | None:
    try:
        return float(e.response.headers.get("retry-after"))
    except (AttributeError, TypeError, ValueError):
        return None
