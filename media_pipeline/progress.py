"""The live progress line of ``media-pipeline run`` on a terminal: step, shots done / total, cost so far, ETA.

The run executes in the CLI's own process; a thread reads the run's events from the instance twice a second (the
same events the UI shows) and rewrites one line on stderr. The total is the ``shots`` of the ``source_images``
materialization, each finished shot is the one line its outcome logs (``assets.metadata.SHOT_DONE``), and the
ETA is the mean time per finished shot times the shots left. The line is erased when the run ends, so the summary
that follows reads as without it.
"""

from __future__ import annotations

import threading
import time
from types import TracebackType
from typing import TextIO

from dagster import DagsterEventType, DagsterInstance

from .assets.metadata import SHOT_DONE

ERASE = "\r\033[K"


class ProgressLine:
    """A context manager that shows the progress of run ``run_id`` on ``stream`` while the block runs."""

    def __init__(self, instance: DagsterInstance, run_id: str, stream: TextIO, interval: float = 0.5):
        self.instance, self.run_id, self.stream, self.interval = instance, run_id, stream, interval
        self.step = "starting"
        self.total: int | None = None
        self.done = 0
        self.cost_usd = 0.0
        self.shots_started_at: float | None = None
        self.cursor: str | None = None
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="progress-line", daemon=True)

    def __enter__(self) -> ProgressLine:
        self.thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop.set()
        self.thread.join()
        self.stream.write(ERASE)
        self.stream.flush()

    def _loop(self) -> None:
        while not self.stop.wait(self.interval):
            self.read_events()
            self.stream.write(ERASE + self.line())
            self.stream.flush()

    def read_events(self) -> None:
        """Take in the run's events since the last read."""
        if not self.instance.has_run(self.run_id):
            return
        batch = self.instance.get_records_for_run(self.run_id, cursor=self.cursor)
        self.cursor = batch.cursor
        for record in batch.records:
            entry = record.event_log_entry
            event = entry.dagster_event
            if event is None:
                self._log_line(entry.user_message)
            elif event.event_type == DagsterEventType.STEP_START:
                self.step = event.step_key or self.step
                if self.step.endswith("generated_clips"):
                    self.shots_started_at = time.monotonic()
            elif event.event_type == DagsterEventType.ASSET_MATERIALIZATION:
                shots = event.step_materialization_data.materialization.metadata.get("shots")
                if self.total is None and shots is not None and isinstance(shots.value, int):
                    self.total = shots.value

    def _log_line(self, message: str) -> None:
        shot = SHOT_DONE.match(message)
        if shot:
            self.done += 0 if shot["take"] else 1  # a shot's later takes add their cost, not a shot
            self.cost_usd += float(shot["cost"])

    def line(self) -> str:
        """``generated_clips · shots 2/4 · $0.20 · ETA 0:12`` (the ETA once a shot is done)."""
        total = "?" if self.total is None else str(self.total)
        parts = [self.step, f"shots {self.done}/{total}", f"${self.cost_usd:.2f}"]
        if self.done and self.total and self.done < self.total and self.shots_started_at is not None:
            per_shot = (time.monotonic() - self.shots_started_at) / self.done
            left = round(per_shot * (self.total - self.done))
            parts.append(f"ETA {left // 60}:{left % 60:02d}")
        return " · ".join(parts)
