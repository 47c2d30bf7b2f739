// The app shell: hash routes (#/passenger, #/booking/ID, #/operator, #/gate), language and
// the elderly-friendly mode (large type, high contrast, simple steps).

import { currentLang, setLang, t, translateStatic } from "./i18n.js";
import * as passenger from "./passenger.js";
import * as operator from "./operator.js";
import * as gate from "./gate.js";

const PAGES = { passenger, booking: passenger, operator, gate };
let cleanups = [];

function route() {
  const parts = location.hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
  return parts.length && PAGES[parts[0]] ? parts : ["passenger"];
}

function show() {
  for (const f of cleanups) f();
  cleanups = [];
  const parts = route();
  const nav = parts[0] === "booking" ? "passenger" : parts[0];
  for (const a of document.querySelectorAll(".tabs a")) a.classList.toggle("on", a.id === `nav-${nav}`);
  translateStatic();
  document.getElementById("lang").textContent = currentLang() === "zh" ? "English" : "中文";
  const main = document.getElementById("main");
  Promise.resolve(PAGES[parts[0]].render(main, parts, cleanups)).catch((err) => {
    main.textContent = `${t("error")}: ${err.message}`;
  });
}

function start() {
  const elderly = document.getElementById("elderly");
  elderly.checked = localStorage.getItem("maas.elderly") === "1";
  document.body.classList.toggle("elderly", elderly.checked);
  elderly.addEventListener("change", () => {
    localStorage.setItem("maas.elderly", elderly.checked ? "1" : "0");
    document.body.classList.toggle("elderly", elderly.checked);
    show();
  });
  document.getElementById("lang").addEventListener("click", () => {
    setLang(currentLang() === "zh" ? "en" : "zh");
    show();
  });
  window.addEventListener("hashchange", show);
  show();
}

start();
