"""The `ltxserve` command line: the service (see cli_server), local generation without a server,
weights tools, media tools."""

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ltxserve import cli_server, media
from ltxserve.cli_server import (
    DeviceOption,
    DtypeOption,
    Fp8Option,
    MaxExtendOption,
    OffloadOption,
    engine_options,
)
from ltxserve.engine.options import EngineOptions
from ltxserve.engine.planning import Chaining
from ltxserve.engine.progress import Progress as Step
from ltxserve.engine.progress import ProgressCallback, StageClock
from ltxserve.request import (
    AspectRatio,
    CameraMotion,
    Duration,
    ExtendOptions,
    GenerationRequest,
    ImageCondition,
    InvalidRequestError,
    LoraChoice,
    MediaRef,
    Pipeline,
    Resolution,
    RetakeMode,
    RetakeOptions,
    Sampling,
    Task,
)
from ltxserve.settings import DEMO_NOTICE, default_data_dir

if TYPE_CHECKING:
    from ltxserve.cli_remote import Made
    from ltxserve.render import Rendered

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
weights_app = typer.Typer(no_args_is_help=True, help="Find, check and write model weights.")
app.add_typer(weights_app, name="weights")
cli_server.register(app)


def fail(message: str) -> typer.Exit:
    """Print one error line on stderr; raise the returned Exit for a non-zero status."""
    typer.echo(f"ltxserve: error: {message}", err=True)
    return typer.Exit(code=1)


WeightsOption = Annotated[
    Path | None,
    typer.Option(
        "--weights", help="Directory with the official LTX-2.3 files. Without it: the tiny demo set."
    ),
]
DataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Where ltxserve keeps its data (default $LTXSERVE_DATA_DIR or ~/.local/share/ltxserve).",
    ),
]
OutputOption = Annotated[Path, typer.Option("--output", "-o", help="Output file; .mp4 .webm .mov or .gif.")]
PromptOption = Annotated[str, typer.Option("--prompt", "-p", help="What should happen.")]
PipelineOption = Annotated[Pipeline, typer.Option("--pipeline", help="one_stage, two_stage or distilled.")]
StepsOption = Annotated[int | None, typer.Option("--steps", help="Denoising steps (default 30).")]
SeedOption = Annotated[int | None, typer.Option("--seed", help="Seed for a repeatable result.")]
NegativeOption = Annotated[str | None, typer.Option("--negative-prompt", help="What to avoid.")]
QualityOption = Annotated[media.Quality, typer.Option("--quality")]
TimingsOption = Annotated[
    bool, typer.Option("--timings", help="Print the seconds each stage took, as a JSON line.")
]
CameraOption = Annotated[CameraMotion | None, typer.Option("--camera", help="A camera-motion LoRA.")]
ServerOption = Annotated[
    str | None,
    typer.Option(
        "--server",
        envvar="LTXSERVE_URL",
        help="Run on this ltxserve server (http://host:8000) instead of here; local files are uploaded.",
    ),
]
KeyOption = Annotated[
    str | None,
    typer.Option("--api-key", envvar="LTXSERVE_KEY", help="The server's API key.", show_default=False),
]
LoraOption = Annotated[
    list[str] | None, typer.Option("--lora", help="NAME_OR_PATH[:SCALE], repeatable.", show_default=False)
]


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
) -> None:
    """Write a synthetic clip: every frame shows its number, a beep marks every half second."""
    from ltxserve.media.testsrc import synthetic_clip

    width, height = _size(size)
    try:
        rate = Fraction(fps)
    except ValueError:
        raise fail(f"--fps must look like 24 or 30000/1001, got {fps!r}") from None
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
        media.encode_clip(output, clip, media.EncodeOptions(format=_format(output)))
    except ValueError as error:
        raise fail(str(error)) from None
    typer.echo(f"wrote {output}: {width}x{height}, {frame_count} frames at {rate} fps")


# --- weights ---------------------------------------------------------------------------------


