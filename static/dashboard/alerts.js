// The alert banner: the open alerts of the dashboards a page shows (the `alerts` frame,
// statsbridge/frames.py), large enough to read from 5 m, above the tiles. Desks link each
// alert to its page (acknowledge, with a note) and may beep when a new one fires; walls
// only show them. Each frame replaces its dashboard's list (an empty list clears it).

const SEVERITY_ICON = { critical: "▲▲", warning: "▲", info: "●" };
const SOUND_KEY = "ccdash.alertSound";

/** The alerts to show, worst first, from every dashboard's latest list. */
export function alertsToShow(byDashboard) {
  const rank = { critical: 0, warning: 1, info: 2 };
  const all = [];
  for (const [dashboard, alerts] of byDashboard) for (const alert of alerts) all.push({ ...alert, dashboard });
  all.sort((a, b) => (rank[a.severity] - rank[b.severity]) || (a.state === b.state ? b.since - a.since : a.state === "firing" ? -1 : 1));
  return all;
}

/** Shows the open alerts of a page's dashboards in #alert-banner. */
export class AlertBanner {
  root;
  wall;
  byDashboard = new Map();
  heard = new Set(); // ids of firing alerts already announced
  element;

  constructor(root = document, { wall = false } = {}) {
    this.root = root;
    this.wall = wall;
    this.element = root.getElementById("alert-banner") || this.create();
  }

  create() {
    const element = this.root.createElement("div");
    element.id = "alert-banner";
    element.setAttribute("role", "alert");
    element.hidden = true;
    const anchor = this.root.getElementById("connection-banner");
    if (anchor) anchor.after(element);
    else this.root.body.prepend(element);
    return element;
  }

  /** An `alerts` frame: replace that dashboard's list and redraw. */
  apply(frame) {
    if (frame.alerts.length) this.byDashboard.set(frame.dashboard, frame.alerts);
    else this.byDashboard.delete(frame.dashboard);
    this.render();
  }

  render() {
    const alerts = alertsToShow(this.byDashboard);
    const list = this.root.createElement("ul");
    let fresh = false;
    for (const alert of alerts) {
      const item = this.root.createElement("li");
      item.dataset.severity = alert.severity;
      item.dataset.state = alert.state;
      item.dataset.alert = String(alert.id);
      const text = this.root.createElement("span");
      text.className = "alert-text";
      text.textContent = `${SEVERITY_ICON[alert.severity] || ""} ${alert.rule}: ${alert.text}${alert.state === "acknowledged" ? " (acknowledged)" : ""}`;
      item.append(text);
      if (!this.wall) {
        const link = this.root.createElement("a");
        link.href = `/alerts/${alert.id}/`;
        link.className = "alert-link";
        link.textContent = alert.state === "firing" ? "Acknowledge" : "Details";
        item.append(" ", link);
      }
      list.append(item);
      if (alert.state === "firing" && !this.heard.has(alert.id)) {
        this.heard.add(alert.id);
        fresh = true;
      }
    }
    this.element.replaceChildren(list);
    if (!this.wall) this.element.append(this.soundToggle());
    this.element.hidden = alerts.length === 0;
    if (fresh && !this.wall && soundOn()) beep();
  }

  soundToggle() {
    const button = this.root.createElement("button");
    button.type = "button";
    button.className = "alert-sound";
    const label = () => { button.textContent = soundOn() ? "Sound on" : "Sound off"; };
    label();
    button.addEventListener("click", () => {
      try { localStorage.setItem(SOUND_KEY, soundOn() ? "off" : "on"); } catch { /* storage refused */ }
      label();
    });
    return button;
  }
}

function soundOn() {
  try { return localStorage.getItem(SOUND_KEY) === "on"; } catch { return false; }
}

/** A short tone (browsers play it once the page has had a click, e.g. the sound toggle). */
function beep() {
  try {
    const context = new AudioContext();
    const tone = context.createOscillator();
    tone.frequency.value = 880;
    tone.connect(context.destination);
    tone.start();
    tone.stop(context.currentTime + 0.3);
    tone.onended = () => context.close();
  } catch { /* no audio: the banner is enough */ }
}
