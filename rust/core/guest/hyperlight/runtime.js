// The micro-VM backend's runtime module (see rust/core/src/backend/hyperlight/glue.rs):
// the table of loaded handlers, and the code that calls them and describes how they ended.
const handlers = new Map();
const mapGet = Map.prototype.get;
const mapSet = Map.prototype.set;
const apply = Reflect.apply;
const stringify = JSON.stringify;
const then = Promise.prototype.then;
const PromiseType = Promise;
const ErrorType = Error;
const toText = String;
// The %TypedArray%.prototype[Symbol.toStringTag] getter: "Uint8Array" for a
// real Uint8Array (whatever its prototype says), undefined for anything else.
const typedArrayTag = Reflect.getOwnPropertyDescriptor(
  Reflect.getPrototypeOf(Uint8Array.prototype), Symbol.toStringTag).get;
const join = Array.prototype.join;
const HEX = "0123456789abcdef";

function text(value) {
  try { return value === undefined || value === null ? null : toText(value); } catch (_) { return null; }
}

function field(object, key) {
  try { return text(object[key]); } catch (_) { return null; }
}

// Strings as they are, objects as JSON where they have one, the rest as String().
function display(value) {
  try {
    if (typeof value === "string") return value;
    if (value !== null && typeof value === "object" && !(value instanceof ErrorType)) {
      const json = stringify(value);
      if (json !== undefined) return json;
    }
    return toText(value);
  } catch (_) {
    return "<unprintable value>";
  }
}

function describe(thrown) {
  if (thrown !== null && (typeof thrown === "object" || typeof thrown === "function")) {
    let isError = false;
    try { isError = thrown instanceof ErrorType; } catch (_) {}
    return { name: field(thrown, "name"), message: field(thrown, "message"), stack: field(thrown, "stack"), error: isError, display: display(thrown) };
  }
  return { name: null, message: null, stack: null, error: false, display: display(thrown) };
}

// A Uint8Array result is its bytes (docs/api.md), sent as hex: the envelope is JSON text.
function bytes(value) {
  const length = value.length;
  const parts = new Array(length);
  for (let i = 0; i < length; i++) parts[i] = HEX[value[i] >> 4] + HEX[value[i] & 15];
  return ["bytes", apply(join, parts, [""])];
}

function finished(value) {
  if (apply(typedArrayTag, value, []) === "Uint8Array") {
    try { return bytes(value); } catch (thrown) { return ["unserializable", describe(thrown)]; }
  }
  let json;
  try { json = stringify(value); } catch (thrown) { return ["unserializable", describe(thrown)]; }
  return json === undefined ? ["undefined"] : ["ok", json];
}

function failed(thrown) {
  return ["error", describe(thrown)];
}

export function run(id, event) {
  const handler = apply(mapGet, handlers, [id]);
  let value;
  try { value = handler(event); } catch (thrown) { return failed(thrown); }
  if (value instanceof PromiseType) return apply(then, value, [finished, failed]);
  return finished(value);
}

export function register(id, imported) {
  return apply(then, imported, [(module) => {
    const handler = module.__hyperlight_handler;
    if (typeof handler !== "function") return ["notfunction"];
    apply(mapSet, handlers, [id, handler]);
    return ["ok", "null"];
  }, failed]);
}