@weights_app.command("check")
def weights_check(directory: Path) -> None:
    """Report which official files are in DIRECTORY and what each pipeline can use."""
    from ltxserve.engine.weights import WeightsError, discover, report

    try:
        typer.echo(report(discover(directory)))
    except WeightsError as error:
        raise fail(str(error)) from None


@weights_app.command("tiny")
def weights_tiny(directory: Path, seed: Annotated[int, typer.Option(help="Random seed.")] = 0) -> None:
    """Write the tiny random LTX-2.3 set (official format, for tests and the demo) into DIRECTORY."""
    from ltxserve.engine.tiny import write_tiny_weights

    write_tiny_weights(directory, seed)
    typer.echo(f"wrote the tiny demo weights to {directory}")


# --- generation ------------------------------------------------------------------------------


@app.command()
def generate(
    prompt: PromptOption,
    output: OutputOption,
    image: Annotated[Path | None, typer.Option("--image", help="First frame.")] = None,
    last_image: Annotated[Path | None, typer.Option("--last-image", help="Last frame.")] = None,
    audio: Annotated[Path | None, typer.Option("--audio", help="Make the video to this audio.")] = None,
    duration: Annotated[float, typer.Option("--duration", help="Seconds.")] = 5.0,
    fps: Annotated[str, typer.Option("--fps")] = "24",
    size: Annotated[str | None, typer.Option("--size", help="WIDTHxHEIGHT (even numbers).")] = None,
    resolution: Annotated[Resolution, typer.Option("--resolution")] = Resolution.P1080,
    aspect_ratio: Annotated[AspectRatio, typer.Option("--aspect-ratio")] = AspectRatio.LANDSCAPE,
    pipeline: PipelineOption = Pipeline.TWO_STAGE,
    steps: StepsOption = None,
    seed: SeedOption = None,
    negative_prompt: NegativeOption = None,
    camera: CameraOption = None,
    lora: LoraOption = None,
    no_audio: Annotated[bool, typer.Option("--no-audio", help="Leave the sound out.")] = False,
    quality: QualityOption = media.Quality.HIGH,
    weights: WeightsOption = None,
    data_dir: DataDirOption = None,
    device: DeviceOption = None,
    dtype: DtypeOption = EngineOptions.dtype,
    fp8: Fp8Option = EngineOptions.fp8,
    offload: OffloadOption = EngineOptions.offload,
    timings: TimingsOption = False,
    server: ServerOption = None,
    api_key: KeyOption = None,
) -> None:
    """Text-, image- or audio-to-video."""
    task = (
        Task.AUDIO_TO_VIDEO if audio else Task.IMAGE_TO_VIDEO if image or last_image else Task.TEXT_TO_VIDEO
    )
    explicit = _size(size) if size else None

    def build() -> GenerationRequest:
        return GenerationRequest(
            task,
            prompt,
            negative_prompt=negative_prompt,
            seed=seed,
            resolution=None if explicit else resolution,
            aspect_ratio=None if explicit else aspect_ratio,
            width=explicit[0] if explicit else None,
            height=explicit[1] if explicit else None,
            duration=Duration.of_seconds(Fraction(str(duration))),
            fps=Fraction(fps),
            generate_audio=not no_audio,
            first_frame=ImageCondition(MediaRef.file(image)) if image else None,
            last_frame=ImageCondition(MediaRef.file(last_image)) if last_image else None,
            audio=MediaRef.file(audio) if audio else None,
            sampling=Sampling(pipeline=pipeline, steps=steps),
            camera=camera,
            loras=_loras(lora),
            output=media.EncodeOptions(format=_format(output), quality=quality),
        )

    options = EngineOptions(device=device, dtype=dtype, fp8=fp8, offload=offload)
    _run(build, output, Where(weights, data_dir, options, server, api_key), timings)


