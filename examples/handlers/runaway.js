// An untrusted handler that never returns. Only a monitor can stop it.
function handler(event) {
  let spins = 0;
  while (true) {
    spins++;
  }
}
