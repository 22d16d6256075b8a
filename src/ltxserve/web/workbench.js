// The workbench: a form generated from each model's JSON schema (GET /api/ai/models), submitted to the
// Oxen-shaped queue, followed on the server's event stream; this key's history, compared side by side;
// the same call as code. Plain modern JavaScript, no build step and nothing fetched from elsewhere.
"use strict";

const $ = (id) => document.getElementById(id);
const KEY = "ltxserve.key";
const ENDED = ["succeeded", "failed", "cancelled"];
const STATES = "queued,processing,succeeded,failed,cancelled";
const MAIN = /prompt|duration|start|mode/; // besides what is required and media: what a user sets first
const state = {
  key: localStorage.getItem(KEY) || "",
  models: new Map(),
  history: [],
  job: null,
  stream: null,
  request: null, // the form's request in ltxserve's own terms, as the server made it (undefined: asked)
  fal: null, // fal's endpoint and arguments that make the same request
};

// --- the API --------------------------------------------------------------------------------------

function authorization() {
  return state.key ? { Authorization: `Bearer ${state.key}` } : {};
}

async function call(method, path, body) {
  const headers = authorization();
  let payload;
  if (body instanceof Blob) {
    payload = body;
  } else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  const response = await fetch(path, { method, headers, body: payload });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = data.error || {};
    const failure = new Error(error.detail || error.title || response.statusText);
    failure.field = error.field;
    failure.status = response.status;
    throw failure;
  }
  return data;
}

async function upload(blob) {
  return (await call("POST", "/api/uploads", blob)).uri;
}

// --- the form, from the schema ----------------------------------------------------------------------

function resolved(property) {
  if (!property.anyOf) return property;
  const real = property.anyOf.find((choice) => choice.type !== "null");
  return { ...real, ...property, anyOf: undefined, nullable: true };
}

function properties(model) {
  const schema = model.request_schema;
  const required = new Set(schema.required || []);
  return Object.entries(schema.properties)
    .map(([name, raw]) => ({ name, ...resolved(raw), required: required.has(name) }))
    .filter((prop) => !(prop.name === "task" && prop.enum && prop.enum.length === 1));
}

function control(prop) {
  const id = `f-${prop.name}`;
  let input;
  if (prop.enum) {
    input = document.createElement("select");
    for (const value of prop.enum) input.add(new Option(String(value), String(value)));
  } else if (prop.type === "boolean") {
    input = document.createElement("input");
    input.type = "checkbox";
  } else if (prop.type === "number" || prop.type === "integer") {
    input = document.createElement("input");
    input.type = "number";
    input.step = prop.type === "integer" ? "1" : "any";
    if (prop.minimum !== undefined) input.min = prop.minimum;
    if (prop.maximum !== undefined) input.max = prop.maximum;
  } else if (prop.name === "prompt") {
    input = document.createElement("textarea");
    input.rows = 3;
  } else {
    input = document.createElement("input");
    input.type = "text";
  }
  if (prop.maxLength) input.maxLength = prop.maxLength;
  input.id = id;
  input.name = prop.name;
  input.dataset.param = prop.name;
  input.dataset.type = prop.type || "string";
  if (prop.format === "uri") input.dataset.media = "true";
  if (prop.required) input.required = true;
  if (prop.default !== undefined && prop.default !== null) {
    if (prop.type === "boolean") input.checked = prop.default;
    else input.value = String(prop.default);
  }
  input.setAttribute("aria-describedby", `${id}-help ${id}-error`);
  return input;
}

function field(prop) {
  const box = document.createElement("div");
  box.className = "field";
  const label = document.createElement("label");
  label.htmlFor = `f-${prop.name}`;
  label.textContent = (prop.title || prop.name) + (prop.required ? " (required)" : "");
  const input = control(prop);
  if (prop.name === "input_video") {
    input.addEventListener("change", () => /^https?:/.test(input.value) && showSource(input.value));
  }
  const help = document.createElement("p");
  help.className = "help";
  help.id = `f-${prop.name}-help`;
  help.textContent = prop.description || "";
  const error = document.createElement("p");
  error.className = "error";
  error.id = `f-${prop.name}-error`;
  error.hidden = true;
  box.append(label, input, help);
  if (prop.format === "uri") {
    const take = uploader(prop, input);
    box.append(mediaPicker(prop, take));
    box.addEventListener("dragover", (event) => event.preventDefault());
    box.addEventListener("drop", (event) => {
      event.preventDefault();
      const dropped = event.dataTransfer.files[0];
      if (dropped) take(dropped);
    });
  }
  box.append(error);
  return box;
}

