"""The trust model of docs/trust.md: what a pipeline file may read and send, what `validate` lists, and a node cache
whose entries cannot run code (issue 23)."""

from __future__ import annotations

import hashlib
import os
import pickle
import stat

import pytest

from socratic import Pipeline
from support.inproc_cli import socratic_cli
from test_lm_openai import completion_json, scripted_server

SECRET = "TOPSECRET-7c1e"


def _layout(tmp_path):
    """home/secret.txt beside a project folder home/proj/ that holds the pipeline."""
    home = tmp_path / "home"
    (home / "proj").mkdir(parents=True)
    (home / "secret.txt").write_text(f"Dear {{name}}, the password is {SECRET}\n")
    return home, home / "proj"


def test_a_prompt_file_outside_the_pipeline_folder_fails_validation(tmp_path):
    home, proj = _layout(tmp_path)
    (home / "elsewhere").mkdir()
    (home / "elsewhere" / "link.txt").symlink_to(home / "secret.txt")
    (proj / "inside.txt").symlink_to(home / "secret.txt")  # a link inside the folder to a file outside it
    for ref, line in (("../secret.txt", 6), (str(home / "secret.txt"), 6), ("inside.txt", 6)):
        pipe = proj / "leak.yaml"
        pipe.write_text(f"""inputs:
  name: text
nodes:
  leak:
    type: prompt
    params: {{template: {{file: "{ref}"}}}}
    inputs: {{name: inputs.name}}
outputs:
  text: leak.text
""")
        checked = socratic_cli("validate", pipe)
        assert checked.returncode == 2, checked.stdout
        assert f"{pipe}:{line}:" in checked.stderr and "outside the pipeline's folder" in checked.stderr
        ran = socratic_cli("run", pipe, "-i", "name=x", "--no-progress")
        assert ran.returncode == 2 and SECRET not in ran.stdout + ran.stderr
    allowed = socratic_cli("validate", pipe, "--allow-read", home)
    assert allowed.returncode == 0, allowed.stderr
    assert "secret.txt (prompt of node 'leak')" in allowed.stdout
    ran = socratic_cli("run", pipe, "-i", "name=x", "--no-progress", "--allow-read", home)
    assert ran.returncode == 0 and SECRET in ran.stdout


def test_file_params_and_input_defaults_outside_the_folder_fail_validation(tmp_path):
    home, proj = _layout(tmp_path)
    (proj / "labels.txt").write_text("cat\ndog\n")
    pipe = proj / "p.yaml"
    pipe.write_text(f"""models:
  clip: {{family: vlm, backend: open_clip, name: ViT-B-32}}
inputs:
  image: image
  notes: {{type: path, default: ../secret.txt}}
nodes:
  ok:
    type: clip_classify
    params: {{vlm: clip, vocab: labels.txt}}
    inputs: {{image: inputs.image}}
  bad:
    type: clip_classify
    params: {{vlm: clip, vocab: "{home / 'secret.txt'}"}}
    inputs: {{image: inputs.image}}
outputs:
  ok: ok.labels
  bad: bad.labels
""")
    proc = socratic_cli("validate", pipe)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 2 and SECRET not in proc.stderr
    assert any(f"{pipe}:5:" in x and "inputs.notes" in x for x in lines)
    assert any(f"{pipe}:13:" in x and "node 'bad'" in x and "vocab" in x for x in lines)
    assert socratic_cli("validate", pipe, "--allow-read", home).returncode == 0


def test_only_credential_variables_can_be_sent_as_api_keys(tmp_path):
    with scripted_server(lambda n, b: (200, completion_json("hi"), 0)) as (url, seen):
        pipe = tmp_path / "key.yaml"
        pipe.write_text(f"""models:
  lm:
    family: lm
    backend: openai
    base_url: "{url}"
    model: fake
    api_key_env: MY_DB_PASSWORD
inputs:
  q: text
nodes:
  ask:
    type: lm_generate
    params: {{lm: lm, max_new_tokens: 4}}
    inputs: {{prompt: inputs.q}}
outputs:
  a: ask.text
""")
        env = {"MY_DB_PASSWORD": "hunter2-db"}
        checked = socratic_cli("validate", pipe, env=env)
        assert checked.returncode == 2 and f"{pipe}:2:" in checked.stderr and "MY_DB_PASSWORD" in checked.stderr
        assert "hunter2" not in checked.stderr
        ran = socratic_cli("run", pipe, "-i", "q=hello", "--no-progress", env=env)
        assert ran.returncode == 2 and seen == []  # nothing was sent
        ok = socratic_cli("run", pipe, "-i", "q=hello", "--no-progress", "--allow-env", "MY_DB_PASSWORD", env=env)
        assert ok.returncode == 0, ok.stderr
        assert [s["auth"] for s in seen] == ["Bearer hunter2-db"]
        pipe.write_text(pipe.read_text().replace("MY_DB_PASSWORD", "MY_SERVICE_API_KEY"))
        assert socratic_cli("validate", pipe).returncode == 0


