// Hackathon pages: live fragments (server-rendered, autoescaped HTML), token handling, uploads, actions.
// Untrusted text from API responses is only ever inserted with textContent.
(function () {
  "use strict";
  const refreshMs = parseInt(document.body.dataset.refreshMs || "3000", 10);
  const KEY = "testbed-token";
  const token = () => localStorage.getItem(KEY) || "";
  const authHeaders = () => (token() ? { Authorization: "Bearer " + token() } : {});
  const logCache = {};

  const tokenInput = document.getElementById("token");
  if (tokenInput) {
    tokenInput.value = token();
    tokenInput.addEventListener("change", () => {
      localStorage.setItem(KEY, tokenInput.value.trim());
      refreshAll();
    });
  }

  function setLive(ok) {
    const live = document.getElementById("live");
    if (!live) return;
    live.classList.toggle("stale", !ok);
    document.getElementById("live-text").textContent = ok
      ? "live · updated " + new Date().toLocaleTimeString()
      : "connection lost · retrying";
  }

  async function refresh(el) {
    if (el.dataset.needAuth && !token()) return;
    const headers = el.dataset.auth ? authHeaders() : {};
    try {
      const r = await fetch(el.dataset.fragment, { headers: headers, cache: "no-store" });
      if (r.status === 401 || r.status === 403) {
        el.textContent = r.status === 401 ? "The token is not valid." : "This needs the admin token.";
        return;
      }
      if (!r.ok) { setLive(false); return; }
      const html = await r.text();
      if (html !== el.dataset.last) {
        el.dataset.last = html;
        el.innerHTML = html; // server-rendered with Jinja2 autoescaping
        fillLogs(el);
      }
      setLive(true);
    } catch (e) {
      setLive(false);
    }
  }

  async function fillLogs(root) {
    for (const pre of root.querySelectorAll("pre[data-log]")) {
      const url = pre.dataset.log;
      if (logCache[url] !== undefined) pre.textContent = logCache[url];
      try {
        const r = await fetch(url, { headers: authHeaders(), cache: "no-store" });
        if (!r.ok) { pre.textContent = "(log not available)"; continue; }
        const body = await r.json();
        logCache[url] = body.log || "(empty)";
        pre.textContent = logCache[url];
      } catch (e) { /* keep what is shown */ }
    }
  }

  const live = Array.from(document.querySelectorAll("[data-fragment]"));
  function refreshAll() { live.forEach(refresh); }
  if (live.length) {
    refreshAll();
    setInterval(() => { if (!document.hidden) live.filter((el) => el.dataset.poll).forEach(refresh); }, refreshMs);
  }

  function show(target, ok, text, link) {
    target.textContent = "";
    const div = document.createElement("div");
    div.className = "msg " + (ok ? "ok" : "err");
    div.textContent = text;
    if (link) {
      div.append(" ");
      const a = document.createElement("a");
      a.href = link.href; a.textContent = link.text; a.id = link.id || "";
      div.append(a);
    }
    target.append(div);
  }

  async function post(url, body) {
    const opts = { method: "POST", headers: authHeaders() };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    const r = await fetch(url, opts);
    let data = {};
    try { data = await r.json(); } catch (e) { /* empty */ }
    return { ok: r.ok, status: r.status, data: data };
  }

  const actions = {
    cancel: (id) => post("/api/submissions/" + encodeURIComponent(id) + "/cancel"),
    reveal: (id) => post("/api/admin/phases/" + encodeURIComponent(id) + "/reveal"),
    revoke: (id) => post("/api/admin/teams/" + encodeURIComponent(id) + "/revoke"),
    token: (id) => post("/api/admin/teams/" + encodeURIComponent(id) + "/token"),
    reevaluate: (id) => post("/api/admin/submissions/" + encodeURIComponent(id) + "/reevaluate"),
  };

  document.addEventListener("click", async (ev) => {
    const btn = ev.target.closest("[data-action]");
    if (btn && actions[btn.dataset.action]) {
      ev.preventDefault();
      if (["cancel", "revoke"].includes(btn.dataset.action) && !confirm("Really " + btn.dataset.action + "?")) return;
      btn.disabled = true;
      const res = await actions[btn.dataset.action](btn.dataset.id);
      const out = document.getElementById("new-token") || document.getElementById("upload-result");
      if (res.data && res.data.token && out) show(out, true, "New token (shown once): " + res.data.token);
      else if (!res.ok && out) show(out, false, "HTTP " + res.status + ": " + (res.data.detail || ""));
      refreshAll();
      return;
    }
    const dl = ev.target.closest("a[data-download-auth]");
    if (dl) {
      ev.preventDefault();
      const r = await fetch(dl.href, { headers: authHeaders() });
      if (!r.ok) return;
      const url = URL.createObjectURL(await r.blob());
      const a = document.createElement("a");
      a.href = url; a.download = "submission.zip"; a.click();
      setTimeout(() => URL.revokeObjectURL(url), 5000);
    }
  });

  document.addEventListener("submit", async (ev) => {
    const f = ev.target.closest("form[data-form=add-team]");
    if (!f) return;
    ev.preventDefault();
    const name = document.getElementById("new-team").value.trim();
    if (!name) return;
    const res = await post("/api/admin/teams", { name: name });
    const out = document.getElementById("new-token");
    if (res.ok) show(out, true, "Team added. Its token (shown once): " + res.data.token);
    else show(out, false, "HTTP " + res.status + ": " + (res.data.detail || ""));
    refreshAll();
  });

  // upload form with drag and drop
  const form = document.getElementById("upload-form");
  if (form) {
    const drop = document.getElementById("drop");
    const input = document.getElementById("file");
    const nameEl = document.getElementById("file-name");
    const result = document.getElementById("upload-result");
    let chosen = null;
    const choose = (file) => { chosen = file; nameEl.textContent = file ? file.name + " (" + file.size + " bytes)" : ""; };
    drop.addEventListener("click", () => input.click());
    drop.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") input.click(); });
    input.addEventListener("change", () => choose(input.files[0] || null));
    ["dragenter", "dragover"].forEach((t) => drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.add("over"); }));
    ["dragleave", "drop"].forEach((t) => drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.remove("over"); }));
    drop.addEventListener("drop", (e) => { if (e.dataTransfer.files.length) choose(e.dataTransfer.files[0]); });
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const tok = document.getElementById("token").value.trim();
      if (tok) localStorage.setItem(KEY, tok);
      if (!token()) { show(result, false, "Enter your team token first."); return; }
      if (!chosen) { show(result, false, "Choose or drop a .zip file first."); return; }
      const fd = new FormData();
      fd.append("file", chosen, chosen.name);
      fd.append("phase", document.getElementById("phase").value);
      const label = document.getElementById("label").value.trim();
      if (label) fd.append("name", label);
      const btn = document.getElementById("upload-btn");
      btn.disabled = true;
      try {
        const r = await fetch("/api/submissions", { method: "POST", headers: authHeaders(), body: fd });
        let body = {};
        try { body = await r.json(); } catch (err) { /* empty */ }
        if (r.ok) {
          show(result, true, (body.duplicate ? "Already uploaded: " : "Uploaded, queued as ") + body.id + ".",
               { href: "/submissions/" + encodeURIComponent(body.id), text: "Follow its evaluation →", id: "submission-link" });
        } else {
          show(result, false, "Upload refused (HTTP " + r.status + "): " + (body.detail || ""));
        }
      } catch (err) {
        show(result, false, "Upload failed: " + err);
      } finally {
        btn.disabled = false;
        refreshAll();
      }
    });
  }
})();