function uploader(prop, input) {
  // a file (dropped or chosen, or an earlier result) is uploaded: the field takes its upload:// reference
  return async (blob) => {
    input.value = "uploading…";
    try {
      input.value = await upload(blob);
      if (prop.name === "input_video") showSource(URL.createObjectURL(blob));
      redraw();
    } catch (error) {
      input.value = "";
      showError(error);
    }
  };
}

function mediaPicker(prop, take) {
  // an earlier result is downloaded and uploaded back: the server fetches no links to itself
  const picker = document.createElement("div");
  picker.className = "media";
  const file = document.createElement("input");
  file.type = "file";
  file.id = `f-${prop.name}-file`;
  file.accept = prop.name.includes("video") ? "video/*" : prop.name.includes("audio") ? "audio/*" : "image/*";
  const fileLabel = document.createElement("label");
  fileLabel.htmlFor = file.id;
  fileLabel.textContent = "Upload a file (or drop it here)";
  const earlier = document.createElement("select");
  earlier.id = `f-${prop.name}-earlier`;
  earlier.className = "earlier";
  const earlierLabel = document.createElement("label");
  earlierLabel.htmlFor = earlier.id;
  earlierLabel.textContent = "or an earlier result";
  fillResults(earlier);
  file.addEventListener("change", () => file.files[0] && take(file.files[0]));
  earlier.addEventListener("change", async () => {
    if (earlier.value) take(await (await fetch(earlier.value)).blob());
  });
  picker.append(fileLabel, file, earlierLabel, earlier);
  return picker;
}

function fillResults(select) {
  select.replaceChildren(new Option("—", ""));
  for (const item of state.history.filter((item) => item.status === "succeeded")) {
    select.add(new Option(describe(item), item.result_url));
  }
}

function buildForm() {
  const model = state.models.get($("model").value);
  $("model-description").textContent = model.description || "";
  const main = $("fields");
  const advanced = $("advanced-fields");
  main.replaceChildren();
  advanced.replaceChildren();
  for (const prop of properties(model)) {
    const first = prop.required || prop.format === "uri" || MAIN.test(prop.name);
    (first ? main : advanced).append(field(prop));
  }
  $("advanced").hidden = advanced.children.length === 0;
  $("source").removeAttribute("src");
  $("timeline-box").hidden = true;
  $("snapped").hidden = true;
  $("plan-text").textContent = "";
  redraw();
}

function values() {
  const params = {};
  for (const input of $("run-form").querySelectorAll("[data-param]")) {
    const type = input.dataset.type;
    if (input.type === "checkbox") {
      params[input.name] = input.checked;
    } else if (input.value !== "") {
      params[input.name] = type === "number" || type === "integer" ? Number(input.value) : input.value;
    }
  }
  return params;
}

function setValues(params) {
  for (const input of $("run-form").querySelectorAll("[data-param]")) {
    const value = params[input.name];
    if (value === undefined || value === null) continue;
    if (input.type === "checkbox") input.checked = Boolean(value);
    else input.value = String(value);
  }
  redraw();
}

// --- the source's timeline (extend and retake) -------------------------------------------------------

function showSource(url) {
  $("source").src = url;
  $("timeline-box").hidden = false;
}

function number(name) {
  const input = $(`f-${name}`);
  return input ? Number(input.value || 0) : null;
}

// The timeline's scale, in seconds: the source alone for a retake; for an extend the source and the
// most the model may add (the field's maximum), after its end or before its start.
function scale() {
  const total = $("source").duration;
  const extend = !$("f-retake_start_time") && $("f-duration");
  if (!extend) return { total, whole: total, source: 0 };
  const most = Number($("f-duration").max || 20);
  const atStart = $("f-mode")?.value === "start";
  return { total, whole: total + most, source: atStart ? most : 0, atStart, most, extend: true };
}

