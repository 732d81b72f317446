"""Live progress bars for runs in a terminal (rich), one per model."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn


def _eta(seconds: float | None) -> str:
    if seconds is None:
        return "ETA –"
    seconds = int(seconds)
    return f"ETA {seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class RunBars:
    """``update(progress_by_run)`` redraws; works as a context manager."""

    def __init__(self, labels: dict[int, str], console: Console | None = None):
        self.progress = Progress(
            TextColumn("[bold]{task.description}", justify="left"),
            BarColumn(bar_width=30),
            MofNCompleteColumn(),
            TextColumn("{task.percentage:>5.1f}%"),
            TextColumn("{task.fields[rate]}"),
            TextColumn("{task.fields[eta]}"),
            TextColumn("{task.fields[errors]}"),
            TimeElapsedColumn(),
            console=console,
            refresh_per_second=4,
        )
        self.tasks: dict[int, TaskID] = {
            run_id: self.progress.add_task(label, total=None, rate="", eta="", errors="")
            for run_id, label in labels.items()
        }

    def __enter__(self) -> "RunBars":
        self.progress.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.stop()

    def update(self, figures: dict[int, dict[str, Any]]) -> None:
        for run_id, p in figures.items():
            task = self.tasks.get(run_id)
            if task is None:
                continue
            errors = p["errors"]
            self.progress.update(
                task, total=p["total"], completed=p["done"],
                rate=f"{p['records_per_s']:.1f} rec/s {p['tokens_per_s']:.0f} tok/s",
                eta=_eta(p["eta_seconds"]) if p["status"] == "running" else p["status"],
                errors=f"[red]{errors} errors[/red]" if errors else "0 errors",
            )
