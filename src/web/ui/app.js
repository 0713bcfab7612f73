// pushgate web UI: a small client of the JSON API, no dependencies. The server sends the page
// with the first page of groups (and the status page) filled in; this script lists pages of
// groups in place of the server's.
//
// Everything shown comes from pushed data, which is untrusted: the DOM is built with
// createElement and textContent only, never from HTML strings, so no pushed text is parsed as markup.
// Every URL is relative to the page, so the UI works under any route prefix.
"use strict";

(function () {
  const FAMILY_SERIES_SHOWN = 100;
  const PUSH_TIME = "push_time_seconds";
  const FAILURE_TIME = "push_failure_time_seconds";

  const $ = (id) => document.getElementById(id);

  // el("span", {class: "x", title: "y"}, child, "text", ...): text children become text nodes.
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children) {
      if (c === undefined || c === null || c === false) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }

  function setState(s) {
    document.body.dataset.state = s;
  }

  function showMessage(text, kind) {
    const m = $("message");
    m.hidden = !text;
    m.className = "message " + (kind || "info");
    m.textContent = text || "";
  }

  async function getJSON(url, signal) {
    const resp = await fetch(url, { signal, headers: { Accept: "application/json" } });
    if (!resp.ok) throw new Error(url + ": " + resp.status + " " + (await resp.text()).trim());
    return resp.json();
  }

  // ---- formatting -------------------------------------------------------------------------

  function ago(seconds) {
    const s = Math.max(0, Math.round(seconds));
    if (s < 60) return s + "s ago";
    if (s < 3600) return Math.floor(s / 60) + "m ago";
    if (s < 86400) return Math.floor(s / 3600) + "h " + Math.floor((s % 3600) / 60) + "m ago";
    return Math.floor(s / 86400) + "d " + Math.floor((s % 86400) / 3600) + "h ago";
  }

  function until(seconds) {
    const s = Math.max(0, Math.round(seconds));
    if (s < 60) return "expires in " + s + "s";
    if (s < 3600) return "expires in " + Math.floor(s / 60) + "m";
    if (s < 86400) return "expires in " + Math.floor(s / 3600) + "h " + Math.floor((s % 3600) / 60) + "m";
    return "expires in " + Math.floor(s / 86400) + "d " + Math.floor((s % 86400) / 3600) + "h";
  }

  function timeNode(unix, cls) {
    if (!unix) return el("span", { class: "muted " + (cls || "") }, "never");
    const d = new Date(unix * 1000);
    return el("time", { class: cls, datetime: d.toISOString(), title: d.toString() },
      ago(Date.now() / 1000 - unix));
  }

  function labelChips(labels, keyNames) {
    const rank = (n) => (n === "job" ? "" : n); // job first, then by name
    const names = Object.keys(labels).sort((a, b) => (rank(a) < rank(b) ? -1 : rank(a) > rank(b) ? 1 : 0));
    const wrap = el("span", { class: "labels" });
    for (const n of names) {
      if (keyNames && keyNames.has(n)) continue;
      if (keyNames && n === "instance" && labels[n] === "") continue;
      wrap.append(el("span", { class: "label" + (n === "job" ? " job" : "") },
        el("span", { class: "ln" }, n), "=", el("span", { class: "lv" }, JSON.stringify(labels[n]))));
    }
    return wrap;
  }

  // base64url of the UTF-8 bytes, for `name@base64/value` push URLs; "=" stands for "".
  function b64url(s) {
    if (s === "") return "=";
    let bin = "";
    for (const b of new TextEncoder().encode(s)) bin += String.fromCharCode(b);
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function pushURL(labels) {
    let url = "metrics/job@base64/" + b64url(labels.job || "");
    for (const n of Object.keys(labels).sort()) {
      if (n !== "job") url += "/" + encodeURIComponent(n) + "@base64/" + b64url(labels[n]);
    }
    return url;
  }

  // A bucket bound or quantile as a number ("+Inf" included) for sorting.
  function bound(s) {
    return s === "+Inf" ? Infinity : s === "-Inf" ? -Infinity : Number(s);
  }

  function firstValue(family) {
    const m = family && Array.isArray(family.metrics) && family.metrics[0];
    return m ? Number(m.value) : 0;
  }

  // ---- groups page ------------------------------------------------------------------------

  const view = {
    filter: "", failed: false, stale: false, staleAfter: 3600, size: 50, page: 0,
    admin: false, controller: null, groups: [], now: 0,
  };

  function readHash() {
    const p = new URLSearchParams(location.hash.slice(1));
    view.filter = p.get("filter") || "";
    view.failed = p.get("failed") === "1";
    view.stale = p.get("stale") === "1";
    const after = parseInt(p.get("after") || "", 10);
    if (after > 0) view.staleAfter = after;
    const size = parseInt(p.get("size") || "", 10);
    if ([20, 50, 100, 250].includes(size)) view.size = size;
    view.page = Math.max(0, parseInt(p.get("page") || "1", 10) - 1) || 0;
    $("filter").value = view.filter;
    $("only-failed").checked = view.failed;
    $("only-stale").checked = view.stale;
    $("stale-after").value = String(view.staleAfter);
    $("page-size").value = String(view.size);
  }

  function writeHash() {
    const p = new URLSearchParams();
    if (view.filter) p.set("filter", view.filter);
    if (view.failed) p.set("failed", "1");
    if (view.stale) p.set("stale", "1");
    if (view.staleAfter !== 3600) p.set("after", String(view.staleAfter));
    if (view.size !== 50) p.set("size", String(view.size));
    if (view.page) p.set("page", String(view.page + 1));
    const h = p.toString();
    history.replaceState(null, "", h ? "#" + h : location.pathname + location.search);
  }

  async function loadGroups() {
    writeHash();
    if (view.controller) view.controller.abort();
    const controller = (view.controller = new AbortController());
    const q = new URLSearchParams({ offset: String(view.page * view.size), limit: String(view.size) });
    if (view.filter.trim()) q.set("filter", view.filter.trim());
    if (view.failed) q.set("failed", "1");
    if (view.stale) q.set("stale", String(view.staleAfter));
    setState("loading");
    try {
      const res = await getJSON("api/v1/metrics?" + q.toString(), controller.signal);
      if (controller !== view.controller) return;
      const page = res.page || { offset: 0, limit: res.data.length, matched: res.data.length, total: res.data.length };
      if (res.data.length === 0 && page.matched > 0 && view.page > 0) {
        // The page emptied (groups were deleted meanwhile): go to the last one that has groups.
        view.page = Math.max(0, Math.ceil(page.matched / view.size) - 1);
        return loadGroups();
      }
      view.now = Date.now() / 1000;
      renderGroups(res.data, page);
      setState("ready");
    } catch (e) {
      if (e.name === "AbortError") return;
      showMessage("Could not load groups: " + e.message, "error");
      setState("error");
    }
  }

  function renderPager(node, page) {
    node.replaceChildren();
    const pages = Math.max(1, Math.ceil(page.matched / view.size));
    const first = page.matched ? page.offset + 1 : 0;
    const last = Math.min(page.offset + view.size, page.matched);
    const go = (p) => () => { view.page = p; loadGroups(); };
    node.append(
      el("button", { type: "button", class: "prev", disabled: view.page === 0, onclick: go(view.page - 1) }, "‹ Prev"),
      el("span", { class: "range" }, first + "–" + last + " of " + page.matched.toLocaleString() +
        (page.matched !== page.total ? " matching (" + page.total.toLocaleString() + " in all)" : " groups") +
        " · page " + (view.page + 1) + " of " + pages),
      el("button", { type: "button", class: "next", disabled: view.page + 1 >= pages, onclick: go(view.page + 1) }, "Next ›"),
    );
  }

  function renderGroups(groups, page) {
    $("summary").textContent = page.total.toLocaleString() + (page.total === 1 ? " group" : " groups");
    renderPager($("pager-top"), page);
    renderPager($("pager-bottom"), page);
    const list = $("groups");
    list.replaceChildren(...groups.map(groupNode));
    // The server's list comes without the controls: they work on this one.
    $("toolbar").hidden = false;
    const empty = $("empty");
    empty.hidden = groups.length > 0;
    empty.textContent = page.total === 0 ? "No groups yet. Push some metrics to see them here."
      : "No group matches this filter.";
  }

  function groupLabels(g) {
    if (g.labels && typeof g.labels === "object" && !Array.isArray(g.labels) && !("metrics" in g.labels)) {
      return g.labels;
    }
    // A family named "labels" took the key's place (as upstream's JSON does): rebuild it from
    // the timestamp gauge, which carries the key's labels.
    const m = g[PUSH_TIME] && g[PUSH_TIME].metrics && g[PUSH_TIME].metrics[0];
    const labels = Object.assign({}, (m && m.labels) || {});
    if (labels.instance === "") delete labels.instance;
    return labels;
  }

  function familyNames(g) {
    return Object.keys(g).filter((k) => g[k] && typeof g[k] === "object" && Array.isArray(g[k].metrics));
  }

  function groupNode(g) {
    const labels = groupLabels(g);
    const pushed = firstValue(g[PUSH_TIME]);
    const failedAt = firstValue(g[FAILURE_TIME]);
    const failed = g.last_push_successful === false;
    const stale = !pushed || view.now - pushed > view.staleAfter;
    const names = familyNames(g).filter((n) => n !== PUSH_TIME && n !== FAILURE_TIME);
    const series = names.reduce((n, f) => n + g[f].metrics.length, 0);

    const body = el("div", { class: "group-body", hidden: true });
    const toggle = el("button", { type: "button", class: "toggle", "aria-expanded": "false", title: "Show metrics" });
    const item = el("li", { class: "group" + (failed ? " failed" : "") + (stale ? " stale" : "") });
    const setOpen = (open) => {
      if (open && !body.firstChild) renderGroupBody(body, g, labels);
      body.hidden = !open;
      toggle.setAttribute("aria-expanded", String(open));
      item.classList.toggle("open", open);
    };
    toggle.addEventListener("click", () => setOpen(body.hidden));
    item.setOpen = setOpen;

    // `expires_at` is there only for a group with a time to live (--push.group-ttl, X-Pushgate-TTL).
    const expires = typeof g.expires_at === "string" ? Date.parse(g.expires_at) / 1000 : 0;
    const badges = el("span", { class: "badges" },
      failed ? el("span", { class: "badge bad", title: "The last push to this group was rejected" }, "last push failed") : null,
      stale ? el("span", { class: "badge warn", title: "No successful push for longer than the stale threshold" }, "stale") : null,
      expires ? el("span", { class: "badge expires", title: "Deleted then unless pushed again: " + new Date(expires * 1000).toString() },
        until(expires - Date.now() / 1000)) : null);

    const del = el("span", { class: "actions" });
    const askDelete = () => {
      del.replaceChildren(
        el("span", { class: "question" }, "Delete this group?"),
        el("button", { type: "button", class: "danger solid confirm-delete", onclick: () => deleteGroup(labels, del) }, "Delete"),
        el("button", { type: "button", onclick: resetDelete }, "Cancel"));
    };
    const resetDelete = () => del.replaceChildren(
      el("button", { type: "button", class: "danger delete", title: "DELETE " + pushURL(labels), onclick: askDelete }, "Delete"));
    resetDelete();

    item.append(
      el("div", { class: "group-head" },
        toggle,
        el("span", { class: "group-main", onclick: (e) => { if (!e.target.closest("button")) setOpen(body.hidden); } },
          labelChips(labels), badges),
        el("span", { class: "times" },
          el("span", {}, "pushed ", timeNode(pushed)),
          failedAt ? el("span", { class: "failure" }, "failed ", timeNode(failedAt, "bad")) : null),
        el("span", { class: "counts" }, names.length + (names.length === 1 ? " family · " : " families · ") +
          series + " series"),
        del),
      body);
    return item;
  }

  function renderGroupBody(body, g, labels) {
    const keyNames = new Set(Object.keys(labels));
    const names = familyNames(g).sort((a, b) => {
      const ta = a === PUSH_TIME || a === FAILURE_TIME, tb = b === PUSH_TIME || b === FAILURE_TIME;
      return ta !== tb ? (ta ? 1 : -1) : a < b ? -1 : a > b ? 1 : 0;
    });
    for (const name of names) body.append(familyNode(name, g[name], keyNames));
  }

  function familyNode(name, fam, keyNames) {
    const type = String(fam.type || "UNTYPED").toLowerCase();
    const ts = Date.parse(fam.time_stamp);
    const timestamps = name === PUSH_TIME || name === FAILURE_TIME;
    const rows = el("tbody");
    const addRows = (from, to) => {
      for (const m of fam.metrics.slice(from, to)) rows.append(seriesRow(m, keyNames, timestamps));
    };
    addRows(0, FAMILY_SERIES_SHOWN);
    const more = fam.metrics.length > FAMILY_SERIES_SHOWN
      ? el("button", {
        type: "button", class: "more",
        onclick: (e) => { addRows(FAMILY_SERIES_SHOWN, fam.metrics.length); e.target.remove(); },
      }, "Show " + (fam.metrics.length - FAMILY_SERIES_SHOWN) + " more series")
      : null;
    return el("div", { class: "family" + (timestamps ? " builtin" : "") },
      el("div", { class: "family-head" },
        el("span", { class: "fname" }, name),
        el("span", { class: "type t-" + type }, type),
        fam.help ? el("span", { class: "help" }, fam.help) : null,
        isNaN(ts) ? null : el("span", { class: "ftime" }, "set ", timeNode(ts / 1000))),
      el("table", { class: "series" }, rows),
      more);
  }

  // unixTime: the value is a Unix time (the timestamp gauges), shown as a date as well.
  function seriesRow(m, keyNames, unixTime) {
    const own = labelChips(m.labels || {}, keyNames);
    if (!own.firstChild) own.append(el("span", { class: "muted" }, "(group labels only)"));
    let value;
    if ("value" in m && unixTime) {
      const v = Number(m.value);
      value = el("span", {}, v ? timeNode(v, "when") : null, " ", el("span", { class: "num" }, m.value));
    } else if ("value" in m) {
      value = el("span", { class: "num" }, m.value);
    } else {
      const parts = [];
      if (Array.isArray(m.buckets)) {
        // A native histogram's buckets: [boundaries, lower, upper, count], where boundaries
        // says which ends the bucket holds (0 the upper, 1 the lower, 2 neither, 3 both).
        parts.push(el("span", { class: "dist" }, ...m.buckets.map(([ends, lo, hi, n]) =>
          el("span", { class: "q" },
            el("span", { class: "k" }, (ends & 1 ? "[" : "(") + lo + "," + hi + (ends % 3 === 0 ? "]" : ")")),
            " ", n))));
      } else if (m.buckets) {
        parts.push(el("span", { class: "dist" }, ...Object.entries(m.buckets)
          .sort((a, b) => bound(a[0]) - bound(b[0]))
          .map(([le, n]) => el("span", { class: "q" }, el("span", { class: "k" }, "≤" + le), " ", n))));
      }
      if (m.quantiles) {
        parts.push(el("span", { class: "dist" }, ...Object.entries(m.quantiles)
          .sort((a, b) => bound(a[0]) - bound(b[0]))
          .map(([q, v]) => el("span", { class: "q" }, el("span", { class: "k" }, "q" + q), " ", v))));
      }
      value = el("span", {},
        el("span", { class: "num" }, "count ", m.count, " · sum ", m.sum), ...parts);
    }
    return el("tr", {}, el("td", { class: "slabels" }, own), el("td", { class: "value" }, value));
  }

  async function deleteGroup(labels, box) {
    box.replaceChildren(el("span", { class: "muted" }, "deleting…"));
    try {
      const resp = await fetch(pushURL(labels), { method: "DELETE" });
      if (resp.status !== 202) throw new Error(resp.status + " " + (await resp.text()).trim());
      showMessage("Deleted group " + JSON.stringify(labels) + ".", "ok");
    } catch (e) {
      showMessage("Could not delete the group: " + e.message, "error");
    }
    loadGroups();
  }

  async function wipe() {
    $("wipe-confirm").hidden = true;
    $("wipe").hidden = false;
    try {
      const resp = await fetch("api/v1/admin/wipe", { method: "PUT" });
      if (resp.status !== 202) throw new Error(resp.status + " " + (await resp.text()).trim());
      showMessage("Wiped all groups.", "ok");
    } catch (e) {
      showMessage("Could not wipe: " + e.message, "error");
    }
    view.page = 0;
    loadGroups();
  }

  function startGroups() {
    readHash();
    let timer = 0;
    $("filter").addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(() => { view.filter = $("filter").value; view.page = 0; loadGroups(); }, 250);
    });
    $("only-failed").addEventListener("change", (e) => { view.failed = e.target.checked; view.page = 0; loadGroups(); });
    $("only-stale").addEventListener("change", (e) => { view.stale = e.target.checked; view.page = 0; loadGroups(); });
    $("stale-after").addEventListener("change", (e) => { view.staleAfter = Number(e.target.value); loadGroups(); });
    $("page-size").addEventListener("change", (e) => { view.size = Number(e.target.value); view.page = 0; loadGroups(); });
    $("refresh").addEventListener("click", () => { showMessage(""); loadGroups(); });
    $("expand-all").addEventListener("click", () => { for (const li of $("groups").children) li.setOpen(true); });
    $("collapse-all").addEventListener("click", () => { for (const li of $("groups").children) li.setOpen(false); });
    $("wipe").addEventListener("click", () => {
      $("wipe-question").textContent = "Delete every group (" + $("summary").textContent + ")?";
      $("wipe").hidden = true;
      $("wipe-confirm").hidden = false;
    });
    $("wipe-no").addEventListener("click", () => { $("wipe-confirm").hidden = true; $("wipe").hidden = false; });
    $("wipe-yes").addEventListener("click", wipe);
    // Whether the admin API (and so wipe) is enabled is told by the flags.
    getJSON("api/v1/status").then((s) => {
      $("wipe-box").hidden = !(s.data && s.data.flags && s.data.flags["web.enable-admin-api"] === "true");
    }).catch(() => {});
    loadGroups();
  }

  function start() {
    // The status page comes whole from the server.
    if (/\/status$/.test(location.pathname)) setState("ready");
    else startGroups();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
