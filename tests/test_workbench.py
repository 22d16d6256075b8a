"""The workbench page (`/`) in a real headless Chromium (Debian's `chromium`, driven by Playwright with
that executable: nothing is downloaded), against the app served by uvicorn with a worker drawing the
planned output's shape: a retake and an extend of an ordinary clip through the page, cancel, history,
re-run and compare, the API tab's calls run as shown, the key, a phone-sized screen, keyboard only,
axe-core's accessibility check, and no request leaving the server (the page and /docs work offline).
Screenshots at desktop and phone sizes are kept in build/workbench/."""

import asyncio
import base64
import json
import os
import re
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Browser, Page, async_playwright

from ltxserve import media
from ltxserve.api.auth import LOCAL_OWNER
from ltxserve.keys import KeyLimits
from tests.conftest import FalServer
from tests.inprocess import Api, api
from tests.service import Client

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "build" / "workbench"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
CHROMIUM = "/usr/bin/chromium"
"""Debian's (scripts/system-packages installs it)."""
LONG = 60_000
"""Milliseconds a page may take to show what it waits for (a job's end on a loaded machine)."""


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM)
        yield launched
        await launched.close()


@dataclass
class Opened:
    page: Page
    base: str
    elsewhere: list[str] = field(default_factory=list)
    """Requests that left the server."""
    errors: list[str] = field(default_factory=list)
    """Uncaught script errors."""

    async def finish(self) -> None:
        assert self.elsewhere == [], "nothing is loaded from elsewhere"
        assert self.errors == [], "no script errors"
        await self.page.context.close()


async def open_page(
    browser: Browser, served: Api, viewport: dict[str, int], path: str = "/", *, keyed: bool = False
) -> Opened:
    """`path` open in a new browser context; the workbench with its models shown, unless the server
    wants a `keyed` caller (the page then asks for the key)."""
    base = str(served.http.base_url).rstrip("/")
    context = await browser.new_context(viewport=viewport)  # type: ignore[arg-type]
    await context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
    page = await context.new_page()
    opened = Opened(page, base)
    page.on("request", lambda request: None if request.url.startswith((base, "blob:", "data:"))
            else opened.elsewhere.append(request.url))  # fmt: skip
    page.on("pageerror", lambda error: opened.errors.append(str(error)))
    await page.goto(base + path)
    if path == "/" and not keyed:
        await page.wait_for_function("document.querySelector('#model').options.length > 0")
    return opened


async def page_notice(page: Page) -> None:
    await page.wait_for_function("!document.querySelector('#notice').hidden")
    assert await page.text_content("#notice") == "Type this server's API key above."


async def done(page: Page) -> str:
    """The job's status line once it has ended."""
    ended = "/^(Done|Failed|Cancelled)/.test(document.querySelector('#job-status').textContent)"
    await page.wait_for_function(ended, timeout=LONG)
    return await page.text_content("#job-status") or ""


DROP = """async ([data, field]) => {
    const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
    const dropped = new DataTransfer();
    dropped.items.add(new File([bytes], "clip.mp4", { type: "video/mp4" }));
    const box = document.querySelector(field).closest(".field");
    box.dispatchEvent(new DragEvent("drop", { dataTransfer: dropped, bubbles: true, cancelable: true }));
}"""
"""A file dropped on a field, as a drag from the desktop drops it."""


async def ended(served: Api, job_id: str, key: str | None = None) -> str:
    """The job's state once it has ended."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    while (state := (await served.http.get(f"/api/ai/queue/{job_id}", headers=headers)).json()["status"]) in (
        "queued",
        "processing",
    ):
        await asyncio.sleep(0.05)
    return str(state)


async def watch_status(page: Page) -> None:
    """Keep every text the job's status line shows in `window.statuses`."""
    await page.evaluate("""() => {
        window.statuses = [];
        const line = document.querySelector('#job-status');
        new MutationObserver(() => window.statuses.push(line.textContent))
            .observe(line, {childList: true, characterData: true, subtree: true});
    }""")


async def result(served: Api, page: Page, path: Path) -> media.MediaInfo:
    """The result the page links for download, fetched and probed."""
    href = await page.get_attribute("#download", "href")
    assert href is not None
    path.write_bytes((await served.http.get(href)).content)
    return media.probe(path)


async def tab_to(page: Page, target: str, key: str = "Tab") -> None:
    """Move the focus with the keyboard alone until it is on `target`."""
    for _ in range(60):
        if await page.evaluate("document.activeElement.id") == target:
            return
        await page.keyboard.press(key)
    raise AssertionError(f"{key} never reaches #{target}")


