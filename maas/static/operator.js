// Operator: publish a feed, read its report, activate / roll back, conflicts, check-ins, alerts.

import { currentLang, t } from "./i18n.js";
import { api, ApiError, clear, clock, day, errorBox, h, keyField, note } from "./util.js";

const KEY = "maas.operatorKey";
const OPERATOR = "maas.operatorId";
const SEVERITY = { error: 0, warning: 1, info: 2 };

// notices grouped by code, errors first, then by count
export function groupNotices(report) {
  const groups = new Map();
  for (const n of report) {
    const g = groups.get(n.code) || { code: n.code, severity: n.severity, notices: [] };
    g.notices.push(n);
    groups.set(n.code, g);
  }
  return [...groups.values()].sort((a, b) => (SEVERITY[a.severity] ?? 3) - (SEVERITY[b.severity] ?? 3)
    || b.notices.length - a.notices.length || a.code.localeCompare(b.code));
}

export function reportView(report) {
  const groups = groupNotices(report);
  if (!groups.length) return note(t("o.clean"), "ok");
  return h("div", { class: "report", id: "report" },
    h("div", { class: "rhead" }, h("span", {}, t("o.code")), h("span", {}, t("o.severity")), h("span", {}, t("o.count"))),
    groups.map((g) => h("details", { class: `rgroup sev-${g.severity}`, id: `group-${g.code}`, dataset: { code: g.code, count: String(g.notices.length) } },
      h("summary", {}, h("code", {}, g.code), h("span", { class: `badge sev-${g.severity}` }, g.severity),
        h("span", { class: "count" }, String(g.notices.length))),
      h("div", { class: "scroll" }, h("table", { class: "notices" },
        h("thead", {}, h("tr", {}, h("th", {}, t("o.file.col")), h("th", {}, t("o.row")), h("th", {}, t("o.field")), h("th", {}, t("o.message")))),
        h("tbody", {}, g.notices.map((n) => h("tr", {}, h("td", {}, n.file || ""), h("td", {}, n.row ?? ""),
          h("td", {}, n.field || ""), h("td", {}, n.message)))))))));
}

function statsLine(s) {
  return s ? t("o.stats", { stops: s.stops, routes: s.routes, trips: s.trips }) + (s.start_date ? ` · ${s.start_date} – ${s.end_date}` : "") : "";
}

function publishCard(ctx) {
  const out = h("div", { id: "publish-result" });
  const feed = h("input", { id: "feed-name", required: true, pattern: "[a-z0-9_-]{1,48}", value: ctx.feeds[0] ? ctx.feeds[0].name : "" });
  const file = h("input", { id: "feed-file", type: "file", accept: ".zip,application/zip", required: true });
  const go = h("button", { type: "submit", class: "primary", id: "publish-button" }, t("o.upload"));
  const form = h("form", { class: "card", id: "publish-form" }, h("h2", {}, t("o.publish")),
    h("div", { class: "grid2" },
      h("div", { class: "field" }, h("label", { for: "feed-name" }, t("o.feed")), feed),
      h("div", { class: "field" }, h("label", { for: "feed-file" }, t("o.file")), file)),
    go, out);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!file.files.length) return;
    go.disabled = true;
    clear(out, note(t("o.uploading")));
    try {
      const res = await api(`/v1/feeds?feed=${encodeURIComponent(feed.value.trim())}`, { method: "POST",
        token: ctx.key, headers: { "Content-Type": "application/zip" }, body: file.files[0] });
      clear(out, note(res.created ? t("o.accepted", { v: res.version }) : t("o.same", { v: res.version }), "ok"),
        h("p", { class: "sub" }, statsLine(res.stats)), h("h3", {}, t("o.report")), reportView(res.report));
      ctx.reload();
    } catch (err) {
      if (err instanceof ApiError && err.code === "feed_has_errors") {
        clear(out, note(t("o.rejected", { v: err.problem.version }), "bad"),
          h("h3", {}, t("o.report")), reportView(err.problem.report || []));
        ctx.reload();
      } else {
        clear(out, errorBox(err));
      }
    } finally {
      go.disabled = false;
    }
  });
  return form;
}

