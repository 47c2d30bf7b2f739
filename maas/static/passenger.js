// Passenger: find stops, plan, book, confirm, show the rotating QR, follow the booking.

import { t, currentLang } from "./i18n.js";
import { api, ApiError, clear, clock, day, duration, errorBox, h, modeName, money, note,
  nowLocalTime, todayLocal, uuid } from "./util.js";
import { routeMap } from "./map.js";
import { TEST_FACES, testTemplate } from "./faces.js";

const MODES = ["bus", "coach", "rail", "metro", "tram", "ferry", "air"];
const ACCOUNT = "maas.account";

// what the page remembers between renders (language switch, elderly mode, navigation)
const state = { from: null, to: null, itineraries: null, chosen: null, form: null };

function account() {
  try { return JSON.parse(localStorage.getItem(ACCOUNT) || "null"); } catch { return null; }
}

async function ensureAccount() {
  let acc = account();
  if (!acc) {
    const made = await api("/v1/accounts", { method: "POST" });
    acc = { id: made.id, token: made.token };
    localStorage.setItem(ACCOUNT, JSON.stringify(acc));
  }
  return acc;
}

const NAMES = "maas.stopNames";

function rememberNames(itineraries) {
  let names = {};
  try { names = JSON.parse(localStorage.getItem(NAMES) || "{}"); } catch { names = {}; }
  for (const it of itineraries) for (const leg of it.legs) {
    for (const p of [leg.from, leg.to]) if (p.id) names[p.id] = p.name;
  }
  const ids = Object.keys(names);
  for (const id of ids.slice(0, Math.max(0, ids.length - 500))) delete names[id];   // bounded
  localStorage.setItem(NAMES, JSON.stringify(names));
}

function nameOf(id) {
  try { return JSON.parse(localStorage.getItem(NAMES) || "{}")[id] || id; } catch { return id; }
}

function stopName(s) {
  if (currentLang() === "en" && s.names && s.names.en) return s.names.en;
  return s.name;
}

// a stop field with suggestions from GET /v1/stops?q=
function stopField(which) {
  const list = h("ul", { class: "suggestions", id: `${which}-suggestions`, role: "listbox" });
  const input = h("input", { id: `${which}-input`, type: "search", autocomplete: "off",
    placeholder: t("stop.placeholder"), value: state[which] ? state[which].label : "" });
  let timer = null, seq = 0;
  input.addEventListener("input", () => {
    state[which] = null;
    clearTimeout(timer);
    const q = input.value.trim();
    if (!q) { clear(list); return; }
    timer = setTimeout(async () => {
      const mine = ++seq;
      try {
        const res = await api(`/v1/stops?q=${encodeURIComponent(q)}&limit=6&lang=${currentLang()}`);
        if (mine !== seq) return;
        clear(list, res.stops.length ? res.stops.map((s) => h("li", {},
          h("button", { type: "button", class: "suggestion", dataset: { id: s.id }, onclick: () => {
            state[which] = { id: s.id, label: stopName(s) };
            input.value = stopName(s);
            clear(list);
          } }, h("span", { class: "sname" }, stopName(s)),
          s.name !== stopName(s) ? h("span", { class: "sub" }, s.name) : null,
          h("span", { class: "sub" }, s.feed),
          h("span", { class: "chips" }, s.modes.map((m) => h("span", { class: `chip mode-${m}` }, modeName(m))))))) 
          : h("li", { class: "empty" }, t("no.stops")));
      } catch (err) {
        if (mine === seq) clear(list, h("li", {}, errorBox(err)));
      }
    }, 200);
  });
  return h("div", { class: "field stop" }, h("label", { for: `${which}-input` }, t(which)), input, list);
}

