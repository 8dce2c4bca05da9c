"""The CLI is quiet and informative: no DEBUG flood, and on a terminal one live line of the run's progress (step,
shots done / total, cost so far) that is erased before the summary; piped output has no such line."""

import os
import pty
import re
import subprocess
import sys
from pathlib import Path

from .builders import SMALL_MANIFEST, local_cli_env, write_campaign


def _run_on_a_terminal(args: list[str], home: Path) -> tuple[str, str]:
    """stdout (piped) and what the terminal on stderr received."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "media_pipeline.cli", *args],
        env=local_cli_env(home),
        stdout=subprocess.PIPE,
        stderr=follower,
    )
    os.close(follower)
    received = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the terminal's other end closed with the process
            break
        if not chunk:
            break
        received += chunk
    os.close(leader)
    stdout = process.stdout.read().decode()
    assert process.wait(timeout=300) == 0, received.decode(errors="replace")[-2000:]
    return stdout, received.decode(errors="replace")


def test_a_run_on_a_terminal_shows_a_live_progress_line_and_no_debug(tmp_path):
    home = tmp_path / "home"
    write_campaign(home / "drops", "spring", shots=3, manifest=SMALL_MANIFEST)
    stdout, terminal = _run_on_a_terminal(["run", "spring"], home)
    lines = re.findall(r"\r\x1b\[K([^\r]+)", terminal)
    assert any(re.search(r" · shots [0-3]/3 · \$0\.00", line) for line in lines), terminal[-2000:]
    assert any("generated_clips" in line for line in lines)
    assert terminal.endswith("\r\x1b[K")  # erased before the summary
    assert "campaign spring: success" in stdout and "DEBUG" not in stdout + terminal


def test_piped_output_has_no_progress_line_and_no_debug(tmp_path):
    home = tmp_path / "home"
    write_campaign(home / "drops", "spring", shots=1, manifest=SMALL_MANIFEST)
    done = subprocess.run(
        [sys.executable, "-m", "media_pipeline.cli", "run", "spring"],
        env=local_cli_env(home),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "\x1b[K" not in done.stderr and "DEBUG" not in done.stdout + done.stderr
    assert done.stderr.strip() == "", done.stderr[-2000:]
