// Offline gate in the browser: open the gate's manifest and validate QR payloads with it,
// following ticketing/manifest.py (open_manifest), ticketing/tokens.py (parse_qr, verify),
// ticketing/totp.py (match_step) and ticketing/gate.py (GateValidator) step for step, with
// WebCrypto only: HKDF-SHA256, AES-256-GCM, Ed25519, HMAC-SHA1; zlib via DecompressionStream.

const enc = new TextEncoder();
const utf8 = new TextDecoder("utf-8", { fatal: true });
const MANIFEST_DOMAIN = enc.encode("maas.manifest.v1\x00");
const TICKET_DOMAIN = enc.encode("maas.ticket.v1\x00");
const SALT = enc.encode("maas.manifest.v1");
const B45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";
const SIG_LEN = 64;

export class Rejection extends Error {
  constructor(code, message, leg = null, replacedBy = null) {
    super(message); this.code = code; this.leg = leg; this.replacedBy = replacedBy;
  }
}

// datetime.fromtimestamp(epoch, timezone(offset)).isoformat(), as ticketing/manifest.py reads it
function isoAt(epoch, offsetS) {
  const local = new Date((epoch + offsetS) * 1000).toISOString().slice(0, 19);
  const a = Math.abs(offsetS), pad = (n) => String(n).padStart(2, "0");
  const secs = a % 60 ? `:${pad(a % 60)}` : "";
  return `${local}${offsetS < 0 ? "-" : "+"}${pad(Math.floor(a / 3600))}:${pad(Math.floor((a % 3600) / 60))}${secs}`;
}

// the manifest's `replaced`: booking -> Map(leg -> {leg, trip_id, departure, station})
function replacedOf(raw) {
  return new Map(Object.entries(raw || {}).map(([b, legs]) => [b, new Map(Object.entries(legs).map(
    ([i, [leg, trip, dep, station, off]]) => [Number(i),
      { leg: Number(leg), trip_id: trip, departure: isoAt(Number(dep), Number(off)), station }]))]));
}
export class ManifestInvalid extends Error {}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let i = 0;
  for (const p of parts) { out.set(p, i); i += p.length; }
  return out;
}

function unb64(s) {
  if (typeof s !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(s) || s.length % 4) throw new ManifestInvalid("manifest is not well formed");
  return Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
}

// What this browser's WebCrypto lacks for offline validation ([] when nothing).
export async function missingPrimitives() {
  const missing = [];
  if (!globalThis.crypto || !crypto.subtle) return ["WebCrypto (crypto.subtle; needs https or localhost)"];
  try {   // an RFC 8032 test vector's public key
    await crypto.subtle.importKey("raw", unhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"),
      { name: "Ed25519" }, false, ["verify"]);
  } catch { missing.push("Ed25519"); }
  if (typeof DecompressionStream === "undefined") missing.push("zlib (DecompressionStream)");
  return missing;
}

function unhex(s) {
  return Uint8Array.from(s.match(/../g), (x) => parseInt(x, 16));
}

