"use strict";
// glan review: the page's only script. Every name, note, "was" and message comes from people or
// an LLM, so text is only ever written with textContent / setAttribute (never as markup), and node
// ids are only used as attribute values and Map keys.
(() => {
  const $ = (sel) => document.querySelector(sel);
  const CSRF = $('meta[name="csrf-token"]').content;
  const NAME_KEY = "glan-review-reviewer";
  const POLL_MS = 1500;
  const ROOT = "";  // editors' key for the root level (Add field / Suggest fields)
  const KIND = {field: "field", sub_field: "sub-field", discipline: "discipline", subject: "subject"};
  const CHILD = {field: "sub_field", sub_field: "discipline"};  // what "add child" makes under a kind
  const DATA = [["subjects", "subjects"], ["syllabi", "syllabi"], ["questions", "questions"],
    ["pairs", "pairs"], ["kept", "kept pairs"]];

  const tree = $("#tree"), statusEl = $("#status"), reviewerEl = $("#reviewer"), filterEl = $("#filter");
  const ruleEl = $("#rule"), genBtn = $("#generate"), stopBtn = $("#stop"), jobEl = $("#job");

  let state = null;
  let byId = new Map(), kids = new Map();  // id -> node; parent id (ROOT for fields) -> child nodes
  const rows = new Map();                  // id -> {el, line, notes, ed, sig}
  const editors = new Map();               // node id or ROOT -> {type, el, input, rev}
  const expanded = new Set();
  let selected = null, quick = "all", needle = "", polling = false, panelSig = "", lostServer = false;

  // ---- small helpers -------------------------------------------------------------------------
  function h(tag, props, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "text") e.textContent = String(v);
      else if (k === "class") e.className = v;
      else e.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children) if (c !== null && c !== undefined && c !== false) e.append(c);  // strings: text nodes
    return e;
  }
  const me = () => reviewerEl.value.trim();
  const fmt = (n) => (n >= 10000 ? Math.round(n / 1000) + "k" : n >= 1000 ? (n / 1000).toFixed(1) + "k" : String(n));
  const usd = (x) => "$" + (x > 0 && x < 0.01 ? x.toFixed(4) : x.toFixed(2));
  const isTyping = (t) => t instanceof HTMLElement && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName));
  let statusTimer = 0;
  function say(msg, kind) {
    statusEl.textContent = msg;
    statusEl.className = kind || "";
    clearTimeout(statusTimer);
    if (kind !== "error") statusTimer = setTimeout(() => { if (statusEl.textContent === msg) say(""); }, 6000);
  }
  function needName() {
    if (me()) return false;
    say("Enter your name at the top first: votes and edits are recorded under it.", "error");
    reviewerEl.focus();
    return true;
  }

  // ---- server --------------------------------------------------------------------------------
  async function post(path, body) {
    let r;
    try {
      r = await fetch(path, {method: "POST", headers: {"Content-Type": "application/json", "X-CSRF-Token": CSRF},
        body: JSON.stringify(Object.assign({reviewer: me()}, body))});
    } catch (e) {
      say("The server did not answer (" + e.message + ").", "error");
      return null;
    }
    let data = null;
    try { data = await r.json(); } catch (e) { data = null; }
    if (r.ok) return data || {};
    const why = data && typeof data.error === "string" ? data.error : "HTTP " + r.status;
    say((r.status === 409 ? "Conflict: " : r.status === 403 ? "Refused: " : "Error: ") + why, "error");
    if (r.status === 409 && data && data.state && data.state.nodes) apply(data.state, true);
    return null;
  }
  async function op(body) {
    if (needName()) return null;
    const res = await post("/api/op", body);
    if (res && res.nodes) apply(res, false);
    return res;
  }
  async function poll() {
    if (!polling) {
      polling = true;
      const since = state ? state.version : null;
      try {
        const r = await fetch(since === null ? "/api/state" : "/api/state?since=" + encodeURIComponent(since),
          {cache: "no-store"});
        if (r.ok) {
          const s = await r.json();
          if (lostServer) { lostServer = false; say("Connected again."); }
          // A full answer to `since` equal to what we hold is newer by definition (even after a restart).
          if (!s.unchanged && s.nodes) apply(s, state !== null && state.version === since);
        } else if (r.status === 403) {
          say("The server refused this page (403): reload it from the link glan review printed.", "error");
        }
      } catch (e) {
        if (!lostServer) say("The server does not answer; still trying every few seconds.", "error");
        lostServer = true;
      } finally {
        polling = false;
      }
    }
    setTimeout(poll, POLL_MS);
  }

  // ---- state -> DOM --------------------------------------------------------------------------
  function apply(s, force) {
    if (state && !force && s.version < state.version) return;  // an older answer overtaken by a newer one
    const first = state === null;
    const was = state && state.job ? state.job.state : null;
    state = s;
    byId = new Map();
    kids = new Map();
    for (const n of s.nodes) {
      byId.set(n.id, n);
      const p = n.parent || ROOT;
      if (!kids.has(p)) kids.set(p, []);
      kids.get(p).push(n);
    }
    if (first) for (const n of s.nodes) if (n.kind === "field") expanded.add(n.id);
    if (was === "running" && s.job.state !== "running") say("Generation " + s.job.state + ".");
    renderPanel();
    renderTree();
  }

  function badge(cls, text, title) { return h("span", {class: "b " + cls, text: text, title: title}); }

  function nameCell(n) {
    const cell = h("span", {class: "c-name"});
    cell.append(h("span", {class: "tw", "aria-hidden": "true", "data-action": "toggle"}),
      h("span", {class: "dot", "aria-hidden": "true", title: n.kind === "subject" ? null
        : n.decision === "remove" ? (n.own === "remove" ? "removed" : "removed with a parent")
        : n.own === "keep" ? "kept" : "undecided (no votes)"}));
    const ed = editors.get(n.id);
    const tx = h("span", {class: "tx"});  // the name and its badges flow as text, wrapping under the name
    cell.append(tx);
    tx.append(ed && ed.type === "rename" ? ed.el : h("span", {class: "nm", id: "nm-" + n.id, text: n.name}));
    if (n.kind === "subject") {
      if (n.level) tx.append(badge("lvl", n.level));
      return cell;
    }
    if (n.own === "remove") tx.append(badge("rm", "removed", "Removed by the votes under the current rule"));
    else if (n.own === "keep") tx.append(badge("kp", "kept", "Kept by the votes under the current rule"));
    if (n.new) tx.append(badge("new", "new", "No data yet: Generate makes it"));
    if (n.origin === "llm") tx.append(badge("llm", "added by LLM", "Added from an LLM suggestion"));
    else if (n.origin === "added") tx.append(badge("add", "added", "Added by a reviewer"));
    if (n.was !== null && n.was !== undefined) tx.append(badge("was", "was “" + n.was + "”", "Renamed from: " + n.was));
    if (n.moved) tx.append(badge("mv", "moved", "Its parent differs from the base taxonomy's"));
    if (n.data && n.data.excluded > 0) {
      tx.append(badge("ex", "excluded " + fmt(n.data.excluded),
        n.data.excluded + " pairs of removed disciplines kept on disk, out of the export"));
    }
    return cell;
  }

  function fillRow(r, n) {
    const mine = me();
    const line = h("div", {class: "line"});
    line.append(nameCell(n));
    const summary = [KIND[n.kind]];
    if (n.kind === "subject") {
      if (n.level) summary.push(n.level);
    } else {
      const votes = Object.entries(n.votes || {});
      const keep = votes.filter(([, v]) => v === "keep").length, rm = votes.length - keep;
      const who = votes.map(([w, v]) => w + ": " + v).join("\n") || "no votes yet";
      line.append(votes.length ? h("span", {class: "c-votes", title: who},
        h("span", {class: keep ? "vk" : "v0", text: "keep " + keep}), " / ",
        h("span", {class: rm ? "vr" : "v0", text: "remove " + rm})) : h("span", {class: "c-votes z", title: who, text: "–"}));
      const my = (n.votes || {})[mine] || null;
      line.append(h("span", {class: "c-mine", role: "group", "aria-label": "My vote"},
        h("button", {type: "button", tabindex: -1, "data-action": "keep", "aria-pressed": my === "keep" ? "true" : "false",
          title: "Keep (k)", text: "Keep"}),
        h("button", {type: "button", tabindex: -1, "data-action": "remove", "aria-pressed": my === "remove" ? "true" : "false",
          title: "Remove (x)", text: "Remove"}),
        h("button", {type: "button", tabindex: -1, "data-action": "clear", disabled: !my, title: "Clear my vote (u)",
          "aria-label": "Clear my vote", text: "×"})));
      const d = n.data || {};
      const data = h("span", {class: "c-data"});
      for (const [k, label] of DATA) {
        const v = d[k] || 0;
        data.append(h("span", {class: v ? "" : "z", title: v + " " + label, text: v ? fmt(v) : "–"}));
      }
      line.append(data);
      const c = n.cost || {calls: 0, usd: null};
      line.append(h("span", {class: "c-cost" + (c.calls ? "" : " z"),
        title: c.calls ? "To generate its disciplines with no data: " + c.calls + " LLM calls" +
          (c.usd !== null ? ", about " + usd(c.usd) : "") : "Nothing to generate",
        text: c.calls ? fmt(c.calls) + " calls" + (c.usd !== null ? " · " + usd(c.usd) : "") : "–"}));
      const act = h("span", {class: "c-act"});
      const btn = (action, sym, label) => h("button", {type: "button", tabindex: -1, "data-action": action,
        title: label, "aria-label": label, text: sym});
      act.append(btn("rename", "✎", "Rename (e, F2)"));
      if (CHILD[n.kind]) act.append(btn("add", "+", "Add a " + KIND[CHILD[n.kind]] + " (a)"));
      if (n.kind !== "field") act.append(btn("move", "⇄", "Move (m)"));
      act.append(btn("note", "✉", "Note (n)"));
      if (CHILD[n.kind]) {
        const b = btn("suggest", "✦", state.suggest ? "Suggest " + KIND[CHILD[n.kind]] + "s with the LLM (s)"
          : "LLM suggestions are not available");
        b.disabled = !state.suggest;
        act.append(b);
      }
      line.append(act);
      summary.push(n.decision === "remove" ? "removed" : n.own === "keep" ? "kept" : "undecided",
        "keep " + keep + ", remove " + rm, "my vote " + (my || "none"));
      if (n.new) summary.push("new");
      if (n.was) summary.push("renamed from " + n.was);
      if (n.moved) summary.push("moved");
      summary.push(DATA.map(([k, label]) => (d[k] || 0) + " " + label).join(", "));
    }
    const notes = h("div", {class: "notes"});
    for (const [who, text] of Object.entries(n.notes || {})) {
      if (!text) continue;
      notes.append(h("div", {class: "nt" + (who === mine ? " mine" : "")},
        h("b", {text: who === mine ? who + " (you)" : who}), h("span", {text: text})));
      summary.push("note by " + who + ": " + text);
    }
    line.append(h("span", {class: "sr", id: "ds-" + n.id, text: summary.join("; ")}));
    notes.hidden = !notes.firstChild;
    r.line.replaceWith(line);
    r.notes.replaceWith(notes);
    r.line = line;
    r.notes = notes;
    const cls = ["row", "k-" + n.kind, n.decision === "remove" ? (n.own === "remove" ? "d-rm" : "d-rm2")
      : n.own === "keep" ? "d-kp" : "d-un"];
    if (n.new) cls.push("is-new");
    r.el.className = cls.join(" ");
    r.el.setAttribute("aria-level", String(n.depth + 1));
  }

  function makeRow(n) {
    const el = h("div", {role: "treeitem", "data-id": n.id, "data-kind": n.kind, tabindex: -1,
      "aria-selected": "false", "aria-labelledby": "nm-" + n.id, "aria-describedby": "ds-" + n.id});
    const r = {el, line: h("div"), notes: h("div"), ed: h("div", {class: "ed"}), sig: null};
    el.append(r.line, r.notes, r.ed);
    return r;
  }

  function matches(n) {
    if (needle && !n.name.toLowerCase().includes(needle)) return false;
    if (quick === "all") return true;
    if (n.kind === "subject") return false;
    if (quick === "new") return n.new;
    if (quick === "removed") return n.decision === "remove";
    return n.own === "undecided";
  }

  function visibleRows() {
    return Array.from(tree.children).filter((e) => !e.hidden);
  }

  function renderTree() {
    if (!state) return;
    const active = document.activeElement;
    const sel = active && "selectionStart" in active ? [active.selectionStart, active.selectionEnd] : null;
    const mine = me();
    const order = [];
    for (const n of state.nodes) {
      let r = rows.get(n.id);
      if (!r) { r = makeRow(n); rows.set(n.id, r); }
      const sig = JSON.stringify(n) + "\u0000" + (kids.get(n.id) || []).length +
        (n.kind === "subject" ? "" : "\u0000" + mine + "\u0000" + state.suggest);
      if (r.sig !== sig) { fillRow(r, n); r.sig = sig; }
      order.push(r.el);
    }
    for (const [id, r] of rows) {
      if (!byId.has(id)) { r.el.remove(); rows.delete(id); editors.delete(id); expanded.delete(id); }
    }
    const cur = tree.children;
    let same = cur.length === order.length;
    for (let i = 0; same && i < order.length; i++) same = cur[i] === order[i];
    if (!same) tree.replaceChildren(...order);
    updateView();
    // Rebuilt rows or a reorder may have detached the focused element: give focus back, caret included.
    if (active && active !== document.activeElement && active.isConnected) {
      active.focus({preventScroll: true});
      if (sel) try { active.setSelectionRange(sel[0], sel[1]); } catch (e) { /* not a text input */ }
    } else if (active && !active.isConnected && tree.contains(document.activeElement) === false && selected) {
      const r = rows.get(selected);
      if (r && active !== document.body) r.el.focus({preventScroll: true});
    }
  }

  // Which rows show, which is expanded and selected: run after every change of state, filter or expansion.
  function updateView() {
    if (!state) return;
    const filtering = needle !== "" || quick !== "all";
    const hit = new Set(), forced = new Set();  // while a filter is on: matches, and they with their ancestors
    if (filtering) {
      for (const n of state.nodes) {
        if (!matches(n)) continue;
        hit.add(n.id);
        for (let p = n; p && !forced.has(p.id); p = byId.get(p.parent)) forced.add(p.id);
      }
    }
    const vis = new Map();
    let shown = 0;
    for (const n of state.nodes) {
      const r = rows.get(n.id);
      const p = n.parent;
      // Unfiltered: under expanded, shown parents. Filtered: matches and their ancestors; a name filter
      // alone also shows the children of an expanded match (to see what a matching discipline holds).
      const opened = p !== null && vis.get(p) && expanded.has(p);
      const v = filtering ? forced.has(n.id) || (opened && needle !== "" && quick === "all" && hit.has(p))
        : p === null || opened;
      vis.set(n.id, v);
      if (r.el.hidden === v) r.el.hidden = !v;
      if (v) shown++;
      const ch = kids.get(n.id) || [];
      const leads = filtering && ch.some((c) => forced.has(c.id));
      const open = leads || ((!filtering || (hit.has(n.id) && quick === "all")) && expanded.has(n.id));
      const ex = ch.length ? String(open) : null;
      if (r.el.getAttribute("aria-expanded") !== ex) {
        if (ex === null) r.el.removeAttribute("aria-expanded"); else r.el.setAttribute("aria-expanded", ex);
      }
    }
    if (!selected || !vis.get(selected)) {
      const first = state.nodes.find((n) => vis.get(n.id));
      select(first ? first.id : null, false);
    } else select(selected, false);
    $("#empty").hidden = shown > 0;
    $("#count").textContent = filtering ? shown + " of " + state.nodes.length + " rows" : "";
  }

  function select(id, focus) {
    if (selected && selected !== id && rows.has(selected)) {
      const old = rows.get(selected).el;
      old.setAttribute("aria-selected", "false");
      old.tabIndex = -1;
    }
    selected = id;
    if (!id || !rows.has(id)) return;
    const el = rows.get(id).el;
    if (el.getAttribute("aria-selected") !== "true") el.setAttribute("aria-selected", "true");
    if (el.tabIndex !== 0) el.tabIndex = 0;
    if (focus) { el.focus({preventScroll: true}); el.scrollIntoView({block: "nearest"}); }
  }

  // ---- the side panel ------------------------------------------------------------------------
  function renderPanel() {
    const s = state;
    const sig = JSON.stringify([s.rule, s.rules, s.job, s.pending, s.files, s.run_dir, s.reviewers, s.suggest]);
    if (sig === panelSig) return;
    panelSig = sig;
    const names = Object.keys(s.rules || {});
    if (Array.from(ruleEl.options).map((o) => o.value).join("\u0000") !== names.join("\u0000")) {
      ruleEl.replaceChildren(...names.map((k) => h("option", {value: k, text: k.replace("_", " ")})));
    }
    if (document.activeElement !== ruleEl) ruleEl.value = s.rule;
    $("#rule-desc").textContent = (s.rules || {})[ruleEl.value] || "";
    const p = s.pending || {disciplines: [], calls: 0, usd: null, excluding: []};
    const out = p.excluding || [];
    const pend = $("#pending");
    const parts = [];
    if (p.disciplines.length) {
      const list = h("ul", {class: "plist"});
      for (const d of p.disciplines) list.append(h("li", {text: d}));
      parts.push(h("p", {text: p.disciplines.length + " discipline" + (p.disciplines.length === 1 ? "" : "s") +
        " to generate · " + fmt(p.calls) + " LLM calls" + (p.usd !== null ? " · about " + usd(p.usd) : "")}), list);
    } else parts.push(h("p", {class: "muted", text: "Nothing new to generate."}));
    if (out.length) {
      const list = h("ul", {class: "plist excl"});
      for (const d of out) list.append(h("li", {text: d}));
      parts.push(h("p", {text: "Removed, with data to exclude from the export (kept on disk):"}), list);
    }
    pend.replaceChildren(...parts);
    const j = s.job || {state: "idle"};
    const running = j.state === "running";
    genBtn.disabled = running || !(p.disciplines.length || out.length);
    stopBtn.hidden = !running;
    jobEl.dataset.state = j.state;
    if (j.state === "idle") {
      jobEl.replaceChildren(h("p", {class: "muted", text: "No generation has run yet."}));
    } else {
      const parts = [h("p", {class: "js"}, h("b", {text: j.state}), j.by ? " · started by " + j.by : "")];
      if (j.stage) parts.push(h("p", {text: "Stage: " + j.stage + " · " + j.done + " / " + j.total}));
      parts.push(h("progress", {max: Math.max(j.total, 1), value: Math.min(j.done, Math.max(j.total, 1)),
        "aria-label": "Progress of the current stage"}));
      if (j.stages && j.stages.length) {
        const t = h("table", {class: "stages"}, h("tr", {},
          h("th", {text: "stage"}), h("th", {text: "done"}), h("th", {text: "calls"}), h("th", {text: "cached"})));
        for (const st of j.stages) {
          t.append(h("tr", {}, h("td", {text: st.stage}), h("td", {text: st.done + " / " + st.total}),
            h("td", {text: fmt(st.calls)}), h("td", {text: fmt(st.cached)})));
        }
        parts.push(t);
      }
      if (j.disciplines && j.disciplines.length) {
        parts.push(h("p", {class: "muted", text: "For: " + j.disciplines.join(", ")}));
      }
      if (j.message) parts.push(h("p", {class: "msg", text: j.message}));
      if (j.exit_code !== null && j.exit_code !== undefined) parts.push(h("p", {text: "Exit code " + j.exit_code}));
      jobEl.replaceChildren(...parts);
    }
    const files = $("#files");
    const f = s.files || {};
    files.replaceChildren(h("dt", {text: "Reviewed taxonomy"}), h("dd", {text: f.taxonomy || "–"}),
      h("dt", {text: "Log"}), h("dd", {text: f.log || "–"}), h("dt", {text: "Run"}), h("dd", {text: s.run_dir || "–"}));
    $("#reviewers").textContent = (s.reviewers || []).join(", ") || "nobody yet";
    $("#suggest-fields").disabled = !s.suggest;
  }

  // ---- editors (rename, note, add, move, suggest) --------------------------------------------
  function closeEditor(key, refocus) {
    const ed = editors.get(key);
    if (!ed) return;
    editors.delete(key);
    const had = ed.el.contains(document.activeElement);
    if (ed.type === "rename") {
      const n = byId.get(key), r = rows.get(key);
      if (n && r) { r.sig = null; renderTree(); }
    } else ed.el.remove();
    if (refocus || had) {
      if (key === ROOT) $("#add-field").focus(); else select(key, true);
    }
  }

  function slot(key) { return key === ROOT ? $("#root-ed") : rows.get(key).ed; }

  function openEditor(key, type, build) {
    if (editors.has(key)) closeEditor(key, false);
    const ed = {type, el: null, input: null, rev: key === ROOT ? null : byId.get(key).rev};
    build(ed);
    editors.set(key, ed);
    if (type === "rename") { rows.get(key).sig = null; renderTree(); } else slot(key).append(ed.el);
    if (ed.input) { ed.input.focus(); if (ed.input.select) ed.input.select(); }
    return ed;
  }

  function buttons(key, okText, onOk) {
    const ok = h("button", {type: "button", class: "primary", "data-action": "save", text: okText});
    const cancel = h("button", {type: "button", "data-action": "cancel", text: "Cancel"});
    ok.addEventListener("click", onOk);
    cancel.addEventListener("click", () => closeEditor(key, true));
    return h("span", {class: "btns"}, ok, cancel);
  }

  function editorKeys(key, input, onOk, multiline) {
    input.addEventListener("keydown", (e) => {
      if (e.key === "Escape") { e.preventDefault(); e.stopPropagation(); closeEditor(key, true); }
      else if (e.key === "Enter" && (!multiline || e.ctrlKey || e.metaKey)) { e.preventDefault(); onOk(); }
    });
  }

  function rename(n) {
    if (n.kind === "subject" || needName()) return;
    openEditor(n.id, "rename", (ed) => {
      ed.input = ed.el = h("input", {class: "rn", type: "text", maxlength: 200, "aria-label": "New name for " + n.name,
        title: "Enter renames, Escape cancels"});
      ed.input.value = n.name;
      const ok = async () => {
        const name = ed.input.value.trim();
        const cur = byId.get(n.id);
        if (!name || !cur || name === cur.name) { closeEditor(n.id, true); return; }
        const res = await op({op: "rename", node: n.id, name, rev: ed.rev});
        if (res) closeEditor(n.id, true);
        else if (byId.has(n.id) && editors.get(n.id) === ed) {
          ed.rev = byId.get(n.id).rev;  // the user saw the conflict; pressing Enter again means "mine anyway"
          ed.input.title = "Its name is now: " + byId.get(n.id).name + " · Enter renames it anyway, Escape cancels";
        }
      };
      editorKeys(n.id, ed.input, ok, false);
    });
  }

  function note(n) {
    if (n.kind === "subject" || needName()) return;
    openEditor(n.id, "note", (ed) => {
      ed.input = h("textarea", {rows: 2, maxlength: 2000, "aria-label": "My note on " + n.name,
        placeholder: "Your note (empty clears it) · Ctrl+Enter saves, Escape cancels"});
      ed.input.value = (n.notes || {})[me()] || "";
      const ok = async () => {
        if (await op({op: "note", node: n.id, text: ed.input.value.trim()})) closeEditor(n.id, true);
      };
      editorKeys(n.id, ed.input, ok, true);
      ed.el = h("div", {class: "editor"}, ed.input, buttons(n.id, "Save note", ok));
    });
  }

  function addChild(n) {  // n === null: a field at the root
    if ((n && !CHILD[n.kind]) || needName()) return;
    const key = n ? n.id : ROOT, kind = n ? CHILD[n.kind] : "field";
    openEditor(key, "add", (ed) => {
      ed.input = h("input", {type: "text", maxlength: 200, placeholder: "New " + KIND[kind] + " name",
        "aria-label": n ? "New " + KIND[kind] + " under " + n.name : "New field"});
      const ok = async () => {
        const name = ed.input.value.trim();
        if (!name) { ed.input.focus(); return; }
        const res = await op({op: "add", parent: n ? n.id : null, name, origin: "added"});
        if (res) {
          closeEditor(key, false);
          if (n) expanded.add(n.id);
          updateView();
          if (res.added && rows.has(res.added)) select(res.added, true);
        }
      };
      editorKeys(key, ed.input, ok, false);
      ed.el = h("div", {class: "editor"}, h("span", {class: "lbl", text: n ? "Add a " + KIND[kind] + ":" : "Add a field:"}),
        ed.input, buttons(key, "Add", ok));
    });
  }

  function move(n) {
    if (n.kind !== "discipline" && n.kind !== "sub_field") return;
    if (needName()) return;
    openEditor(n.id, "move", (ed) => {
      const want = n.kind === "discipline" ? "sub_field" : "field";
      const sel = h("select", {"aria-label": "New parent for " + n.name});
      if (want === "field") {
        for (const f of kids.get(ROOT) || []) if (f.id !== n.parent) sel.append(h("option", {value: f.id, text: f.name}));
      } else {
        for (const f of kids.get(ROOT) || []) {
          const g = h("optgroup", {label: f.name});
          for (const s of kids.get(f.id) || []) if (s.id !== n.parent) g.append(h("option", {value: s.id, text: s.name}));
          if (g.firstChild) sel.append(g);
        }
      }
      ed.input = sel;
      const ok = async () => {
        if (!sel.value) return;
        const res = await op({op: "move", node: n.id, parent: sel.value, rev: ed.rev});
        if (res) { closeEditor(n.id, false); expanded.add(sel.value); updateView(); select(n.id, true); }
      };
      sel.addEventListener("keydown", (e) => {
        if (e.key === "Escape") { e.preventDefault(); e.stopPropagation(); closeEditor(n.id, true); }
        else if (e.key === "Enter") { e.preventDefault(); ok(); }
      });
      ed.el = h("div", {class: "editor"}, h("span", {class: "lbl", text: "Move to " + KIND[want] + ":"}), sel,
        buttons(n.id, "Move", ok));
    });
  }

  function suggest(n) {  // n === null: fields
    if ((n && !CHILD[n.kind]) || needName()) return;
    if (!state.suggest) { say("LLM suggestions are not available in this session.", "error"); return; }
    const key = n ? n.id : ROOT, kind = n ? CHILD[n.kind] : "field";
    const ed = openEditor(key, "suggest", (ed) => {
      ed.list = h("ul", {class: "sugg", "aria-label": "Suggested " + KIND[kind] + "s"});
      const close = h("button", {type: "button", "data-action": "cancel", text: "Close"});
      close.addEventListener("click", () => closeEditor(key, true));
      ed.input = close;
      ed.el = h("div", {class: "editor suggest", "aria-busy": "true"},
        h("p", {class: "lbl", text: "Asking the LLM for " + KIND[kind] + "s" + (n ? " of “" + n.name + "”" : "") + "…"}),
        ed.list, close);
      ed.el.addEventListener("keydown", (e) => {
        if (e.key === "Escape") { e.preventDefault(); e.stopPropagation(); closeEditor(key, true); }
      });
    });
    post("/api/suggest", {node: n ? n.id : null}).then((res) => {
      if (editors.get(key) !== ed) return;
      ed.el.removeAttribute("aria-busy");
      const lbl = ed.el.querySelector(".lbl");
      if (!res || !Array.isArray(res.names)) { lbl.textContent = "No suggestions (see the status line)."; return; }
      lbl.textContent = res.names.length ? "Suggested " + KIND[kind] + "s" + (n ? " for “" + n.name + "”" : "") + ":"
        : "The LLM suggested nothing new.";
      for (const name of res.names) {
        const exists = () => (kids.get(key) || []).some((c) => c.name.toLowerCase() === String(name).toLowerCase());
        const b = h("button", {type: "button", "data-action": "add-suggestion", text: exists() ? "Already there" : "Add"});
        b.disabled = exists();
        b.addEventListener("click", async () => {
          b.disabled = true;
          const r = await op({op: "add", parent: n ? n.id : null, name: String(name), origin: "llm"});
          if (r) { b.textContent = "Added"; if (n) { expanded.add(n.id); updateView(); } }
          else b.disabled = false;
        });
        ed.list.append(h("li", {}, h("span", {text: String(name)}), b));
      }
      say(res.names.length + " suggestion" + (res.names.length === 1 ? "" : "s") + " ready.");
    });
  }

  // ---- actions, mouse and keyboard -----------------------------------------------------------
  function toggle(id, open) {
    if (!(kids.get(id) || []).length) return;
    const now = expanded.has(id);
    if (open === undefined ? now : !open) expanded.delete(id); else expanded.add(id);
    updateView();
  }

  function act(action, n) {
    if (action === "keep" || action === "remove" || action === "clear") {
      if (n && n.kind !== "subject") op({op: "vote", node: n.id, vote: action === "clear" ? null : action});
    } else if (action === "rename" && n) rename(n);
    else if (action === "note" && n) note(n);
    else if (action === "add") addChild(n);
    else if (action === "move" && n) move(n);
    else if (action === "suggest") suggest(n);
    else if (action === "toggle" && n) toggle(n.id);
  }

  tree.addEventListener("click", (e) => {
    const row = e.target.closest("[role=treeitem]");
    if (!row) return;
    const id = row.dataset.id, b = e.target.closest("[data-action]");
    if (b && b.closest(".ed")) return;  // editors' own buttons have their listeners
    const inLine = e.target.closest(".line");
    if (inLine) select(id, !e.target.closest("input,textarea,select"));
    if (b && inLine && !b.disabled) act(b.dataset.action, byId.get(id));
  });
  tree.addEventListener("dblclick", (e) => {
    const row = e.target.closest("[role=treeitem]");
    if (row && e.target.closest(".c-name") && !e.target.closest("input")) toggle(row.dataset.id);
  });
  tree.addEventListener("focusin", (e) => {
    if (e.target.getAttribute("role") === "treeitem" && e.target.dataset.id !== selected) select(e.target.dataset.id, false);
  });

  function moveSel(delta, to) {
    const vis = visibleRows();
    if (!vis.length) return;
    let i = vis.findIndex((e) => e.dataset.id === selected);
    i = to === "first" ? 0 : to === "last" ? vis.length - 1 : Math.max(0, Math.min(vis.length - 1, i + delta));
    select(vis[i].dataset.id, true);
  }

  function treeKey(e, n) {
    const open = rows.get(n.id).el.getAttribute("aria-expanded");
    switch (e.key) {
      case "ArrowDown": moveSel(1); break;
      case "ArrowUp": moveSel(-1); break;
      case "Home": moveSel(0, "first"); break;
      case "End": moveSel(0, "last"); break;
      case "Enter": toggle(n.id); break;
      case "ArrowRight":
        if (open === "false") toggle(n.id, true);
        else if (open === "true") {
          const c = (kids.get(n.id) || []).find((k) => !rows.get(k.id).el.hidden);
          if (c) select(c.id, true);
        }
        break;
      case "ArrowLeft":
        if (open === "true" && expanded.has(n.id)) toggle(n.id, false);
        else if (n.parent) select(n.parent, true);
        break;
      default: return false;
    }
    return true;
  }

  const SHORT = {k: "keep", x: "remove", u: "clear", n: "note", e: "rename", F2: "rename", a: "add", m: "move", s: "suggest"};
  document.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey || isTyping(e.target)) return;
    const help = $("#help");
    if (e.key === "?") { e.preventDefault(); if (help.open) help.close(); else help.showModal(); return; }
    if (help.open) return;
    if (e.key === "/") { e.preventDefault(); filterEl.focus(); filterEl.select(); return; }
    const inTree = tree.contains(e.target) && e.target.getAttribute("role") === "treeitem";
    const n = selected ? byId.get(selected) : null;
    if (inTree && n && treeKey(e, n)) { e.preventDefault(); return; }
    if (e.target instanceof HTMLButtonElement && (e.key === "Enter" || e.key === " ")) return;
    if (SHORT[e.key] && n && (inTree || e.target === document.body)) { e.preventDefault(); act(SHORT[e.key], n); }
  });

  // ---- page controls -------------------------------------------------------------------------
  reviewerEl.value = localStorage.getItem(NAME_KEY) || "";
  const markName = () => document.body.classList.toggle("no-name", !me());
  markName();
  reviewerEl.addEventListener("input", markName);
  reviewerEl.addEventListener("change", () => {
    localStorage.setItem(NAME_KEY, me());
    renderTree();  // "my vote" and "(you)" depend on the name
  });
  reviewerEl.addEventListener("keydown", (e) => { if (e.key === "Enter") { reviewerEl.blur(); select(selected, true); } });

  let filterTimer = 0;
  filterEl.addEventListener("input", () => {
    clearTimeout(filterTimer);
    filterTimer = setTimeout(() => { needle = filterEl.value.trim().toLowerCase(); updateView(); }, 120);
  });
  filterEl.addEventListener("keydown", (e) => {
    if (e.key === "Escape") { filterEl.value = ""; needle = ""; updateView(); select(selected, true); }
    else if (e.key === "Enter" || e.key === "ArrowDown") { e.preventDefault(); select(selected, true); }
  });
  for (const b of document.querySelectorAll("[data-quick]")) {
    b.addEventListener("click", () => {
      quick = b.dataset.quick;
      for (const o of document.querySelectorAll("[data-quick]")) o.setAttribute("aria-pressed", String(o === b));
      updateView();
    });
  }
  $("#expand-all").addEventListener("click", () => {
    if (state) for (const n of state.nodes) if ((kids.get(n.id) || []).length) expanded.add(n.id);
    updateView();
  });
  $("#collapse-all").addEventListener("click", () => { expanded.clear(); updateView(); });
  $("#add-field").addEventListener("click", () => addChild(null));
  $("#suggest-fields").addEventListener("click", () => suggest(null));
  $("#help-open").addEventListener("click", () => $("#help").showModal());
  $("#help-close").addEventListener("click", () => $("#help").close());
  ruleEl.addEventListener("change", async () => {
    $("#rule-desc").textContent = (state && state.rules[ruleEl.value]) || "";
    const res = await op({op: "rule", rule: ruleEl.value});
    if (!res && state) { ruleEl.value = state.rule; $("#rule-desc").textContent = state.rules[state.rule] || ""; }
    else if (res) say("Decision rule: " + ruleEl.value.replace("_", " ") + ".");
  });
  genBtn.addEventListener("click", async () => {
    if (needName()) return;
    genBtn.disabled = true;
    const res = await post("/api/generate", {});
    if (res && res.nodes) { apply(res, false); say("Generation started."); }
    else if (state) { panelSig = ""; renderPanel(); }
  });
  stopBtn.addEventListener("click", async () => {
    if (needName()) return;
    const res = await post("/api/stop", {});
    if (res && res.nodes) { apply(res, false); say("Stop requested."); }
  });

  poll();
})();
