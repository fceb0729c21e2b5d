// The job page's log viewer: grouped by step and attempt, windowed (the DOM holds only
// the rows in view, whatever the log's size), live tail that jumps ahead when it falls
// behind, line numbers with permalinks (#L<seq>), timestamps on demand, search in what
// is loaded and on the server. Data comes from /jobs/<id>/log.json (jobs/views/job_log.py);
// messages arrive as HTML already escaped by the server's `ansi` filter.
(function () {
  "use strict";
  const ROW = 20; // px: every row has this height (.lv-row in jobsite.css)
  const OVERSCAN = 20; // rows drawn above and below the visible ones
  const GROUP_KEEP = 20000; // lines a step keeps in memory; older ones become a gap
  const POLL_MS = 1000;
  const LIVE_LINES = 1000; // lines a live answer carries at most (further behind: a jump)
  const SLICE = 250; // lines handled per task; the page yields between slices
  const OPEN_STATUSES = ["running", "failed", "lost", "canceled", "retrying"];

  const escapeHtml = (text) => String(text).replace(/[&<>"']/g, (c) => (
    { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  const ENTITIES = { "&amp;": "&", "&lt;": "<", "&gt;": ">", "&quot;": '"', "&#x27;": "'", "&#39;": "'" };
  const plain = (html) => html.replace(/<[^>]*>/g, "").replace(/&(amp|lt|gt|quot|#x27|#39);/g, (e) => ENTITIES[e]);

  function formatDuration(ms) {
    if (ms === null || ms === undefined) return "";
    if (ms < 1000) return ms + " ms";
    const seconds = ms / 1000;
    if (seconds < 60) return seconds.toFixed(1) + " s";
    const minutes = Math.floor(seconds / 60);
    return minutes + " min " + String(Math.floor(seconds % 60)).padStart(2, "0") + " s";
  }

  function formatTime(ms) {
    const d = new Date(ms);
    const pad = (n, w) => String(n).padStart(w || 2, "0");
    return pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds()) + "." + pad(d.getMilliseconds(), 3);
  }

  // A line is [seq, ts_ms, level, step, attempt, html]; a gap is {gap, after, before}.
  const SEQ = 0, TS = 1, LEVEL = 2, STEP = 3, ATTEMPT = 4, HTML = 5, TEXT = 6;
  const lineText = (line) => line[TEXT] === undefined ? (line[TEXT] = plain(line[HTML]).toLowerCase()) : line[TEXT];

  class JobLog {
    constructor(root) {
      this.root = root;
      this.url = root.dataset.url;
      this.filters = root.dataset.filters || "";
      this.box = root.querySelector(".lv-box");
      this.spacer = root.querySelector(".lv-spacer");
      this.window = root.querySelector(".lv-window");
      this.notice = root.querySelector(".lv-notice");
      this.followButton = root.querySelector(".lv-follow");
      this.searchInput = root.querySelector(".lv-search");
      this.searchStatus = root.querySelector(".lv-search-status");
      this.results = root.querySelector(".lv-results");
      this.groups = new Map(); // key "step#attempt" → group
      this.steps = [];
      this.after = Number(root.dataset.after || 0);
      this.lastSeq = this.after;
      this.live = root.dataset.live === "yes";
      this.following = this.live;
      this.toggled = new Map();
      this.highlight = null;
      this.term = "";
      this.hits = [];
      this.hitIndex = -1;
      this.drawn = "";
      this.total = 0;
      this.lost = false;
      this.bind();
    }

    // --- data ----------------------------------------------------------------------
    async fetchJSON(params) {
      const response = await fetch(this.url + "?" + params + this.filters, {
        headers: { Accept: "application/json" }, credentials: "same-origin",
      });
      if (!response.ok) throw new Error("HTTP " + response.status);
      return response.json();
    }

    groupFor(step, attempt) {
      const key = step + "#" + attempt;
      let group = this.groups.get(key);
      if (!group) {
        group = { key, step, attempt, lines: [], info: null, top: 0, rows: 0, count: 0 };
        this.groups.set(key, group);
      }
      return group;
    }

    setSteps(steps) {
      this.steps = steps;
      for (const step of steps) {
        if (!step.attempts.length) {
          // step is the API's step (jobs/representation.py): a succeeded step shows no error row.
          const error = step.status === "succeeded" ? "" : step.error || "";
          this.groupFor(step.id, 0).info = { status: step.reused ? "reused" : step.status, attempt: 0, max: step.max_attempts, duration_ms: step.duration_ms, error };
        }
        for (const run of step.attempts) {
          this.groupFor(step.id, run.attempt).info = {
            status: run.status, attempt: run.attempt, max: step.max_attempts, duration_ms: run.duration_ms, error: run.error,
          };
        }
      }
      // An attempt that started after the first one makes the "#0" placeholder stale.
      for (const step of steps) {
        if (step.attempts.length && this.groups.has(step.id + "#0") && !this.groups.get(step.id + "#0").lines.length) {
          this.groups.delete(step.id + "#0");
        }
      }
      this.order();
    }

    order() {
      const position = new Map(this.steps.map((s, i) => [s.id, i]));
      const sorted = [...this.groups.values()].sort((a, b) =>
        ((position.get(a.step) ?? -1) - (position.get(b.step) ?? -1)) || (a.attempt - b.attempt));
      this.groups = new Map(sorted.map((g) => [g.key, g]));
    }

    // Append lines newer than everything held (the live tail): a push per line.
    append(lines) {
      for (const line of lines) {
        const group = this.groupFor(line[STEP], line[ATTEMPT]);
        group.lines.push(line);
        group.count++;
        if (this.term && lineText(line).includes(this.term)) this.hits.push(line);
        if (group.lines.length > GROUP_KEEP + 2000) this.trim(group);
      }
    }

    trim(group) {
      const drop = group.lines.length - GROUP_KEEP;
      const removed = group.lines.splice(0, drop);
      group.count -= removed.filter((l) => !l.gap).length;
      const lastRemoved = removed.filter((l) => !l.gap).pop();
      if (group.lines[0] && group.lines[0].gap) group.lines[0].before = Math.max(group.lines[0].before, lastRemoved ? lastRemoved[SEQ] + 1 : 0);
      else group.lines.unshift({ gap: true, after: 0, before: lastRemoved ? lastRemoved[SEQ] + 1 : this.firstSeq(group) });
      if (!this.following && this.isOpen(group) && group.top * ROW < this.box.scrollTop) {
        this.box.scrollTop -= (drop - 1) * ROW;
      }
    }

    firstSeq(group) {
      const line = group.lines.find((l) => !l.gap);
      return line ? line[SEQ] : this.lastSeq + 1;
    }

    // Merge lines from anywhere in the log (a permalink, a search hit, a filled gap).
    merge(lines, gap) {
      const byGroup = new Map();
      for (const line of lines) {
        const group = this.groupFor(line[STEP], line[ATTEMPT]);
        if (!byGroup.has(group)) byGroup.set(group, []);
        byGroup.get(group).push(line);
      }
      for (const [group, fresh] of byGroup) {
        const seen = new Set(group.lines.filter((l) => !l.gap).map((l) => l[SEQ]));
        const all = group.lines.concat(fresh.filter((l) => !seen.has(l[SEQ])));
        all.sort((a, b) => (a.gap ? a.before - 0.5 : a[SEQ]) - (b.gap ? b.before - 0.5 : b[SEQ]));
        group.lines = all;
        group.count = all.filter((l) => !l.gap).length;
      }
      if (gap) this.order();
    }

    // --- the live tail -------------------------------------------------------------
    async start() {
      const hash = /^#L(\d+)$/.exec(location.hash);
      try {
        const data = await this.fetchJSON("tail=" + LIVE_LINES);
        this.setSteps(data.steps);
        for (let start = 0; start < data.lines.length; start += SLICE) {
          if (start > 0) await new Promise((resolve) => setTimeout(resolve, 0));
          this.append(data.lines.slice(start, start + SLICE));
        }
        if (data.more) this.markEarlier(data.lines);
        this.after = data.next_after;
        this.lastSeq = data.last_seq;
        this.connected();
        this.root.classList.add("lv-ready");
        this.refresh();
        if (hash) await this.goTo(Number(hash[1]));
        else if (this.following || data.terminal) this.toBottom();
        if (!data.terminal || this.after < data.last_seq) this.schedule();
      } catch (error) {
        this.disconnected();
        setTimeout(() => this.start(), 2000);
      }
    }

    markEarlier(lines) {
      // Earlier lines exist: every group that started gets a gap before its first line.
      for (const group of this.groups.values()) {
        if (!group.info || group.info.status === "pending" || group.info.status === "reused") continue;
        const first = this.firstSeq(group);
        if (!group.lines.length || !lines.length || first >= lines[0][SEQ]) group.lines.unshift({ gap: true, after: 0, before: first });
      }
    }

    schedule() {
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.poll(), POLL_MS);
    }

    async poll() {
      let data;
      try {
        data = await this.fetchJSON("after=" + this.after + "&limit=" + LIVE_LINES);
      } catch (error) {
        this.disconnected();
        this.schedule();
        return;
      }
      const began = performance.now();
      this.connected();
      this.setSteps(data.steps);
      if (data.skipped > 0) {
        for (const group of this.groups.values()) {
          if (group.lines.length) group.lines.push({ gap: true, after: this.after, before: data.lines.length ? data.lines[0][SEQ] : data.next_after + 1 });
        }
        this.skipped = (this.skipped || 0) + data.skipped;
        this.say(`Jumped to the newest lines: about ${this.skipped.toLocaleString()} lines skipped so far. ` +
          "Open a gap to load them, search the whole log, or download it.");
      }
      // In slices, each its own task: a burst of lines never holds the main thread.
      let slowest = performance.now() - began;
      for (let start = 0; start < data.lines.length; start += SLICE) {
        if (start > 0) {
          await new Promise((resolve) => setTimeout(resolve, 0));
        }
        const sliceBegan = performance.now();
        this.append(data.lines.slice(start, start + SLICE));
        slowest = Math.max(slowest, performance.now() - sliceBegan);
      }
      this.after = data.next_after;
      this.lastSeq = data.last_seq;
      const drawBegan = performance.now();
      this.refresh();
      if (this.following) this.toBottom();
      slowest = Math.max(slowest, performance.now() - drawBegan);
      this.slowestPollMs = Math.max(this.slowestPollMs || 0, slowest);
      document.dispatchEvent(new CustomEvent("joblog:tail", { detail: { after: this.after, terminal: data.terminal } }));
      if (!data.terminal || this.after < data.last_seq) this.schedule();
      else this.live = false;
    }

    connected() {
      if (this.lost) { this.lost = false; document.dispatchEvent(new CustomEvent("jobsite:online")); }
    }

    disconnected() {
      this.lost = true;
      document.dispatchEvent(new CustomEvent("jobsite:offline"));
    }

    say(text) {
      this.notice.textContent = text;
      this.notice.hidden = !text;
    }

    // --- layout and drawing --------------------------------------------------------
    isOpen(group) {
      if (this.toggled.has(group.key)) return this.toggled.get(group.key);
      const status = group.info ? group.info.status : "";
      if (OPEN_STATUSES.includes(status)) return true;
      // Nothing running or failed: the last group that has lines is open.
      const open = [...this.groups.values()].some((g) => g.info && OPEN_STATUSES.includes(g.info.status) && !this.toggled.has(g.key));
      if (open) return false;
      const withLines = [...this.groups.values()].filter((g) => g.lines.length);
      return withLines.length ? withLines[withLines.length - 1] === group : false;
    }

    layout() {
      let top = 0;
      for (const group of this.groups.values()) {
        group.top = top;
        group.open = this.isOpen(group);
        group.errorRow = !!(group.info && group.info.error);
        group.rows = 1 + (group.errorRow ? 1 : 0) + (group.open ? Math.max(group.lines.length, 1) : 0);
        top += group.rows;
      }
      this.total = top;
      this.spacer.style.height = this.total * ROW + "px";
      // A finished job's short log gets a box its size, not an empty fixed-height one.
      this.box.classList.toggle("lv-fit", !this.live);
      this.box.style.setProperty("--lv-rows", String(this.total));
    }

    rowAt(index) {
      for (const group of this.groups.values()) {
        if (index < group.top + group.rows) {
          let offset = index - group.top;
          if (offset === 0) return { group, kind: "head" };
          offset -= 1;
          if (group.errorRow) {
            if (offset === 0) return { group, kind: "error" };
            offset -= 1;
          }
          if (!group.lines.length) return { group, kind: "empty" };
          return { group, kind: "line", line: group.lines[offset], offset };
        }
      }
      return null;
    }

    refresh() {
      this.layout();
      this.drawn = "";
      this.draw();
    }

    draw() {
      const top = this.box.scrollTop;
      const height = this.box.clientHeight || 400;
      const first = Math.max(0, Math.floor(top / ROW) - OVERSCAN);
      const last = Math.min(this.total, Math.ceil((top + height) / ROW) + OVERSCAN);
      const signature = first + ":" + last;
      if (signature === this.drawn) return;
      this.drawn = signature;
      const parts = [];
      for (let i = first; i < last; i++) parts.push(this.rowHtml(this.rowAt(i)));
      const focused = document.activeElement && this.window.contains(document.activeElement) ? document.activeElement.dataset.key : null;
      this.window.style.transform = "translateY(" + first * ROW + "px)";
      this.window.innerHTML = parts.join("");
      if (focused) {
        const again = this.window.querySelector('[data-key="' + CSS.escape(focused) + '"]');
        if (again) again.focus();
      }
    }

    rowHtml(row) {
      if (!row) return "";
      const group = row.group;
      if (row.kind === "head") {
        const info = group.info || { status: "", attempt: group.attempt, max: 1 };
        const name = group.step ? escapeHtml(group.step) : "Job";
        const attempt = info.max > 1 || info.attempt > 1 ? `<span class="lv-attempt">attempt ${info.attempt}${info.max > 1 ? " of " + info.max : ""}</span>` : "";
        const status = info.status ? `<span class="badge status-${escapeHtml(info.status)}">${escapeHtml(info.status)}</span>` : "";
        const count = group.count;
        return `<div class="lv-row lv-head"><button type="button" class="lv-toggle" data-key="${escapeHtml(group.key)}" aria-expanded="${group.open}">` +
          `<span class="lv-caret" aria-hidden="true">${group.open ? "▾" : "▸"}</span>${status}<code>${name}</code>${attempt}` +
          `<span class="lv-dur">${formatDuration(info.duration_ms)}</span><span class="lv-count">${count.toLocaleString()} line${count === 1 ? "" : "s"} loaded</span></button></div>`;
      }
      if (row.kind === "error") return `<div class="lv-row lv-error" title="${escapeHtml(group.info.error)}">${escapeHtml(group.info.error)}</div>`;
      if (row.kind === "empty") return `<div class="lv-row lv-empty">No lines${group.info && group.info.status === "reused" ? ": reused from the earlier run" : ""}.</div>`;
      const line = row.line;
      if (line.gap) {
        return `<div class="lv-row lv-gap"><button type="button" class="lv-load link" data-key="${escapeHtml(group.key)}" data-offset="${row.offset}">Load earlier lines${line.after ? " (skipped while following)" : ""}</button></div>`;
      }
      const seq = line[SEQ];
      let classes = "lv-row lv-line level-" + line[LEVEL].toLowerCase();
      if (seq === this.highlight) classes += " lv-target";
      if (this.term && lineText(line).includes(this.term)) classes += this.hits[this.hitIndex] === line ? " lv-hit lv-current" : " lv-hit";
      return `<div class="${classes}" data-seq="${seq}"><a class="lv-num" href="#L${seq}">${seq}</a><span class="lv-ts">${formatTime(line[TS])}</span>` +
        `<span class="lv-level">${line[LEVEL]}</span><span class="lv-msg">${line[HTML]}</span></div>`;
    }

    toBottom() {
      this.box.scrollTop = this.total * ROW;
      this.following = true;
      this.followButton.hidden = true;
      this.draw();
    }

    // --- navigation: permalinks, search --------------------------------------------
    find(seq) {
      for (const group of this.groups.values()) {
        const offset = group.lines.findIndex((l) => !l.gap && l[SEQ] === seq);
        if (offset >= 0) return { group, offset };
      }
      return null;
    }

    async goTo(seq) {
      let found = this.find(seq);
      if (!found) {
        try {
          const data = await this.fetchJSON("around=" + seq + "&limit=400");
          this.merge(data.lines, true);
        } catch (error) {
          this.disconnected();
          return;
        }
        found = this.find(seq);
        if (!found) { this.say(`Line ${seq} is not in this log (or not in these filters).`); return; }
      }
      this.toggled.set(found.group.key, true);
      this.highlight = seq;
      this.following = false;
      this.followButton.hidden = !this.live;
      this.layout();
      const index = found.group.top + 1 + (found.group.errorRow ? 1 : 0) + found.offset;
      this.box.scrollTop = Math.max(0, index * ROW - this.box.clientHeight / 3);
      this.drawn = "";
      this.draw();
    }

    // The loaded lines are searched in slices of a few thousand, yielding between them,
    // so a search over 100,000 lines never blocks the page for long.
    searchLoaded(term) {
      this.term = term.toLowerCase();
      this.hits = [];
      this.hitIndex = -1;
      const run = this.searchRun = {};
      const lines = [];
      if (this.term) for (const group of this.groups.values()) for (const line of group.lines) if (!line.gap) lines.push(line);
      let index = 0;
      const slice = () => {
        if (run !== this.searchRun) return;
        const end = Math.min(index + 4000, lines.length);
        for (; index < end; index++) if (lineText(lines[index]).includes(this.term)) this.hits.push(lines[index]);
        if (index < lines.length) { setTimeout(slice, 0); return; }
        this.searchStatus.textContent = this.term
          ? `${this.hits.length.toLocaleString()} match${this.hits.length === 1 ? "" : "es"} in the loaded lines`
          : "";
        this.drawn = "";
        this.draw();
        if (run.then) run.then();
      };
      slice();
      return new Promise((resolve) => { run.then = resolve; });
    }

    nextHit(step) {
      if (!this.hits.length) return;
      this.hitIndex = (this.hitIndex + step + this.hits.length) % this.hits.length;
      const line = this.hits[this.hitIndex];
      this.searchStatus.textContent = `${this.hitIndex + 1} of ${this.hits.length.toLocaleString()} in the loaded lines`;
      this.goTo(line[SEQ]);
    }

    async searchServer(term, after) {
      if (!term) return;
      this.results.hidden = false;
      if (!after) this.results.innerHTML = '<p class="muted">Searching the whole log…</p>';
      const started = performance.now();
      let data;
      try {
        data = await this.fetchJSON("q=" + encodeURIComponent(term) + (after ? "&after=" + after : ""));
      } catch (error) {
        this.disconnected();
        this.results.innerHTML = '<p class="muted">The search failed: the server could not be reached.</p>';
        return;
      }
      const ms = Math.round(performance.now() - started);
      const items = data.lines.map((line) =>
        `<li><button type="button" class="link lv-result" data-seq="${line[SEQ]}"><span class="lv-num">${line[SEQ]}</span>` +
        `${line[STEP] ? `<code>${escapeHtml(line[STEP])}</code> ` : ""}<span class="lv-msg">${line[HTML]}</span></button></li>`).join("");
      const where = data.more ? ` up to line ${data.searched_to.toLocaleString()}` : "";
      const further = data.more
        ? ` <button type="button" class="link lv-further" data-after="${data.searched_to}">Search further</button>` : "";
      const list = this.results.querySelector("ol");
      const found = (list ? list.children.length : 0) + data.lines.length;
      const head = `<p class="lv-results-head">${found} line${found === 1 ? "" : "s"} contain “${escapeHtml(term)}”` +
        `${where} (${ms} ms)${further}</p>`;
      if (after && list) {
        this.results.querySelector(".lv-results-head").outerHTML = head;
        list.insertAdjacentHTML("beforeend", items);
      } else {
        this.results.innerHTML = head + (items ? "<ol>" + items + "</ol>" : "");
      }
      this.searchedTerm = term;
      this.root.dispatchEvent(new CustomEvent("joblog:searched", { detail: { ms, count: data.lines.length } }));
    }

    async fillGap(group, offset) {
      const gap = group.lines[offset];
      const params = "before=" + gap.before + (gap.after ? "&after=" + gap.after : "") + "&step=" + encodeURIComponent(group.step) + "&limit=2000";
      let data;
      try { data = await this.fetchJSON(params); } catch (error) { this.disconnected(); return; }
      const fetched = data.lines;
      // The gap shrinks to what is still missing above the lines just loaded.
      if (data.more && fetched.length) gap.before = fetched[0][SEQ];
      else group.lines.splice(group.lines.indexOf(gap), 1);
      const keepTop = this.box.scrollTop;
      this.merge(fetched, false);
      this.layout();
      this.box.scrollTop = keepTop + (data.more ? 0 : -ROW) + fetched.filter((l) => l[ATTEMPT] === group.attempt).length * ROW;
      this.drawn = "";
      this.draw();
    }

    // --- events --------------------------------------------------------------------
    bind() {
      this.box.addEventListener("scroll", () => {
        const atBottom = this.box.scrollHeight - this.box.scrollTop - this.box.clientHeight < ROW * 1.5;
        if (this.following !== atBottom) {
          this.following = atBottom;
          this.followButton.hidden = atBottom || !this.live;
        }
        if (!this.frame) this.frame = requestAnimationFrame(() => { this.frame = 0; this.draw(); });
      }, { passive: true });
      this.followButton.addEventListener("click", () => this.toBottom());
      this.window.addEventListener("click", (event) => {
        const toggle = event.target.closest(".lv-toggle");
        if (toggle) {
          const group = this.groups.get(toggle.dataset.key);
          this.toggled.set(group.key, !group.open);
          this.refresh();
          return;
        }
        const load = event.target.closest(".lv-load");
        if (load) { this.fillGap(this.groups.get(load.dataset.key), Number(load.dataset.offset)); return; }
        const number = event.target.closest(".lv-num");
        if (number) {
          event.preventDefault();
          const seq = Number(number.closest(".lv-line").dataset.seq);
          history.replaceState(null, "", "#L" + seq);
          this.highlight = seq;
          this.drawn = "";
          this.draw();
        }
      });
      window.addEventListener("hashchange", () => {
        const hash = /^#L(\d+)$/.exec(location.hash);
        if (hash) this.goTo(Number(hash[1]));
      });
      const timestamps = this.root.querySelector(".lv-timestamps");
      timestamps.addEventListener("change", () => this.root.classList.toggle("lv-show-ts", timestamps.checked));
      let debounce = 0;
      this.searchInput.addEventListener("input", () => {
        clearTimeout(debounce);
        debounce = setTimeout(() => this.searchLoaded(this.searchInput.value.trim()), 150);
      });
      this.root.querySelector(".lv-search-form").addEventListener("submit", (event) => {
        event.preventDefault();
        const submitter = event.submitter;
        if (submitter && submitter.value === "server") this.searchServer(this.searchInput.value.trim());
        else {
          const step = submitter && submitter.value === "prev" ? -1 : 1;
          if (this.term !== this.searchInput.value.trim().toLowerCase()) this.searchLoaded(this.searchInput.value.trim()).then(() => this.nextHit(step));
          else this.nextHit(step);
        }
      });
      this.results.addEventListener("click", (event) => {
        const further = event.target.closest(".lv-further");
        if (further) { this.searchServer(this.searchedTerm, Number(further.dataset.after)); return; }
        const result = event.target.closest(".lv-result");
        if (result) {
          history.replaceState(null, "", "#L" + result.dataset.seq);
          this.goTo(Number(result.dataset.seq));
        }
      });
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    const root = document.getElementById("log-view");
    if (!root) return;
    const view = new JobLog(root);
    window.jobLog = view;
    // The summary poll tells the server which event the log shows, so the badge never
    // says "succeeded" above a log that has not caught up (jobs/views/job_detail.py).
    document.body.addEventListener("htmx:configRequest", (event) => {
      if (event.detail.elt && event.detail.elt.id === "job-poller") event.detail.parameters.shown = view.after;
    });
    view.start();
  });
})();