async def accessible(page: Page) -> None:
    report = (await Axe().run(page)).response
    violations = [(item["id"], [node["target"] for node in item["nodes"]]) for item in report["violations"]]
    assert violations == []


def shot(page: Page, name: str) -> Any:
    SHOTS.mkdir(parents=True, exist_ok=True)
    return page.screenshot(path=str(SHOTS / name), full_page=True)


async def test_a_retake_then_an_extend_of_an_ordinary_clip_through_the_page(
    browser: Browser, tmp_path: Path, clip: Path
) -> None:
    async with api(tmp_path, worker=True, over_http=True) as served:
        opened = await open_page(browser, served, DESKTOP)
        page = opened.page
        await page.select_option("#model", "ltx-2-3-pro-retake")
        await page.set_input_files("#f-input_video-file", clip)
        await page.wait_for_function("document.querySelector('#f-input_video').value.startsWith('upload://')")
        await page.wait_for_function("document.querySelector('#source').duration > 0")
        # the window put on the timeline by a click at 3 s (it centres there), dragged, then nudged with
        # the keyboard
        await page.locator("#timeline").scroll_into_view_if_needed()
        box = await page.locator("#timeline").bounding_box()
        assert box is not None
        middle = box["y"] + box["height"] / 2
        await page.mouse.click(box["x"] + box["width"] * 3 / 4, middle)
        assert await page.input_value("#f-retake_start_time") == "2", "2 s centred on 3 s of 4"
        await page.mouse.move(box["x"] + box["width"] * 3 / 4, middle)
        await page.mouse.down()
        await page.mouse.move(box["x"] + box["width"] / 2, middle, steps=5)
        await page.mouse.up()
        assert await page.input_value("#f-retake_start_time") == "1", "dragged 1 s back"
        await page.focus("#span")
        for _ in range(5):
            await page.keyboard.press("ArrowRight")
        assert await page.input_value("#f-retake_start_time") == "1.5"
        assert await page.get_attribute("#span", "aria-valuenow") == "1.5"
        # snapped as the server will snap it, told by the server
        await page.wait_for_function(
            "document.querySelector('#plan-text').textContent.includes('frames 33–88')"
        )
        assert await page.text_content("#plan-text") == (
            "The server will make the picture 1.375–3.708 s (frames 33–88) and the sound 1.490–3.530 s."
        )
        assert await page.is_visible("#snapped")
        await page.fill("#f-prompt", "rain on the window")
        await shot(page, "retake-desktop.png")
        await watch_status(page)
        await page.click("#submit")
        assert (await done(page)).startswith("Done")
        steps = [line for line in await page.evaluate("window.statuses") if re.search(r"step \d+/\d+", line)]
        assert steps and all("elapsed" in line for line in steps), "live progress on the way"
        assert await page.evaluate("document.querySelector('#job-progress').value") == 100
        retaken = await result(served, page, tmp_path / "retake.mp4")
        assert retaken.video is not None and retaken.audio is not None
        assert (retaken.video.width, retaken.video.height, retaken.video.frame_count) == (320, 180, 96)
        (job,) = await asyncio.to_thread(served.service.store.list_jobs, LOCAL_OWNER)
        assert job.result is not None and job.result["notes"]["video_window_frames"] == [33, 89], "as planned"
        assert (job.params["start_time"], job.params["duration"], job.params["prompt"]) == (
            1.5,
            2,
            "rain on the window",
        )

        # the retake's result as the next input, extended by 2 s at its start
        await page.select_option("#model", "ltx-2-3-pro-extend-video")
        await page.select_option("#f-input_video-earlier", index=1)
        await page.wait_for_function("document.querySelector('#f-input_video').value.startsWith('upload://')")
        await page.select_option("#f-mode", "start")
        await page.wait_for_function("document.querySelector('#source').duration > 0")
        # the new part drawn before the start: the timeline holds the most an extend adds (20 s), then
        # the 4 s clip; dragged to 18 s of those 24, it adds 2 s; the keyboard nudges it
        await page.locator("#timeline").scroll_into_view_if_needed()
        box = await page.locator("#timeline").bounding_box()
        assert box is not None
        await page.mouse.click(box["x"] + box["width"] * 18 / 24, box["y"] + box["height"] / 2)
        assert await page.input_value("#f-duration") == "2"
        await page.focus("#span")
        for key in ["ArrowUp"] * 5 + ["ArrowDown"] * 5:
            await page.keyboard.press(key)
        assert await page.input_value("#f-duration") == "2"
        assert await page.get_attribute("#span", "aria-label") == "Seconds added"
        assert "Adds 2.00 s at the start" in (await page.text_content("#timeline-text") or "")
        await page.wait_for_function(
            "document.querySelector('#plan-text').textContent.includes('48 new frames')"
        )
        assert "48 new frames at the start, seeing" in (await page.text_content("#plan-text") or "")
        assert await page.is_visible("#snapped"), "the part of the clip the model sees, drawn"
        await page.click("#submit")
        assert (await done(page)).startswith("Done")
        await page.wait_for_function("document.querySelector('#result-video').readyState >= 1")
        extended = await result(served, page, tmp_path / "extend.mp4")
        assert extended.video is not None and extended.video.frame_count == 96 + 48
        await shot(page, "extend-done-desktop.png")
        await opened.finish()


