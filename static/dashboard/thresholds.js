// Threshold levels and their colours and cues: the mirror of dashboard/thresholds.py.
//
// Pure: tiles.js colours tiles with them, figures.js colours gauges, bars and sparklines.

const RANK = { none: 0, ok: 0, warning: 1, critical: 2 };
export const PALETTE = { ok: "#0072B2", warning: "#E69F00", critical: "#D55E00", none: "#56657a" };

/** Threshold level with hysteresis (mirror of dashboard/thresholds.py `level`). */
export function levelFor(value, warning, critical, direction, hysteresis, previous) {
  if (value === null || value === undefined || (warning == null && critical == null)) return "none";
  const sign = direction === "below" ? -1 : 1;
  const signed = sign * value;
  const held = RANK[previous] || 0;
  const reached = (threshold, rank) => {
    if (threshold == null) return false;
    const margin = held >= rank ? hysteresis || 0 : 0;
    return signed >= sign * threshold - margin;
  };
  if (reached(critical, 2)) return "critical";
  if (reached(warning, 1)) return "warning";
  return "ok";
}

/** Icon and word for a coloured level (mirror of thresholds.cue). */
export function cueFor(level, direction) {
  const high = direction !== "below";
  if (level === "warning") return { icon: high ? "▲" : "▼", text: high ? "HIGH" : "LOW" };
  if (level === "critical") return { icon: high ? "▲▲" : "▼▼", text: high ? "CRITICAL HIGH" : "CRITICAL LOW" };
  return { icon: "", text: "" };
}
