// Gate: play a gate — paste or scan a QR payload, or present a test face; decide online
// (POST /v1/gates/{gate}/validate) or offline from the gate's downloaded manifest.

import { t } from "./i18n.js";
import { api, clear, clock, day, errorBox, h, keyField, note } from "./util.js";
import { TEST_FACES, testTemplate } from "./faces.js";
import { OfflineGate, missingPrimitives, openManifest } from "./offline.js";

const KEY = "maas.gateKey";
const GATE = "maas.gateId";

// one offline gate per tab: the manifest and the taps queued for upload
const offline = { gate: null, info: null };

export function decisionView(d, how) {
  return h("div", { class: `decision ${d.result}`, id: "decision", dataset: { result: d.result, code: d.code } },
    h("div", { class: "verdict" }, t(d.result)),
    h("div", { class: "why" }, h("code", {}, d.code), ` · ${how}`),
    d.booking ? h("div", { class: "sub" }, `${d.booking}`, d.leg !== null && d.leg !== undefined ? ` · ${t("leg")} ${d.leg}` : "",
      d.passengers ? ` · ${d.passengers} ${t(d.passengers === 1 ? "g.passenger" : "g.passengers")}` : "") : null,
    // the leg's window, local to the station (as the server writes it)
    d.valid_from ? h("div", { class: "sub", id: "decision-window" }, `${t("g.opens")} ${day(d.valid_from)} ${clock(d.valid_from)}`) : null,
    d.valid_until ? h("div", { class: "sub", id: "decision-window" }, `${t("g.closed")} ${day(d.valid_until)} ${clock(d.valid_until)}`) : null,
    d.replaced_by ? h("div", { class: "sub", id: "replaced-by" }, t("g.replaced", {
      leg: d.replaced_by.leg, trip: d.replaced_by.trip_id, departure: d.replaced_by.departure,
      station: d.replaced_by.station })) : null);
}