async def test_a_form_filled_while_the_history_still_loads_is_kept(
    browser: Browser, tmp_path: Path, clip: Path
) -> None:
    """The models come before the history: a user who picks a model and a file in between keeps them
    when the history arrives (the page once rebuilt the form then, and the upload went to a field no
    longer shown)."""
    async with api(tmp_path, over_http=True) as served:
        context = await browser.new_context(viewport=DESKTOP)  # type: ignore[arg-type]
        page = await context.new_page()
        held = asyncio.Event()

        async def slow_history(route: Any) -> None:
            await held.wait()
            await route.continue_()

        await page.route(re.compile(r"/api/ai/queue\?"), slow_history)
        await page.goto(str(served.http.base_url).rstrip("/") + "/")
        await page.wait_for_function("document.querySelector('#model').options.length > 0")
        await page.select_option("#model", "ltx-2-3-pro-retake")
        await page.set_input_files("#f-input_video-file", clip)
        await page.wait_for_function("document.querySelector('#f-input_video').value.startsWith('upload://')")
        await page.fill("#f-prompt", "rain")
        held.set()
        await page.wait_for_function("document.querySelector('#f-input_video-earlier').options.length > 0")
        await page.wait_for_load_state("networkidle")
        assert await page.input_value("#model") == "ltx-2-3-pro-retake"
        assert (await page.input_value("#f-input_video")).startswith("upload://")
        assert await page.input_value("#f-prompt") == "rain"
        await context.close()


async def test_history_rerun_and_compare(browser: Browser, tmp_path: Path, clip: Path) -> None:
    async with api(tmp_path, worker=True, over_http=True) as served:
        upload = (await served.http.post("/api/uploads", content=clip.read_bytes())).json()["uri"]
        for prompt in ("rain", "snow"):
            body = {
                "model": "ltx-2-3-pro-retake",
                "input_video": upload,
                "prompt": prompt,
                "retake_start_time": 1,
            }
            (answer,) = (await served.http.post("/api/ai/queue", json=body)).json()["generations"]
            await ended(served, answer["generation_id"])
        opened = await open_page(browser, served, DESKTOP)
        page = opened.page

        # a clip dropped on the video field is uploaded and shown on the timeline
        await page.select_option("#model", "ltx-2-3-pro-retake")
        await page.evaluate(DROP, [base64.b64encode(clip.read_bytes()).decode(), "#f-input_video"])
        await page.wait_for_function("document.querySelector('#f-input_video').value.startsWith('upload://')")
        await page.wait_for_function("document.querySelector('#source').duration === 4")

        await page.click("#tab-history")
        await page.click("#refresh")
        rows = page.locator("#history tr")
        await page.wait_for_function("document.querySelectorAll('#history tr').length === 2")
        states = [await row.locator("td").nth(3).text_content() for row in await rows.all()]
        assert states == ["succeeded", "succeeded"]
        await page.click("[aria-label^='Re-run with edits: ltx-2-3-pro-retake · snow']")
        assert (
            await page.is_visible("#panel-run") and await page.input_value("#model") == "ltx-2-3-pro-retake"
        )
        assert (await page.input_value("#f-prompt"), await page.input_value("#f-retake_start_time")) == (
            "snow",
            "1",
        )
        assert await page.input_value("#f-input_video") == upload

        await page.click("#tab-history")
        await page.click("[aria-label^='Compare ltx-2-3-pro-retake · rain']")
        await page.click("#tab-history")
        await page.click("[aria-label^='Compare ltx-2-3-pro-retake · snow']")
        assert await page.is_visible("#panel-compare")
        for video in ("#video-a", "#video-b", "#video-source"):  # and the source they retook
            await page.wait_for_function(f"document.querySelector('{video}').readyState >= 1")
        assert await page.evaluate("document.querySelector('#video-source').duration") == 4
        left, right = await page.input_value("#compare-a"), await page.input_value("#compare-b")
        assert left != right and "/files/results/" in left and "/files/results/" in right
        videos = "[...document.querySelectorAll('#panel-compare video')]"
        await page.evaluate(f"{videos}.forEach((video) => (video.muted = true))")
        await page.evaluate("document.querySelector('#video-a').play()")
        await page.wait_for_function(f"{videos}.every((video) => !video.paused)")
        await page.evaluate("document.querySelector('#video-b').pause()")
        await page.wait_for_function(f"{videos}.every((video) => video.paused)")
        await page.evaluate("document.querySelector('#video-source').currentTime = 2.5")
        await page.wait_for_function(f"{videos}.every((video) => Math.abs(video.currentTime - 2.5) < 0.05)")
        await page.evaluate("document.querySelector('#video-a').play()")  # and again, after all that
        await page.wait_for_function(f"{videos}.every((video) => !video.paused)")
        await shot(page, "compare-desktop.png")
        await opened.finish()