@app.command()
def extend(
    video: Path,
    duration: Annotated[float, typer.Option("--duration", help="Seconds to add.")],
    output: OutputOption,
    mode: Annotated[media.Edge, typer.Option("--mode", help="Add at the end or the start.")] = media.Edge.END,
    context: Annotated[
        float | None, typer.Option("--context", help="Seconds of the video the model sees (default: most).")
    ] = None,
    prompt: PromptOption = "",
    pipeline: PipelineOption = Pipeline.TWO_STAGE,
    steps: StepsOption = None,
    seed: SeedOption = None,
    negative_prompt: NegativeOption = None,
    camera: CameraOption = None,
    lora: LoraOption = None,
    quality: QualityOption = media.Quality.HIGH,
    weights: WeightsOption = None,
    data_dir: DataDirOption = None,
    device: DeviceOption = None,
    dtype: DtypeOption = EngineOptions.dtype,
    fp8: Fp8Option = EngineOptions.fp8,
    offload: OffloadOption = EngineOptions.offload,
    max_extend: MaxExtendOption = float(Chaining.longest),
    timings: TimingsOption = False,
    server: ServerOption = None,
    api_key: KeyOption = None,
) -> None:
    """Extend VIDEO at its end or start; the output is the whole stitched video."""

    def build() -> GenerationRequest:
        return GenerationRequest(
            Task.EXTEND,
            prompt,
            negative_prompt=negative_prompt,
            seed=seed,
            extend=ExtendOptions(
                MediaRef.file(video),
                Duration.of_seconds(Fraction(str(duration))),
                edge=mode,
                context=Duration.of_seconds(Fraction(str(context))) if context is not None else None,
            ),
            sampling=Sampling(pipeline=pipeline, steps=steps),
            camera=camera,
            loras=_loras(lora),
            output=media.EncodeOptions(format=_format(output), quality=quality),
        )

    options = engine_options(device, dtype, fp8, offload, max_extend)
    _run(build, output, Where(weights, data_dir, options, server, api_key), timings)


@app.command()
def retake(
    video: Path,
    start: Annotated[float, typer.Option("--start", help="Window start, seconds.")],
    duration: Annotated[float, typer.Option("--duration", help="Window length, seconds.")],
    prompt: PromptOption,
    output: OutputOption,
    mode: Annotated[RetakeMode, typer.Option("--mode")] = RetakeMode.REPLACE_AUDIO_AND_VIDEO,
    pipeline: PipelineOption = Pipeline.ONE_STAGE,
    steps: StepsOption = None,
    seed: SeedOption = None,
    negative_prompt: NegativeOption = None,
    camera: CameraOption = None,
    lora: LoraOption = None,
    quality: QualityOption = media.Quality.HIGH,
    weights: WeightsOption = None,
    data_dir: DataDirOption = None,
    device: DeviceOption = None,
    dtype: DtypeOption = EngineOptions.dtype,
    fp8: Fp8Option = EngineOptions.fp8,
    offload: OffloadOption = EngineOptions.offload,
    max_extend: MaxExtendOption = float(Chaining.longest),
    timings: TimingsOption = False,
    server: ServerOption = None,
    api_key: KeyOption = None,
) -> None:
    """Regenerate a time window of VIDEO (its video, its audio, or both); the rest stays as it was."""

    def build() -> GenerationRequest:
        return GenerationRequest(
            Task.RETAKE,
            prompt,
            negative_prompt=negative_prompt,
            seed=seed,
            retake=RetakeOptions(MediaRef.file(video), Fraction(str(start)), Fraction(str(duration)), mode),
            sampling=Sampling(pipeline=pipeline, steps=steps),
            camera=camera,
            loras=_loras(lora),
            output=media.EncodeOptions(format=_format(output), quality=quality),
        )

    options = engine_options(device, dtype, fp8, offload, max_extend)
    _run(build, output, Where(weights, data_dir, options, server, api_key), timings)


@dataclass(frozen=True)
class Where:
    """Where a generation runs: here, on these weights with these engine options, or on a server."""

    weights: Path | None
    data_dir: Path | None
    options: EngineOptions
    server: str | None
    api_key: str | None


