"""The `ltxserve` command line."""

import json
from fractions import Fraction
from pathlib import Path
from typing import Annotated

import typer

from ltxserve import media

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)


def fail(message: str) -> typer.Exit:
    """Print one error line on stderr; raise the returned Exit for a non-zero status."""
    typer.echo(f"ltxserve: error: {message}", err=True)
    return typer.Exit(code=1)


@app.command()
def probe(
    path: Path,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    timeout: Annotated[float, typer.Option(help="Give up after this many seconds.")] = 10.0,
) -> None:
    """Inspect a video, image or audio file without trusting it."""
    try:
        info = media.probe(path, timeout=timeout)
    except media.MediaError as error:
        raise fail(f"{path}: {error} [{error.code}]") from None
    if as_json:
        typer.echo(json.dumps({"path": str(path), **info.to_json()}, indent=2))
        return
    typer.echo(f"{path}: {info.container} {info.kind.value}, {info.size_bytes} bytes")
    if info.video is not None:
        v = info.video
        rate = "variable" if v.variable_frame_rate else "constant"
        typer.echo(
            f"  video: {v.codec} {v.width}x{v.height}, rotation {v.rotation}°, {float(v.fps):.3f} fps "
            f"({v.fps}, {rate}), {v.frame_count} frames, {float(v.duration):.3f} s"
        )
    if info.image is not None:
        typer.echo(f"  image: {info.image.codec} {info.image.width}x{info.image.height}")
    if info.audio is not None:
        a = info.audio
        typer.echo(f"  audio: {a.codec} {a.sample_rate} Hz, {a.channels} channels, {float(a.duration):.3f} s")


@app.command()
def testsrc(
    output: Path,
    duration: Annotated[float, typer.Option(help="Seconds.")] = 5.0,
    size: Annotated[str, typer.Option(help="WIDTHxHEIGHT.")] = "1280x720",
    fps: Annotated[str, typer.Option(help="Frame rate, e.g. 24 or 30000/1001.")] = "24",
    audio: Annotated[bool, typer.Option(help="Add a track of beeps.")] = True,
    output_format: Annotated[media.OutputFormat, typer.Option("--format")] = media.OutputFormat.MP4,
) -> None:
    """Write a synthetic clip: every frame shows its number, a beep marks every half second."""
    from ltxserve.media.testsrc import synthetic_clip

    try:
        width, height = (int(part) for part in size.lower().split("x"))
        rate = Fraction(fps)
    except ValueError:
        raise fail(
            f"--size must look like 1280x720 and --fps like 24 or 30000/1001, got {size!r} and {fps!r}"
        ) from None
    frame_count = round(duration * rate)
    if frame_count < 1:
        raise fail("--duration is too short for even one frame")
    clip = synthetic_clip(
        width,
        height,
        frame_count,
        rate,
        sample_rate=48_000 if audio else None,
        beep_every=max(1, round(rate / 2)),
    )
    try:
        media.encode_clip(output, clip, media.EncodeOptions(format=output_format))
    except ValueError as error:
        raise fail(str(error)) from None
    typer.echo(f"wrote {output}: {width}x{height}, {frame_count} frames at {rate} fps")