async def test_the_key_and_the_api_tabs_calls_which_run_as_shown(
    browser: Browser, tmp_path: Path, clip: Path
) -> None:
    async with api(tmp_path, worker=True, over_http=True, auth=True) as served:
        keys = served.service.keys
        assert keys is not None
        (_, alice), (_, bob) = [
            await asyncio.to_thread(keys.create, name, KeyLimits()) for name in ("alice", "bob")
        ]
        body = {"model": "ltx-2-3-pro-text-to-video", "prompt": "bob's"}
        await served.http.post("/api/ai/queue", json=body, headers={"Authorization": f"Bearer {bob}"})
        opened = await open_page(browser, served, DESKTOP, keyed=True)
        await page_notice(opened.page)
        page = opened.page
        await page.fill("#key", alice)
        await page.click("text=Use key")
        await page.wait_for_function("document.querySelector('#model').options.length > 0")
        await page.reload()  # the key is kept in the browser
        await page.wait_for_function("document.querySelector('#model').options.length > 0")
        assert await page.input_value("#key") == alice and await page.is_hidden("#notice")
        await page.click("#tab-history")
        assert await page.locator("#history tr").count() == 0, "never another key's work"

        await page.click("#tab-run")
        await page.select_option("#model", "ltx-2-3-pro-retake")
        await page.set_input_files("#f-input_video-file", clip)
        await page.wait_for_function("document.querySelector('#f-input_video').value.startsWith('upload://')")
        await page.fill("#f-prompt", "it's raining")  # a quote the shell snippet must carry
        await page.fill("#f-retake_start_time", "1.25")
        await page.click("#tab-api")
        await page.wait_for_function(
            "!document.querySelector('.snippet:nth-child(4) code').textContent.startsWith('#')"
        )
        blocks = page.locator(".snippet")
        assert await blocks.count() == 5
        environment = {**os.environ, "LTX_KEY": alice}
        for block in await blocks.all():
            name, code = await block.locator("h2").text_content(), await block.locator("code").text_content()
            assert name is not None and code is not None
            if name == "Python (fal-client)":  # run over HTTPS, below
                assert (
                    code == "# fal's client speaks HTTPS only: serve with --tls-cert and --tls-key to use it"
                )
                continue
            await block.locator("button").click()
            assert await page.evaluate("navigator.clipboard.readText()") == code, "copied with one click"
            command = ["bash", "-c", code] if name == "curl" else [sys.executable, "-c", code]
            ran = await asyncio.to_thread(
                subprocess.run, command, env=environment, capture_output=True, text=True, timeout=120
            )
            assert ran.returncode == 0, (name, ran.stderr)
            assert ran.stdout.strip(), name
        await shot(page, "api-desktop.png")
        jobs = await asyncio.to_thread(
            served.service.store.list_jobs, await asyncio.to_thread(owner_of, served, alice)
        )
        assert len(jobs) == 4, "one job per call"
        assert [job.model for job in jobs] == ["videos"] + 3 * ["ltx-2-3-pro-retake"], "OpenAI's call last"
        assert len({json.dumps(job.request, sort_keys=True) for job in jobs}) == 1, (
            "the same request each way"
        )
        for job in jobs[1:]:
            assert (job.params["prompt"], job.params["start_time"], job.params["duration"]) == (
                "it's raining",
                1.25,
                2,
            )
        assert {await ended(served, job.id, alice) for job in jobs} == {"succeeded"}
        await opened.finish()


