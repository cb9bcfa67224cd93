"""``drive report``, and the options that ``drive eval``, ``rollout`` and ``demo`` share with it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from drive.cli.progress import progress_bar
from drive.episode.mind import LAYERS, VideoStyle
from sims.strict import ConfigError

console = Console()

LayersOption = Annotated[
    str,
    typer.Option(
        help=f"Video layers, comma-separated: {','.join(LAYERS)}; or all, or none.",
    ),
]
ScaleOption = Annotated[
    int, typer.Option(min=1, max=8, help="Enlarge video frames this many times.")
]
ReportOption = Annotated[
    Path | None,
    typer.Option(help="Also write an HTML report into this folder (drive report, docs/drive.md)."),
]
VideosOption = Annotated[
    int,
    typer.Option(
        min=0, help="Replay this many failed, then worst-scoring, episodes into videos (0: none)."
    ),
]


def video_style(layers: str, scale: int) -> VideoStyle:
    """The style the options ask for; a bad layer name ends in one line naming it."""
    try:
        return VideoStyle.parse(layers, scale=scale)
    except ValueError as error:
        raise ConfigError(f"--layers: {error}") from None


def write_run_report(
    paths: list[Path],
    out: Path,
    *,
    videos: int,
    style: VideoStyle,
    workers: int,
) -> Path:
    """Write the report of ``paths`` into ``out`` (videos under a progress bar); return index.html."""
    from drive.report.runs import RunView
    from drive.report.site import write_report
    from drive.report.videos import render_videos

    def make_videos(runs: list[RunView], folder: Path) -> dict[str, str]:
        if videos == 0:
            return {}
        with progress_bar(console) as progress:
            task = progress.add_task(
                "videos", total=min(videos, sum(len(r.episodes) for r in runs))
            )
            return render_videos(
                runs,
                folder,
                count=videos,
                style=style,
                workers=workers,
                on_video=lambda _: progress.update(task, advance=1),
            )

    files = write_report(paths, out, make_videos=make_videos)
    for video, note in zip(files.videos, files.notes, strict=True):
        if note:
            console.print(f"warning: {video.name}: {note}", style="yellow", highlight=False)
    console.print(f"Wrote {files.index} ({files.pages} episode pages, {len(files.videos)} videos)")
    return files.index


def report_command(
    runs: Annotated[
        list[Path],
        typer.Argument(
            help="drive eval or rollout JSON files; several are compared with the first."
        ),
    ],
    out: Annotated[Path, typer.Option(help="The report's folder.")] = Path("out/report"),
    videos: VideosOption = 3,
    layers: LayersOption = "all",
    scale: ScaleOption = 1,
    workers: Annotated[int, typer.Option(min=1, help="Processes replaying videos.")] = 2,
) -> None:
    """Write a static HTML report (index.html, no server needed) of runs, with videos of the worst."""
    write_run_report(runs, out, videos=videos, style=video_style(layers, scale), workers=workers)
