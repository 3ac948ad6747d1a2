// The dashboard editor: a gridstack grid of the board's widgets, the catalogue to add
// widgets from (each new statistic checked against the upstream at the field, with its
// current value as a preview), templates, undo of the last change, and saving that
// shows a conflict with another editor instead of overwriting their work.
// gridstack (static/vendor/gridstack, see SOURCE.md) is loaded before this module as
// window.GridStack.

const MAX_LISTED = 50; // options shown per search; a real tenant has thousands of objects
const UNDO_DEPTH = 50;
const VALUES_EVERY_MS = 5000; // how often the grid's preview asks for current values

function csrfToken() {
  const input = document.querySelector("input[name=csrfmiddlewaretoken]");
  return input ? input.value : "";
}

async function postJson(url, body) {
  const reply = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", "x-csrftoken": csrfToken() },
    body: JSON.stringify(body),
    credentials: "same-origin",
  });
  let data = {};
  try { data = await reply.json(); } catch { data = {}; }
  return { status: reply.status, data };
}

function option(value, text) {
  const element = document.createElement("option");
  element.value = value;
  element.textContent = text;
  return element;
}

/** A value as the preview shows it: a number, or a short summary of a structure. */
export function previewText(value) {
  if (value === null || value === undefined) return "no value yet";
  if (typeof value === "number") return String(value);
  if (typeof value === "object" && typeof value.value === "number") return String(value.value);
  if (typeof value === "object" && typeof value.status === "number") return `agent status ${value.status}`;
  const text = JSON.stringify(value);
  return text.length > 60 ? text.slice(0, 57) + "..." : text;
}

class Editor {
  constructor(config) {
    this.config = config;
    this.board = structuredClone(config.board);
    this.catalogue = config.catalogue;
    this.undoStack = [];
    this.nextLocalId = 1;
    this.dirty = false;
    this.costAsked = 0;
    this.objectsAsked = 0;
    this.values = {}; // saved widget id → its current values as text
    this.editingKey = null; // the widget the form edits, or null when it adds one
    this.layout = "desk"; // the layout the grid shows: desk, or wall
  }

  start() {
    this.grid = window.GridStack.init({
      column: this.board.columns, cellHeight: 70, margin: 4, float: true, animate: false,
      // Desks only: below 1024 px the page says it needs a wider screen (editor.css).
      disableOneColumnMode: true, handle: ".editor-widget-title", resizable: { handles: "se,e,s" },
    }, "#grid");
    for (const widget of this.board.widgets) widget.key = this.localKey();
    this.render();
    this.grid.on("change", () => this.layoutChanged());
    this.grid.on("dragstart resizestart", () => { this.pending = this.snapshot(); });
    this.bindBar();
    this.bindForm();
    this.bindTemplates();
    this.refreshValues();
    window.setInterval(() => this.refreshValues(), VALUES_EVERY_MS);
    window.addEventListener("beforeunload", (event) => { if (this.dirty) event.preventDefault(); });
    document.getElementById("editor").dataset.ready = "true";
  }

  /** The live preview on the grid: saved widgets show their current values. */
  async refreshValues() {
    let reply;
    try {
      reply = await fetch(this.config.values_url, { credentials: "same-origin" });
      if (!reply.ok) return;
      this.values = (await reply.json()).values || {};
    } catch {
      return;
    }
    for (const element of document.querySelectorAll(".widget-now")) {
      const text = this.values[element.dataset.widgetId];
      element.textContent = text ? `Now: ${text}` : "";
    }
  }

  localKey() { return `w${this.nextLocalId++}`; }

  snapshot() { return JSON.stringify({ title: this.board.title, groups: this.board.groups, widgets: this.board.widgets }); }

  remember(before) {
    this.undoStack.push(before ?? this.snapshot());
    if (this.undoStack.length > UNDO_DEPTH) this.undoStack.shift();
    this.markDirty();
  }

  markDirty() {
    this.dirty = true;
    document.getElementById("undo").disabled = this.undoStack.length === 0;
    this.status("Unsaved changes.");
    this.showCost();
  }

  /** The cost preview: what saving the board as it is now adds upstream (latest answer wins). */
  async showCost() {
    const asked = ++this.costAsked;
    const body = { ...this.board, widgets: this.board.widgets.map(({ key, ...rest }) => rest) };
    let reply;
    try { reply = await postJson(this.config.cost_url, body); } catch { return; }
    if (asked !== this.costAsked) return;
    document.getElementById("cost").textContent = reply.status === 200 ? `If saved: ${reply.data.summary}` : "";
  }