function place(element, from, to, whole) {
  element.style.left = `${(100 * from) / whole}%`;
  element.style.width = `${(100 * Math.max(0, to - from)) / whole}%`;
}

function redraw() {
  planSoon();
  renderSnippets();
  const { total, whole, atStart, most, extend } = scale();
  if (!total || Number.isNaN(total)) return;
  const span = $("span");
  if (!extend) {
    const start = number("retake_start_time");
    const length = number("retake_duration");
    place(span, start, Math.min(start + length, total), whole);
    span.setAttribute("aria-label", "Window start, seconds");
    span.setAttribute("aria-valuemax", String(Math.max(0, total - length)));
    span.setAttribute("aria-valuenow", String(start));
    $("timeline-text").textContent =
      `Asks for ${start.toFixed(2)}–${(start + length).toFixed(2)} s of ${total.toFixed(2)} s.`;
    return;
  }
  const added = number("duration") || 0;
  if (atStart) place(span, most - added, most, whole);
  else place(span, total, total + added, whole);
  span.setAttribute("aria-label", "Seconds added");
  span.setAttribute("aria-valuemax", String(most));
  span.setAttribute("aria-valuenow", String(added));
  $("timeline-text").textContent =
    `Adds ${added.toFixed(2)} s at the ${atStart ? "start" : "end"} of ${total.toFixed(2)} s.`;
}

function setSeconds(name, seconds, low, high) {
  const input = $(`f-${name}`);
  input.value = String(Math.round(Math.max(low, Math.min(high, seconds)) * 100) / 100);
  redraw();
}

function timelineEvents() {
  const timeline = $("timeline");
  const at = (event) => {
    const box = timeline.getBoundingClientRect();
    return ((event.clientX - box.left) / box.width) * scale().whole;
  };
  // a retake's window moves where it is dragged (clicked: centred there); an extend's new part
  // reaches where it is dragged
  const follow = (event, grab) => {
    const { total, atStart, most, extend } = scale();
    if (extend) {
      const field = $("f-duration");
      const seconds = atStart ? most - at(event) : at(event) - total;
      setSeconds("duration", seconds, Number(field.min || 0), most);
    } else {
      setSeconds("retake_start_time", at(event) - grab, 0, total - number("retake_duration"));
    }
  };
  let grab = null;
  timeline.addEventListener("pointerdown", (event) => {
    if (!$("f-retake_start_time") && !$("f-duration")) return;
    const start = number("retake_start_time") ?? 0;
    grab = event.target === $("span") ? at(event) - start : (number("retake_duration") ?? 0) / 2;
    timeline.setPointerCapture(event.pointerId);
    follow(event, grab);
  });
  timeline.addEventListener("pointermove", (event) => grab !== null && follow(event, grab));
  timeline.addEventListener("pointerup", () => (grab = null));
  $("span").addEventListener("keydown", (event) => {
    const step = event.shiftKey ? 1 : 0.1;
    const moves = { ArrowLeft: -step, ArrowRight: step, ArrowDown: -step, ArrowUp: step };
    if (!(event.key in moves)) return;
    event.preventDefault();
    const { total, most, extend } = scale();
    if (extend) {
      setSeconds("duration", number("duration") + moves[event.key], Number($("f-duration").min || 0), most);
    } else if ($("f-retake_start_time")) {
      const start = number("retake_start_time") + moves[event.key];
      setSeconds("retake_start_time", start, 0, total - number("retake_duration"));
    }
  });
  $("source").addEventListener("loadedmetadata", redraw);
}

// What the server will decide, from the server (POST /api/ai/plan): the window snapped to latent
// frames and to 40 ms audio frames, an extend's context; and the request in ltxserve's own terms, for
// the OpenAI call. Asked again a moment after the last change; it reads uploads only.
let planTimer = null;
let plans = 0;

function planSoon() {
  state.request = undefined; // being asked for
  clearTimeout(planTimer);
  planTimer = setTimeout(showPlan, 250);
}

