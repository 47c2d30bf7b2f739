// DOM building, API calls and formatting shared by the pages.

import { t } from "./i18n.js";

// h("div", {class: "x", onclick: f}, child, "text", [more]): an element
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, v);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
    this.code = this.problem.code || `http_${status}`;
  }
}

// fetch a JSON API (same origin); throws ApiError with the problem+json body on 4xx/5xx
export async function api(path, { method = "GET", token, body, json, headers = {}, raw } = {}) {
  const init = { method, headers: { ...headers } };
  if (token) init.headers.Authorization = `Bearer ${token}`;
  if (json !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(json);
  } else if (body !== undefined) {
    init.body = body;
  }
  let resp;
  try {
    resp = await fetch(path, init);
  } catch (err) {
    throw new ApiError(0, { code: "network", detail: t("err.network") });
  }
  if (raw) {
    if (!resp.ok) throw new ApiError(resp.status, await resp.json().catch(() => null));
    return resp;
  }
  const type = resp.headers.get("Content-Type") || "";
  const data = type.includes("json") ? await resp.json().catch(() => null) : null;
  if (!resp.ok) throw new ApiError(resp.status, data);
  return data;
}

// a message box for an error (never echoes the request's credentials: only the problem)
export function errorBox(err) {
  const code = err instanceof ApiError ? err.code : "error";
  return h("div", { class: "msg bad", role: "alert" }, h("strong", {}, t("error"), " "),
    h("code", {}, code), " ", err.message || String(err));
}

export function note(text, kind = "info") {
  return h("div", { class: `msg ${kind}` }, text);
}

// "HH:MM" of an ISO time: the wall clock it carries when it has a local offset, else the
// browser's local time
export function clock(iso) {
  if (!iso) return "";
  const m = /T(\d{2}:\d{2})(?::\d{2}(?:\.\d+)?)?([+-]\d{2}:\d{2})$/.exec(iso);
  if (m && m[2] !== "+00:00") return m[1];
  return new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hour12: false });
}

export function day(iso) {
  return iso ? iso.slice(0, 10) : "";
}

export function duration(s) {
  const m = Math.round(s / 60);
  return m < 60 ? `${m} ${t("min")}` : `${Math.floor(m / 60)} ${t("h")} ${m % 60} ${t("min")}`;
}

export function money(m) {
  return m ? `${m.amount} ${m.currency}` : "—";
}

export function modeName(mode) {
  return t(`mode.${mode}`);
}

export function todayLocal() {
  const d = new Date();
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

export function nowLocalTime(seconds = false) {
  const d = new Date();
  const pad = (n) => String(n).padStart(2, "0");
  return `${pad(d.getHours())}:${pad(d.getMinutes())}` + (seconds ? `:${pad(d.getSeconds())}` : "");
}

export function uuid() {
  return crypto.randomUUID ? crypto.randomUUID()
    : Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
}

// a key input that keeps what was pasted in sessionStorage (this tab only) and shows it masked
export function keyField(storageKey, labelKey, onChange) {
  const input = h("input", { type: "password", autocomplete: "off", spellcheck: "false",
    id: `${storageKey.replace(/\W/g, "-")}-input`, placeholder: "mk_…" });
  input.value = sessionStorage.getItem(storageKey) || "";
  const use = h("button", { type: "button", id: `${storageKey.replace(/\W/g, "-")}-use`, onclick: () => {
    const v = input.value.trim();
    if (v) sessionStorage.setItem(storageKey, v); else sessionStorage.removeItem(storageKey);
    onChange(v);
  } }, t("key.use"));
  const forget = h("button", { type: "button", class: "ghost", onclick: () => {
    sessionStorage.removeItem(storageKey);
    input.value = "";
    onChange("");
  } }, t("key.forget"));
  return h("div", { class: "keyrow" }, h("label", {}, t(labelKey), input), use, forget,
    h("small", { class: "hint" }, t("key.hint")));
}
