"""The model backend table: every built-in entry resolves, modules load only when asked, unknown names fail in one
line that names the choices."""

import subprocess
import sys

import pytest

from socratic.errors import SocraticError
from socratic.models.backends import BUILTIN_BACKENDS, _BACKENDS, backend, backend_loader, backend_names
from socratic.models.loader import ModelSpec


@pytest.mark.parametrize("key", sorted(BUILTIN_BACKENDS))
def test_builtin_entry_resolves(key):
    module, _, attr = BUILTIN_BACKENDS[key].partition(":")
    fn = backend_loader(*key)
    assert callable(fn) and fn.__module__ == module and fn.__name__ == attr


def test_backend_modules_load_only_when_asked():
    code = ("import sys\n"
            "from socratic.models.loader import ModelSpec\n"
            "from socratic.models.backends import BUILTIN_BACKENDS, backend_loader\n"
            "mods = {v.split(':')[0] for v in BUILTIN_BACKENDS.values()}\n"
            "ModelSpec.from_dict('m', {'family': 'lm', 'backend': 'openai', 'model': 'x'})\n"
            "print(sorted(mods & set(sys.modules)))\n"
            "backend_loader('lm', 'openai')\n"
            "print(sorted(mods & set(sys.modules)))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["[]", "['socratic.models.lm_openai']"]


def test_unknown_backend_is_one_line_naming_choices():
    with pytest.raises(SocraticError) as exc:
        ModelSpec.from_dict("m", {"family": "ocr", "backend": "nope"})
    msg = str(exc.value)
    assert "\n" not in msg and "unknown ocr backend 'nope'" in msg and "['rapidocr', 'tesseract']" in msg
    assert exc.value.field == "models.m.backend"
    with pytest.raises(SocraticError, match="unknown vlm backend 'nope'"):
        backend_loader("vlm", "nope")


def test_registered_backend_is_listed_and_loaded():
    @backend("ocr", "t_reader")
    def load(spec):
        return ("loaded", spec.name)

    try:
        assert backend_names("ocr") == ["rapidocr", "t_reader", "tesseract"]
        assert backend_loader("ocr", "t_reader")(ModelSpec.from_dict("r", {"family": "ocr", "backend": "t_reader"})) \
            == ("loaded", "r")
    finally:
        _BACKENDS.pop(("ocr", "t_reader"))
