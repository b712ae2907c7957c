// The built-in environment of hyperlight-js's guest runtime (the modules
// "crypto", "io", "console", "require", the globals `require` and
// `String.bytesFrom`), written once in JavaScript and evaluated by both the
// wasm guest (guest.c, hl_setup) and the in-process engine at runtime start,
// so the two backends cannot drift apart. See docs/builtins.md.
//
// It runs as a global script before any handler, with the engine's native
// `print` (writes String(text) verbatim) and `console` already installed.
// Everything it keeps is captured here, so a handler that later replaces a
// prototype method cannot change how the built-ins compute.
(function (global) {
  "use strict";
  const nativePrint = global.print;
  const nativeConsole = global.console;
  const freeze = Object.freeze;
  const defineProperty = Object.defineProperty;
  const fromCharCode = String.fromCharCode;
  const charCodeAt = Function.prototype.call.bind(String.prototype.charCodeAt);
  const typedArrayTag = Object.getOwnPropertyDescriptor(
    Object.getPrototypeOf(Uint8Array.prototype), Symbol.toStringTag).get;
  const U8 = Uint8Array;
  const TypeErrorType = TypeError;
  const InternalErrorType = typeof InternalError === "function" ? InternalError : Error;
  const toLower = Function.prototype.call.bind(String.prototype.toLowerCase);
  const stringify = JSON.stringify;

  // --- bytes ------------------------------------------------------------

  // A string's UTF-8 bytes (a lone surrogate becomes U+FFFD, as a Rust
  // string would hold it).
  function utf8(text) {
    const out = [];
    const n = text.length;
    for (let i = 0; i < n; i++) {
      let c = charCodeAt(text, i);
      if (c >= 0xd800 && c <= 0xdbff && i + 1 < n) {
        const d = charCodeAt(text, i + 1);
        if (d >= 0xdc00 && d <= 0xdfff) {
          c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
          i++;
        }
      }
      if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd;
      if (c < 0x80) out.push(c);
      else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
      else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
      else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    }
    return out;
  }

  // Bytes as text, invalid UTF-8 sequences as U+FFFD.
  function fromUtf8(bytes) {
    let text = "";
    const n = bytes.length;
    for (let i = 0; i < n;) {
      const b = bytes[i];
      let need = 0, c = 0, min = 0;
      if (b < 0x80) { text += fromCharCode(b); i++; continue; }
      if (b >= 0xc2 && b <= 0xdf) { need = 1; c = b & 31; min = 0x80; }
      else if (b >= 0xe0 && b <= 0xef) { need = 2; c = b & 15; min = 0x800; }
      else if (b >= 0xf0 && b <= 0xf4) { need = 3; c = b & 7; min = 0x10000; }
      else { text += "\ufffd"; i++; continue; }
      let j = 1;
      for (; j <= need && i + j < n && (bytes[i + j] & 0xc0) === 0x80; j++) c = (c << 6) | (bytes[i + j] & 63);
      if (j <= need || c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) {
        text += "\ufffd";
        i += j > 1 ? j - 1 : 1;
        continue;
      }
      i += need + 1;
      if (c >= 0x10000) {
        c -= 0x10000;
        text += fromCharCode(0xd800 + (c >> 10), 0xdc00 + (c & 1023));
      } else {
        text += fromCharCode(c);
      }
    }
    return text;
  }

  function isUint8Array(value) {
    try { return typedArrayTag.call(value) === "Uint8Array"; } catch (_) { return false; }
  }

  // A String or Uint8Array argument as an array of bytes (upstream: utils.rs as_bytes).
  function asBytes(value) {
    if (typeof value === "string") return utf8(value);
    if (isUint8Array(value)) {
      const out = [];
      for (let i = 0; i < value.length; i++) out.push(value[i]);
      return out;
    }
    throw new TypeErrorType("Expected a String or Uint8Array");
  }

  // --- base64 and hex -----------------------------------------------------

  const STANDARD = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const URL_SAFE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const HEX = "0123456789abcdef";

  function base64(bytes, alphabet, pad) {
    let out = "";
    let i = 0;
    for (; i + 2 < bytes.length; i += 3) {
      const v = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
      out += alphabet[v >> 18] + alphabet[(v >> 12) & 63] + alphabet[(v >> 6) & 63] + alphabet[v & 63];
    }
    const rest = bytes.length - i;
    if (rest === 1) {
      const v = bytes[i] << 16;
      out += alphabet[v >> 18] + alphabet[(v >> 12) & 63] + (pad ? "==" : "");
    } else if (rest === 2) {
      const v = (bytes[i] << 16) | (bytes[i + 1] << 8);
      out += alphabet[v >> 18] + alphabet[(v >> 12) & 63] + alphabet[(v >> 6) & 63] + (pad ? "=" : "");
    }
    return out;
  }

  function hex(bytes) {
    let out = "";
    for (let i = 0; i < bytes.length; i++) out += HEX[bytes[i] >> 4] + HEX[bytes[i] & 15];
    return out;
  }

  // Decodes unpadded base64 in either alphabet (trailing "=" already removed).
  function decodeBase64(bytes) {
    const n = bytes.length;
    if (n % 4 === 1) throw new InternalErrorType("Invalid input length: " + n);
    const out = [];
    let acc = 0, bits = 0;
    for (let i = 0; i < n; i++) {
      const c = bytes[i];
      let v;
      if (c >= 65 && c <= 90) v = c - 65;
      else if (c >= 97 && c <= 122) v = c - 71;
      else if (c >= 48 && c <= 57) v = c + 4;
      else if (c === 43 || c === 45) v = 62;
      else if (c === 47 || c === 95) v = 63;
      else throw new InternalErrorType("Invalid symbol " + c + ", offset " + i + ".");
      acc = ((acc << 6) | v) & 0xffffff;
      bits += 6;
      if (bits >= 8) {
        bits -= 8;
        out.push((acc >> bits) & 255);
      }
    }
    if (bits > 0 && (acc & ((1 << bits) - 1)) !== 0) {
      throw new InternalErrorType("Invalid last symbol " + bytes[n - 1] + ", offset " + (n - 1) + ".");
    }
    return out;
  }

  // --- SHA-2 --------------------------------------------------------------

  const K256 = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
  ];

  // A 64-bit hex constant as its two 32-bit halves (hi, lo).
  function halves(hex) {
    return [parseInt(hex.slice(0, 8), 16) | 0, parseInt(hex.slice(8), 16) | 0];
  }

  // SHA-512's round constants, as 32-bit halves.
  const K512 = [
    "428a2f98d728ae22", "7137449123ef65cd", "b5c0fbcfec4d3b2f", "e9b5dba58189dbbc", "3956c25bf348b538",
    "59f111f1b605d019", "923f82a4af194f9b", "ab1c5ed5da6d8118", "d807aa98a3030242", "12835b0145706fbe",
    "243185be4ee4b28c", "550c7dc3d5ffb4e2", "72be5d74f27b896f", "80deb1fe3b1696b1", "9bdc06a725c71235",
    "c19bf174cf692694", "e49b69c19ef14ad2", "efbe4786384f25e3", "0fc19dc68b8cd5b5", "240ca1cc77ac9c65",
    "2de92c6f592b0275", "4a7484aa6ea6e483", "5cb0a9dcbd41fbd4", "76f988da831153b5", "983e5152ee66dfab",
    "a831c66d2db43210", "b00327c898fb213f", "bf597fc7beef0ee4", "c6e00bf33da88fc2", "d5a79147930aa725",
    "06ca6351e003826f", "142929670a0e6e70", "27b70a8546d22ffc", "2e1b21385c26c926", "4d2c6dfc5ac42aed",
    "53380d139d95b3df", "650a73548baf63de", "766a0abb3c77b2a8", "81c2c92e47edaee6", "92722c851482353b",
    "a2bfe8a14cf10364", "a81a664bbc423001", "c24b8b70d0f89791", "c76c51a30654be30", "d192e819d6ef5218",
    "d69906245565a910", "f40e35855771202a", "106aa07032bbd1b8", "19a4c116b8d2d0c8", "1e376c085141ab53",
    "2748774cdf8eeb99", "34b0bcb5e19b48a8", "391c0cb3c5c95a63", "4ed8aa4ae3418acb", "5b9cca4f7763e373",
    "682e6ff3d6b2b8a3", "748f82ee5defb2fc", "78a5636f43172f60", "84c87814a1f0ab72", "8cc702081a6439ec",
    "90befffa23631e28", "a4506cebde82bde9", "bef9a3f7b2c67915", "c67178f2e372532b", "ca273eceea26619c",
    "d186b8c721c0c207", "eada7dd6cde0eb1e", "f57d4f7fee6ed178", "06f067aa72176fba", "0a637dc5a2c898a6",
    "113f9804bef90dae", "1b710b35131c471b", "28db77f523047d84", "32caab7b40c72493", "3c9ebe0a15c9bebc",
    "431d67c49c100d4c", "4cc5d4becb3e42b6", "597f299cfc657e2a", "5fcb6fab3ad6faec", "6c44198c4a475817",
  ].flatMap(halves);

  const IV = {
    sha256: [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19],
    sha384: ["cbbb9d5dc1059ed8", "629a292a367cd507", "9159015a3070dd17", "152fecd8f70e5939",
      "67332667ffc00b31", "8eb44a8768581511", "db0c2e0d64f98fa7", "47b5481dbefa4fa4"].flatMap(halves),
    sha512: ["6a09e667f3bcc908", "bb67ae8584caa73b", "3c6ef372fe94f82b", "a54ff53a5f1d36f1",
      "510e527fade682d1", "9b05688c2b3e6c1f", "1f83d9abfb41bd6b", "5be0cd19137e2179"].flatMap(halves),
  };

  function rotr32(x, n) { return (x >>> n) | (x << (32 - n)); }

  function compress256(h, block, o, w) {
    for (let t = 0; t < 16; t++) {
      const i = o + 4 * t;
      w[t] = (block[i] << 24) | (block[i + 1] << 16) | (block[i + 2] << 8) | block[i + 3];
    }
    for (let t = 16; t < 64; t++) {
      const a = w[t - 15], b = w[t - 2];
      const s0 = rotr32(a, 7) ^ rotr32(a, 18) ^ (a >>> 3);
      const s1 = rotr32(b, 17) ^ rotr32(b, 19) ^ (b >>> 10);
      w[t] = (w[t - 16] + s0 + w[t - 7] + s1) | 0;
    }
    let [a, b, c, d, e, f, g, k] = h;
    for (let t = 0; t < 64; t++) {
      const t1 = (k + (rotr32(e, 6) ^ rotr32(e, 11) ^ rotr32(e, 25)) + ((e & f) ^ (~e & g)) + K256[t] + w[t]) | 0;
      const t2 = ((rotr32(a, 2) ^ rotr32(a, 13) ^ rotr32(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) | 0;
      k = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0;
    }
    h[0] = (h[0] + a) | 0; h[1] = (h[1] + b) | 0; h[2] = (h[2] + c) | 0; h[3] = (h[3] + d) | 0;
    h[4] = (h[4] + e) | 0; h[5] = (h[5] + f) | 0; h[6] = (h[6] + g) | 0; h[7] = (h[7] + k) | 0;
  }

  // SHA-512 on pairs of 32-bit halves (hi, lo): h and w hold 2 numbers per word.
  function compress512(h, block, o, w) {
    for (let t = 0; t < 32; t++) {
      const i = o + 4 * t;
      w[t] = (block[i] << 24) | (block[i + 1] << 16) | (block[i + 2] << 8) | block[i + 3];
    }
    for (let t = 16; t < 80; t++) {
      const ah = w[2 * (t - 15)], al = w[2 * (t - 15) + 1];
      const bh = w[2 * (t - 2)], bl = w[2 * (t - 2) + 1];
      // s0 = rotr 1 ^ rotr 8 ^ shr 7; s1 = rotr 19 ^ rotr 61 ^ shr 6
      const s0h = ((ah >>> 1) | (al << 31)) ^ ((ah >>> 8) | (al << 24)) ^ (ah >>> 7);
      const s0l = ((al >>> 1) | (ah << 31)) ^ ((al >>> 8) | (ah << 24)) ^ ((al >>> 7) | (ah << 25));
      const s1h = ((bh >>> 19) | (bl << 13)) ^ ((bl >>> 29) | (bh << 3)) ^ (bh >>> 6);
      const s1l = ((bl >>> 19) | (bh << 13)) ^ ((bh >>> 29) | (bl << 3)) ^ ((bl >>> 6) | (bh << 26));
      let lo = (s0l >>> 0) + (s1l >>> 0) + (w[2 * (t - 16) + 1] >>> 0) + (w[2 * (t - 7) + 1] >>> 0);
      const hi = s0h + s1h + w[2 * (t - 16)] + w[2 * (t - 7)] + Math.floor(lo / 4294967296);
      w[2 * t] = hi | 0;
      w[2 * t + 1] = lo | 0;
    }
    let ah = h[0], al = h[1], bh = h[2], bl = h[3], ch = h[4], cl = h[5], dh = h[6], dl = h[7];
    let eh = h[8], el = h[9], fh = h[10], fl = h[11], gh = h[12], gl = h[13], kh = h[14], kl = h[15];
    for (let t = 0; t < 80; t++) {
      // S1(e) = rotr 14 ^ rotr 18 ^ rotr 41; S0(a) = rotr 28 ^ rotr 34 ^ rotr 39
      const S1h = ((eh >>> 14) | (el << 18)) ^ ((eh >>> 18) | (el << 14)) ^ ((el >>> 9) | (eh << 23));
      const S1l = ((el >>> 14) | (eh << 18)) ^ ((el >>> 18) | (eh << 14)) ^ ((eh >>> 9) | (el << 23));
      const chh = (eh & fh) ^ (~eh & gh), chl = (el & fl) ^ (~el & gl);
      let lo = (kl >>> 0) + (S1l >>> 0) + (chl >>> 0) + (K512[2 * t + 1] >>> 0) + (w[2 * t + 1] >>> 0);
      const t1h = (kh + S1h + chh + K512[2 * t] + w[2 * t] + Math.floor(lo / 4294967296)) | 0;
      const t1l = lo | 0;
      const S0h = ((ah >>> 28) | (al << 4)) ^ ((al >>> 2) | (ah << 30)) ^ ((al >>> 7) | (ah << 25));
      const S0l = ((al >>> 28) | (ah << 4)) ^ ((ah >>> 2) | (al << 30)) ^ ((ah >>> 7) | (al << 25));
      const mjh = (ah & bh) ^ (ah & ch) ^ (bh & ch), mjl = (al & bl) ^ (al & cl) ^ (bl & cl);
      lo = (S0l >>> 0) + (mjl >>> 0);
      const t2h = (S0h + mjh + Math.floor(lo / 4294967296)) | 0;
      const t2l = lo | 0;
      kh = gh; kl = gl; gh = fh; gl = fl; fh = eh; fl = el;
      lo = (dl >>> 0) + (t1l >>> 0);
      eh = (dh + t1h + Math.floor(lo / 4294967296)) | 0; el = lo | 0;
      dh = ch; dl = cl; ch = bh; cl = bl; bh = ah; bl = al;
      lo = (t1l >>> 0) + (t2l >>> 0);
      ah = (t1h + t2h + Math.floor(lo / 4294967296)) | 0; al = lo | 0;
    }
    const add = [ah, al, bh, bl, ch, cl, dh, dl, eh, el, fh, fl, gh, gl, kh, kl];
    for (let i = 0; i < 16; i += 2) {
      const lo = (h[i + 1] >>> 0) + (add[i + 1] >>> 0);
      h[i] = (h[i] + add[i] + Math.floor(lo / 4294967296)) | 0;
      h[i + 1] = lo | 0;
    }
  }

  // A streaming SHA-2 hash over arrays of byte values.
  function Hash(algorithm) {
    const wide = algorithm !== "sha256";
    this.compress = wide ? compress512 : compress256;
    this.blockSize = wide ? 128 : 64;
    this.lengthBytes = wide ? 16 : 8;
    this.outBytes = algorithm === "sha256" ? 32 : algorithm === "sha384" ? 48 : 64;
    this.h = IV[algorithm].slice();
    this.w = new Array(wide ? 160 : 64);
    this.buffer = [];
    this.length = 0;
  }
  Hash.prototype.update = function (bytes) {
    const size = this.blockSize;
    const n = bytes.length;
    let i = 0;
    if (this.buffer.length > 0) {
      while (i < n && this.buffer.length < size) this.buffer.push(bytes[i++]);
      if (this.buffer.length < size) {
        this.length += n;
        return;
      }
      this.compress(this.h, this.buffer, 0, this.w);
      this.buffer = [];
    }
    for (; i + size <= n; i += size) this.compress(this.h, bytes, i, this.w);
    while (i < n) this.buffer.push(bytes[i++]);
    this.length += n;
  };
  Hash.prototype.digest = function () {
    const size = this.blockSize;
    const bits = this.length * 8;
    const tail = [0x80];
    while ((this.buffer.length + tail.length + this.lengthBytes) % size !== 0) tail.push(0);
    // Message lengths fit in 53 bits: the high bytes are zero.
    for (let i = this.lengthBytes - 1; i >= 0; i--) tail.push(i < 6 ? Math.floor(bits / 2 ** (8 * i)) & 255 : 0);
    this.update(tail);
    const out = [];
    for (let i = 0; i < this.h.length; i++) {
      const v = this.h[i];
      out.push((v >>> 24) & 255, (v >>> 16) & 255, (v >>> 8) & 255, v & 255);
    }
    return out.slice(0, this.outBytes);
  };

  // --- crypto -------------------------------------------------------------

  const ALGORITHMS = ["sha256", "sha384", "sha512"];
  const state = new WeakMap();

  function keyed(algorithm, key, pad) {
    const hash = new Hash(algorithm);
    const block = [];
    for (let i = 0; i < hash.blockSize; i++) block.push((key[i] || 0) ^ pad);
    hash.update(block);
    return hash;
  }

  function start(s) {
    s.inner = keyed(s.algorithm, s.key, 0x36);
  }

  // HMAC (RFC 2104) over the SHA-2 hashes; mirrors upstream's Hmac class:
  // update() chains, digest() finalizes once and resets for a new message.
  function Hmac(algorithm, key) {
    if (!new.target) throw new TypeErrorType("Constructor Hmac requires 'new'");
    const name = toLower(String(algorithm));
    if (ALGORITHMS.indexOf(name) < 0) throw new TypeErrorType("Invalid algorithm: " + stringify(String(algorithm)));
    let bytes = asBytes(key);
    const probe = new Hash(name);
    if (bytes.length > probe.blockSize) {
      probe.update(bytes);
      bytes = probe.digest();
    }
    const s = { algorithm: name, key: bytes, inner: null, result: null };
    start(s);
    state.set(this, s);
  }

  function stateOf(hmac) {
    const s = state.get(hmac);
    if (!s) throw new TypeErrorType("not an Hmac object");
    return s;
  }

  function finalize(s) {
    const inner = s.inner.digest();
    const outer = keyed(s.algorithm, s.key, 0x5c);
    outer.update(inner);
    s.result = outer.digest();
    start(s);
  }

  Hmac.prototype.update = function update(data) {
    const s = stateOf(this);
    const bytes = asBytes(data);
    s.result = null;
    s.inner.update(bytes);
    return this;
  };
  Hmac.prototype.finalize = function () {
    finalize(stateOf(this));
    return this;
  };
  Hmac.prototype.digest = function digest(format) {
    const s = stateOf(this);
    if (s.result === null) finalize(s);
    // Upstream's digest takes a string and nothing else (its argument
    // conversion fails for anything else, undefined included).
    if (typeof format !== "string") throw new TypeErrorType("Error converting from js '" + typeof format + "' into type 'String'");
    const f = toLower(format);
    if (f === "hex") return hex(s.result);
    if (f === "base64") return base64(s.result, STANDARD, true);
    if (f === "base64url") return base64(s.result, URL_SAFE, false);
    throw new TypeErrorType("Unsupported format: " + stringify(String(format)));
  };
  freeze(Hmac.prototype);
  freeze(Hmac);

  function createHmac(algorithm, key) {
    return new Hmac(algorithm, key);
  }

  // --- String.bytesFrom ---------------------------------------------------

  function bytesFrom(data, encoding) {
    if (encoding !== "base64url") throw new TypeErrorType("Unsupported encoding, only 'base64url' is supported");
    const bytes = asBytes(data);
    while (bytes.length > 0 && bytes[bytes.length - 1] === 61) bytes.pop();
    return fromUtf8(decodeBase64(bytes));
  }

  // --- modules and globals ------------------------------------------------

  function print(text) {
    nativePrint(String(text));
  }
  function flush() {}

  const modules = {
    crypto: freeze({ Hmac, createHmac }),
    io: freeze({ print, flush }),
    console: freeze({ log: nativeConsole.log }),
    require: null,
  };

  function require(name) {
    const key = String(name);
    if (Object.prototype.hasOwnProperty.call(modules, key)) return modules[key];
    throw new TypeErrorType("require(" + stringify(key) + "): only the built-in modules crypto, io, console and require can be required");
  }
  modules.require = freeze({ require, default: require });
  freeze(modules);

  const fixed = (object, key, value) =>
    defineProperty(object, key, { value, writable: false, enumerable: false, configurable: false });
  fixed(String, "bytesFrom", bytesFrom);
  fixed(global, "require", require);
  fixed(global, Symbol.for("hyperlight-js.builtins"), modules);
})(globalThis);