  undo() {
    const previous = this.undoStack.pop();
    if (!previous) return;
    Object.assign(this.board, JSON.parse(previous));
    document.getElementById("board-title").value = this.board.title;
    this.renderGroups();
    this.render();
    this.markDirty();
  }

  status(text) { document.getElementById("save-status").textContent = text; }

  // -- the grid ------------------------------------------------------------

  render() {
    this.rendering = true;
    this.grid.removeAll();
    this.grid.batchUpdate();
    for (const widget of this.board.widgets) {
      const element = this.widgetElement(widget);
      this.grid.el.append(element); // makeWidget adopts an element already in the grid
      this.grid.makeWidget(element);
    }
    this.grid.batchUpdate(false);
    this.rendering = false;
    document.getElementById("empty-hint").hidden = this.board.widgets.length > 0;
  }

  widgetElement(widget) {
    const item = document.createElement("div");
    item.className = "grid-stack-item";
    const place = this.place(widget);
    item.setAttribute("gs-x", place.x);
    item.setAttribute("gs-y", place.y);
    item.setAttribute("gs-w", place.w);
    item.setAttribute("gs-h", place.h);
    item.setAttribute("gs-id", widget.key);
    item.dataset.key = widget.key;
    const content = document.createElement("div");
    content.className = "grid-stack-item-content editor-widget";
    const title = document.createElement("div");
    title.className = "editor-widget-title";
    title.textContent = widget.label;
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "remove";
    remove.textContent = "×";
    remove.setAttribute("aria-label", `Remove ${widget.label}`);
    remove.addEventListener("click", () => this.removeWidget(widget.key));
    const edit = document.createElement("button");
    edit.type = "button";
    edit.className = "edit";
    edit.textContent = "✎";
    edit.setAttribute("aria-label", `Edit ${widget.label}`);
    edit.addEventListener("click", () => this.editWidget(widget.key));
    const buttons = document.createElement("span");
    buttons.append(edit, remove);
    title.append(buttons);
    const kind = this.config.types.find(([code]) => code === widget.type);
    const detail = document.createElement("div");
    detail.className = "muted";
    const first = widget.statistics[0];
    const more = widget.statistics.length > 1 ? ` + ${widget.statistics.length - 1} more` : "";
    detail.textContent = `${kind ? kind[1] : widget.type}: ${first ? `${first.name} of ${first.object_id}` : "no statistic"}${more}`;
    const now = document.createElement("p");
    now.className = "widget-now";
    now.dataset.widgetId = widget.id ?? "";
    now.textContent = widget.id && this.values[widget.id] ? `Now: ${this.values[widget.id]}` : "";
    const problem = document.createElement("p");
    problem.className = "widget-problem";
    problem.setAttribute("role", "alert");
    // What the upstream refused since this widget was saved (the bridge's word, as on the desk page).
    problem.textContent = (widget.refused || []).map((r) => `Refused by the upstream: ${r.label}: ${r.reason}`).join("; ");
    content.append(title, detail, now, problem);
    item.append(content);
    return item;
  }

  /** Where a widget sits in a layout: walls use its desk place until it is given one of its own. */
  place(widget, layout = this.layout) {
    if (layout === "wall" && widget.wall) return widget.wall;
    return { x: widget.x, y: widget.y, w: widget.w, h: widget.h };
  }

  showLayout(layout) {
    this.layout = layout;
    document.getElementById("grid").dataset.layout = layout;
    this.render();
  }

  layoutChanged() {
    if (this.rendering) return;
    const before = this.pending ?? this.snapshot();
    this.pending = null;
    for (const node of this.grid.engine.nodes) {
      const widget = this.board.widgets.find((w) => w.key === node.el.dataset.key);
      const place = { x: node.x, y: node.y, w: node.w, h: node.h };
      if (!widget) continue;
      if (this.layout === "wall") {
        const desk = this.place(widget, "desk");
        const same = ["x", "y", "w", "h"].every((k) => desk[k] === place[k]);
        if (!(same && !widget.wall)) widget.wall = place;
      } else {
        Object.assign(widget, place);
      }
    }
    if (before !== this.snapshot()) this.remember(before);
  }