function versionsCard(ctx) {
  const out = h("div", {});
  const detail = h("div", { id: "version-detail" });
  const body = ctx.feeds.length ? ctx.feeds.map((f) => h("div", { class: "feed" },
    h("h3", {}, f.name, " ", h("span", { class: "sub" }, f.operator_id)),
    h("div", { class: "scroll" }, h("table", { class: "versions" },
      h("thead", {}, h("tr", {}, h("th", {}, t("o.version")), h("th", {}, t("status")), h("th", {}, t("o.created")),
        h("th", {}, `${t("o.errors")} / ${t("o.warnings")}`), h("th", {}, ""))),
      h("tbody", {}, f.versions.map((v) => h("tr", { dataset: { version: v.version, status: v.status } },
        h("td", {}, h("code", {}, v.version)),
        h("td", {}, h("span", { class: `status s-${v.status}` }, t(`vs.${v.status}`))),
        h("td", {}, `${day(v.created_at)} ${clock(v.created_at)}`),
        h("td", {}, `${v.errors} / ${v.warnings}`),
        h("td", { class: "actions" },
          h("button", { type: "button", class: "ghost", onclick: async () => {
            try {
              const d = await api(`/v1/feeds/${encodeURIComponent(v.version)}`, { token: ctx.key });
              clear(detail, h("h3", {}, `${t("o.report")} `, h("code", {}, d.version)), h("p", { class: "sub" }, statsLine(d.stats)), reportView(d.report));
            } catch (err) { clear(detail, errorBox(err)); }
          } }, t("o.report")),
          (v.status === "accepted" || v.status === "superseded") ? h("button", { type: "button",
            class: v.status === "superseded" ? "warnbtn" : "primary", id: `activate-${v.version}`, onclick: async (e) => {
              e.target.disabled = true;
              try {
                const r = await api(`/v1/feeds/${encodeURIComponent(v.version)}/activate`, { method: "POST", token: ctx.key });
                ctx.flash = note(t("o.activated", { v: r.version }), "ok");
                ctx.reload();
              } catch (err) { clear(out, errorBox(err)); e.target.disabled = false; }
            } }, v.status === "superseded" ? t("o.rollback") : t("o.activate")) : null)))))))) : note(t("o.nofeeds"));
  return h("section", { class: "card", id: "versions-card" }, h("h2", {}, t("o.versions")), ctx.flash, out, body, detail);
}

async function optional(box, title, load, fill) {
  try {
    const data = await load();
    clear(box, h("h2", {}, title), fill(data));
    box.hidden = false;
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) {
      box.hidden = true;     // not on this server (yet)
    } else {
      clear(box, h("h2", {}, title), errorBox(err));
      box.hidden = false;
    }
  }
}

function conflictsTable(data) {
  const rows = data.conflicts || [];
  if (!rows.length) return note(t("o.noconflicts"), "ok");
  return h("div", { class: "scroll" }, h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, t("booking")), h("th", {}, t("leg")),
    h("th", {}, t("o.winner")), h("th", {}, t("o.loser")))),
  h("tbody", {}, rows.map((c) => h("tr", {}, h("td", {}, h("code", {}, c.booking)), h("td", {}, c.leg),
    h("td", {}, `${c.winner.gate} ${clock(c.winner.at)}`), h("td", {}, `${c.loser.gate} ${clock(c.loser.at)}`))))));
}

function checkinsTable(data) {
  if (!data.stations.length) return note(t("o.nocheckins"));
  return h("div", { class: "scroll" }, h("table", { id: "checkins" }, h("thead", {}, h("tr", {}, h("th", {}, t("o.station")),
    h("th", {}, t("o.checkins.n")), h("th", {}, t("o.passengers")), h("th", {}, t("o.qr")), h("th", {}, t("o.face")), h("th", {}, t("o.idcard")), h("th", {}, t("o.offline")))),
  h("tbody", {}, data.stations.map((s) => h("tr", {}, h("td", {}, s.name || s.station, h("div", { class: "sub" }, s.station)),
    h("td", {}, s.checkins), h("td", {}, s.passengers), h("td", {}, s.qr), h("td", {}, s.face), h("td", {}, s.id_card), h("td", {}, s.offline))))));
}