def _run(build: Callable[[], GenerationRequest], output: Path, where: Where, timings: bool) -> None:
    clock = StageClock()
    clock.enter("starting")  # importing torch and ltx-core, finding the weights; or reaching the server
    try:
        request = build()
    except InvalidRequestError as error:
        raise fail(str(error)) from None
    made = (
        _run_on_server(request, output, where, clock)
        if where.server
        else _run_here(request, output, where, clock)
    )
    seconds = clock.stop()
    video = made.info.video
    assert video is not None
    audio = f", audio {made.info.audio.sample_rate} Hz" if made.info.audio else ", no audio"
    label = " (demo: noise)" if made.demo else ""
    typer.echo(
        f"wrote {output}{label}: {video.width}x{video.height}, {video.frame_count} frames at {video.fps} fps "
        f"({float(video.duration):.3f} s){audio}"
    )
    typer.echo(json.dumps(made.notes))
    if timings:
        typer.echo(json.dumps({"seconds": {stage: round(value, 3) for stage, value in seconds.items()}}))


def _run_here(request: GenerationRequest, output: Path, where: Where, clock: StageClock) -> "Rendered":
    from ltxserve.engine.engine import Engine
    from ltxserve.engine.tiny import ensure_tiny_weights
    from ltxserve.engine.weights import WeightsError, discover
    from ltxserve.render import render

    try:
        demo = (where.data_dir or default_data_dir()) / "weights" / "tiny"
        weight_set = discover(where.weights if where.weights else ensure_tiny_weights(demo))
    except WeightsError as error:
        raise fail(str(error).splitlines()[0]) from None
    if weight_set.demo:
        typer.echo(f"ltxserve: {DEMO_NOTICE}", err=True)
    engine = Engine(weight_set, where.options)
    try:
        with _progress_bar(clock) as progress:
            return render(engine, request, output, progress=progress)
    except InvalidRequestError as error:
        raise fail(str(error)) from None
    except (media.MediaError, WeightsError) as error:
        raise fail(str(error).splitlines()[0]) from None
    except KeyboardInterrupt:
        output.unlink(missing_ok=True)
        raise fail("interrupted") from None


def _run_on_server(request: GenerationRequest, output: Path, where: Where, clock: StageClock) -> "Made":
    import httpx

    from ltxserve.cli_remote import render_on
    from ltxserve.client import ApiError

    assert where.server is not None
    if where.weights is not None or where.options.device is not None:
        raise fail("--weights and --device are for a run here; with --server the server's own are used")
    try:
        with _progress_bar(clock) as progress:
            made = render_on(where.server, where.api_key, request, output, progress)
    except ApiError as error:
        raise fail(f"{error.field}: {error.message}" if error.field else error.message) from None
    except FileNotFoundError as error:  # an input to upload
        raise fail(f"{error.filename}: no such file") from None
    except (httpx.HTTPError, OSError) as error:
        raise fail(f"{where.server}: {error}") from None
    except KeyboardInterrupt:
        output.unlink(missing_ok=True)
        raise fail("interrupted (the job on the server is cancelled)") from None
    if made.demo:
        typer.echo(f"ltxserve: the server says: {DEMO_NOTICE}", err=True)
    return made


@contextmanager
def _progress_bar(clock: StageClock) -> Iterator[ProgressCallback]:
    """A progress bar on stderr (where it is a terminal), fed the steps that `clock` times."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description:<20}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    console = Console(stderr=True)
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as bar:
        task = bar.add_task("starting", total=1)

        def update(step: Step) -> None:
            clock(step)
            bar.update(task, description=step.stage, completed=step.step, total=max(step.total, 1))

        yield update


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise fail(f"a size looks like 1280x720, got {text!r}") from None
    return width, height


def _format(path: Path) -> media.OutputFormat:
    try:
        return media.OutputFormat(path.suffix.lower().lstrip("."))
    except ValueError:
        raise fail(f"{path}: the output must end in .mp4, .webm, .mov or .gif") from None


def _loras(values: list[str] | None) -> tuple[LoraChoice, ...]:
    choices = []
    for value in values or []:
        name, _, scale = value.rpartition(":") if ":" in value else (value, "", "")
        try:
            choices.append(LoraChoice(name or value, float(scale) if scale else 1.0))
        except ValueError:
            raise fail(f"--lora {value!r}: the scale after ':' must be a number") from None
    return tuple(choices)