function planForm(results) {
  // date and time left as shown ("now"): a search plans from the moment it is made
  const f = state.form || (state.form = { date: todayLocal(), time: nowLocalTime(), now: true,
    arriveBy: false, wheelchair: false, modes: new Set(MODES) });
  const date = h("input", { type: "date", id: "date-input", value: f.date, onchange: (e) => { f.date = e.target.value; f.now = false; } });
  const time = h("input", { type: "time", id: "time-input", value: f.time, onchange: (e) => { f.time = e.target.value; f.now = false; } });
  const arrive = h("input", { type: "checkbox", id: "arrive-by", checked: f.arriveBy, onchange: (e) => { f.arriveBy = e.target.checked; } });
  const wheel = h("input", { type: "checkbox", id: "wheelchair", checked: f.wheelchair, onchange: (e) => { f.wheelchair = e.target.checked; } });
  const modes = h("fieldset", { class: "modes advanced" }, h("legend", {}, t("modes")),
    MODES.map((m) => h("label", { class: "chipbox" }, h("input", { type: "checkbox", value: m,
      checked: f.modes.has(m), onchange: (e) => { if (e.target.checked) f.modes.add(m); else f.modes.delete(m); } }),
      " ", modeName(m))));
  const submit = h("button", { type: "submit", id: "plan-button", class: "primary" }, t("plan"));
  const form = h("form", { class: "card plan", id: "plan-form" },
    h("h2", {}, t("p.title")),
    h("div", { class: "grid2" }, stopField("from"), stopField("to")),
    h("div", { class: "grid2" },
      h("div", { class: "field" }, h("label", { for: "date-input" }, t("date")), date),
      h("div", { class: "field" }, h("label", { for: "time-input" }, t("time")), time)),
    h("div", { class: "row" },
      h("label", { class: "check" }, arrive, " ", t("arrive.by")),
      h("label", { class: "check" }, wheel, " ", t("wheelchair"))),
    modes, submit);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    await plan(results, submit);
  });
  return form;
}

async function plan(results, button) {
  const f = state.form;
  if (!state.from || !state.to) { clear(results, note(t("pick.stops"), "warn")); return; }
  // "now" to the second: a departure of the current minute that has left is not offered
  const q = new URLSearchParams({ from: state.from.id, to: state.to.id,
    date: f.now ? todayLocal() : f.date, time: f.now ? nowLocalTime(true) : f.time,
    lang: currentLang() });
  if (f.arriveBy) q.set("arrive_by", "true");
  if (f.wheelchair) q.set("wheelchair", "true");
  if (f.modes.size && f.modes.size < MODES.length) q.set("modes", [...f.modes].join(","));
  if (document.body.classList.contains("elderly")) {
    q.set("limit", "3");
    q.set("profile", "elderly");   // slower walks, more time to change, fewer changes, step-free
  }
  button.disabled = true;
  clear(results, note(t("planning")));
  try {
    const res = await api(`/v1/plan?${q}`);
    state.itineraries = res.itineraries;
    rememberNames(res.itineraries);
    showItineraries(results);
  } catch (err) {
    clear(results, errorBox(err));
  } finally {
    button.disabled = false;
  }
}

function transfersText(n) {
  return n === 0 ? t("transfer.none") : n === 1 ? t("transfer.one") : `${n} ${t("transfers")}`;
}

function legLine(leg) {
  if (leg.mode === "walk") return duration(leg.duration_s);
  const route = leg.route ? (leg.route.short_name || leg.route.long_name) : "";
  return [route, leg.operator].filter(Boolean).join(" · ");
}

// the simple steps of elderly mode: one plain sentence per action
function steps(it) {
  const out = [];
  for (const leg of it.legs) {
    if (leg.mode === "walk") {
      out.push(t("step.walk", { stop: leg.to.name, min: Math.round(leg.duration_s / 60) }));
    } else {
      const route = leg.route ? (leg.route.short_name || leg.route.long_name) : "";
      out.push(t("step.board", { mode: modeName(leg.mode), route, stop: leg.from.name, time: clock(leg.departure) }));
      out.push(t("step.alight", { stop: leg.to.name, time: clock(leg.arrival) }));
    }
  }
  return h("ol", { class: "steps" }, out.map((s) => h("li", {}, s)));
}

// realtime: "+4 min" late / "on time", the timetable's time struck through when it moved
function live(leg) {
  if (!leg.realtime || leg.delay_s === null || leg.delay_s === undefined) return null;
  const min = Math.round(leg.delay_s / 60);
  return h("span", { class: `live ${min > 0 ? "late" : "ontime"}` },
    min === 0 ? t("rt.ontime") : t(min > 0 ? "rt.late" : "rt.early", { min: Math.abs(min) }));
}

function when(leg) {
  const moved = leg.realtime && leg.scheduled_departure && clock(leg.scheduled_departure) !== clock(leg.departure);
  return h("div", { class: "when" }, h("strong", {}, clock(leg.departure)),
    moved ? h("s", { class: "sub" }, clock(leg.scheduled_departure)) : null,
    h("span", {}, clock(leg.arrival)));
}

function alertsOf(it) {
  if (!it.alerts || !it.alerts.length) return null;
  return h("ul", { class: "alerts" }, it.alerts.map((a) => h("li", { class: "msg warn" },
    h("strong", {}, a.header || a.effect || ""), a.description ? ` ${a.description}` : "")));
}

