// A well-behaved handler: it logs, computes and returns a JSON value.
export function handler(event) {
  console.log(`greeting ${event.name}`);
  return { greeting: `Hello, ${event.name}!`, length: event.name.length };
}
