"""Socratic Models speed, measured side by side in one run (ratios are what matter; absolute times vary).

    python benchmarks/socratic_models.py [--clip ViT-B-32] [--frames 32] [--objects 1000] [--repeats 3]

1. Visual branch (places + objects zero-shot labels per key frame): frames/s with every frame in one batched
   CLIP call vs one frame at a time. Random-init weights: speed does not depend on their values. The objects
   vocabulary is cut to its first `--objects` entries (0 = all ~11k) so the one-off text embedding stays short
   on a CPU; the per-frame cost it adds is one matrix product either way.
2. Vocabulary text side: the templated places365 vocabulary embedded cold (once) vs read from the on-disk
   cache vs the in-memory cache.
3. Whisper base on the same 9 s of espeak-ng narration: faster-whisper (CTranslate2, packaged weights) vs
   openai-whisper (PyTorch, random-init weights of the same size). Random weights never stop decoding, so
   both decode the same fixed number of tokens greedily (end-of-text suppressed): same audio, same model
   size, same work.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def visual_branch(clip: str, n_frames: int, n_objects: int, repeats: int) -> None:
    from socratic.media.sample import sample_images
    from socratic.models.loader import ModelSpec, load_model
    from socratic.nodes.vision import clip_classify
    from socratic.vocab import load_vocab

    vlm = load_model(ModelSpec.from_dict("clip", {"family": "vlm", "backend": "open_clip", "name": clip,
                                                  "random_init": True, "batch_size": 32}))
    stills = list(sample_images().values())
    frames = [stills[i % len(stills)].rotate(i) for i in range(n_frames)]
    objects = load_vocab("objects")
    objects = objects[:n_objects] if n_objects else objects

    def branch(batch):
        vlm._image_memo.clear()  # time the encoder, not the memo of frames already seen
        clip_classify(batch, vlm=vlm, vocab="places365", template="Photo of a {}.", top_k=1)
        clip_classify(batch, vlm=vlm, vocab=objects, template="Photo of a {}.", top_k=5)

    t_cold = time.perf_counter()
    branch(frames[:1])  # warm-up: embeds both vocabularies once (cached afterwards)
    t_cold = time.perf_counter() - t_cold
    batched = best_of(lambda: branch(frames), repeats)
    single = best_of(lambda: [branch([f]) for f in frames], repeats)
    print(f"[visual branch] {clip}, {n_frames} frames, places365 top-1 + {len(objects)} objects top-5")
    print(f"  batched:          {n_frames / batched:8.2f} frames/s")
    print(f"  one at a time:    {n_frames / single:8.2f} frames/s")
    print(f"  ratio batched / one-at-a-time: {single / batched:.2f}x   (first call incl. vocab: {t_cold:.1f} s)")
    vocab_text_side(vlm, repeats)


def vocab_text_side(vlm, repeats: int) -> None:
    from socratic.nodes.vision import fill_template, vocab_embeddings
    from socratic.vocab import load_vocab

    texts = fill_template("Photo of a {}.", load_vocab("places365"))

    def cold():
        vlm._vocab_memo.clear()
        with tempfile.TemporaryDirectory() as d:
            os.environ["SOCRATIC_CACHE"] = d
            vocab_embeddings(vlm, texts)

    def disk():
        vlm._vocab_memo.clear()
        vocab_embeddings(vlm, texts)

    with tempfile.TemporaryDirectory() as keep:
        old = os.environ.get("SOCRATIC_CACHE")
        t_cold = best_of(cold, 1)
        os.environ["SOCRATIC_CACHE"] = keep
        vocab_embeddings(vlm, texts)
        t_disk = best_of(disk, repeats)
        t_mem = best_of(lambda: vocab_embeddings(vlm, texts), max(repeats, 10))
        if old is None:
            os.environ.pop("SOCRATIC_CACHE", None)
        else:
            os.environ["SOCRATIC_CACHE"] = old
    print(f"[vocabulary text side] {len(texts)} templated places365 labels")
    print(f"  cold {t_cold * 1e3:9.1f} ms | disk cache {t_disk * 1e3:7.2f} ms | memory {t_mem * 1e3:7.3f} ms")
    print(f"  ratio cold / disk-cached: {t_cold / t_disk:.0f}x   cold / in-memory: {t_cold / t_mem:.0f}x")


def whisper_speed(tokens: int, repeats: int) -> None:
    import ctranslate2
    import numpy as np
    import torch
    import whisper
    from faster_whisper.audio import pad_or_trim as fw_pad
    from faster_whisper.tokenizer import Tokenizer

    from socratic.media.sample import build_sample_video, sample_images
    from socratic.media.video import extract_audio
    from socratic.models.loader import ModelSpec, load_model

    with tempfile.TemporaryDirectory() as d:
        imgs = sample_images()
        video = build_sample_video(Path(d) / "v.mp4", [(imgs["coffee"], "I am making a cup of coffee.", 3.0),
                                                       (imgs["rocket"], "Look, a rocket is taking off.", 3.0),
                                                       (imgs["chelsea"], "My cat is watching me.", 3.0)])
        audio = extract_audio(video)
    fw = load_model(ModelSpec.from_dict("fw", {"family": "alm", "backend": "faster_whisper",
                                               "packaged": "whisper-base-ct2"}))
    ow = load_model(ModelSpec.from_dict("ow", {"family": "alm", "backend": "whisper", "name": "base",
                                               "random_init": True}))
    threads = torch.get_num_threads()

    # faster-whisper: features + encoder + greedy decoder, `tokens` tokens
    tok = Tokenizer(fw.model.hf_tokenizer, True, task="transcribe", language="en")
    prompt = list(tok.sot_sequence) + [tok.no_timestamps]

    def run_fw(max_length):
        mel = fw_pad(fw.model.feature_extractor(audio))
        feats = ctranslate2.StorageView.from_array(np.ascontiguousarray(mel[None].astype(np.float32)))
        out = fw.model.model.generate(feats, [prompt], beam_size=1, max_length=max_length,
                                      suppress_tokens=[-1, tok.eot], suppress_blank=False)
        return len(out[0].sequences_ids[0])

    # CTranslate2's max_length does not map 1:1 to new tokens in every version: pick the one that gives `tokens`
    lengths = [m for m in (len(prompt) + tokens, tokens, 2 * tokens) if run_fw(m) == tokens]
    if not lengths:
        raise SystemExit(f"cannot make faster-whisper decode exactly {tokens} tokens")

    # openai-whisper: the same steps in PyTorch
    otok = whisper.tokenizer.get_tokenizer(True, language="en", task="transcribe")

    def run_ow():
        mel = whisper.log_mel_spectrogram(whisper.pad_or_trim(torch.from_numpy(audio)))
        opts = whisper.DecodingOptions(language="en", without_timestamps=True, fp16=False, sample_len=tokens,
                                       suppress_tokens=[-1, otok.eot], suppress_blank=False)
        res = whisper.decode(ow.model, mel, opts)
        assert len(res.tokens) == tokens

    t_fw = best_of(lambda: run_fw(lengths[0]), repeats)
    t_ow = best_of(run_ow, repeats)
    t_real = best_of(lambda: fw.transcribe(audio, language="en"), repeats)
    print(f"[whisper base] {len(audio) / 16000:.1f} s of speech, {tokens} greedy tokens, CPU threads {threads}")
    print(f"  faster-whisper (int8, packaged):      {t_fw * 1e3:8.1f} ms")
    print(f"  openai-whisper (fp32, random weights): {t_ow * 1e3:8.1f} ms")
    print(f"  ratio openai-whisper / faster-whisper: {t_ow / t_fw:.2f}x")
    print(f"  (faster-whisper full transcribe, beam 5, real text: {t_real * 1e3:.0f} ms, "
          f"real-time factor {t_real / (len(audio) / 16000):.3f})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clip", default="ViT-B-32", help="open_clip architecture (random weights)")
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--tokens", type=int, default=48)
    ap.add_argument("--objects", type=int, default=1000, help="objects vocabulary entries (0 = all)")
    ap.add_argument("--skip", nargs="*", default=[], choices=["visual", "whisper"])
    args = ap.parse_args()
    if "visual" not in args.skip:
        visual_branch(args.clip, args.frames, args.objects, args.repeats)
    if "whisper" not in args.skip:
        whisper_speed(args.tokens, args.repeats)


if __name__ == "__main__":
    main()