async function showPlan() {
  const asked = ++plans;
  const media = [...document.querySelectorAll("[data-media]")].map((input) => input.value).filter(Boolean);
  if (media.some((uri) => !uri.startsWith("upload://"))) return planned(null);
  let answer;
  try {
    // the plan does not depend on the prompt, which a form still being filled may not have yet
    answer = await call("POST", "/api/ai/plan", { model: $("model").value, prompt: "(planning)", ...values() });
  } catch (error) {
    if (asked === plans) {
      planned(null);
      $("plan-text").textContent = `As it stands the server refuses it: ${error.message}`;
    }
    return;
  }
  if (asked !== plans) return; // a later change is being planned
  const prompt = $("f-prompt")?.value ?? "";
  planned({ ...answer.request, prompt }, answer.fal && { ...answer.fal, arguments: { ...answer.fal.arguments, prompt } });
  const plan = answer.plan;
  if ($("timeline-box").hidden) return;
  // on the timeline: the retake's window as it will be made, or the part of the video an extend sees
  const { total, whole, source } = scale();
  const snapped = $("snapped");
  const picture = plan.video_window_seconds;
  const context = plan.context_seconds;
  snapped.hidden = !total || !(picture || context);
  if (picture) place(snapped, picture[0], picture[1], whole);
  else if (context && source > 0) place(snapped, source, source + context, whole);
  else if (context) place(snapped, total - context, total, whole);
  const seconds = (pair) => `${pair[0].toFixed(3)}–${pair[1].toFixed(3)} s`;
  const parts = [];
  if (picture) {
    const [first, stop] = plan.video_window_frames;
    parts.push(`the picture ${seconds(picture)} (frames ${first}–${stop - 1})`);
  }
  if (plan.audio_window_seconds) parts.push(`the sound ${seconds(plan.audio_window_seconds)}`);
  if (plan.new_frames !== undefined) {
    parts.push(
      `${plan.new_frames} new frames at the ${plan.edge}, seeing ${plan.context_frames} frames ` +
        `(${plan.context_seconds.toFixed(3)} s) of the video`,
    );
  }
  $("plan-text").textContent = `The server will make ${parts.join(" and ")}.`;
}

// --- submit and follow ----------------------------------------------------------------------------------

function clearErrors() {
  for (const error of document.querySelectorAll(".error")) error.hidden = true;
  for (const input of document.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
}

function showError(error) {
  const input = error.field && $(`f-${error.field}`);
  if (input) {
    const message = $(`f-${error.field}-error`);
    message.textContent = error.message;
    message.hidden = false;
    input.setAttribute("aria-invalid", "true");
    if (input.closest("details")) input.closest("details").open = true;
    input.focus();
  } else {
    $("form-error").textContent = error.status === 401 ? "This server needs an API key." : error.message;
    $("form-error").hidden = false;
  }
}

async function submit(event) {
  event.preventDefault();
  clearErrors();
  $("job-status").textContent = "Submitting";
  $("result").hidden = true;
  try {
    const answer = await call("POST", "/api/ai/queue", { model: $("model").value, ...values() });
    follow(answer.generations[0]);
  } catch (error) {
    showError(error);
  }
}

function seconds(value) {
  return `${Math.round(value)} s`;
}

function render(item) {
  $("job").hidden = false;
  const now = Date.now() / 1000;
  const began = item.started_at || item.enqueued_at;
  const elapsed = Math.max(0, (item.completed_at || now) - began);
  const progress = item.progress;
  let text;
  if (item.status === "queued") {
    text = `Queued, ${item.queue_position ?? 0} ahead`;
  } else if (item.status === "processing" && progress) {
    const left = progress.percent > 0 ? (elapsed * (100 - progress.percent)) / progress.percent : null;
    text = `${progress.stage}: step ${progress.step}/${progress.total}, ${seconds(elapsed)} elapsed` +
      (left !== null ? `, about ${seconds(left)} left` : "");
  } else if (item.status === "succeeded") {
    text = `Done in ${seconds(elapsed)}` + (item.demo ? " (demo weights: the picture and sound are noise)" : "");
  } else if (item.status === "failed") {
    text = `Failed: ${item.error_message}`;
  } else {
    text = item.status === "cancelled" ? "Cancelled" : "Starting";
  }
  $("job-status").textContent = text;
  $("job-progress").value = item.status === "succeeded" ? 100 : progress ? progress.percent : 0;
  $("cancel").hidden = ENDED.includes(item.status);
  $("result").hidden = item.status !== "succeeded";
  if (item.status === "succeeded" && $("result-video").dataset.job !== item.generation_id) {
    $("result-video").dataset.job = item.generation_id;
    $("result-video").src = item.result_url;
    $("download").href = item.result_url;
  }
  if (ENDED.includes(item.status)) refreshHistory();
  return ENDED.includes(item.status);
}

async function follow(item) {
  state.stream?.abort();
  const stream = new AbortController();
  state.stream = stream;
  state.job = item.generation_id;
  $("result-video").removeAttribute("src");
  delete $("result-video").dataset.job;
  const check = async () => render(await call("GET", `/api/ai/queue/${item.generation_id}`));
  if (render(item)) return;
  try {
    const response = await fetch("/api/events", { headers: authorization(), signal: stream.signal });
    if (await check()) return stream.abort(); // it may have moved on before the stream began
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffered = "";
    let data = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffered += value;
      const lines = buffered.split(/\r\n|\r|\n/); // the server ends lines with CRLF
      buffered = lines.pop();
      for (const line of lines) {
        let ended = false;
        if (line.startsWith("data:")) {
          data += line.slice(5).trim();
        } else if (line.startsWith(":")) {
          ended = await check(); // a keep-alive: look again, in case an event was missed
        } else if (line === "" && data) {
          const event = JSON.parse(data);
          data = "";
          if (event.generation_id === item.generation_id) ended = await check();
        }
        if (ended) return stream.abort();
      }
    }
  } catch (error) {
    if (error.name !== "AbortError") showError(error);
  }
}

