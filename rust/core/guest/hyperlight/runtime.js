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

function finished(value) {
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
