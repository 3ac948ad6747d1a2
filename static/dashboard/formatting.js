// Display text of statistic values: the mirror of statsbridge/formatting.py.
//
// Its docstring states the rules and why; tests/dashboard/test_formatting.py runs one table
// of cases through both and asserts identical strings. Pure: no DOM, no state.

/** The finite number a wire value carries, or null (mirror of formatting.numeric). */
export function numeric(value) {
  if (!value || value.kind === "unknown" || value.kind === "agent_state" || !value.kind) return null;
  return typeof value.value === "number" && Number.isFinite(value.value) ? value.value : null;
}

const NUMBER_PLACES = 2;
const PERCENT_PLACES = 1;
const DECIMAL_FORMATS = {};

/** A number grouped by thousands with at most `places` decimals, half away from zero on its shortest
 *  decimal form (mirror of formatting.decimal_text). Fixed "en-US": the Python side groups with ",". */
export function decimalText(number, places) {
  if (!DECIMAL_FORMATS[places]) DECIMAL_FORMATS[places] = new Intl.NumberFormat("en-US", { maximumFractionDigits: places });
  const text = DECIMAL_FORMATS[places].format(number);
  return text === "-0" ? "0" : text;
}

/** Seconds truncated to whole seconds, as m:ss or h:mm:ss (mirror of formatting.duration_text).
 *  BigInt keeps the arithmetic exact past 2^53, as Python's integers are. */
export function durationText(seconds) {
  const total = BigInt(Math.trunc(Math.abs(seconds)));
  const sign = seconds < 0 && total > 0n ? "-" : "";
  const hours = total / 3600n;
  const minutes = (total % 3600n) / 60n;
  const secs = total % 60n;
  const two = (n) => String(n).padStart(2, "0");
  return hours ? `${sign}${hours}:${two(minutes)}:${two(secs)}` : `${sign}${minutes}:${two(secs)}`;
}

/** Word a number under a widget format (mirror of formatting.format_number). */
export function formatNumber(number, fmt) {
  if (fmt === "duration") return durationText(number);
  if (fmt === "percent") return `${decimalText(number, PERCENT_PLACES)}%`;
  return decimalText(number, NUMBER_PLACES);
}

const KIND_FORMAT = { duration: "duration", percentage: "percent", number: "number" };

/** What people read for an agent state, from the server's one table (mirror of formatting.state_label). */
export function stateLabel(state, agentStates = {}) {
  if (!state) return "Unknown";
  return ((agentStates || {})[state] || {}).label || state;
}

/** What a tile shows (mirror of formatting.display_text); `agentStates` is the config's table. */
export function displayText(value, fmt, agentStates = {}) {
  if (!value || value.kind === "unknown") return "?";
  if (value.kind === "agent_state") return value.agent && value.agent.state ? stateLabel(value.agent.state, agentStates) : "?";
  const number = numeric(value);
  if (number === null) return "?";
  if (fmt === "auto") {
    if (value.text) return String(value.text);
    fmt = KIND_FORMAT[value.kind] || "number";
  }
  return formatNumber(number, fmt);
}