def test_validate_lists_files_variables_and_hosts(tmp_path):
    (tmp_path / "ask.txt").write_text("Answer: {q}")
    pipe = tmp_path / "remote.yaml"
    pipe.write_text("""models:
  lm: {family: lm, backend: openai, base_url: "https://llm.example.com/v1", model: m, api_key_env: EXAMPLE_API_KEY}
inputs:
  q: text
nodes:
  prompt:
    type: prompt
    params: {template: {file: ask.txt}}
    inputs: {q: inputs.q}
  answer:
    type: lm_generate
    params: {lm: lm}
    inputs: {prompt: prompt.text}
outputs:
  a: answer.text
""")
    proc = socratic_cli("validate", pipe)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert f"reads: {tmp_path / 'ask.txt'} (prompt of node 'prompt')" in out
    assert "environment: EXAMPLE_API_KEY (API key of model 'lm')" in out
    assert "sends to: https://llm.example.com/v1 (model 'lm')" in out


# -- the node cache --------------------------------------------------------------------------------------------


def _hello():
    p = Pipeline("hello").add_input("name", "text")
    p.add_node("hello", "prompt", params={"template": "Hello {name}!"}, inputs={"name": "inputs.name"})
    return p.add_output("greeting", "hello.text")


class _Payload:
    """Unpickling this creates a file: what a forged entry could do."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


def test_a_forged_cache_entry_never_runs_and_is_recomputed(tmp_path, capfd):
    import socratic.engine.cache as cache_mod

    cache = tmp_path / "cache"
    assert _hello().run({"name": "Ann"}, cache_dir=cache)["greeting"] == "Hello Ann!"
    entries = list(cache.rglob("*.pkl"))
    assert entries
    marker = tmp_path / "pwned"
    payload = pickle.dumps({"text": _Payload(marker)})
    for f in entries:  # the entry format with a plain checksum where the signature goes
        f.write_bytes(cache_mod._MAGIC + hashlib.sha256(payload).hexdigest().encode() + payload)
    capfd.readouterr()
    try:
        again = _hello().run({"name": "Ann"}, cache_dir=cache)
    finally:
        assert not marker.exists()  # never unpickled
    assert again["greeting"] == "Hello Ann!" and not again.trace.records[0].cached
    assert "not signed" in capfd.readouterr().err
    third = _hello().run({"name": "Ann"}, cache_dir=cache)
    assert third.trace.records[0].cached  # the recomputed entry replaced the forged one


def test_the_cache_key_is_private_and_a_shared_one_is_replaced(tmp_path, monkeypatch, capfd):
    import socratic.engine.cache as cache_mod

    monkeypatch.setenv("SOCRATIC_CACHE", str(tmp_path / "root"))
    monkeypatch.setattr(cache_mod, "_SECRETS", {})
    first = cache_mod.node_cache_secret()
    key_file = tmp_path / "root" / cache_mod.KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600 and len(first) == 32
    os.chmod(key_file, 0o644)  # readable by others: anyone could sign entries with it
    monkeypatch.setattr(cache_mod, "_SECRETS", {})
    second = cache_mod.node_cache_secret()
    assert second != first and stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert "replaced" in capfd.readouterr().err


@pytest.fixture(autouse=True)
def _no_allowances(monkeypatch):
    monkeypatch.delenv("SOCRATIC_ALLOW_READ", raising=False)
    monkeypatch.delenv("SOCRATIC_ALLOW_KEY_ENV", raising=False)