  removeWidget(key) {
    if (this.editingKey === key) this.stopEditing();
    const before = this.snapshot();
    this.board.widgets = this.board.widgets.filter((w) => w.key !== key);
    this.render();
    this.remember(before);
  }

  /** The first free place for a w×h box, scanning rows from the top (never over another widget). */
  freePlace(w, h, layout) {
    const columns = this.board.columns;
    const boxes = this.board.widgets.map((o) => this.place(o, layout));
    const taken = (x, y) => boxes.some((o) => x < o.x + o.w && o.x < x + w && y < o.y + o.h && o.y < y + h);
    for (let y = 0; ; y++) {
      for (let x = 0; x + w <= columns; x++) if (!taken(x, y)) return { x, y };
    }
  }

  addWidgets(specs) {
    const before = this.snapshot();
    for (const spec of specs) {
      const w = Math.min(spec.w, this.board.columns);
      const place = this.freePlace(w, spec.h, "desk");
      // Once walls have a layout of their own, a new widget gets a free place there too.
      const wall = this.board.widgets.some((o) => o.wall) ? { ...this.freePlace(w, spec.h, "wall"), w, h: spec.h } : null;
      this.board.widgets.push({ id: null, key: this.localKey(), unit: "", format: "auto", warning: null, critical: null,
                                direction: "above", ...spec, w, ...place, wall });
    }
    this.render();
    this.remember(before);
  }

  // -- title, sharing, save ------------------------------------------------

  renderGroups() {
    const box = document.getElementById("board-groups");
    box.querySelectorAll("label").forEach((label) => label.remove());
    for (const group of this.config.groups) {
      const label = document.createElement("label");
      const check = document.createElement("input");
      check.type = "checkbox";
      check.value = group.id;
      check.checked = this.board.groups.includes(group.id);
      check.addEventListener("change", () => {
        const before = this.snapshot();
        this.board.groups = [...box.querySelectorAll("input:checked")].map((c) => Number(c.value));
        this.remember(before);
      });
      label.append(check, ` ${group.name}`);
      box.append(label);
    }
  }

  bindBar() {
    const title = document.getElementById("board-title");
    title.value = this.board.title;
    title.addEventListener("change", () => {
      const before = this.snapshot();
      this.board.title = title.value;
      this.remember(before);
    });
    this.renderGroups();
    document.getElementById("undo").addEventListener("click", () => this.undo());
    for (const radio of document.querySelectorAll("input[name=layout]")) {
      radio.addEventListener("change", () => { if (radio.checked) this.showLayout(radio.value); });
    }
    document.getElementById("wall-as-desk").addEventListener("click", () => {
      const before = this.snapshot();
      for (const widget of this.board.widgets) widget.wall = null;
      this.render();
      this.remember(before);
    });
    document.getElementById("save").addEventListener("click", () => this.save());
  }

  showProblems(problems) {
    const list = document.getElementById("board-problems");
    list.replaceChildren();
    document.querySelectorAll(".widget-problem").forEach((p) => { p.textContent = ""; });
    for (const problem of problems) {
      const widget = problem.widget === null || problem.widget === undefined ? null : this.board.widgets[problem.widget];
      const element = widget && document.querySelector(`.grid-stack-item[data-key="${widget.key}"] .widget-problem`);
      if (element) element.textContent = problem.message;
      const item = document.createElement("li");
      item.textContent = widget ? `${widget.label}: ${problem.message}` : problem.message;
      list.append(item);
    }
  }

  async save(overwrite = false) {
    const conflict = document.getElementById("conflict");
    if (overwrite) this.board.version = this.theirVersion;
    const body = { ...this.board, widgets: this.board.widgets.map(({ key, ...rest }) => rest) };
    this.status("Saving…");
    let reply;
    try {
      reply = await postJson(this.config.save_url, body);
    } catch {
      this.status("Not saved: the server cannot be reached. Your changes are still here; try again.");
      return;
    }
    if (reply.status === 200) {
      const keys = this.board.widgets.map((w) => w.key);
      this.board = { ...reply.data.board };
      this.board.widgets.forEach((w, i) => { w.key = keys[i] ?? this.localKey(); });
      conflict.hidden = true;
      this.showProblems([]);
      this.dirty = false;
      this.render();
      this.refreshValues();
      this.status("Saved.");
      document.getElementById("editor").dataset.saved = this.board.version;
    } else if (reply.status === 409) {
      this.theirVersion = reply.data.version;
      conflict.replaceChildren(document.createTextNode(reply.data.conflict + " "));
      const again = document.createElement("button");
      again.type = "button";
      again.textContent = "Save mine over theirs";
      again.addEventListener("click", () => this.save(true));
      const theirs = document.createElement("a");
      theirs.href = window.location.href;
      theirs.target = "_blank";
      theirs.rel = "noopener";
      theirs.textContent = "Open theirs in a new tab";
      conflict.append(theirs, " ", again);
      conflict.hidden = false;
      this.status("Not saved: someone else changed this dashboard.");
    } else {
      this.showProblems(reply.data.problems || [{ message: `The server refused the save (HTTP ${reply.status}).` }]);
      this.status("Not saved: see the problems.");
    }
  }