def owner_of(served: Api, secret: str) -> str:
    keys = served.service.keys
    assert keys is not None
    key = keys.owner(secret)
    assert key is not None
    return key.id


async def test_a_phone_sized_screen_keyboard_only_accessible_and_offline(
    browser: Browser, tmp_path: Path
) -> None:
    """Also cancel: with no worker the job waits in the queue, where a cancel ends it at once."""
    async with api(tmp_path, over_http=True) as served:
        opened = await open_page(browser, served, PHONE)
        page = opened.page
        assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], (
            "no sideways scroll"
        )
        await accessible(page)
        # keyboard only: to the prompt, type, to the button, Enter; then to Cancel
        await tab_to(page, "f-prompt")
        await page.keyboard.type("a lighthouse at dusk")
        await tab_to(page, "submit")
        await page.keyboard.press("Enter")
        await page.wait_for_selector("#job:not([hidden])")
        await page.keyboard.press("Tab")  # the next control after Generate
        assert await page.evaluate("document.activeElement.id") == "cancel"
        await page.wait_for_function(
            "document.querySelector('#job-status').textContent === 'Queued, 0 ahead'"
        )
        await page.keyboard.press("Enter")
        assert await done(page) == "Cancelled"
        await shot(page, "run-phone.png")
        await accessible(page)
        await tab_to(page, "tab-run", "Shift+Tab")
        for tab in ("tab-history", "tab-compare", "tab-api"):
            await page.keyboard.press("ArrowRight")  # from tab to tab, as a tab list goes
            assert await page.evaluate("document.activeElement.id") == tab and await page.is_visible(
                f"#panel-{tab[4:]}"
            )
            await accessible(page)
        await shot(page, "api-phone.png")
        await opened.finish()
        for viewport in (PHONE, DESKTOP):
            docs = await open_page(browser, served, viewport, "/docs")
            await docs.page.wait_for_selector(".swagger-ui .info .title", timeout=LONG)
            await docs.finish()


async def test_the_fal_call_runs_against_a_served_engine_over_https(
    browser: Browser, fal_server: FalServer, clip: Path, tmp_path: Path
) -> None:
    """fal's client speaks only HTTPS: its call against `serve` with TLS and the tiny engine. (That
    it makes the form's request is checked by the server before it offers the call: tests/test_api_plan.)"""
    context = await browser.new_context(viewport=DESKTOP, ignore_https_errors=True)  # type: ignore[arg-type]
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(fal_server.url + "/")
    await page.fill("#key", fal_server.key)
    await page.click("text=Use key")
    await page.wait_for_function("document.querySelector('#model').options.length > 0")
    await page.select_option("#model", "ltx-2-3-pro-retake")
    await page.set_input_files("#f-input_video-file", clip)
    await page.wait_for_function("document.querySelector('#f-input_video').value.startsWith('upload://')")
    await page.fill("#f-prompt", "rain")
    await page.fill("#f-retake_start_time", "1")
    await page.click("#tab-api")
    fal_block = ".snippet:nth-child(5) code"
    await page.wait_for_function(f"!document.querySelector('{fal_block}').textContent.startsWith('#')")
    code = await page.text_content(fal_block)
    assert code is not None and 'fal_client.subscribe("fal-ai/ltx-2.3/retake-video"' in code
    environment = {**fal_server.environment(), "LTX_KEY": fal_server.key}
    ran = await asyncio.to_thread(subprocess.run, [sys.executable, "-c", code], env=environment,
                                  capture_output=True, text=True, timeout=480)  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    trusting = ssl.create_default_context(cafile=str(fal_server.ca_bundle))
    made = tmp_path / "fal.mp4"
    made.write_bytes(
        Client(fal_server.url, fal_server.key, verify=trusting).http.get(ran.stdout.strip()).content
    )
    info = media.probe(made)
    assert info.video is not None and info.audio is not None
    assert (info.video.width, info.video.height, info.video.frame_count) == (320, 180, 96)
    assert errors == []
    await context.close()
