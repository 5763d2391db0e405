// tst ui: the page. Everything it shows comes from this server's /api (see app.py).
"use strict";

const $ = (id) => document.getElementById(id);
const state = {
  info: null,
  photo: null,   // {id, name, size: [h, w], display}
  seg: null,     // {id, segmenter, instances, overlay}
  targets: [],   // [{select, name, color, style, deg, mix, share}]
  active: -1,    // index into targets that a gallery click fills
  mixing: -1,    // index of the target whose second (mixed-in) style a gallery click fills
  mixes: {},     // engine name -> whether it mixes styles (from /api/engines/NAME)
  job: null,     // last status of this page's job
  result: null,  // the last run's result: image (full size), display, before, size, focus
  events: null,  // its EventSource
  tool: "select", // what the mouse does on the photo: select instances, or draw a region
  prompts: {},   // instance id -> {box, points} of the regions drawn in this page
  drag: null,    // the box being dragged: {start: [x, y] photo px, client: [x, y]}
  stroke: null,  // the brush stroke being drawn: {points: photo px, client: stage px}
};

// ---- talking to the server ------------------------------------------------------------

async function call(method, url, body, headers = {}) {
  const init = { method, headers: { "X-Tst-Ui": "1", ...headers } };
  if (body !== undefined) {
    init.body = body instanceof Blob ? body : JSON.stringify(body);
    if (!(body instanceof Blob)) init.headers["Content-Type"] = "application/json";
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch (err) {
    throw new Error("tst: error: the tst ui server does not answer (is it still running?)");
  }
  const data = await response.json().catch(() => ({ error: `tst: error: HTTP ${response.status}` }));
  if (!response.ok) throw new Error(data.error || `tst: error: HTTP ${response.status}`);
  return data;
}

function showError(message) {
  const box = $("error");
  box.textContent = message || "";
  box.hidden = !message;
}

function setStatus(text) { $("status").textContent = text; }

async function guarded(what, fn) {
  showError("");
  try {
    return await fn();
  } catch (err) {
    showError(err.message);
    setStatus(`${what} failed`);
    return null;
  }
}

// ---- start: fill the choices from the registries ---------------------------------------

function fillSelect(select, items, value) {
  select.replaceChildren(...items.map((item) => {
    const option = document.createElement("option");
    option.value = item.value ?? item.name;
    option.textContent = item.label ?? item.name;
    if (item.description) option.title = item.description;
    return option;
  }));
  select.value = value;
}

async function start() {
  const info = await guarded("loading", () => call("GET", "/api/info"));
  if (!info) return;
  state.info = info;
  const d = info.defaults;
  fillSelect($("segmenter"), info.segmenters, d.segmenter);
  fillSelect($("engine"), info.engines, d.engine);
  fillSelect($("blend"), info.blends, d.blend);
  fillSelect($("preset"), info.presets, d.config);
  $("size").value = d.size;
  showSegmenterFiles();
  renderGallery();
  renderTargets();
  updateButtons();
  setStatus("open a photo");
  await loadEngine();
}

async function loadEngine() {  // whether the chosen engine mixes styles (built once to see)
  const name = $("engine").value;
  if (!(name in state.mixes)) {
    const info = await guarded("engine", () =>
      call("GET", `/api/engines/${encodeURIComponent(name)}`));
    if (!info) return;
    state.mixes[name] = info.mixes;
  }
  renderTargets();
}

function engineMixes() { return Boolean(state.mixes[$("engine").value]); }

function showSegmenterFiles() {
  const seg = state.info.segmenters.find((s) => s.name === $("segmenter").value);
  const files = Object.entries(seg ? seg.files : {}).map(([k, v]) => `${k}: ${v}`);
  $("segmenter-files").textContent = files.length ? files.join(" · ") : "";
}

// ---- photo and segmentation ------------------------------------------------------------

async function openPhoto(file) {
  if (!file) return;
  setStatus(`uploading ${file.name}…`);
  const photo = await guarded("upload", () =>
    call("POST", "/api/photos", file, { "X-Filename": encodeURIComponent(file.name) }));
  if (!photo) return;
  state.photo = photo;
  state.seg = null;
  $("stage").dataset.width = photo.size[1];
  $("stage").dataset.height = photo.size[0];
  $("result-before").src = photo.display;
  clearResult();
  if (photo.restored) restoreState(photo); else await segment();
}

function restoreState(photo) {  // a tst picture was dropped: its recipe's photo, masks, targets
  const r = photo.restored;
  const seg = r.segmentation;
  state.seg = seg;
  state.prompts = {};
  const img = $("photo");
  img.onload = () => $("stage").classList.remove("empty");
  img.src = `${seg.overlay}?v=${seg.version}`;
  const has = (id, value) => [...$(id).options].some((o) => o.value === String(value));
  if (has("engine", r.settings.engine)) $("engine").value = r.settings.engine;
  if (has("blend", r.settings.blend)) $("blend").value = r.settings.blend;
  if (r.settings.size) $("size").value = r.settings.size;
  state.targets = r.targets.map((t) => ({
    select: t.select, ...describe(t.select), style: t.style, deg: t.deg,
    mix: t.mix ? t.mix.style : null, share: t.mix ? t.mix.weight : 0.5, options: t.options || {},
  }));
  state.active = state.targets.length ? 0 : -1;
  const n = seg.instances.length;
  $("seg-info").textContent = `restored from the recipe (photo ${photo.name}): ` +
    `${n} mask${n === 1 ? "" : "s"}, ${state.targets.length} target${state.targets.length === 1 ? "" : "s"}`;
  setStatus("restored: run it again, or change it");
  loadEngine();
}

async function segment() {
  if (!state.photo) return;
  const segmenter = $("segmenter").value;
  setStatus(`segmenting with ${segmenter}…`);
  state.targets = [];
  state.active = -1;
  state.prompts = {};
  renderTargets();
  $("seg-info").textContent = "";
  $("stage").classList.add("empty");
  const seg = await guarded("segmenting", () =>
    call("POST", "/api/segment", { photo: state.photo.id, segmenter }));
  updateButtons();
  if (!seg) return;
  state.seg = seg;
  const img = $("photo");
  img.onload = () => $("stage").classList.remove("empty");  // clickable from now on
  img.src = seg.overlay;
  const n = seg.instances.length;
  $("seg-info").textContent = `${n} instance${n === 1 ? "" : "s"} (${seg.segmenter}, ${seg.seconds} s)`;
  $("click-hint").textContent = n ? "Click an instance to select it." :
    "No instances found: use Background or Whole photo.";
  setStatus("click the instances to stylise");
  updateButtons();
}

function photoPixel(event) {
  const img = $("photo");
  const box = img.getBoundingClientRect();
  const [h, w] = state.photo.size;
  return [(event.clientX - box.left) * w / box.width, (event.clientY - box.top) * h / box.height];
}

async function clickPhoto(event) {
  if (!state.seg || state.tool !== "select") return;
  const [x, y] = photoPixel(event);
  const hit = await guarded("selecting", () =>
    call("GET", `/api/segmentations/${state.seg.id}/hit?x=${x.toFixed(1)}&y=${y.toFixed(1)}`));
  if (!hit) return;
  if (hit.id === null) {
    $("click-hint").textContent = "No instance there: use Background or Whole photo for the rest.";
    return;
  }
  toggleTarget(`id:${hit.id}`);
}

// ---- regions drawn on the photo: a box, then clicks inside (add) or outside (take away) ----

function setTool(tool) {
  state.tool = tool;
  $("stage").classList.toggle("drawing", tool === "box");
  $("stage").classList.toggle("painting", tool === "brush" || tool === "eraser");
  $("tool-hint").hidden = tool !== "box";
  $("brush-options").hidden = !(tool === "brush" || tool === "eraser");
  renderPoints();
}

// ---- brush and eraser: strokes added to or taken from the highlighted target's mask ----------

function activeInstance() {
  const t = state.targets[state.active];
  return t && t.select.startsWith("id:") ? Number(t.select.slice(3)) : null;
}

function brushRadius() {  // the slider is in screen pixels; the server paints photo pixels
  const img = $("photo");
  return Number($("brush-size").value) * state.photo.size[1] / Math.max(1, img.clientWidth);
}

function strokeStart(event) {
  if (!(state.tool === "brush" || state.tool === "eraser") || !state.seg || event.button !== 0) {
    return;
  }
  event.preventDefault();
  if (activeInstance() === null) {
    showError("tst: error: select an instance or region to paint (click it in the target list)");
    return;
  }
  const canvas = $("stroke");
  canvas.width = canvas.clientWidth;
  canvas.height = canvas.clientHeight;
  state.stroke = { points: [photoPixel(event)], client: [stagePoint(event)] };
  strokeDraw();
}

function strokeMove(event) {
  if (!state.stroke) return;
  state.stroke.points.push(photoPixel(event));
  state.stroke.client.push(stagePoint(event));
  strokeDraw();
}

function strokeDraw() {
  const canvas = $("stroke");
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.strokeStyle = state.tool === "brush" ? "rgba(255, 212, 0, .6)" : "rgba(210, 30, 30, .6)";
  ctx.lineWidth = 2 * Number($("brush-size").value);
  ctx.lineCap = "round"; ctx.lineJoin = "round";
  ctx.beginPath();
  state.stroke.client.forEach(([x, y], k) => (k ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
  if (state.stroke.client.length === 1) ctx.lineTo(...state.stroke.client[0]);
  ctx.stroke();
}

async function strokeEnd() {
  const stroke = state.stroke;
  if (!stroke) return;
  state.stroke = null;
  const body = {
    id: activeInstance(),
    mode: state.tool === "brush" ? "add" : "erase",
    points: stroke.points.slice(0, 2000).map(([x, y]) => [Number(x.toFixed(1)), Number(y.toFixed(1))]),
    radius: Number(Math.max(0.5, brushRadius()).toFixed(2)),
    soft: $("brush-soft").checked,
  };
  const res = await guarded("painting", () =>
    call("POST", `/api/segmentations/${state.seg.id}/paint`, body));
  const canvas = $("stroke");
  canvas.getContext("2d").clearRect(0, 0, canvas.width, canvas.height);
  if (res) { updateSegmentation(res); setStatus(`${body.mode === "add" ? "painted" : "erased"}`); }
}

async function findByName() {  // the text box: regions named in words
  const prompt = $("text-prompt").value.trim();
  if (!state.seg || !prompt) return;
  setStatus(`looking for ${prompt}…`);
  const res = await guarded("finding", () =>
    call("POST", `/api/segmentations/${state.seg.id}/text`, { prompt }));
  if (!res) return;
  updateSegmentation(res);
  for (const id of res.regions) toggleTarget(`id:${id}`);
  setStatus(`found ${res.regions.length} region${res.regions.length === 1 ? "" : "s"}`);
}

async function refineActive() {  // the page's --refine: cut again from the target's own mask
  const id = activeInstance();
  if (id === null || !state.seg) return;
  setStatus(`cutting ${id} again from its mask…`);
  const res = await guarded("cutting again", () =>
    call("POST", `/api/segmentations/${state.seg.id}/regions`, { edit: id, refine: true }));
  if (res) {
    updateSegmentation(res);
    setStatus(`${id} cut again by ${res.cut_by} (${res.cut_seconds} s)`);
  }
}

async function step(back) {
  if (!state.seg) return;
  const what = back ? "undo" : "redo";
  const res = await guarded(what, () => call("POST", `/api/segmentations/${state.seg.id}/${what}`));
  if (res) { updateSegmentation(res); setStatus(back ? "undone" : "redone"); }
}

function keyDown(event) {
  if (!(event.ctrlKey || event.metaKey) || event.target.matches("input[type=number], input[type=text], select, textarea")) return;
  const key = event.key.toLowerCase();
  if (key === "z" || key === "y") {
    event.preventDefault();
    step(key === "z" && !event.shiftKey);
  }
}

function stagePoint(event) {  // client position -> position inside the stage (CSS px)
  const box = $("stage").getBoundingClientRect();
  return [event.clientX - box.left, event.clientY - box.top];
}

function dragStart(event) {
  if (state.tool !== "box" || !state.seg || event.button !== 0) return;
  event.preventDefault();
  state.drag = { start: photoPixel(event), client: stagePoint(event), alt: event.altKey };
}

function dragMove(event) {
  if (!state.drag) return;
  const [x0, y0] = state.drag.client, [x1, y1] = stagePoint(event);
  const box = $("drag-box");
  Object.assign(box.style, {
    left: `${Math.min(x0, x1)}px`, top: `${Math.min(y0, y1)}px`,
    width: `${Math.abs(x1 - x0)}px`, height: `${Math.abs(y1 - y0)}px`,
  });
  box.hidden = false;
}

async function dragEnd(event) {
  const drag = state.drag;
  if (!drag) return;
  state.drag = null;
  $("drag-box").hidden = true;
  const [cx, cy] = stagePoint(event);
  const [x, y] = photoPixel(event);
  if (Math.hypot(cx - drag.client[0], cy - drag.client[1]) < 5) {  // a click, not a box
    await addPoint(x, y, !(event.altKey || drag.alt));
    return;
  }
  const [sx, sy] = drag.start;
  const [h, w] = state.photo.size;
  const clip = (v, top) => Math.max(0, Math.min(top, v));
  const box = [clip(Math.min(sx, x), w), clip(Math.min(sy, y), h),
    clip(Math.max(sx, x), w), clip(Math.max(sy, y), h)].map((v) => Number(v.toFixed(1)));
  await cutRegion({ box, points: [] }, null);
}

function rightClick(event) {  // right-click: a point outside the object
  if (state.tool !== "box" || !state.seg) return;
  event.preventDefault();
  const [x, y] = photoPixel(event);
  addPoint(x, y, false);
}

function activeRegion() {  // the instance id of the highlighted target when it was drawn here
  const t = state.targets[state.active];
  if (!t || !t.select.startsWith("id:")) return null;
  const id = Number(t.select.slice(3));
  return id in state.prompts ? id : null;
}

async function addPoint(x, y, inside) {
  const id = activeRegion();
  const point = [Number(x.toFixed(1)), Number(y.toFixed(1)), inside ? 1 : 0];
  if (id === null) {  // no region yet: a click on an object starts one
    if (!inside) {
      showError("tst: error: drag a box around the object first (or click on it)");
      return;
    }
    await cutRegion({ box: null, points: [point] }, null);
    return;
  }
  const prompt = state.prompts[id];
  await cutRegion({ box: prompt.box, points: [...prompt.points, point] }, id);
}

async function cutRegion(prompt, edit) {
  setStatus(edit === null ? "cutting a new region…" : `cutting region ${edit} again…`);
  const body = { box: prompt.box, points: prompt.points, label: "region" };
  if (edit !== null) body.edit = edit;
  const res = await guarded("cutting the region", () =>
    call("POST", `/api/segmentations/${state.seg.id}/regions`, body));
  if (!res) return;
  state.prompts[res.region] = prompt;
  updateSegmentation(res);
  const select = `id:${res.region}`;
  const at = state.targets.findIndex((t) => t.select === select);
  if (at < 0) toggleTarget(select);
  else { state.active = at; renderTargets(); }
  setStatus(`region ${res.region} cut by ${res.cut_by} (${res.cut_seconds} s)`);
}

function updateSegmentation(seg) {
  state.seg = seg;
  // a region taken back by undo: its target goes
  state.targets = state.targets.filter((t) =>
    !t.select.startsWith("id:") || Number(t.select.slice(3)) < seg.instances.length);
  state.active = Math.min(state.active, state.targets.length - 1);
  $("photo").src = `${seg.overlay}?v=${seg.version}`;
  const n = seg.instances.length;
  $("seg-info").textContent = `${n} instance${n === 1 ? "" : "s"} (${seg.segmenter}, ${seg.seconds} s)`;
  for (const t of state.targets) Object.assign(t, { ...describe(t.select) });
  renderTargets();
}

function renderPoints() {  // the clicks of the highlighted region, drawn on the photo
  const stage = $("stage");
  stage.querySelectorAll(".point").forEach((p) => p.remove());
  const id = activeRegion();
  if (id === null || state.tool !== "box") return;
  const img = $("photo");
  const [h, w] = state.photo.size;
  for (const [x, y, inside] of state.prompts[id].points) {
    const dot = document.createElement("span");
    dot.className = `point ${inside ? "inside" : "outside"}`;
    dot.style.left = `${x * img.clientWidth / w}px`;
    dot.style.top = `${y * img.clientHeight / h}px`;
    stage.append(dot);
  }
}

// ---- targets -----------------------------------------------------------------------------

function instanceColor(i) {  // as tst_core.overlay.instance_color: golden-ratio hue steps
  const h = (i * 0.618033988749895) % 1, s = 0.85, v = 1;
  const k = (n) => (n + h * 6) % 6;
  const f = (n) => v - v * s * Math.max(0, Math.min(k(n), 4 - k(n), 1));
  return `rgb(${[5, 3, 1].map((n) => Math.round(f(n) * 255)).join(",")})`;
}

function describe(select) {
  if (select === "all") return { name: "whole photo", color: "#ffffff" };
  if (select === "background") return { name: "background", color: "#ffffff" };
  const i = Number(select.slice(3));
  return { name: `${i} ${state.seg.instances[i].label}`, color: instanceColor(i) };
}

function toggleTarget(select) {
  const at = state.targets.findIndex((t) => t.select === select);
  if (at >= 0) {
    state.targets.splice(at, 1);
    state.active = Math.min(state.active, state.targets.length - 1);
    state.mixing = -1;
  } else {
    const target = {
      select, ...describe(select), style: null, deg: 0, mix: null, share: 0.5, options: {},
    };
    // later targets win on overlaps: the regions go first so an instance shows over them
    const regions = state.targets.filter((t) => t.select === "all" || t.select === "background");
    let index;
    if (select === "all") index = 0;
    else if (select === "background") index = regions.some((t) => t.select === "all") ? 1 : 0;
    else index = state.targets.length;
    state.targets.splice(index, 0, target);
    state.active = index;
    state.mixing = -1;
  }
  renderTargets();
}

function renderTargets() {
  const list = $("targets");
  list.replaceChildren(...state.targets.map((t, k) => {
    const li = document.createElement("li");
    li.dataset.select = t.select;
    li.classList.toggle("active", k === state.active);
    li.onclick = () => { state.active = k; renderTargets(); };
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = t.color;
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = t.name;
    const style = state.info.styles.find((s) => s.id === t.style);
    const styleName = document.createElement("span");
    styleName.className = "style-name";
    styleName.textContent = style ? style.name : "choose a painting →";
    const head = document.createElement("div");
    head.append(name, document.createTextNode(" "), styleName);
    const thumb = document.createElement("img");
    thumb.className = "thumb";
    thumb.alt = style ? style.name : "";
    if (style) thumb.src = style.thumb;
    const strength = document.createElement("label");
    strength.className = "strength";
    const slider = document.createElement("input");
    slider.type = "range"; slider.min = "-1"; slider.max = "1"; slider.step = "0.1";
    slider.value = String(t.deg);
    slider.title = "style strength (multiplies the style weight)";
    const value = document.createElement("span");
    const show = () => { value.textContent = `×${Math.pow(10, t.deg).toPrecision(2)}`; };
    slider.oninput = () => { t.deg = Number(slider.value); show(); };
    slider.onclick = (e) => e.stopPropagation();
    show();
    const remove = document.createElement("button");
    remove.className = "remove"; remove.type = "button"; remove.textContent = "×";
    remove.title = "remove this target";
    remove.onclick = (e) => { e.stopPropagation(); toggleTarget(t.select); };
    strength.append("strength", slider, value, remove);
    li.append(swatch, head, thumb, strength, looksRow(t));
    if (engineMixes() && t.style) li.append(mixRow(t, k));
    return li;
  }));
  renderLayers();
  renderPoints();
  updateButtons();
  const id = activeInstance();
  const view = $("mask-view");
  view.hidden = id === null || !state.seg;
  if (!view.hidden) view.href = `/api/segmentations/${state.seg.id}/masks/${id}.png?v=${state.seg.version}`;
}

function looksRow(t) {  // per-target options: keep the photo's colours, a soft mask
  const row = document.createElement("div");
  row.className = "looks";
  row.onclick = (e) => e.stopPropagation();
  for (const [key, on, label, title] of [
    ["color", "keep", "keep colours", "only the luminance is stylised (@color=keep)"],
    ["mask", "soft", "soft mask", "the mask's grey level scales the style (@mask=soft)"],
  ]) {
    const box = document.createElement("input");
    box.type = "checkbox";
    box.className = `look-${key}`;
    box.checked = (t.options || {})[key] === on;
    box.onchange = () => {
      t.options = { ...(t.options || {}) };
      if (box.checked) t.options[key] = on; else delete t.options[key];
    };
    const wrap = document.createElement("label");
    wrap.title = title;
    wrap.append(box, ` ${label}`);
    row.append(wrap);
  }
  row.append(scaleInput(t));
  return row;
}

function scaleInput(t) {  // the painting's size relative to the target's (@scale); empty: the engine's
  const input = document.createElement("input");
  input.type = "number"; input.className = "look-scale";
  input.min = "0.05"; input.max = "16"; input.step = "0.05"; input.placeholder = "auto";
  const given = (t.options || {}).scale;
  input.value = given === undefined ? "" : String(given);
  input.onchange = () => {
    t.options = { ...(t.options || {}) };
    if (input.value === "") delete t.options.scale; else t.options.scale = Number(input.value);
  };
  const wrap = document.createElement("label");
  wrap.title = "style scale: the painting's long side as a multiple of the target's (@scale); "
    + "empty: the engine's own";
  wrap.append("style scale ", input);
  return wrap;
}

function mixRow(t, k) {  // a second painting mixed in (engines that mix: gatys, cin, fast)
  const row = document.createElement("div");
  row.className = "mix";
  row.onclick = (e) => e.stopPropagation();
  if (!t.mix) {
    const add = document.createElement("button");
    add.type = "button"; add.className = "add-mix";
    add.textContent = state.mixing === k ? "click a painting to mix in…" : "+ mix a second painting";
    add.onclick = () => { state.active = k; state.mixing = k; renderTargets(); };
    row.append(add);
    return row;
  }
  const style = state.info.styles.find((s) => s.id === t.mix);
  const slider = document.createElement("input");
  slider.type = "range"; slider.min = "0.05"; slider.max = "0.95"; slider.step = "0.05";
  slider.className = "mix-share";
  slider.value = String(t.share);
  slider.title = "the second painting's share of the mix";
  const value = document.createElement("span");
  const show = () => { value.textContent = `${Math.round(t.share * 100)} %`; };
  slider.oninput = () => { t.share = Number(slider.value); show(); };
  show();
  const remove = document.createElement("button");
  remove.className = "remove"; remove.type = "button"; remove.textContent = "×";
  remove.title = "stop mixing";
  remove.onclick = () => { t.mix = null; renderTargets(); };
  row.append(`+ ${style ? style.name : "?"}`, slider, value, remove);
  return row;
}

function renderLayers() {
  const layers = $("layers");
  layers.replaceChildren(...(state.seg ? state.targets : []).map((t) => {
    const img = document.createElement("img");
    const name = t.select.startsWith("id:") ? t.select.slice(3) : t.select;
    img.src = `/api/segmentations/${state.seg.id}/${name}.png?v=${state.seg.version || 0}`;
    img.alt = "";
    img.dataset.select = t.select;
    return img;
  }));
}

// ---- styles --------------------------------------------------------------------------------

function renderGallery() {
  const gallery = $("gallery");
  const styles = state.info.styles;
  if (!styles.length) {
    const p = document.createElement("p");
    p.className = "hint";
    p.textContent = "No --styles folder: upload a painting.";
    gallery.replaceChildren(p);
    return;
  }
  gallery.replaceChildren(...styles.map((s) => {
    const figure = document.createElement("figure");
    figure.dataset.style = s.id;
    figure.title = s.name;
    const img = document.createElement("img");
    img.src = s.thumb; img.alt = s.name; img.loading = "lazy";
    const caption = document.createElement("figcaption");
    caption.textContent = s.name;
    figure.append(img, caption);
    figure.onclick = () => chooseStyle(s.id);
    return figure;
  }));
}

function chooseStyle(styleId) {
  if (state.active < 0 || !state.targets[state.active]) {
    showError("tst: error: select a target first: click an instance on the photo");
    return;
  }
  showError("");
  const target = state.targets[state.active];
  if (state.mixing === state.active && target.style) {
    target.mix = styleId;
    state.mixing = -1;
    renderTargets();
    return;
  }
  target.style = styleId;
  const next = state.targets.findIndex((t) => !t.style);
  if (next >= 0) state.active = next;
  renderTargets();
}

async function uploadStyle(file) {
  if (!file) return;
  setStatus(`uploading ${file.name}…`);
  const style = await guarded("upload", () =>
    call("POST", "/api/styles", file, { "X-Filename": encodeURIComponent(file.name) }));
  if (!style) return;
  state.info.styles.unshift(style);
  renderGallery();
  setStatus(`added ${style.name}`);
  if (state.active >= 0) chooseStyle(style.id);
}

// ---- jobs ------------------------------------------------------------------------------------

function busy() { return state.job && !["done", "failed", "cancelled"].includes(state.job.state); }

function updateButtons() {
  const ready = Boolean(state.seg) && state.targets.length > 0 && !busy();
  $("run").disabled = !ready;
  $("compare").disabled = !ready;
  $("cancel").disabled = !busy();
  $("add-background").disabled = !state.seg;
  $("add-all").disabled = !state.seg;
  const history = state.seg && state.seg.history ? state.seg.history : { undo: 0, redo: 0 };
  $("undo").disabled = !history.undo;
  $("refine").disabled = activeInstance() === null || busy();
  $("redo").disabled = !history.redo;
}

async function submit(kind) {
  const body = {
    kind,
    segmentation: state.seg.id,
    targets: state.targets.map((t) => ({
      select: t.select, style: t.style, deg: t.deg,
      ...(t.options && Object.keys(t.options).length ? { options: t.options } : {}),
      ...(engineMixes() && t.mix ? { mix: { style: t.mix, weight: t.share } } : {}),
    })),
    engine: $("engine").value,
    blend: $("blend").value,
    size: Number($("size").value),
    config: $("preset").value,
  };
  const job = await guarded(kind, () => call("POST", "/api/jobs", body));
  if (!job) return;
  if (kind === "run") clearResult();
  $("compare-view").hidden = kind === "compare" ? true : $("compare-view").hidden;
  follow(job);
}

function follow(job) {
  if (state.events) state.events.close();
  showJob(job);
  const events = new EventSource(`/api/jobs/${job.id}/events`);
  state.events = events;
  events.onmessage = (message) => {
    const status = JSON.parse(message.data);
    showJob(status);
    if (["done", "failed", "cancelled"].includes(status.state)) events.close();
  };
}

function showJob(job) {
  const previous = state.job;
  state.job = job;
  $("command").textContent = job.command;
  $("command-view").hidden = false;
  $("progress").hidden = false;
  const bar = $("progress-bar");
  const text = $("progress-text");
  const what = job.kind === "run" ? "run" : "compare";
  if (job.state === "queued") {
    bar.removeAttribute("value");
    text.textContent = `waiting: number ${job.position} in the queue`;
    setStatus(`${what} queued (${job.position})`);
  } else if (job.state === "running") {
    if (job.total) { bar.max = job.total; bar.value = job.step; } else bar.removeAttribute("value");
    const loss = job.loss === null ? "" : ` · loss ${Number(job.loss).toPrecision(4)}`;
    const eta = job.eta === null ? "" : ` · about ${job.eta} s left`;
    const stage = job.stage ? ` (${job.stage})` : "";
    text.textContent = job.step ?
      `iteration ${job.step}/${job.total || "?"}${stage}${loss} · ${job.elapsed} s${eta}` :
      "preparing…";
    setStatus(`${what} running`);
    if (job.preview && (!previous || previous.id !== job.id || previous.preview !== job.preview)) {
      const preview = $("preview");
      preview.src = `/api/jobs/${job.id}/preview.jpg?v=${job.preview}`;
      preview.hidden = false;
      $("result-stage").classList.remove("empty");
      $("result-caption").textContent = `(so far: iteration ${job.step})`;
    }
  } else if (job.state === "done") {
    bar.max = 1; bar.value = 1;
    text.textContent = job.result.seconds === undefined ? "done" : `done in ${job.result.seconds} s`;
    setStatus(`${what} done`);
    hidePreview();
    if (job.kind === "run") showResult(job); else showCompare(job);
  } else if (job.state === "failed") {
    bar.max = 1; bar.value = 0;
    text.textContent = "failed";
    showError(job.error);
    setStatus(`${what} failed`);
    hidePreview();
  } else if (job.state === "cancelled") {
    bar.max = 1; bar.value = 0;
    text.textContent = job.note || "cancelled";
    setStatus(`${what} cancelled`);
    hidePreview();
  }
  updateButtons();
}

function hidePreview() {
  $("preview").hidden = true;
  $("result-caption").textContent = "";
}

function clearResult() {
  $("preview").hidden = true;
  $("result-after").hidden = true;
  $("result-tools").hidden = true;
  setZoom(false);
  $("downloads").hidden = true;
  $("result-caption").textContent = "";
  if (!state.photo) $("result-stage").classList.add("empty");
}

function showResult(job) {
  const r = job.result;
  state.result = r;
  setZoom(false);
  const after = $("result-after");
  after.src = r.display;
  after.hidden = false;
  $("result-stage").classList.remove("empty");
  $("result-caption").textContent = `(${r.size[1]}×${r.size[0]} px, ${r.seconds} s)`;
  $("before-after").value = "0";
  uncover();
  $("result-tools").hidden = false;
  const name = r.image.split("/").pop();
  $("download-image").href = r.image;
  $("download-image").download = name;
  $("download-report").href = r.report;
  $("download-report").download = name.replace(/\.png$/, ".json");
  $("downloads").hidden = false;
}

function uncover() {  // the result covers the photo right of the slider's position
  $("result-after").style.clipPath = `inset(0 0 0 ${$("before-after").value}%)`;
}

// 1:1: the photo and the result at their own size (the full-resolution files), one image pixel
// per screen pixel, panned by dragging; the before/after slider works on them as on the fit view
function setZoom(on) {
  const r = state.result;
  const stage = $("result-stage");
  const zoomed = Boolean(on && r);
  $("zoom").setAttribute("aria-pressed", String(zoomed));
  stage.classList.toggle("zoom", zoomed);
  if (!r) return;
  $("result-before").src = zoomed ? r.before : state.photo.display;
  $("result-after").src = zoomed ? r.image : r.display;
  if (zoomed) {  // open on the first target: the centre of the first window the run worked on
    const [x, y] = r.focus || [r.size[1] / 2, r.size[0] / 2];
    const centre = () => {
      stage.scrollLeft = x - stage.clientWidth / 2;  // an image pixel is a CSS pixel
      stage.scrollTop = y - stage.clientHeight / 2;
    };
    const after = $("result-after");
    const before = $("result-before");
    // centred once the layout has both pictures at their size (the panel's height settles then)
    const settle = () => requestAnimationFrame(() => requestAnimationFrame(centre));
    const loaded = (img) => img.complete && img.naturalWidth === r.size[1];
    for (const img of [after, before]) {
      if (!loaded(img)) img.addEventListener("load", settle, { once: true });
    }
    settle();
  }
}

function wirePanning() {
  const stage = $("result-stage");
  let from = null;
  stage.addEventListener("pointerdown", (e) => {
    if (!stage.classList.contains("zoom")) return;
    from = { x: e.clientX, y: e.clientY, left: stage.scrollLeft, top: stage.scrollTop };
    stage.classList.add("panning");
    stage.setPointerCapture(e.pointerId);
    e.preventDefault();
  });
  stage.addEventListener("pointermove", (e) => {
    if (!from) return;
    stage.scrollLeft = from.left - (e.clientX - from.x);
    stage.scrollTop = from.top - (e.clientY - from.y);
  });
  const stop = () => { from = null; stage.classList.remove("panning"); };
  stage.addEventListener("pointerup", stop);
  stage.addEventListener("pointercancel", stop);
}

function showCompare(job) {
  const r = job.result;
  $("sheet").src = r.sheet;
  const table = $("compare-table");
  table.replaceChildren(...r.table.map((row, k) => {
    const tr = document.createElement("tr");
    tr.append(...row.map((cell) => {
      const td = document.createElement(k === 0 ? "th" : "td");
      td.textContent = cell;
      return td;
    }));
    return tr;
  }));
  $("compare-notes").textContent = r.notes.join(" ");
  for (const [id, url] of [["download-sheet", r.sheet], ["download-compare-json", r.report],
    ["download-compare-csv", r.csv]]) {
    $(id).href = url;
    $(id).download = url.split("/").pop();
  }
  $("compare-view").hidden = false;
}

async function cancel() {
  if (!busy()) return;
  setStatus("cancelling…");
  await guarded("cancel", () => call("POST", `/api/jobs/${state.job.id}/cancel`));
}

// ---- wiring ---------------------------------------------------------------------------------

function wire() {
  $("photo-input").onchange = (e) => openPhoto(e.target.files[0]);
  $("style-input").onchange = (e) => uploadStyle(e.target.files[0]);
  $("segmenter").onchange = () => { showSegmenterFiles(); segment(); };
  $("preset").onchange = () => {
    const preset = state.info.presets.find((p) => p.value === $("preset").value);
    if (!preset) return;
    $("engine").value = preset.run.engine;
    $("blend").value = preset.run.blend;
    $("size").value = preset.run.size;
    loadEngine();
  };
  $("engine").onchange = loadEngine;
  $("photo").onclick = clickPhoto;
  $("photo").draggable = false;
  $("photo").addEventListener("mousedown", dragStart);
  $("photo").addEventListener("contextmenu", rightClick);
  document.addEventListener("mousemove", dragMove);
  document.addEventListener("mouseup", dragEnd);
  $("photo").addEventListener("mousedown", strokeStart);
  document.addEventListener("mousemove", strokeMove);
  document.addEventListener("mouseup", strokeEnd);
  document.addEventListener("keydown", keyDown);
  $("undo").onclick = () => step(true);
  $("refine").onclick = refineActive;
  $("text-find").onclick = findByName;
  $("text-prompt").addEventListener("keydown", (e) => { if (e.key === "Enter") findByName(); });
  $("redo").onclick = () => step(false);
  for (const radio of document.querySelectorAll("input[name=tool]")) {
    radio.onchange = () => setTool(radio.value);
  }
  $("add-background").onclick = () => toggleTarget("background");
  $("add-all").onclick = () => toggleTarget("all");
  $("run").onclick = () => submit("run");
  $("compare").onclick = () => submit("compare");
  $("cancel").onclick = cancel;
  $("before-after").oninput = uncover;
  $("zoom").onclick = () => setZoom($("zoom").getAttribute("aria-pressed") !== "true");
  wirePanning();
  const drop = $("drop");
  document.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  document.addEventListener("dragleave", () => drop.classList.remove("over"));
  document.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    if (e.dataTransfer.files.length) openPhoto(e.dataTransfer.files[0]);
  });
}

wire();
start();
