"""Progress of the long commands: silent and machine-readable in a pipe (data on stdout
untouched, one JSON summary line with counts, seconds and rate), a bar with rate and time
left on a terminal (a real pseudo-terminal, as an operator's shell would give)."""

from __future__ import annotations

import io
import json
import os
import pty
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from app.cli import main
from app.history import Selection, export, selected
from app.runtime import Runtime
from tests.integration.test_cli import _env, _seed

REPO = Path(__file__).resolve().parents[2]
TIME_LEFT = re.compile(r"\[\d{2}:\d{2}<\d{2}:\d{2}, [^\]]*")
"""tqdm's ``[elapsed<left, rate]``."""


def _summary(text: str) -> dict[str, Any]:
    """The last line, which must be the one-line JSON summary."""
    summary: dict[str, Any] = json.loads(text.strip().splitlines()[-1])
    assert summary["seconds"] >= 0 and summary["rate"] >= 0, summary
    return summary


def _quiet_line(result: Result) -> dict[str, Any]:
    """A command that prints nothing but its summary: exactly one line, no bar."""
    assert result.exit_code == 0, result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert "\r" not in result.output and "%|" not in result.output
    return _summary(result.output)


def test_long_commands_print_only_data_and_one_summary_line_off_a_terminal(
    tmp_path: Path, runtimes: Callable[..., Runtime], monkeypatch: Any
) -> None:
    rt = _seed(tmp_path, runtimes, users=3)
    env, head = _env(tmp_path / "var"), rt.store.max_position()
    expected = io.BytesIO()
    count = export(selected(rt.store, Selection()), expected)

    exported = CliRunner().invoke(main, ["events", "export"], env=env)
    assert exported.exit_code == 0, exported.output
    assert exported.stdout_bytes == expected.getvalue()  # the data, and nothing else
    assert len(exported.stderr.splitlines()) == 1
    assert _summary(exported.stderr)["exported"] == count == head

    dump = tmp_path / "dump.jsonl"
    dump.write_bytes(expected.getvalue())
    imported = CliRunner().invoke(main, ["events", "import", str(dump)], env=_env(tmp_path / "b"))
    assert _quiet_line(imported)["imported"] == count

    handler = tmp_path / "lm_noop.py"
    handler.write_text("def handle(event, position):\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    replayed = CliRunner().invoke(main, ["events", "replay", "--handler", "lm_noop:handle"],
                                  env=env)  # fmt: skip
    assert _quiet_line(replayed)["replayed"] == count

    rebuilt = _quiet_line(CliRunner().invoke(main, ["projections", "rebuild", "accounts"], env=env))
    assert (rebuilt["projection"], rebuilt["version"], rebuilt["positions"]) == (
        "accounts",
        2,
        head,
    )

    verified = _quiet_line(CliRunner().invoke(main, ["audit", "verify"], env=env))
    assert verified["ok"] is True  # unsealed (no chain projector here), nothing altered
    assert verified["checked"] == rt.store.max_position() == head + 1  # + the rebuild event


def _on_a_terminal(args: list[str], env: dict[str, str]) -> str:
    """Run ``languagemate ARGS`` with stdin, stdout and stderr on a pseudo-terminal; what
    the terminal showed."""
    screen, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", *args],
        stdin=terminal, stdout=terminal, stderr=terminal,
        env={**os.environ, **env}, cwd=REPO,
    )  # fmt: skip
    os.close(terminal)
    shown = b""
    while True:
        try:
            chunk = os.read(screen, 65536)
        except OSError:  # EIO: the process closed the terminal
            break
        if not chunk:
            break
        shown += chunk
    os.close(screen)
    assert process.wait(timeout=120) == 0, shown.decode(errors="replace")
    return shown.decode()


def test_a_terminal_shows_a_bar_with_rate_and_time_left_then_the_summary(
    tmp_path: Path, runtimes: Callable[..., Runtime]
) -> None:
    rt = _seed(tmp_path, runtimes, users=3)
    env, head = _env(tmp_path / "var"), rt.store.max_position()
    out = tmp_path / "events.jsonl"

    shown = _on_a_terminal(["events", "export", "-o", str(out)], env)
    assert "exporting: 100%|" in shown
    bar = TIME_LEFT.search(shown)
    assert bar is not None and "events" in bar.group(0), shown
    assert _summary(shown)["exported"] == head
    expected = io.BytesIO()
    export(selected(rt.store, Selection()), expected)
    assert out.read_bytes() == expected.getvalue()  # the bar went to the terminal only

    shown = _on_a_terminal(["audit", "verify"], env)
    assert "verifying: 100%|" in shown and TIME_LEFT.search(shown), shown
    assert _summary(shown)["checked"] == head

    shown = _on_a_terminal(["projections", "rebuild", "accounts"], env)
    assert "rebuilding accounts: 100%|" in shown and TIME_LEFT.search(shown), shown
    assert _summary(shown)["projection"] == "accounts"