export function render(main, route, cleanups) {
  const gateInput = h("input", { id: "gate-id", autocomplete: "off", value: sessionStorage.getItem(GATE) || "" });
  gateInput.addEventListener("change", () => sessionStorage.setItem(GATE, gateInput.value.trim()));
  let key = sessionStorage.getItem(KEY) || "";
  const mode = { value: "online" };
  const result = h("div", { id: "decision-box", "aria-live": "assertive" });
  const qr = h("textarea", { id: "gate-qr", rows: 4, spellcheck: "false", placeholder: "NCF…" });
  const gate = () => gateInput.value.trim();

  async function decide(payload) {
    clear(result);
    try { await decideInto(payload); } finally { result.scrollIntoView({ block: "nearest" }); }
  }

  async function decideInto(payload) {
    if (!gate() || !key) { clear(result, note(`${t("g.gate")} / ${t("key.gate")}`, "warn")); return; }
    try {
      if (mode.value === "offline") {
        if (!offline.gate) { clear(result, note(t("g.manifest.none"), "warn")); return; }
        if (payload.face) { clear(result, note(t("g.noface.offline"), "warn")); return; }
        if (payload.id_card) { clear(result, note(t("g.noid.offline"), "warn")); return; }
        const d = await offline.gate.validate(payload.qr);
        clear(result, decisionView(d, t("g.offline")));
        showTaps();
      } else {
        const d = await api(`/v1/gates/${encodeURIComponent(gate())}/validate`, { method: "POST", token: key, json: payload });
        clear(result, decisionView(d, t("g.online")));
      }
    } catch (err) {
      clear(result, errorBox(err));
    }
  }

  // camera scan where the browser has a BarcodeDetector for QR codes
  const video = h("video", { id: "gate-video", playsinline: true, muted: true, hidden: true });
  const scanMsg = h("div", {});
  let stream = null, scanning = false;
  const stopScan = () => { scanning = false; if (stream) stream.getTracks().forEach((tr) => tr.stop()); stream = null; video.hidden = true; };
  cleanups.push(stopScan);
  const scan = h("button", { type: "button", class: "ghost", id: "gate-scan", onclick: async () => {
    if (scanning) { stopScan(); scan.textContent = t("g.scan"); return; }
    const formats = "BarcodeDetector" in window ? await BarcodeDetector.getSupportedFormats().catch(() => []) : [];
    if (!formats.includes("qr_code") || !navigator.mediaDevices) { clear(scanMsg, note(t("g.noscan"), "warn")); return; }
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
    } catch (err) { clear(scanMsg, errorBox(err)); return; }
    const detector = new BarcodeDetector({ formats: ["qr_code"] });
    video.srcObject = stream;
    video.hidden = false;
    await video.play();
    scanning = true;
    scan.textContent = t("g.scan.stop");
    while (scanning) {
      const codes = await detector.detect(video).catch(() => []);
      if (codes.length) {
        qr.value = codes[0].rawValue;
        stopScan();
        scan.textContent = t("g.scan");
        await decide({ qr: qr.value.trim() });
        break;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  } }, t("g.scan"));

  // an ID card as the ticket (一票（证）通行): its type and number, checked online
  const idType = h("select", { id: "gate-id-type" }, ["prc_id", "passport", "hk_macao_permit", "taiwan_permit"].map((v) =>
    h("option", { value: v }, t(`g.id.${v}`))));
  const idNumber = h("input", { id: "gate-id-number", autocomplete: "off", spellcheck: "false", placeholder: "11010519491231002X" });
  const face = h("select", { id: "gate-face" }, TEST_FACES.map((f) => h("option", { value: f }, `${t("face.template")} ${f}`)));

  // offline: the manifest, its status and the taps queued for upload
  const manifestBox = h("div", { id: "manifest-status" });
  const tapsBox = h("div", { id: "taps-status" });
  function showManifest() {
    clear(manifestBox, offline.info ? note(t("g.manifest.ok", offline.info), "ok") : note(t("g.manifest.none")));
  }
  function showTaps() {
    const n = offline.gate ? offline.gate.taps.length : 0;
    clear(tapsBox, h("span", { id: "taps-count" }, t("g.taps", { n })), " ",
      n ? h("button", { type: "button", id: "taps-upload", onclick: async () => {
        try {
          const res = await api(`/v1/gates/${encodeURIComponent(gate())}/taps`, { method: "POST", token: key,
            json: { taps: offline.gate.taps } });
          offline.gate.taps = [];
          showTaps();
          tapsBox.append(note(t("g.uploaded", { r: res.recorded, c: res.conflicts, d: res.duplicates }), "ok"));
        } catch (err) { tapsBox.append(errorBox(err)); }
      } }, t("g.upload")) : null);
  }
  const download = h("button", { type: "button", id: "manifest-download", onclick: async () => {
    clear(manifestBox, note(t("loading")));
    const missing = await missingPrimitives();
    if (missing.length) { clear(manifestBox, note(t("g.crypto.missing", { what: missing.join(", ") }), "bad")); return; }
    try {
      const env = await api(`/v1/gates/${encodeURIComponent(gate())}/manifest`, { token: key });
      const m = await openManifest(env, key);
      offline.gate = new OfflineGate(m);
      offline.info = { station: m.station, date: m.date, n: m.entries.size, kid: m.kid };
      showManifest();
      showTaps();
    } catch (err) {
      clear(manifestBox, errorBox(err));
    }
  } }, t("g.manifest"));
  const offlinePanel = h("div", { class: "offline", hidden: true }, h("div", { class: "row" }, download), manifestBox, tapsBox);

  const tabs = h("div", { class: "segmented", role: "tablist" }, ["online", "offline"].map((m) =>
    h("label", {}, h("input", { type: "radio", name: "gate-mode", value: m, id: `gate-mode-${m}`, checked: m === "online",
      onchange: () => { mode.value = m; offlinePanel.hidden = m !== "offline"; clear(result); } }), " ", t(`g.${m}`))));

  clear(main,
    h("section", { class: "card" }, h("h2", {}, t("g.title")),
      h("div", { class: "field" }, h("label", { for: "gate-id" }, t("g.gate")), gateInput),
      keyField(KEY, "key.gate", (v) => { key = v; offline.gate = null; offline.info = null; showManifest(); showTaps(); }),
      tabs, offlinePanel),
    h("section", { class: "card" },
      h("div", { class: "field" }, h("label", { for: "gate-qr" }, t("g.qr")), qr),
      h("div", { class: "row" },
        h("button", { type: "button", class: "primary", id: "gate-validate", onclick: () => decide({ qr: qr.value.trim() }) }, t("g.validate")),
        scan), video, scanMsg, result,
      h("div", { class: "row face" }, h("label", { for: "gate-face" }, t("g.face")), face,
        h("button", { type: "button", id: "gate-face-check", onclick: () => decide({ face: testTemplate(face.value) }) }, t("g.face.check"))),
      h("div", { class: "row idcard" }, h("label", { for: "gate-id-number" }, t("g.id")), idType, idNumber,
        h("button", { type: "button", id: "gate-id-check", onclick: () =>
          decide({ id_card: { id_type: idType.value, number: idNumber.value.trim().toUpperCase() } }) }, t("g.id.check")))));
  if (mode.value === "offline") offlinePanel.hidden = false;
  showManifest();
  showTaps();
  return null;
}