async function cancel() {
  if (!state.job) return;
  try {
    await call("DELETE", `/api/ai/queue/${state.job}`);
    render(await call("GET", `/api/ai/queue/${state.job}`));
  } catch (error) {
    showError(error);
  }
}

// --- history and compare ------------------------------------------------------------------------------

function paramsOf(item) {
  const model = state.models.get(item.model);
  if (!model) return {};
  const names = new Set(Object.keys(model.request_schema.properties));
  names.delete("task");
  return Object.fromEntries(Object.entries(item).filter(([name, value]) => names.has(name) && value !== null));
}

function describe(item) {
  const prompt = (item.prompt || "").slice(0, 40);
  return `${item.model} · ${prompt || "(no prompt)"} · ${item.generation_id.slice(0, 8)}`;
}

async function refreshHistory() {
  try {
    state.history = (await call("GET", `/api/ai/queue?status=${STATES}&limit=100`)).generations;
  } catch (error) {
    if (error.status === 401) return notice("Type this server's API key above to see your work.");
    throw error;
  }
  const rows = state.history.map((item) => {
    const row = document.createElement("tr");
    const cells = [
      new Date(item.enqueued_at * 1000).toLocaleString(),
      item.model,
      JSON.stringify(paramsOf(item)),
      item.status,
    ].map((text) => Object.assign(document.createElement("td"), { textContent: text }));
    const actions = document.createElement("td");
    const button = (label, name, action) => {
      const made = Object.assign(document.createElement("button"), { type: "button", textContent: label });
      made.setAttribute("aria-label", `${name} ${describe(item)}`);
      made.addEventListener("click", action);
      actions.append(made);
    };
    button("Open", "Open", () => (selectTab("tab-run"), follow(item)));
    button("Re-run", "Re-run with edits:", () => rerun(item));
    if (item.status === "succeeded") {
      button("Compare", "Compare", () => compareWith(item));
    }
    row.append(...cells, actions);
    return row;
  });
  $("history").replaceChildren(...rows);
  for (const select of document.querySelectorAll(".earlier, #compare-a, #compare-b")) {
    const chosen = select.value;
    fillResults(select);
    select.value = chosen;
  }
}

function rerun(item) {
  $("model").value = item.model;
  buildForm();
  setValues(paramsOf(item));
  selectTab("tab-run");
  $("model").focus();
}

function compareWith(item) {
  const [left, right] = [$("compare-a"), $("compare-b")];
  if (!left.value) left.value = item.result_url;
  else right.value = item.result_url;
  showCompared();
  selectTab("tab-compare");
}