function alertsList(data) {
  const items = Array.isArray(data) ? data : data.alerts || data.items || [];
  if (!items.length) return note(t("o.noalerts"), "ok");
  const text = (v) => (typeof v === "string" ? v : v && typeof v === "object" ? Object.values(v)[0] : "");
  return h("ul", { class: "list alerts", id: "alerts" }, items.map((a) => h("li", {},
    a.feed ? h("span", { class: "badge" }, a.feed) : null, " ",
    h("strong", {}, text(a.header) || text(a.header_text) || a.cause || a.effect || a.id || ""), " ",
    h("span", {}, text(a.description) || text(a.description_text) || ""),
    a.delay_s !== undefined ? h("span", { class: "badge sev-warning" }, `${Math.round(a.delay_s / 60)} ${t("min")}`) : null)));
}

export function render(main, route, cleanups) {
  const ctx = { key: sessionStorage.getItem(KEY) || "", feeds: [], flash: null, reload: null, monitor: null };
  const body = h("div", {});
  clear(main, h("section", { class: "card" }, h("h2", {}, t("o.title")),
    keyField(KEY, "key.operator", (v) => { ctx.key = v; load(); })), body);

  async function load() {
    if (!ctx.key) { clear(body); return; }
    clear(body, note(t("loading")));
    try {
      ctx.feeds = (await api("/v1/feeds", { token: ctx.key })).feeds;
    } catch (err) {
      clear(body, errorBox(err));
      return;
    }
    const opInput = h("input", { id: "operator-id", value: sessionStorage.getItem(OPERATOR)
      || (ctx.feeds[0] && ctx.feeds[0].operator_id) || "" });
    const conflicts = h("section", { class: "card", id: "conflicts-card", hidden: true });
    const checkins = h("section", { class: "card", id: "checkins-card", hidden: true });
    const alerts = h("section", { class: "card", id: "alerts-card", hidden: true });
    const tz = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
    const monitor = () => {
      const op = opInput.value.trim();
      sessionStorage.setItem(OPERATOR, op);
      if (op) {
        optional(conflicts, t("o.conflicts"), () => api(`/v1/operators/${encodeURIComponent(op)}/conflicts`, { token: ctx.key }), conflictsTable);
        optional(checkins, t("o.checkins"), () => api(`/v1/operators/${encodeURIComponent(op)}/checkins?tz=${encodeURIComponent(tz)}`, { token: ctx.key }), checkinsTable);
      }
      optional(alerts, t("o.alerts"), () => api(`/v1/alerts?lang=${currentLang()}`, { token: ctx.key }), alertsList);
    };
    ctx.monitor = () => {
      if (!opInput.value.trim() && ctx.feeds[0]) opInput.value = ctx.feeds[0].operator_id;
      monitor();
    };
    clear(body, publishCard(ctx), versionsCard(ctx),
      h("section", { class: "card row" }, h("label", { for: "operator-id" }, t("o.operator")), opInput,
        h("button", { type: "button", class: "ghost", id: "monitor-refresh", onclick: monitor }, t("refresh"))),
      checkins, conflicts, alerts);
    ctx.flash = null;
    monitor();
  }
  ctx.reload = async () => {
    try {
      ctx.feeds = (await api("/v1/feeds", { token: ctx.key })).feeds;
      const old = body.querySelector("#versions-card");
      if (old) old.replaceWith(versionsCard(ctx));
      ctx.flash = null;
      if (ctx.monitor) ctx.monitor();
    } catch (err) { body.prepend(errorBox(err)); }
  };
  load();
  return null;
}
