// Switchyard model marketplace: list, filter and sort models; a detail view with live charts.
// Plain browser JavaScript, no dependencies and no build step. Data comes from /marketplace/api/.
"use strict";

(() => {
  const API = "/marketplace/api/models";
  const STATS_API = "/marketplace/api/stats";
  const NO_DATA = { ttft_p50_s: null, latency_p50_s: null, tokens_per_s_p50: null, uptime_30m: null };
  const REFRESH_MS = 15000;
  const HISTORY_MINUTES = 60;
  const COLOURS = ["#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4b5563"];
  const SORTS = {
    "price-asc": (a, b) => nullsLast(a.price, b.price) || a.completion - b.completion,
    "price-desc": (a, b) => nullsLast(b.price, a.price) || b.completion - a.completion,
    "context-desc": (a, b) => b.model.context_length - a.model.context_length,
    "throughput-desc": (a, b) => nullsLast(b.throughput, a.throughput, true),
    "latency-asc": (a, b) => nullsLast(a.ttft, b.ttft),
    "name-asc": () => 0,
  };

  // data: the catalog listing (fetched once); live: endpoint id -> live figures (refetched).
  const state = { data: null, live: { generated_at: null, endpoints: {} }, timer: null, detailId: null };
  const $ = (selector) => document.querySelector(selector);
  const liveOf = (endpoint) => state.live.endpoints[endpoint.endpoint_id] || NO_DATA;

  // ---- small helpers ---------------------------------------------------------------------------
  function h(tag, attributes, ...children) {
    // Elements built with textContent only: model names and descriptions come from catalogs.
    const element = document.createElement(tag);
    for (const [key, value] of Object.entries(attributes || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") element.className = value;
      else if (key === "dataset") Object.assign(element.dataset, value);
      else element.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      element.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return element;
  }

  function nullsLast(a, b, descending) {
    // Models without live data sort after those with it, whatever the direction.
    if (a === null && b === null) return 0;
    if (a === null) return descending ? -1 : 1;
    if (b === null) return descending ? 1 : -1;
    return a - b;
  }

  const fmt = {
    price(value) {
      if (value === null || value === undefined) return "–";
      if (value === 0) return "free";
      if (value < 0.01) return "$" + Number(value.toPrecision(2));
      // Cents, unless that would hide a real digit ($0.075 stays $0.075).
      return "$" + (Math.abs(value * 100 - Math.round(value * 100)) < 1e-9 ? value.toFixed(2) : value.toFixed(3));
    },
    tokens(value) {
      if (!value) return "–";
      if (value >= 1e6) return (value / 1e6).toFixed(value % 1e6 ? 1 : 0) + "M";
      if (value >= 1e3) return Math.round(value / 1e3) + "K";
      return String(value);
    },
    seconds: (value) => (value === null || value === undefined ? "–" : value < 1 ? (value * 1000).toFixed(0) + " ms" : value.toFixed(2) + " s"),
    speed: (value) => (value === null || value === undefined ? "–" : value.toFixed(0) + " tok/s"),
    uptime: (value) => (value === null || value === undefined ? "–" : (100 * value).toFixed(value === 1 ? 0 : 1) + "%"),
    time: (unix) => new Date(unix * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }),
  };

  async function getJSON(url) {
    const response = await fetch(url, { headers: { accept: "application/json" } });
    if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
    return response.json();
  }

  function modelPath(id) {
    return "/models/" + id.split("/").map(encodeURIComponent).join("/");
  }

  function setLive(ok, text) {
    const badge = $("#live-status");
    badge.classList.toggle("stale", !ok);
    badge.textContent = text;
  }

  // ---- list view ---------------------------------------------------------------------------------
  function filters() {
    const maxPrice = $("#max-price").value;
    return {
      query: $("#search").value.trim().toLowerCase(),
      capabilities: [...document.querySelectorAll("#capability-filters input:checked")].map((box) => box.value),
      maxPrice: maxPrice === "" ? null : Number(maxPrice),
      provider: $("#provider-filter").value,
      sort: $("#sort").value,
    };
  }

  function saveFiltersToUrl(chosen) {
    const params = new URLSearchParams();
    if (chosen.query) params.set("q", chosen.query);
    if (chosen.capabilities.length) params.set("cap", chosen.capabilities.join(","));
    if (chosen.maxPrice !== null) params.set("max_price", chosen.maxPrice);
    if (chosen.provider) params.set("provider", chosen.provider);
    if (chosen.sort !== "price-asc") params.set("sort", chosen.sort);
    const query = params.toString();
    history.replaceState(null, "", location.pathname + (query ? "?" + query : ""));
  }

  function loadFiltersFromUrl() {
    const params = new URLSearchParams(location.search);
    $("#search").value = params.get("q") || "";
    const wanted = new Set((params.get("cap") || "").split(",").filter(Boolean));
    document.querySelectorAll("#capability-filters input").forEach((box) => { box.checked = wanted.has(box.value); });
    $("#max-price").value = params.get("max_price") || "";
    if (params.get("provider")) $("#provider-filter").value = params.get("provider");
    if (params.get("sort") && SORTS[params.get("sort")]) $("#sort").value = params.get("sort");
  }

  // One row's figures under the current provider filter: prices of the cheapest matching endpoint,
  // best live TTFT and throughput among the matching endpoints.
  function rowFigures(model, provider) {
    const endpoints = provider ? model.endpoints.filter((e) => e.provider === provider) : model.endpoints;
    if (!endpoints.length) return null;
    const cheapest = endpoints.reduce((best, e) =>
      e.prompt_per_m + e.completion_per_m < best.prompt_per_m + best.completion_per_m ? e : best);
    const ttfts = endpoints.map((e) => liveOf(e).ttft_p50_s).filter((v) => v !== null);
    const speeds = endpoints.map((e) => liveOf(e).tokens_per_s_p50).filter((v) => v !== null);
    return {
      model, endpoints, price: cheapest.prompt_per_m, completion: cheapest.completion_per_m,
      ttft: ttfts.length ? Math.min(...ttfts) : null, throughput: speeds.length ? Math.max(...speeds) : null,
    };
  }

  function matches(row, chosen) {
    const { model } = row;
    if (chosen.capabilities.some((c) => !model.capabilities.includes(c))) return false;
    if (chosen.maxPrice !== null && row.price > chosen.maxPrice) return false;
    if (!chosen.query) return true;
    const haystack = [model.id, model.name, ...model.providers].join(" ").toLowerCase();
    return chosen.query.split(/\s+/).every((word) => haystack.includes(word));
  }

  function providerChip(endpoint) {
    const figures = liveOf(endpoint);
    const live = figures !== NO_DATA;
    return h("span", { class: "chip" + (live ? " live-chip" : ""), dataset: { provider: endpoint.provider } },
      h("b", null, endpoint.provider),
      live ? [" ", h("span", { dataset: { stat: "ttft" } }, fmt.seconds(figures.ttft_p50_s)),
        " · ", h("span", { dataset: { stat: "throughput" } }, fmt.speed(figures.tokens_per_s_p50)),
        " · ", h("span", { dataset: { stat: "uptime" } }, fmt.uptime(figures.uptime_30m))]
        : h("span", { class: "muted" }, " no traffic yet"));
  }

  function capabilityBadges(model) {
    const names = state.data.capabilities;
    return model.capabilities.map((c) => h("span", { class: "badge cap-" + c, dataset: { capability: c } }, names[c] || c));
  }

  function modelRow(row) {
    const { model } = row;
    return h("tr", { dataset: { modelId: model.id } },
      h("td", { class: "model-cell" },
        h("a", { href: modelPath(model.id), "data-nav": true }, model.name),
        model.name !== model.id ? h("div", { class: "muted mono" }, model.id) : null,
        model.kind !== "chat" ? h("span", { class: "badge kind" }, model.kind) : null),
      h("td", { class: "num", dataset: { col: "input-price", value: row.price } }, fmt.price(row.price)),
      h("td", { class: "num" }, fmt.price(row.completion)),
      h("td", { class: "num", dataset: { col: "context", value: model.context_length } }, fmt.tokens(model.context_length)),
      h("td", { class: "modalities" }, model.input_modalities.join("+") + " → " + model.output_modalities.join("+")),
      h("td", { class: "caps" }, capabilityBadges(model)),
      h("td", { class: "chips" }, row.endpoints.map(providerChip)));
  }

  function renderList() {
    if (!state.data) return;
    const chosen = filters();
    saveFiltersToUrl(chosen);
    const byName = (a, b) => a.model.name.localeCompare(b.model.name);
    const compare = SORTS[chosen.sort];
    const rows = state.data.models
      .map((model) => rowFigures(model, chosen.provider))
      .filter((row) => row !== null && matches(row, chosen))
      .sort((a, b) => compare(a, b) || byName(a, b));
    const body = $("#model-table tbody");
    const fragment = document.createDocumentFragment();
    rows.forEach((row) => fragment.append(modelRow(row)));
    body.replaceChildren(fragment);
    const total = state.data.models.length;
    $("#result-count").textContent = rows.length === total ? `${total} models` : `${rows.length} of ${total} models`;
    if (!rows.length) body.append(h("tr", null, h("td", { colspan: 7, class: "empty" }, "No model matches these filters.")));
  }

  function buildControls() {
    const box = $("#capability-filters");
    for (const [key, label] of Object.entries(state.data.capabilities)) {
      box.append(h("label", { class: "check" }, h("input", { type: "checkbox", name: "cap", value: key }), " " + label));
    }
    const select = $("#provider-filter");
    state.data.providers.forEach((name) => select.append(h("option", { value: name }, name)));
    loadFiltersFromUrl();
    for (const id of ["#search", "#max-price"]) $(id).addEventListener("input", renderList);
    for (const id of ["#provider-filter", "#sort"]) $(id).addEventListener("change", renderList);
    box.addEventListener("change", renderList);
  }

  async function loadList() {
    try {
      const first = state.data === null;
      const [data, live] = await Promise.all([first ? getJSON(API) : state.data, getJSON(STATS_API)]);
      state.data = data;
      state.live = live;
      if (first) buildControls();
      setLive(true, "live · " + fmt.time(live.generated_at));
      if (!state.detailId) renderList();
    } catch (error) {
      setLive(false, "offline");
      if (!state.data) $("#result-count").textContent = "Could not load models: " + error.message;
    }
  }

  // ---- detail view -------------------------------------------------------------------------------
  function statCell(value, format, stat) {
    return h("td", { class: "num", dataset: { stat } }, format(value));
  }

  function endpointTable(model) {
    const head = ["Provider", "Input $/M", "Output $/M", "Context", "Max output", "Quant.", "p50 TTFT", "p90 TTFT",
      "p50 latency", "Throughput", "Uptime 5m", "Uptime 30m", "Req. 5m"];
    return h("table", { id: "endpoint-table" },
      h("thead", null, h("tr", null, head.map((title, i) => h("th", { class: i ? "num" : null }, title)))),
      h("tbody", null, model.endpoints.map((e) => h("tr", { dataset: { endpointId: e.endpoint_id } },
        h("td", null, h("b", null, e.provider), h("div", { class: "muted mono" }, e.upstream_model)),
        h("td", { class: "num" }, fmt.price(e.prompt_per_m)),
        h("td", { class: "num" }, fmt.price(e.completion_per_m)),
        h("td", { class: "num" }, fmt.tokens(e.context_length)),
        h("td", { class: "num" }, fmt.tokens(e.max_output_tokens)),
        h("td", { class: "num" }, e.quantization || "–"),
        statCell(e.ttft_p50_s, fmt.seconds, "ttft"),
        statCell(e.ttft_30m ? e.ttft_30m.p90 : null, fmt.seconds, "ttft-p90"),
        statCell(e.latency_p50_s, fmt.seconds, "latency"),
        statCell(e.tokens_per_s_p50, fmt.speed, "throughput"),
        statCell(e.uptime_5m, fmt.uptime, "uptime-5m"),
        statCell(e.uptime_30m, fmt.uptime, "uptime"),
        h("td", { class: "num", dataset: { stat: "requests" } }, String(e.requests_5m))))));
  }

  function niceStep(rough) {
    // 1, 2 or 5 times a power of ten, so axis labels read 0, 200, 400 rather than 0, 187, 374.
    const power = Math.pow(10, Math.floor(Math.log10(rough)));
    const unit = rough / power;
    return (unit <= 1 ? 1 : unit <= 2 ? 2 : unit <= 5 ? 5 : 10) * power;
  }

  // A line chart as inline SVG: one line per endpoint, gaps where a minute has no value.
  function lineChart(title, series, key, options) {
    const width = 560, height = 200, left = 52, right = 12, top = 26, bottom = 26;
    const points = series.flatMap((s) => s.points.t.map((t, i) => [t, s.points[key][i]])).filter((p) => p[1] !== null);
    const svgNS = "http://www.w3.org/2000/svg";
    const svg = (tag, attributes, text) => {
      const element = document.createElementNS(svgNS, tag);
      for (const [k, v] of Object.entries(attributes)) element.setAttribute(k, v);
      if (text !== undefined) element.textContent = text;
      return element;
    };
    const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img", "aria-label": title });
    root.append(svg("text", { x: left, y: 16, class: "chart-title" }, title));
    if (!points.length) {
      root.append(svg("text", { x: width / 2, y: height / 2, class: "chart-empty", "text-anchor": "middle" },
        "no telemetry in the last hour"));
      return root;
    }
    const ts = points.map((p) => p[0]), ys = points.map((p) => p[1]);
    let [x0, x1] = [Math.min(...ts), Math.max(...ts) + 60];
    let y0 = options.min !== undefined ? options.min : Math.min(...ys);
    let y1 = options.max !== undefined ? options.max : Math.max(...ys);
    if (y1 - y0 < 1e-9) { y0 -= options.pad || 0.5; y1 += options.pad || 0.5; }
    const step = niceStep((y1 - y0) / 4);
    if (options.max === undefined) y1 = Math.ceil(y1 / step) * step;
    if (options.min === undefined) y0 = Math.floor(y0 / step) * step;
    const x = (t) => left + ((t - x0) / (x1 - x0)) * (width - left - right);
    const y = (v) => top + (1 - (v - y0) / (y1 - y0)) * (height - top - bottom);
    const ticks = options.max === undefined ? Math.round((y1 - y0) / step) : 4;
    for (let i = 0; i <= ticks; i++) {
      const value = y0 + ((y1 - y0) * i) / ticks;
      root.append(svg("line", { x1: left, x2: width - right, y1: y(value), y2: y(value), class: "grid" }));
      root.append(svg("text", { x: left - 6, y: y(value) + 4, "text-anchor": "end", class: "tick" }, options.format(value)));
    }
    for (let i = 0; i <= 3; i++) {
      const t = x0 + ((x1 - x0) * i) / 3;
      const anchor = i === 0 ? "start" : i === 3 ? "end" : "middle";
      root.append(svg("text", { x: x(t), y: height - 8, "text-anchor": anchor, class: "tick" }, fmt.time(t)));
    }
    series.forEach((s, index) => {
      const colour = COLOURS[index % COLOURS.length];
      let path = "", pen = "M";
      s.points.t.forEach((t, i) => {
        const value = s.points[key][i];
        if (value === null) { pen = "M"; return; }
        const centre = t + 30;  // a minute's value drawn at the middle of its minute
        path += `${pen}${x(centre).toFixed(1)},${y(value).toFixed(1)} `;
        pen = "L";
        root.append(svg("circle", { cx: x(centre), cy: y(value), r: 2.2, fill: colour }));
      });
      if (path) root.append(svg("path", { d: path, stroke: colour, fill: "none", "stroke-width": 1.8 }));
    });
    return root;
  }

  function legend(series) {
    return h("div", { class: "legend" }, series.map((s, i) =>
      h("span", null, h("i", { style: `background:${COLOURS[i % COLOURS.length]}` }), s.provider)));
  }

  function renderDetail(model, historyData) {
    const names = state.data ? state.data.capabilities : {};
    const series = historyData.series;
    const anyPoints = series.some((s) => s.points.t.length);
    const charts = h("section", { class: "charts", id: "history-charts" },
      h("h2", null, "Last hour, per minute"),
      !historyData.telemetry ? h("p", { class: "muted" }, "Telemetry is off on this gateway: no history.")
        : !anyPoints ? h("p", { class: "muted" }, "No traffic to this model in the last hour.") : legend(series),
      anyPoints && h("div", { class: "chart-grid" },
        lineChart("p50 time to first token", series, "ttft_p50_s", { min: 0, format: fmt.seconds }),
        lineChart("p50 throughput (tok/s)", series, "tokens_per_s_p50", { min: 0, format: (v) => v.toFixed(0) }),
        lineChart("uptime", series, "uptime", { min: 0, max: 1, format: fmt.uptime }),
        lineChart("requests per minute", series, "requests", { min: 0, format: (v) => v.toFixed(0) })));
    $("#detail").replaceChildren(h("div", null,
      h("h1", { id: "detail-title" }, model.name),
      h("p", { class: "muted mono" }, model.id),
      h("div", { class: "facts" },
        h("span", null, h("b", null, fmt.price(model.prompt_per_m)), " /M input"),
        h("span", null, h("b", null, fmt.price(model.completion_per_m)), " /M output"),
        h("span", null, h("b", null, fmt.tokens(model.context_length)), " context"),
        h("span", null, model.input_modalities.join("+") + " → " + model.output_modalities.join("+")),
        model.capabilities.map((c) => h("span", { class: "badge cap-" + c }, names[c] || c))),
      model.description ? h("p", { class: "description" }, model.description) : null,
      h("h2", null, `Providers (${model.endpoints.length})`),
      h("div", { class: "table-wrap" }, endpointTable(model)),
      charts));
  }

  async function loadDetail(id) {
    const base = API + "/" + id.split("/").map(encodeURIComponent).join("/");
    try {
      const [model, historyData] = await Promise.all([getJSON(base), getJSON(`${base}/history?minutes=${HISTORY_MINUTES}`)]);
      if (state.detailId !== id) return;  // the user navigated away meanwhile
      document.title = `${model.name} · Switchyard`;
      renderDetail(model, historyData);
      setLive(true, "live · " + fmt.time(Date.now() / 1000));
    } catch (error) {
      setLive(false, "offline");
      $("#detail").replaceChildren(h("h1", null, "Model not found"), h("p", { class: "muted" }, error.message));
    }
  }

  // ---- routing -----------------------------------------------------------------------------------
  function route() {
    const match = location.pathname.match(/^\/models\/(.+)$/);
    state.detailId = match ? match[1].split("/").map(decodeURIComponent).join("/") : null;
    $("#list-view").hidden = Boolean(state.detailId);
    $("#detail-view").hidden = !state.detailId;
    clearInterval(state.timer);
    if (state.detailId) {
      loadDetail(state.detailId);
      state.timer = setInterval(() => loadDetail(state.detailId), REFRESH_MS);
    } else {
      document.title = "Switchyard · Models";
      renderList();
      state.timer = setInterval(loadList, REFRESH_MS);
    }
  }

  document.addEventListener("click", (event) => {
    const link = event.target.closest("a[data-nav]");
    if (!link || event.metaKey || event.ctrlKey || event.shiftKey || event.button !== 0) return;
    event.preventDefault();
    history.pushState(null, "", link.getAttribute("href"));
    route();
    window.scrollTo(0, 0);
  });
  window.addEventListener("popstate", route);

  loadList().then(route);
})();