  // -- the catalogue -------------------------------------------------------

  bindForm() {
    const typeSelect = document.getElementById("object-type");
    const types = Object.keys(this.catalogue.objects);
    for (const type of types.length ? types : this.config.object_types) typeSelect.append(option(type, type));
    if (types.includes("Queue")) typeSelect.value = "Queue";
    for (const [code, text] of this.config.types) document.getElementById("widget-type").append(option(code, text));
    const objectSearch = document.getElementById("object-search");
    const statisticSearch = document.getElementById("statistic-search");
    typeSelect.addEventListener("change", () => { this.listObjects(); this.listStatistics(); });
    objectSearch.addEventListener("input", () => this.listObjects());
    statisticSearch.addEventListener("input", () => this.listStatistics());
    for (const id of ["object-id", "statistic-name"]) {
      document.getElementById(id).addEventListener("change", () => this.picked());
    }
    document.getElementById("cancel-edit").addEventListener("click", () => this.stopEditing());
    document.getElementById("add-statistic").addEventListener("click", () => this.addStatisticToWidget());
    document.getElementById("widget-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.addFromForm();
    });
    this.listObjects();
    this.listStatistics();
  }

  /** Objects of a type matching a query: from the page, or from the server for a large catalogue. */
  async findObjects(type, query) {
    if (!this.catalogue.remote) {
      return (this.catalogue.objects[type] || [])
        .filter((o) => !query || o.id.toLowerCase().includes(query) || o.name.toLowerCase().includes(query));
    }
    const url = `${this.config.objects_url}?${new URLSearchParams({ type, q: query })}`;
    try {
      const reply = await fetch(url, { credentials: "same-origin" });
      return reply.ok ? (await reply.json()).objects : [];
    } catch {
      return [];
    }
  }

  async listObjects() {
    const type = document.getElementById("object-type").value;
    const query = document.getElementById("object-search").value.trim().toLowerCase();
    const asked = ++this.objectsAsked;
    const matches = await this.findObjects(type, query);
    if (asked !== this.objectsAsked) return; // a later search is under way
    const select = document.getElementById("object-id");
    select.replaceChildren(...matches.slice(0, MAX_LISTED).map((o) => option(o.id, o.name === o.id ? o.id : `${o.name} (${o.id})`)));
    if (matches.length === 1) select.value = matches[0].id;
  }

  listStatistics() {
    const type = document.getElementById("object-type").value;
    const query = document.getElementById("statistic-search").value.trim().toLowerCase();
    const select = document.getElementById("statistic-name");
    const matches = this.catalogue.statistics
      .filter((s) => !s.objectTypes.length || s.objectTypes.includes(type))
      .filter((s) => !query || s.name.toLowerCase().includes(query) || s.label.toLowerCase().includes(query)
                     || s.description.toLowerCase().includes(query));
    select.replaceChildren(...matches.slice(0, MAX_LISTED).map((s) => option(s.name, s.label === s.name ? s.name : `${s.label} (${s.name})`)));
    if (matches.length === 1) select.value = matches[0].name;
    this.describe();
  }

  describe() {
    const name = document.getElementById("statistic-name").value;
    const entry = this.catalogue.statistics.find((s) => s.name === name);
    document.getElementById("statistic-description").textContent = entry
      ? `${entry.description}${entry.objectTypes.length ? ` For: ${entry.objectTypes.join(", ")}.` : ""}` : "";
  }

  /** What the form names: a picked option, else what was typed (checked by the upstream). */
  formStatistic() {
    const objectId = document.getElementById("object-id").value || document.getElementById("object-search").value.trim();
    const name = document.getElementById("statistic-name").value || document.getElementById("statistic-search").value.trim();
    return { object_type: document.getElementById("object-type").value, object_id: objectId, name };
  }

  async picked() {
    this.describe();
    const stat = this.formStatistic();
    if (stat.object_id && stat.name) {
      const label = document.getElementById("widget-label");
      const entry = this.catalogue.statistics.find((s) => s.name === stat.name);
      const object = (this.catalogue.objects[stat.object_type] || []).find((o) => o.id === stat.object_id);
      label.value = `${object ? object.name : stat.object_id} ${entry ? entry.label : stat.name}`;
      await this.check(stat);
    }
  }

  /** Ask the upstream about a statistic: its refusal goes to the field, its value to the preview. */
  async check(stat) {
    const error = document.getElementById("statistic-error");
    const preview = document.getElementById("statistic-preview");
    error.textContent = "";
    preview.textContent = "Checking with the upstream…";
    let reply;
    try {
      reply = await postJson(this.config.check_url, stat);
    } catch {
      reply = { status: 0, data: { status: "unchecked", message: "the server cannot be reached" } };
    }
    const verdict = reply.data;
    if (verdict.status === "refused") {
      preview.textContent = "";
      error.textContent = `The upstream refused it: ${verdict.message}`;
      return false;
    }
    if (verdict.status === "unchecked") {
      preview.textContent = `Could not check it (${verdict.message}); an administrator decides when it is saved.`;
      return true;
    }
    preview.textContent = `Now: ${previewText(verdict.value)}`;
    return true;
  }

  /** Fill the form with a widget's settings; submitting it then updates that widget. */
  editWidget(key) {
    const widget = this.board.widgets.find((w) => w.key === key);
    if (!widget) return;
    this.editingKey = key;
    const first = widget.statistics[0];
    const set = (id, value) => { document.getElementById(id).value = value ?? ""; };
    if (first) {
      const typeSelect = document.getElementById("object-type");
      if (![...typeSelect.options].some((o) => o.value === first.object_type)) typeSelect.append(option(first.object_type, first.object_type));
      set("object-type", first.object_type);
      set("object-search", first.object_id);
      this.listObjects().then(() => set("object-id", first.object_id));
      set("statistic-search", first.name);
      this.listStatistics();
      set("statistic-name", first.name);
      this.describe();
    }
    set("widget-label", widget.label);
    set("widget-type", widget.type);
    set("widget-unit", widget.unit);
    set("widget-warning", widget.warning);
    set("widget-critical", widget.critical);
    set("widget-direction", widget.direction);
    document.getElementById("statistic-error").textContent = "";
    document.getElementById("statistic-preview").textContent = "";
    this.listWidgetStatistics(widget);
    document.getElementById("catalogue-heading").textContent = `Edit “${widget.label}”`;
    document.getElementById("add-widget").textContent = "Update the widget";
    document.getElementById("cancel-edit").hidden = false;
    document.getElementById("add-statistic").hidden = false;
    document.getElementById("widget-label").focus();
  }

  /** The statistics of the widget being edited, each removable (a chart's bars, a table's cells). */
  listWidgetStatistics(widget) {
    const list = document.getElementById("widget-statistics");
    list.replaceChildren();
    if (widget.statistics.length < 2) return;
    widget.statistics.forEach((stat, index) => {
      const item = document.createElement("li");
      item.textContent = `${stat.name} of ${stat.object_id} `;
      const remove = document.createElement("button");
      remove.type = "button";
      remove.textContent = "×";
      remove.setAttribute("aria-label", `Remove ${stat.name} of ${stat.object_id} from the widget`);
      remove.addEventListener("click", () => {
        const before = this.snapshot();
        widget.statistics.splice(index, 1);
        this.render();
        this.remember(before);
        this.listWidgetStatistics(widget);
      });
      item.append(remove);
      list.append(item);
    });
  }

  /** Add the form's statistic to the widget being edited (after the upstream's check). */
  async addStatisticToWidget() {
    const widget = this.board.widgets.find((w) => w.key === this.editingKey);
    const stat = this.formStatistic();
    const error = document.getElementById("statistic-error");
    if (!widget) return;
    if (!stat.object_id || !stat.name) {
      error.textContent = "Pick or type an object and a statistic.";
      return;
    }
    if (widget.statistics.some((s) => ["object_type", "object_id", "name"].every((f) => s[f] === stat[f]))) {
      error.textContent = "The widget shows this statistic already.";
      return;
    }
    if (!(await this.check(stat))) return;
    const before = this.snapshot();
    widget.statistics.push(stat);
    this.render();
    this.remember(before);
    this.listWidgetStatistics(widget);
    this.status(`“${widget.label}” now shows ${widget.statistics.length} statistics; unsaved.`);
  }

  stopEditing() {
    this.editingKey = null;
    document.getElementById("catalogue-heading").textContent = "Add a widget";
    document.getElementById("add-widget").textContent = "Add to the board";
    document.getElementById("cancel-edit").hidden = true;
    document.getElementById("add-statistic").hidden = true;
    document.getElementById("widget-statistics").replaceChildren();
  }

  formSettings() {
    const number = (id) => {
      const value = document.getElementById(id).value;
      return value === "" ? null : Number(value);
    };
    return {
      type: document.getElementById("widget-type").value, unit: document.getElementById("widget-unit").value.trim(),
      warning: number("widget-warning"), critical: number("widget-critical"),
      direction: document.getElementById("widget-direction").value,
    };
  }

  async updateFromForm() {
    const widget = this.board.widgets.find((w) => w.key === this.editingKey);
    if (!widget) { this.stopEditing(); return; }
    const changes = { ...this.formSettings(), label: document.getElementById("widget-label").value.trim() || widget.label };
    if (widget.statistics.length <= 1) {
      const stat = this.formStatistic();
      const first = widget.statistics[0];
      const same = first && ["object_type", "object_id", "name"].every((f) => first[f] === stat[f]);
      if (!same) {
        if (!stat.object_id || !stat.name) {
          document.getElementById("statistic-error").textContent = "Pick or type an object and a statistic.";
          return;
        }
        if (!(await this.check(stat))) return;
        changes.statistics = [stat];
      }
    }
    const before = this.snapshot();
    Object.assign(widget, changes);
    this.stopEditing();
    this.render();
    this.remember(before);
    this.status(`Updated “${widget.label}”; unsaved.`);
  }

  async addFromForm() {
    if (this.editingKey) {
      await this.updateFromForm();
      return;
    }
    const stat = this.formStatistic();
    const error = document.getElementById("statistic-error");
    if (!stat.object_id || !stat.name) {
      error.textContent = "Pick or type an object and a statistic.";
      return;
    }
    if (!(await this.check(stat))) return;
    const settings = this.formSettings();
    const wide = ["agent_grid", "queue_table", "line", "bar"].includes(settings.type);
    this.addWidgets([{
      ...settings, label: document.getElementById("widget-label").value.trim() || `${stat.object_id} ${stat.name}`,
      w: wide ? 6 : 3, h: wide ? 4 : 2, statistics: [stat],
    }]);
    this.status(`Added “${this.board.widgets.at(-1).label}”; unsaved.`);
  }

  // -- templates -----------------------------------------------------------

  bindTemplates() {
    const queueStat = document.getElementById("template-queue-stat");
    for (const s of this.catalogue.statistics.filter((s) => s.objectTypes.includes("Queue"))) queueStat.append(option(s.name, s.label));
    if (this.catalogue.statistics.some((s) => s.name === "CallsWaiting")) queueStat.value = "CallsWaiting";
    const groupSelect = document.getElementById("template-group");
    for (const group of Object.keys(this.catalogue.groups)) groupSelect.append(option(group, group));
    document.getElementById("template-queues").addEventListener("click", async () => {
      const name = queueStat.value;
      const entry = this.catalogue.statistics.find((s) => s.name === name);
      const queues = await this.findObjects("Queue", "");
      this.addWidgets(queues.map((queue) => ({
        type: "kpi", label: `${queue.name} ${entry ? entry.label : name}`, w: 3, h: 2,
        statistics: [{ object_type: "Queue", object_id: queue.id, name }],
      })));
    });
    document.getElementById("template-agents").addEventListener("click", () => {
      const group = groupSelect.value;
      const members = this.catalogue.groups[group] || [];
      if (!members.length) return;
      this.addWidgets([{
        type: "agent_grid", label: `${group} agents`, w: 12, h: 4,
        statistics: members.map((agent) => ({ object_type: "Agent", object_id: agent, name: "CurrentAgentState" })),
      }]);
    });
  }
}

export function boot() {
  const config = JSON.parse(document.getElementById("editor-config").textContent);
  const editor = new Editor(config);
  editor.start();
  window.dashboardEditor = editor;
  return editor;
}
