// What the page knows of the values: the latest wire value per statistic, the threshold
// level each tile last showed (for hysteresis), and the keys changed since the last
// animation frame, applied together once per frame.
//
// Bounded: one entry per statistic (or per widget and statistic) the page shows.

export class Store {
  values = new Map(); // statistic key -> latest wire value
  levels = new Map(); // "widgetId:key" -> threshold level, for hysteresis
  pending = new Set(); // keys changed since the last frame
  frameRequested = false;
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
    // Background tabs get no animation frames; a timer keeps tile state right there.
    const run = () => {
      if (!this.frameRequested) return;
      this.frameRequested = false;
      this.onFrame();
    };
    requestAnimationFrame(run);
    setTimeout(run, 250);
  }
}
