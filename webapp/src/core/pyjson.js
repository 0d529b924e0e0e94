/**
 * How Python's str() and int() read a JSON value in keys/ and scanner/: the trust list and the feed are
 * read with them, so a field of another type is taken (or refused) as Python takes it.
 */

/** str(value): text as it is; None, True, False and numbers as Python writes them. */
export function pyStr(value) {
  if (typeof value === "string") return value;
  if (value === null || value === undefined) return "None";
  if (typeof value === "boolean") return value ? "True" : "False";
  if (typeof value === "number") return String(value);
  return JSON.stringify(value);
}

/** int(value): integers, truncated floats, booleans, digit strings (with _ between digits); else TypeError. */
export function pyInt(value) {
  if (typeof value === "number" && Number.isFinite(value)) return Math.trunc(value);
  if (typeof value === "boolean") return value ? 1 : 0;
  if (typeof value === "string" && /^\s*[+-]?\d+(?:_\d+)*\s*$/.test(value)) return Number(value.replace(/_/g, ""));
  throw new TypeError(`invalid literal for int(): ${pyStr(value)}`);
}

/** iter(value) as a for loop in Python walks it: a list's items, an object's keys, a string's characters. */
export function pyIter(value) {
  if (Array.isArray(value)) return value;
  if (typeof value === "string") return [...value];
  if (value !== null && typeof value === "object") return Object.keys(value);
  throw new TypeError(`'${value === null ? "NoneType" : typeof value}' object is not iterable`);
}

/** bool(value): None, False, 0, "", [] and {} are false. */
export function pyTruthy(value) {
  if (Array.isArray(value)) return value.length > 0;
  if (value !== null && typeof value === "object") return Object.keys(value).length > 0;
  return Boolean(value);
}

/** `value or fallback`, as Python evaluates it. */
export const pyOr = (value, fallback) => (pyTruthy(value) ? value : fallback);