function timeline(it) {
  return h("ol", { class: "timeline" }, it.legs.map((leg) => h("li", { class: `leg mode-${leg.mode}` },
    when(leg),
    h("div", { class: "what" },
      h("div", { class: "line" }, h("span", { class: `chip mode-${leg.mode}` }, modeName(leg.mode)), " ", legLine(leg), " ", live(leg)),
      h("div", { class: "places" }, leg.from.name, " → ", leg.to.name,
        leg.stops ? h("span", { class: "sub" }, ` · ${leg.stops} ${t("stops")}`) : null,
        leg.headsign ? h("span", { class: "sub" }, ` · ${leg.headsign}`) : null)),
    h("div", { class: "price" }, leg.price ? money(leg.price) : ""))));
}

function showItineraries(results) {
  const its = state.itineraries || [];
  if (!its.length) { clear(results, note(t("no.itineraries"), "warn")); return; }
  clear(results, its.map((it, i) => h("article", { class: "card itinerary", id: `itinerary-${i}` },
    h("header", { class: "ithead" },
      h("span", { class: "big" }, `${clock(it.departure)} → ${clock(it.arrival)}`),
      h("span", {}, duration(it.duration_s)), h("span", {}, transfersText(it.transfers)),
      h("span", { class: "total" }, `${t("total")} ${money(it.total)}`)),
    alertsOf(it),
    h("div", { class: "itbody" },
      document.body.classList.contains("elderly") ? steps(it) : timeline(it),
      routeMap(it.legs, `${it.legs[0].from.name} → ${it.legs[it.legs.length - 1].to.name}`)),
    bookable(it)
      ? h("button", { type: "button", class: "primary book", id: `book-${i}`,
        onclick: () => { state.chosen = it; bookingForm(results); } }, t("book"))
      : h("p", { class: "msg info walk-only", id: `walk-only-${i}` }, t("walk.only")))));
}

// An itinerary with a vehicle to ride: a walk-only one has nothing to book (POST /v1/bookings
// refuses it, 422 itinerary_invalid), so it shows no Book button.
function bookable(it) {
  return it.legs.some((leg) => leg.mode !== "walk");
}

function passengerRow(i) {
  return h("div", { class: "grid3 passenger" },
    h("div", { class: "field" }, h("label", { for: `pax-name-${i}` }, t("b.name")),
      h("input", { id: `pax-name-${i}`, autocomplete: "name", required: true })),
    h("div", { class: "field" }, h("label", { for: `pax-id-${i}` }, t("b.id")),
      h("input", { id: `pax-id-${i}`, autocomplete: "off", required: true })),
    h("div", { class: "field" }, h("label", { for: `pax-cat-${i}` }, t("b.category")),
      h("select", { id: `pax-cat-${i}` }, ["adult", "child", "senior", "disabled"].map((c) =>
        h("option", { value: c }, t(`cat.${c}`))))));
}

function bookingForm(results) {
  const it = state.chosen;
  const rows = h("div", {}, passengerRow(0));
  const out = h("div", {});
  const hold = h("button", { type: "submit", class: "primary", id: "hold-button" }, t("b.hold"));
  const form = h("form", { class: "card", id: "booking-form" },
    h("h2", {}, `${clock(it.departure)} → ${clock(it.arrival)} · ${money(it.total)}`),
    timeline(it), h("h3", {}, t("b.title")), rows,
    h("div", { class: "row" }, hold,
      h("button", { type: "button", class: "ghost", onclick: () => showItineraries(results) }, t("back"))), out);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    hold.disabled = true;
    clear(out, note(t("b.holding")));
    const passengers = [...rows.querySelectorAll(".passenger")].map((_, i) => ({
      name: form.querySelector(`#pax-name-${i}`).value.trim(),
      id_number: form.querySelector(`#pax-id-${i}`).value.trim(),
      category: form.querySelector(`#pax-cat-${i}`).value,
    }));
    try {
      const acc = await ensureAccount();
      const booking = await api("/v1/bookings", { method: "POST", token: acc.token,
        headers: { "Idempotency-Key": uuid() }, json: { itinerary_id: it.id, passengers } });
      location.hash = `#/booking/${booking.id}`;
    } catch (err) {
      clear(out, errorBox(err));
      hold.disabled = false;
    }
  });
  clear(results, form);
  form.scrollIntoView({ block: "start" });
}

// --- one booking ------------------------------------------------------------------------