async function showCompared() {
  $("video-a").src = $("compare-a").value;
  $("video-b").src = $("compare-b").value;
  // the source of what is compared (an extend's or a retake's), the left one's first
  const compared = [$("compare-a"), $("compare-b")].map((select) =>
    state.history.find((item) => select.value && item.result_url === select.value));
  const source = compared.map((item) => item?.input_video).find(Boolean);
  const player = $("video-source");
  let url = null;
  if (source?.startsWith("upload://")) {
    const response = await fetch(`/api/uploads/${source.slice("upload://".length)}`, { headers: authorization() });
    if (response.ok) url = URL.createObjectURL(await response.blob());
  } else if (/^https?:/.test(source || "")) {
    url = source;
  }
  $("source-box").hidden = !url;
  if (url) player.src = url;
  else player.removeAttribute("src");
}

function synchronize(videos) {
  // each follows the one the user moved; in step already, following does nothing (so no echoes)
  for (const one of videos) {
    const others = () => videos.filter((other) => other !== one && other.currentSrc);
    one.addEventListener("play", () => {
      for (const other of others()) if (other.paused) other.play().catch(() => {});
    });
    one.addEventListener("pause", () => {
      for (const other of others()) if (!other.paused) other.pause();
    });
    one.addEventListener("seeked", () => {
      for (const other of others()) {
        if (Math.abs(other.currentTime - one.currentTime) > 0.05) other.currentTime = one.currentTime;
      }
    });
  }
}

// --- the API tab ------------------------------------------------------------------------------------------

function python(value, indent = "") {
  if (value === null) return "None";
  if (value === true) return "True";
  if (value === false) return "False";
  if (Array.isArray(value)) {
    return `[${value.map((item) => python(item, indent)).join(", ")}]`;
  }
  if (typeof value === "object") {
    const inner = `${indent}    `;
    const items = Object.entries(value).map(([key, item]) => `${inner}${JSON.stringify(key)}: ${python(item, inner)},`);
    return `{\n${items.join("\n")}\n${indent}}`;
  }
  return JSON.stringify(value);
}

function snippets() {
  const origin = window.location.origin;
  const body = { model: $("model").value, ...values() };
  const { model, ...params } = body;
  const calls = {
    curl:
      `curl -sS "${origin}/api/ai/queue" -H "Authorization: Bearer $LTX_KEY" ` +
      `-H "Content-Type: application/json" \\\n  -d '${JSON.stringify(body).replaceAll("'", "'\\''")}'`,
    "Python (requests)": [
      "import os",
      "",
      "import requests",
      "",
      `answer = requests.post("${origin}/api/ai/queue", headers={"Authorization": f"Bearer {os.environ['LTX_KEY']}"},`,
      `                       json=${python(body, "                       ")})`,
      "answer.raise_for_status()",
      'print(answer.json()["generations"][0]["generation_id"])',
    ].join("\n"),
    "Python (ltxserve client)": [
      "import os",
      "",
      "from ltxserve.client import Client",
      "",
      `with Client("${origin}", os.environ.get("LTX_KEY")) as client:`,
      `    job = client.submit(${JSON.stringify(model)}, **${python(params, "    ")})`,
      "    print(job.wait().result_url)",
    ].join("\n"),
  };
  if (state.request) {
    // OpenAI's videos route takes ltxserve's whole request beside its own fields
    const { prompt, ...request } = state.request;
    calls["Python (OpenAI SDK)"] = [
      "import os",
      "",
      "from openai import OpenAI",
      "",
      `client = OpenAI(base_url="${origin}/v1", api_key=os.environ["LTX_KEY"])`,
      `video = client.videos.create_and_poll(prompt=${JSON.stringify(prompt)}, extra_body=${python(request)})`,
      "print(video.id, video.status)",
    ].join("\n");
  } else if (state.request === undefined) {
    calls["Python (OpenAI SDK)"] = "# asking the server for this call…";
  } else {
    calls["Python (OpenAI SDK)"] = "# upload the form's media (or pick earlier results) to see this call";
  }
  calls["Python (fal-client)"] = falCall();
  return calls;
}

