// What the page knows of the values: the latest wire value per statistic, the threshold
// level each tile last showed (for hysteresis), and the keys changed since the last
// animation frame, applied together once per frame.
//
// Bounded: one entry per statistic (or per widget and statistic) the page shows.

// Applied by a timer when no animation frame came this long after a request (a hidden tab).
const FALLBACK_MS = 250;

export class Store {
  values = new Map(); // statistic key -> latest wire value
  levels = new Map(); // "widgetId:key" -> threshold level, for hysteresis
  pending = new Set(); // keys changed since the last frame
  frameRequested = false;
  fallback = 0; // the pending fallback timer, if any
  onFrame; // applies `pending` (LivePage.flush)

  constructor(onFrame) {
    this.onFrame = onFrame;
  }

  /** A new value for `key`, applied on the next frame. */
  set(key, value) {
    this.values.set(key, value);
    this.pending.add(key);
  }

  /** The keys changed since the last frame; pending is empty after. */
  take() {
    const keys = [...this.pending];
    this.pending.clear();
    return keys;
  }

  /** Apply pending changes on the next animation frame (once, however many arrive before it). */
  requestFrame() {
    if (this.frameRequested) return;
    this.frameRequested = true;
    requestAnimationFrame(this.run);
    // Background tabs get no animation frames; a timer keeps tile state right there. One
    // timer at a time, cancelled by the frame: a timer per request (dozens a second under a
    // self-clocked stream) each cost a task, and one that fired just before the next frame
    // applied the values outside it, where redrawing a figure forced a layout.
    if (!this.fallback) this.fallback = setTimeout(this.run, FALLBACK_MS);
  }

  /** The frame (or the fallback timer) came: apply what is pending, once. */
  run = () => {
    clearTimeout(this.fallback);
    this.fallback = 0;
    if (!this.frameRequested) return;
    this.frameRequested = false;
    this.onFrame();
  };
}