function bookingLegs(b) {
  return h("ol", { class: "timeline" }, b.legs.map((leg) => h("li", { class: `leg mode-${leg.mode}` },
    h("div", { class: "when" }, h("strong", {}, clock(leg.departure)), h("span", {}, clock(leg.arrival))),
    h("div", { class: "what" },
      h("div", { class: "line" }, h("span", { class: `chip mode-${leg.mode}` }, modeName(leg.mode)), " ",
        leg.operator_name, " · ", day(leg.departure)),
      h("div", { class: "places" }, nameOf(leg.from_stop), " → ", nameOf(leg.to_stop),
        h("span", { class: `status s-${leg.status}` }, t(`status.${leg.status}`)))),
    h("div", { class: "price" }, money(leg.price)))));
}

async function showEvents(box, acc, id) {
  try {
    const res = await api(`/v1/bookings/${encodeURIComponent(id)}/events`, { token: acc.token });
    const items = Array.isArray(res) ? res : (res && (res.events || res.items)) || [];
    box.hidden = false;
    clear(box, h("h3", {}, t("events")), h("ol", { class: "events", id: "booking-events" },
      items.map((ev) => h("li", {}, h("strong", {}, ev.event || ev.type || ""), " ",
        ev.to_status ? t(`status.${ev.to_status}`) : "", " ",
        h("span", { class: "sub" }, ev.occurred_at ? `${day(ev.occurred_at)} ${clock(ev.occurred_at)}` : "")))));
  } catch (err) {
    // 404: no events endpoint on this server (yet): nothing to show
    if (!(err instanceof ApiError && err.status === 404)) { box.hidden = false; clear(box, errorBox(err)); }
  }
}

// the rotating QR: the image and the payload, fetched again when the code changes
function qrPanel(acc, id, cleanups) {
  const img = h("img", { id: "qr-img", alt: t("qr.title"), class: "qr", dataset: { refreshes: "0" } });
  const countdown = h("p", { id: "qr-countdown", class: "countdown" });
  const payload = h("textarea", { id: "qr-payload", readonly: true, rows: 3 });
  const copy = h("button", { type: "button", class: "ghost", onclick: async () => {
    try { await navigator.clipboard.writeText(payload.value); copy.textContent = t("qr.copied"); } catch { payload.select(); }
  } }, t("qr.copy"));
  const err = h("div", {});
  let due = 0, timer = null, ticker = null, stopped = false, url = null;
  async function refresh() {
    if (stopped) return;
    try {
      const tok = await api(`/v1/bookings/${encodeURIComponent(id)}/token`, { token: acc.token });
      const svg = await api(`/v1/bookings/${encodeURIComponent(id)}/qr.svg`, { token: acc.token, raw: true });
      const blob = await svg.blob();
      if (stopped) return;
      if (url) URL.revokeObjectURL(url);
      url = URL.createObjectURL(blob);
      img.src = url;
      img.dataset.refreshes = String(Number(img.dataset.refreshes) + 1);
      payload.value = tok.qr;
      clear(err);
      due = Date.now() + tok.refresh_in_s * 1000;
      tick();
      timer = setTimeout(refresh, tok.refresh_in_s * 1000 + 150);
    } catch (e) {
      clear(err, errorBox(e));
      timer = setTimeout(refresh, 5000);
    }
  }
  const tick = () => {
    countdown.textContent = due ? t("qr.refresh", { s: Math.max(0, Math.ceil((due - Date.now()) / 1000)) }) : "";
  };
  ticker = setInterval(tick, 250);
  cleanups.push(() => { stopped = true; clearTimeout(timer); clearInterval(ticker); if (url) URL.revokeObjectURL(url); });
  refresh();
  return h("section", { class: "card qrcard" }, h("h2", {}, t("qr.title")), img, countdown, err,
    h("details", { class: "payload advanced" }, h("summary", {}, t("qr.payload")), payload, copy));
}

