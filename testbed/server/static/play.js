// In-browser 2D playback of an episode: the map outline (GeoJSON in local metres) and the replay's
// ego and traffic positions, drawn on a canvas. Nothing to install for spectators.
(function () {
  "use strict";
  const player = document.getElementById("player");
  const canvas = document.getElementById("canvas");
  const ctx = canvas.getContext("2d");
  const scrub = document.getElementById("scrub");
  const clock = document.getElementById("clock");
  const playBtn = document.getElementById("play-btn");
  const speedSel = document.getElementById("speed");
  const errBox = document.getElementById("play-error");
  let data = null, geo = null, view = null, frame = 0, playing = true, last = null, ft = 0;

  function fail(text) { errBox.textContent = text; errBox.classList.remove("hidden"); }

  function fact(k, v) {
    const dl = document.getElementById("facts");
    const dt = document.createElement("dt"); dt.textContent = k;
    const dd = document.createElement("dd"); dd.textContent = v;
    dl.append(dt, dd);
  }

  function bbox() {
    const xs = data.ego.x.filter(Number.isFinite), ys = data.ego.y.filter(Number.isFinite);
    if (data.goal && Number.isFinite(data.goal.x) && Number.isFinite(data.goal.y)) { xs.push(data.goal.x); ys.push(data.goal.y); }
    let x0 = Math.min(...xs), x1 = Math.max(...xs), y0 = Math.min(...ys), y1 = Math.max(...ys);
    const pad = Math.max(250, 0.25 * Math.max(x1 - x0, y1 - y0));
    return [x0 - pad, y0 - pad, x1 + pad, y1 + pad];
  }

  function resize() {
    const r = canvas.getBoundingClientRect();
    const dpr = window.devicePixelRatio || 1;
    canvas.width = Math.max(300, Math.round(r.width * dpr));
    canvas.height = Math.max(200, Math.round(r.height * dpr));
    if (!data) return;
    const [x0, y0, x1, y1] = bbox();
    const s = Math.min(canvas.width / (x1 - x0), canvas.height / (y1 - y0));
    view = { s: s, cx: (x0 + x1) / 2, cy: (y0 + y1) / 2, dpr: dpr };
    draw();
  }

  const px = (x) => canvas.width / 2 + (x - view.cx) * view.s;
  const py = (y) => canvas.height / 2 - (y - view.cy) * view.s;

  function ring(coords) {
    coords.forEach((c, i) => (i ? ctx.lineTo(px(c[0]), py(c[1])) : ctx.moveTo(px(c[0]), py(c[1]))));
    ctx.closePath();
  }

  function drawMap() {
    ctx.fillStyle = "#0a1420";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    if (!geo) return;
    for (const f of geo.features) {
      const g = f.geometry, kind = f.properties.kind;
      if (kind === "water") {
        ctx.beginPath();
        const polys = g.type === "Polygon" ? [g.coordinates] : g.type === "MultiPolygon" ? g.coordinates : [];
        polys.forEach((p) => p.forEach(ring));
        ctx.fillStyle = "#1d4e74";
        ctx.fill("evenodd");
        ctx.strokeStyle = "#3d7fae";
        ctx.lineWidth = 1.5 * view.dpr;
        ctx.stroke();
      }
    }
    ctx.setLineDash([6 * view.dpr, 6 * view.dpr]);
    ctx.strokeStyle = "rgba(255,255,255,0.18)";
    ctx.lineWidth = 1 * view.dpr;
    for (const f of geo.features) {
      if (f.properties.kind !== "lane") continue;
      ctx.beginPath();
      f.geometry.coordinates.forEach((c, i) => (i ? ctx.lineTo(px(c[0]), py(c[1])) : ctx.moveTo(px(c[0]), py(c[1]))));
      ctx.stroke();
    }
    ctx.setLineDash([]);
    ctx.fillStyle = "#8fa6bd";
    for (const f of geo.features) {
      if (f.properties.kind !== "berth") continue;
      const [x, y] = f.geometry.coordinates;
      ctx.fillRect(px(x) - 3 * view.dpr, py(y) - 3 * view.dpr, 6 * view.dpr, 6 * view.dpr);
    }
  }

  function ship(x, y, heading, lengthM, color) {
    const L = Math.max(lengthM * view.s, 14 * view.dpr), B = L * 0.28;
    ctx.save();
    ctx.translate(px(x), py(y));
    ctx.rotate(heading); // heading: 0 = north, clockwise (canvas y points down)
    ctx.beginPath();
    ctx.moveTo(0, -L / 2); ctx.lineTo(B / 2, -L / 4); ctx.lineTo(B / 2, L / 2); ctx.lineTo(-B / 2, L / 2); ctx.lineTo(-B / 2, -L / 4);
    ctx.closePath();
    ctx.fillStyle = color; ctx.fill();
    ctx.strokeStyle = "#04121f"; ctx.lineWidth = 1.5 * view.dpr; ctx.stroke();
    ctx.restore();
  }

  function scaleBar() {
    const target = canvas.width / 6 / view.s;
    const m = Math.pow(10, Math.floor(Math.log10(target)));
    const len = [1, 2, 5].map((k) => k * m).filter((v) => v <= target).pop() || m;
    const x = 16 * view.dpr, y = canvas.height - 18 * view.dpr;
    ctx.strokeStyle = "#e8eef5"; ctx.lineWidth = 3 * view.dpr;
    ctx.beginPath(); ctx.moveTo(x, y); ctx.lineTo(x + len * view.s, y); ctx.stroke();
    ctx.fillStyle = "#e8eef5"; ctx.font = (13 * view.dpr) + "px sans-serif";
    ctx.fillText(len >= 1000 ? len / 1000 + " km" : len + " m", x, y - 8 * view.dpr);
  }

  function drawPlan() {
    if (data.route && data.route.length > 1) {
      ctx.setLineDash([10 * view.dpr, 8 * view.dpr]);
      ctx.strokeStyle = "rgba(200,140,255,0.75)";
      ctx.lineWidth = 2 * view.dpr;
      ctx.beginPath();
      data.route.forEach((c, k) => (k ? ctx.lineTo(px(c[0]), py(c[1])) : ctx.moveTo(px(c[0]), py(c[1]))));
      ctx.stroke();
      ctx.setLineDash([]);
    }
    const g = data.goal;
    if (g && Number.isFinite(g.x) && Number.isFinite(g.y)) {
      const r = Math.max((g.position_tol_m || 30) * view.s, 7 * view.dpr);
      ctx.strokeStyle = "#4ade80"; ctx.lineWidth = 3 * view.dpr;
      ctx.beginPath(); ctx.arc(px(g.x), py(g.y), r, 0, 2 * Math.PI); ctx.stroke();
    }
  }

  function draw() {
    if (!view) return;
    drawMap();
    drawPlan();
    const n = data.ego.x.length, i = Math.min(frame, n - 1);
    ctx.lineWidth = 2 * view.dpr;
    ctx.strokeStyle = "rgba(76,201,240,0.25)";
    ctx.beginPath();
    for (let k = 0; k < n; k++) (k ? ctx.lineTo : ctx.moveTo).call(ctx, px(data.ego.x[k]), py(data.ego.y[k]));
    ctx.stroke();
    ctx.strokeStyle = "#4cc9f0";
    ctx.lineWidth = 3 * view.dpr;
    ctx.beginPath();
    for (let k = 0; k <= i; k++) (k ? ctx.lineTo : ctx.moveTo).call(ctx, px(data.ego.x[k]), py(data.ego.y[k]));
    ctx.stroke();
    if (data.traffic) {
      const tx = data.traffic.x[i] || [], ty = data.traffic.y[i] || [];
      for (let v = 0; v < tx.length; v++) {
        if (!Number.isFinite(tx[v])) continue;
        let h = 0;
        if (i > 0 && data.traffic.x[i - 1]) h = Math.atan2(tx[v] - data.traffic.x[i - 1][v], ty[v] - data.traffic.y[i - 1][v]);
        ship(tx[v], ty[v], h, 85, "#ef476f");
      }
    }
    ship(data.ego.x[i], data.ego.y[i], data.ego.heading ? data.ego.heading[i] : 0, 110, "#ffd166");
    scaleBar();
    const t = data.t ? data.t[i] : i;
    clock.textContent = "t = " + Number(t).toFixed(0) + " s";
    scrub.value = String(i);
  }

  function tick(ts) {
    if (last === null) last = ts;
    const dt = (ts - last) / 1000; last = ts;
    if (playing && data) {
      const n = data.ego.x.length;
      const stepS = data.t && n > 1 ? (data.t[n - 1] - data.t[0]) / (n - 1) : 1;
      ft += dt * parseFloat(speedSel.value) / Math.max(stepS, 1e-3);
      if (ft >= 1) { frame = Math.min(n - 1, frame + Math.floor(ft)); ft -= Math.floor(ft); draw(); }
      if (frame >= n - 1) { playing = false; playBtn.textContent = "Replay"; }
    }
    requestAnimationFrame(tick);
  }

  playBtn.addEventListener("click", () => {
    if (!data) return;
    if (!playing && frame >= data.ego.x.length - 1) frame = 0;
    playing = !playing;
    playBtn.textContent = playing ? "Pause" : "Play";
  });
  scrub.addEventListener("input", () => { frame = parseInt(scrub.value, 10); draw(); });
  window.addEventListener("resize", resize);

  async function load() {
    const token = localStorage.getItem("testbed-token");
    const headers = token ? { Authorization: "Bearer " + token } : {};
    const r = await fetch(player.dataset.trajectory, { headers: headers });
    if (!r.ok) { fail("This replay is not available (HTTP " + r.status + ")."); return; }
    data = await r.json();
    if (data.map) {
      const g = await fetch("/api/maps/" + encodeURIComponent(data.map));
      if (g.ok) geo = await g.json();
    }
    document.getElementById("play-title").textContent = "Replay · " + (data.case || "episode");
    fact("case", data.case || "");
    fact("status", data.status || "");
    if (data.score !== null && data.score !== undefined) fact("score", Number(data.score).toFixed(2));
    if (data.map) fact("map", data.map);
    fact("samples", String(data.ego.x.length));
    if (data.t) fact("duration", Number(data.t[data.t.length - 1]).toFixed(0) + " s");
    if (data.replay_url) document.getElementById("dl").href = data.replay_url;
    scrub.max = String(data.ego.x.length - 1);
    const dur = data.t ? data.t[data.t.length - 1] - data.t[0] : 0;
    const opts = Array.from(speedSel.options).map((o) => parseFloat(o.value));
    speedSel.value = String(opts.reduce((best, v) => (Math.abs(dur / v - 30) < Math.abs(dur / best - 30) ? v : best)));
    canvas.dataset.ready = "1";
    resize();
    requestAnimationFrame(tick);
  }
  load().catch((e) => fail("Could not load the replay: " + e));
})();