async function inflate(bytes) {
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

// manifest.gate_key: HKDF-SHA256(the gate's bearer key, salt, info "gate:<id>") -> AES-256-GCM
async function gateKey(gateSecret, gateId) {
  const ikm = await crypto.subtle.importKey("raw", enc.encode(gateSecret), "HKDF", false, ["deriveKey"]);
  return crypto.subtle.deriveKey({ name: "HKDF", hash: "SHA-256", salt: SALT, info: enc.encode(`gate:${gateId}`) },
    ikm, { name: "AES-GCM", length: 256 }, false, ["decrypt"]);
}

async function ed25519(raw) {
  return crypto.subtle.importKey("raw", raw, { name: "Ed25519" }, false, ["verify"]);
}

// manifest.open_manifest: decrypt, inflate, verify the signature, check the header
export async function openManifest(envelope, gateSecret, trustedKeys = null) {
  let signed, body, d;
  try {
    const aad = enc.encode(`maas.manifest.v1|${envelope.gate}|${envelope.station}|${envelope.date}`);
    const key = await gateKey(gateSecret, envelope.gate);
    let plain;
    try {
      plain = await crypto.subtle.decrypt({ name: "AES-GCM", iv: unb64(envelope.nonce), additionalData: aad, tagLength: 128 },
        key, unb64(envelope.ciphertext));
    } catch (err) {
      if (err instanceof ManifestInvalid) throw err;
      throw new ManifestInvalid("manifest does not decrypt with this gate's key");
    }
    signed = JSON.parse(utf8.decode(plain));
    body = unb64(signed.body);
    d = JSON.parse(utf8.decode(await inflate(body)));
  } catch (err) {
    if (err instanceof ManifestInvalid) throw err;
    throw new ManifestInvalid("manifest is not well formed");
  }
  const keys = trustedKeys || Object.fromEntries(Object.entries(d.keys || {}).map(([k, v]) => [k, unb64(v)]));
  const raw = keys[signed.kid];
  if (!raw) throw new ManifestInvalid("manifest signed by an unknown key");
  let ok = false;
  try {
    ok = await crypto.subtle.verify({ name: "Ed25519" }, await ed25519(raw), unb64(signed.sig), concat(MANIFEST_DOMAIN, body));
  } catch { ok = false; }
  if (!ok) throw new ManifestInvalid("manifest signature does not verify");
  if (d.gate !== envelope.gate || d.station !== envelope.station || d.date !== envelope.date) {
    throw new ManifestInvalid("manifest header does not match its body");
  }
  const entries = new Map();
  for (const [booking, secrets, pax, legs, used] of d.bookings) {
    entries.set(booking, {
      booking, passengers: Number(pax), usedLegs: used.map(Number),
      secrets: new Map(Object.entries(secrets).map(([i, v]) => [Number(i), unb64(v)])),
      legs: legs.map(([i, vf, vu]) => ({ index: Number(i), validFrom: vf, validUntil: vu })),
    });
  }
  const [step, skew, digits] = d.totp;
  return {
    gate: d.gate, station: d.station, date: d.date, issuedAt: d.issued_at, covers: d.covers,
    totpStep: Number(step), totpSkew: Number(skew), totpDigits: Number(digits), kid: signed.kid,
    keys: Object.fromEntries(Object.entries(d.keys).map(([k, v]) => [k, unb64(v)])),
    entries, revoked: new Map(Object.entries(d.revoked)), stops: d.stops && d.stops.length ? d.stops : [d.station],
    replaced: replacedOf(d.replaced),
    tz: d.tz || "UTC",
  };
}

// ISO 8601 of unix seconds `t` as the wall clock of the IANA zone `tz`, with its offset: a
// tap's time is written local to the station, as the server writes every time of a place
export function localIso(t, tz) {
  const d = new Date(Math.floor(t) * 1000);
  let p;
  try {
    p = Object.fromEntries(new Intl.DateTimeFormat("en-CA", {
      timeZone: tz, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit",
    }).formatToParts(d).map((x) => [x.type, x.value]));
  } catch (err) {
    return d.toISOString();              // a zone this browser does not know: UTC
  }
  const wall = Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour, +p.minute, +p.second);
  const off = Math.round((wall - d.getTime()) / 60000), a = Math.abs(off);
  const two = (n) => String(n).padStart(2, "0");
  return `${p.year}-${p.month}-${p.day}T${p.hour}:${p.minute}:${p.second}` +
    `${off < 0 ? "-" : "+"}${two(Math.floor(a / 60))}:${two(a % 60)}`;
}

// --- the QR payload (ticketing/tokens.py) ------------------------------------------------

export function b45decode(text) {
  const vals = [];
  for (const ch of text) {
    const v = B45.indexOf(ch);
    if (v < 0) throw new Rejection("malformed", "not a base45 payload");
    vals.push(v);
  }
  if (vals.length % 3 === 1) throw new Rejection("malformed", "not a base45 payload");
  const out = [];
  for (let i = 0; i + 2 < vals.length; i += 3) {
    const n = vals[i] + vals[i + 1] * 45 + vals[i + 2] * 2025;
    if (n > 0xffff) throw new Rejection("malformed", "not a base45 payload");
    out.push(n >> 8, n & 0xff);
  }
  if (vals.length % 3 === 2) {
    const n = vals[vals.length - 2] + vals[vals.length - 1] * 45;
    if (n > 0xff) throw new Rejection("malformed", "not a base45 payload");
    out.push(n);
  }
  return Uint8Array.from(out);
}

