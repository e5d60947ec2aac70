"""The README's first command, as a newcomer runs it, gives a server whose AI level test
works: a fresh copy of the repository, a new virtualenv, exactly that command, then a
spoken answer uploaded and rated.

The install is the slow part (a couple of minutes from pip's cache); it is what this test
is about, since every other test runs in the fully equipped CI virtualenv and could not
notice an install line that leaves the level test out.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import httpx

from devservices import free_port
from devservices.settings import MODEL_CACHE, TEST_JWT_KEYS
from tests.e2e.conftest import ROOT, wait_healthy

ANSWER = (
    "Last weekend I visited my grandmother in the countryside. We cooked dinner together "
    "and talked about her childhood, because she grew up in a small village near the sea. "
    "I think these visits are important, although the journey by train takes three hours."
)


def _first_command() -> str:
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"```bash\n(.*?)```", readme, re.S)
    assert block is not None, "the README starts with a bash block of two commands"
    return block.group(1).splitlines()[0]


def _fresh_copy(target: Path) -> None:
    """What a clone would hold: tracked and new files, nothing ignored (no .venv, no var)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT, capture_output=True, check=True,
    ).stdout.decode().split("\0")  # fmt: skip
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


def test_the_readme_first_command_serves_a_working_level_test(tmp_path: Path) -> None:
    command = _first_command()
    install, _, serve = command.rpartition(" && ")
    assert serve == ".venv/bin/languagemate serve", command
    assert shutil.which("espeak-ng"), "espeak-ng is needed to speak the answer"
    checkout = tmp_path / "languagemate"
    _fresh_copy(checkout)
    installed = subprocess.run(["bash", "-c", install], cwd=checkout, capture_output=True,
                               timeout=1200, check=False)  # fmt: skip
    assert installed.returncode == 0, installed.stderr.decode()[-3000:]

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LANGUAGEMATE_")}
    env |= {"LANGUAGEMATE_PORT": str(port), "LANGUAGEMATE_DEV_LOGIN": "1",
            "LANGUAGEMATE_JWT_KEYS": TEST_JWT_KEYS,
            "LANGUAGEMATE_MODEL_CACHE_DIR": str(MODEL_CACHE),
            "LANGUAGEMATE_LEVEL_TEST_WAIT_SECONDS": "60"}  # fmt: skip
    with (tmp_path / "serve.log").open("wb") as log:
        server = subprocess.Popen(["bash", "-c", f"exec {serve}"], cwd=checkout, env=env,
                                  stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        wait_healthy(base, server, timeout=120)
        spoken = tmp_path / "answer.wav"
        subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(spoken), ANSWER],
                       check=True)  # fmt: skip
        login = httpx.post(f"{base}/api/v1/auth/dev-login", timeout=30,
                           json={"email": "new@example.com", "name": "New"})  # fmt: skip
        headers = {"Authorization": f"Bearer {login.json()['data']['accessToken']}"}
        started = httpx.post(f"{base}/api/v1/level-test/voice/start", headers=headers,
                             json={"languageCode": "English"}, timeout=30)  # fmt: skip
        test_id = started.json()["data"]["testId"]
        uploaded = httpx.post(
            f"{base}/api/v1/level-test/voice/{test_id}/upload", headers=headers, timeout=60,
            files={"audio": ("recording.webm", spoken.read_bytes(), "audio/webm")},
        )  # fmt: skip
        assert uploaded.status_code == 200, uploaded.text
        deadline = time.monotonic() + 180
        while (analyzed := httpx.post(f"{base}/api/v1/level-test/voice/{test_id}/analyze",
                                      headers=headers, timeout=90)).status_code == 202:  # fmt: skip
            assert time.monotonic() < deadline, "the level test never finished"
        assert analyzed.status_code == 200, analyzed.text
        result = httpx.get(f"{base}/api/v1/level-test/voice/{test_id}/result", headers=headers)
        assert result.json()["data"]["level"] in ("A1", "A2", "B1", "B2", "C1", "C2")
    finally:
        server.terminate()
        server.wait(30)
    assert "Traceback" not in (tmp_path / "serve.log").read_text(errors="replace")