async function bookingPage(main, id, cleanups) {
  const acc = account();
  const box = h("div", {});
  clear(main, box);
  if (!acc) { clear(box, note(t("my.none"))); return; }
  let b;
  try {
    b = await api(`/v1/bookings/${encodeURIComponent(id)}`, { token: acc.token });
  } catch (err) {
    clear(box, errorBox(err));
    return;
  }
  const actions = h("div", { class: "row" });
  const out = h("div", {});
  if (b.status === "held") {
    const confirm = h("button", { type: "button", class: "primary", id: "confirm-button", onclick: async () => {
      confirm.disabled = true;
      clear(out, note(t("b.confirming")));
      try {
        await api(`/v1/bookings/${encodeURIComponent(id)}/confirm`, { method: "POST", token: acc.token,
          headers: { "Idempotency-Key": uuid() }, json: { payment_ref: `web-${uuid()}` } });
        await bookingPage(main, id, cleanups);
      } catch (err) { clear(out, errorBox(err)); confirm.disabled = false; }
    } }, t("b.confirm"));
    actions.append(confirm);
  }
  if (b.status === "held" || b.status === "confirmed") {
    actions.append(h("button", { type: "button", class: "ghost danger", id: "cancel-button", onclick: async () => {
      try {
        await api(`/v1/bookings/${encodeURIComponent(id)}/cancel`, { method: "POST", token: acc.token,
          headers: { "Idempotency-Key": uuid() } });
        await bookingPage(main, id, cleanups);
      } catch (err) { clear(out, errorBox(err)); }
    } }, t("b.cancel")));
  }
  actions.append(h("a", { href: "#/passenger", class: "button ghost" }, t("back")));
  const events = h("section", { class: "card", id: "events-card", hidden: true });
  clear(box,
    b.status === "confirmed" ? qrPanel(acc, id, cleanups) : null,
    h("section", { class: "card", id: "booking-card" },
      h("h2", {}, `${t("booking")} `, h("code", {}, b.id)),
      h("p", {}, `${t("status")}: `, h("strong", { id: "booking-status", class: `status s-${b.status}` }, t(`status.${b.status}`)),
        b.status === "held" ? h("span", { class: "sub" }, " · ", t("b.held", { time: clock(b.expires_at) })) : null),
      bookingLegs(b),
      h("p", { class: "totals" }, `${t("total")} ${money(b.total)} · ${t("paid")} ${money(b.paid)}`,
        Number(b.refund.amount) ? ` · ${t("refund")} ${money(b.refund)}` : ""),
      h("p", { class: "sub" }, b.passengers.map((p) => `${p.name} (${t(`cat.${p.category}`)}) ${p.id_number}`).join(" · ")),
      actions, out),
    events);
  showEvents(events, acc, id);
}

// --- my bookings and face ---------------------------------------------------------------

async function myBookings(box) {
  const acc = account();
  if (!acc) { clear(box); return; }
  try {
    const page = await api("/v1/bookings?limit=10", { token: acc.token });
    clear(box, h("h2", {}, t("my.bookings")), page.items.length ? h("ul", { class: "list", id: "my-bookings" },
      page.items.map((b) => h("li", {},
        h("a", { href: `#/booking/${b.id}` }, b.legs.length ? `${day(b.legs[0].departure)} ${clock(b.legs[0].departure)} ${nameOf(b.legs[0].from_stop)} → ${nameOf(b.legs[b.legs.length - 1].to_stop)}` : b.id),
        " ", h("span", { class: `status s-${b.status}` }, t(`status.${b.status}`)), " ", money(b.total))))
      : note(t("my.none")));
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) { localStorage.removeItem(ACCOUNT); clear(box); return; }
    clear(box, errorBox(err));
  }
}

function faceCard() {
  const acc = account();
  if (!acc) return null;
  const out = h("div", {});
  const pick = h("select", { id: "face-enrol-template" }, TEST_FACES.map((f) => h("option", { value: f }, `${t("face.template")} ${f}`)));
  const consent = h("input", { type: "checkbox", id: "face-consent" });
  return h("details", { class: "card advanced", id: "face-card" }, h("summary", {}, t("face.title")),
    h("div", { class: "row" }, pick, h("label", { class: "check" }, consent, " ", t("face.consent")),
      h("button", { type: "button", id: "face-enrol", onclick: async () => {
        try {
          await api("/v1/accounts/face", { method: "POST", token: acc.token,
            json: { template: testTemplate(pick.value), consent: consent.checked } });
          clear(out, note(t("face.enrolled"), "ok"));
        } catch (err) { clear(out, errorBox(err)); }
      } }, t("face.enrol")),
      h("button", { type: "button", class: "ghost", onclick: async () => {
        try {
          await api("/v1/accounts/face", { method: "DELETE", token: acc.token });
          clear(out, note(t("face.erased"), "ok"));
        } catch (err) { clear(out, errorBox(err)); }
      } }, t("face.erase"))), out,
    h("button", { type: "button", class: "ghost danger", onclick: () => {
      localStorage.removeItem(ACCOUNT);
      location.hash = "#/passenger";
      window.dispatchEvent(new HashChangeEvent("hashchange"));
    } }, t("account.forget")));
}

export function render(main, route, cleanups) {
  if (route[0] === "booking" && route[1]) return bookingPage(main, route[1], cleanups);
  const results = h("div", { id: "results" });
  const mine = h("section", { class: "card mine" });
  clear(main, planForm(results), results, mine, faceCard());
  if (state.itineraries) showItineraries(results);
  myBookings(mine);
  return null;
}