function uuidOf(b) {
  const x = Array.from(b, (v) => v.toString(16).padStart(2, "0")).join("");
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

export function parseQr(qr) {
  if (typeof qr !== "string" || !qr || qr.length > 4096) throw new Rejection("malformed", "empty or oversized payload");
  const raw = b45decode(qr);
  let pos = 0;
  const take = (n) => {
    if (pos + n > raw.length) throw new Rejection("malformed", "truncated payload");
    pos += n;
    return raw.subarray(pos - n, pos);
  };
  const u8 = () => take(1)[0];
  const u32 = () => { const b = take(4); return ((b[0] << 24) >>> 0) + (b[1] << 16) + (b[2] << 8) + b[3]; };
  const str = () => { try { return utf8.decode(take(u8())); } catch (e) { if (e instanceof Rejection) throw e; throw new Rejection("malformed", "bad text in payload"); } };
  if (u8() !== 1) throw new Rejection("malformed", "unknown payload version");
  const kidBytes = take(u8());
  if (kidBytes.some((c) => c > 127)) throw new Rejection("malformed", "bad key id");
  const kid = String.fromCharCode(...kidBytes);
  const tag = u8();
  let booking;
  if (tag === 1) booking = uuidOf(take(16));
  else if (tag === 0) booking = str();
  else throw new Rejection("malformed", "bad booking tag");
  const issuedAt = u32();
  const strings = [];
  for (let n = u8(); n > 0; n--) strings.push(str());
  const at = (i) => { if (i >= strings.length) throw new Rejection("malformed", "string index out of range"); return strings[i]; };
  const passengers = [];
  for (let n = u8(); n > 0; n--) { const [i, c] = take(2); passengers.push([at(i), c]); }
  const legs = [];
  for (let n = u8(); n > 0; n--) {
    const idx = u8(), b = u8(), a = u8(), vf = u32(), vu = u32();
    legs.push({ index: idx, board: at(b), alight: at(a), validFrom: vf, validUntil: vu });
  }
  const staticEnd = pos;
  const signature = take(SIG_LEN);
  const n = u8();
  if (n !== legs.length) throw new Rejection("malformed", "one rotating code per leg expected");
  const codes = [];
  for (let i = 0; i < n; i++) codes.push(u32());
  if (pos !== raw.length) throw new Rejection("malformed", "trailing bytes");
  return { token: { kid, booking, issuedAt, passengers, legs,
    passengerCount: passengers.reduce((s, [, c]) => s + c, 0) },
  static: raw.slice(0, staticEnd), signature, codes };
}

// --- the rotating code (ticketing/totp.py) -----------------------------------------------

async function hotp(key, counter, modulo) {
  const msg = new Uint8Array(8);
  const view = new DataView(msg.buffer);
  view.setUint32(0, Math.floor(counter / 2 ** 32));
  view.setUint32(4, counter >>> 0);
  const h = new Uint8Array(await crypto.subtle.sign("HMAC", key, msg));
  const o = h[19] & 0x0f;
  return ((((h[o] & 0x7f) << 24) >>> 0) + (h[o + 1] << 16) + (h[o + 2] << 8) + h[o + 3]) % modulo;
}

export async function matchStep(secret, code, now, { stepS, skew, digits }) {
  const modulo = 10 ** digits;
  if (!(code >= 0 && code < modulo)) return null;
  const key = await crypto.subtle.importKey("raw", secret, { name: "HMAC", hash: "SHA-1" }, false, ["sign"]);
  const current = Math.floor(now / stepS);
  for (let d = 0; d <= skew; d++) {
    for (const step of d === 0 ? [current] : [current - d, current + d]) {
      if (step >= 0 && (await hotp(key, step, modulo)) === code) return step;
    }
  }
  return null;
}

// --- the decision (ticketing/gate.py) ----------------------------------------------------

function candidateLegs(token, stops, now) {
  const here = token.legs.filter((l) => stops.includes(l.board));
  if (!here.length) throw new Rejection("wrong_station", "no leg of this ticket boards here");
  const valid = here.filter((l) => l.validFrom <= now && now <= l.validUntil);
  if (valid.length) return valid;
  const upcoming = here.filter((l) => now < l.validFrom);
  if (upcoming.length) {
    const first = upcoming.reduce((a, b) => (b.validFrom < a.validFrom ? b : a));
    throw new Rejection("not_yet_valid", "ticket not valid yet here", first.index);
  }
  const last = here.reduce((a, b) => (b.validUntil > a.validUntil ? b : a));
  throw new Rejection("validity_over", "ticket no longer valid here", last.index);
}

export class OfflineGate {
  constructor(manifest, now = () => Date.now() / 1000) {
    this.m = manifest;
    this.now = now;
    this.taps = [];
    this.usedLegs = new Set();
    for (const [b, e] of manifest.entries) for (const i of e.usedLegs) this.usedLegs.add(`${b}|${i}`);
    this.usedSteps = new Set();
    this.keys = new Map();
  }

  async key(kid) {
    if (!this.keys.has(kid)) this.keys.set(kid, this.m.keys[kid] ? await ed25519(this.m.keys[kid]) : null);
    return this.keys.get(kid);
  }

  async validate(qr) {
    const m = this.m, now = this.now();
    let token = null;
    try {
      const scanned = parseQr(qr);
      const key = await this.key(scanned.token.kid);
      if (!key) throw new Rejection("unknown_key", "signing key not known");
      const ok = await crypto.subtle.verify({ name: "Ed25519" }, key, scanned.signature, concat(TICKET_DOMAIN, scanned.static));
      if (!ok) throw new Rejection("bad_signature", "signature does not verify");
      token = scanned.token;
      const { legs, step } = await this.check(scanned, token, now);
      const leg = legs.find((x) => !this.usedLegs.has(`${token.booking}|${x.index}`));
      if (!leg) throw new Rejection("already_used", "ticket already used for this leg", legs[0].index);
      if (this.usedSteps.has(`${token.booking}|${step}`)) throw new Rejection("code_expired", "this code was already accepted", leg.index);
      this.usedLegs.add(`${token.booking}|${leg.index}`);
      this.usedSteps.add(`${token.booking}|${step}`);
      // the QR itself goes with the tap: the server accepts an offline tap only with its proof
      this.taps.push({ tap_id: crypto.randomUUID(), booking: token.booking, leg: leg.index,
        at: localIso(now, m.tz), step, qr });
      return { result: "accept", code: "ok", booking: token.booking, leg: leg.index, passengers: token.passengerCount };
    } catch (err) {
      if (!(err instanceof Rejection)) throw err;
      const out = { result: "reject", code: err.code, booking: token ? token.booking : null, leg: err.leg,
        passengers: token ? token.passengerCount : null };
      if (err.replacedBy) out.replaced_by = err.replacedBy;   // code replaced: the leg to board instead
      return out;
    }
  }

  // gate.check_ticket with the manifest's revocations and secrets
  async check(scanned, token, now) {
    const m = this.m;
    let legs = candidateLegs(token, m.stops, now);
    const revoked = m.revoked.has(token.booking) ? m.revoked.get(token.booking) : [];
    if (m.revoked.has(token.booking) && revoked === null) throw new Rejection("cancelled", "booking cancelled");
    const live = legs.filter((l) => !(revoked || []).includes(l.index));
    if (!live.length) {
      const swapped = m.replaced.get(token.booking) || new Map();
      const gone = legs.find((l) => swapped.has(l.index));
      if (gone) throw new Rejection("replaced", "leg replaced", gone.index, swapped.get(gone.index));
      throw new Rejection("cancelled", "leg cancelled");
    }
    legs = live;
    const entry = m.entries.get(token.booking);
    if (!entry) throw new Rejection("not_in_manifest", "booking not in this gate's manifest");
    const matched = [];
    let step = null;
    for (const leg of legs) {
      const secret = entry.secrets.get(leg.index);
      if (!secret) throw new Rejection("not_in_manifest", "leg not in this gate's manifest");
      const pos = token.legs.findIndex((l) => l.index === leg.index);
      const s = await matchStep(secret, scanned.codes[pos], now, { stepS: m.totpStep, skew: m.totpSkew, digits: m.totpDigits });
      if (s !== null) { matched.push(leg); if (step === null) step = s; }
    }
    if (step === null) throw new Rejection("code_expired", "rotating code is not current");
    return { legs: matched, step };
  }
}