function falCall() {
  if (state.request === undefined) return "# asking the server for this call…";
  if (!state.fal) return "# fal has no endpoint that makes this request (or the form's media are not uploads)";
  if (window.location.protocol !== "https:") {
    return "# fal's client speaks HTTPS only: serve with --tls-cert and --tls-key to use it";
  }
  const { endpoint, arguments: given, queue_host: queue, run_host: run } = state.fal;
  return [
    "import os",
    "",
    'os.environ.setdefault("FAL_KEY", os.environ["LTX_KEY"])',
    `os.environ.setdefault("FAL_QUEUE_RUN_HOST", ${JSON.stringify(queue)})`,
    `os.environ.setdefault("FAL_RUN_HOST", ${JSON.stringify(run)})`,
    "",
    "import fal_client  # noqa: E402 (after its settings)",
    "",
    `result = fal_client.subscribe(${JSON.stringify(endpoint)}, arguments=${python(given)})`,
    'print(result["video"]["url"])',
  ].join("\n");
}

function planned(request, fal = null) {
  state.request = request;
  state.fal = fal;
  if (!request) $("snapped").hidden = true;
  renderSnippets();
}

function renderSnippets() {
  if (!$("model").value) return;
  const blocks = Object.entries(snippets()).map(([name, code], index) => {
    const box = document.createElement("div");
    box.className = "snippet";
    const title = Object.assign(document.createElement("h2"), { textContent: name });
    const pre = document.createElement("pre");
    const text = Object.assign(document.createElement("code"), { textContent: code, id: `snippet-${index}` });
    pre.append(text);
    pre.tabIndex = 0;
    pre.setAttribute("aria-label", `${name} code`);
    const copy = Object.assign(document.createElement("button"), { type: "button", textContent: "Copy" });
    copy.setAttribute("aria-label", `Copy the ${name} call`);
    copy.addEventListener("click", async () => {
      await navigator.clipboard.writeText(code);
      copy.textContent = "Copied";
    });
    box.append(title, pre, copy);
    return box;
  });
  $("snippets").replaceChildren(...blocks);
}

// --- the page ---------------------------------------------------------------------------------------------

function notice(text) {
  $("notice").textContent = text;
  $("notice").hidden = !text;
}

function selectTab(id) {
  for (const tab of document.querySelectorAll("[role=tab]")) {
    const chosen = tab.id === id;
    tab.setAttribute("aria-selected", String(chosen));
    tab.tabIndex = chosen ? 0 : -1;
    $(tab.getAttribute("aria-controls")).hidden = !chosen;
    if (chosen) tab.focus();
  }
  if (id === "tab-api") renderSnippets();
}

function tabEvents() {
  const tabs = [...document.querySelectorAll("[role=tab]")];
  for (const [index, tab] of tabs.entries()) {
    tab.addEventListener("click", () => selectTab(tab.id));
    tab.addEventListener("keydown", (event) => {
      const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
      if (step) selectTab(tabs[(index + step + tabs.length) % tabs.length].id);
    });
  }
}

async function load() {
  notice("");
  try {
    const models = (await call("GET", "/api/ai/models")).data;
    state.models = new Map(models.map((model) => [model.id, model]));
  } catch (error) {
    return notice(error.status === 401 ? "Type this server's API key above." : error.message);
  }
  const chosen = $("model").value;
  $("model").replaceChildren(...[...state.models.values()].map((model) => new Option(model.summary || model.id, model.id)));
  // the form is built before the history is asked for, and only for a model not already shown: what
  // the user fills in while the history loads (or types before a key) stays
  if (state.models.has(chosen)) $("model").value = chosen;
  else buildForm();
  await refreshHistory();
}

function start() {
  $("key").value = state.key;
  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    state.key = $("key").value.trim();
    localStorage.setItem(KEY, state.key);
    load();
  });
  $("model").addEventListener("change", buildForm);
  $("run-form").addEventListener("submit", submit);
  $("run-form").addEventListener("input", redraw);
  $("cancel").addEventListener("click", cancel);
  $("refresh").addEventListener("click", refreshHistory);
  for (const id of ["compare-a", "compare-b"]) $(id).addEventListener("change", showCompared);
  synchronize([$("video-a"), $("video-b"), $("video-source")]);
  tabEvents();
  timelineEvents();
  load();
}

start();
