"""MAGiC: training-free CLIP-guided decoding (Su et al. 2022, arXiv 2205.02655).

- `magic_decode(...)`: caption images (full method, batched, KV cache reused, candidates in one pass).
- `magic_generate`: the same loop for `model.generate(..., custom_generate=magic_generate, ...)`.
- `MagicLogitsProcessor`: top-k + confidence + CLIP terms for plain `generate` (no degeneration penalty).
"""

from .decode import START_TEXT, MagicOutput, encode_images, magic_decode, magic_generate, magic_search, parse_caption
from .processor import MagicLogitsProcessor

__all__ = ["START_TEXT", "MagicOutput", "MagicLogitsProcessor", "encode_images", "magic_decode", "magic_generate",
           "magic_search", "parse_caption"]
