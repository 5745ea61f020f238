"""Fixtures shared by the MAGiC tests (import them into a test module to use them)."""

import numpy as np
import pytest
import torch
from PIL import Image

from socratic.magic.offline import gpt2_tokenizer


@pytest.fixture(autouse=True)
def _one_thread():
    """MAGiC's exactness tests compare float sums: one thread keeps them fast on a shared 2-core box."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def tok():
    return gpt2_tokenizer()


def pictures(n, seed=0):
    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)) for _ in range(n)]
