// Chinese and English strings of the app; the language defaults from the browser.

const STRINGS = {
  en: {
    brand: "maas", "nav.passenger": "Passenger", "nav.operator": "Operator", "nav.gate": "Gate",
    elderly: "Large & simple", foot: "maas — one journey, one ticket.",
    "p.title": "Plan a journey", from: "From", to: "To", "stop.placeholder": "Station or stop name",
    date: "Date", time: "Time", "arrive.by": "Arrive by", wheelchair: "Wheelchair accessible",
    modes: "Modes", plan: "Plan", planning: "Planning…", "no.itineraries": "No journey found for this time.",
    "pick.stops": "Choose a departure and a destination from the suggestions.",
    "no.stops": "No stop matches.", transfers: "transfers", "transfer.one": "1 transfer",
    "transfer.none": "direct", total: "Total", book: "Book this journey", walk: "Walk",
    "walk.only": "On foot all the way: no ticket needed.",
    "mode.bus": "Bus", "mode.coach": "Coach", "mode.rail": "Rail", "mode.metro": "Metro",
    "mode.tram": "Tram", "mode.ferry": "Ferry", "mode.air": "Air", "mode.other": "Other", "mode.walk": "Walk",
    "step.board": "Board {mode} {route} at {stop} at {time}", "step.alight": "Get off at {stop} at {time}",
    "step.walk": "Walk to {stop} ({min} min)", stops: "stops", min: "min", "h": "h",
    "b.title": "Passengers", "b.name": "Full name", "b.id": "ID number", "b.category": "Category",
    "cat.adult": "Adult", "cat.child": "Child", "cat.senior": "Senior", "cat.disabled": "Disabled",
    "b.hold": "Hold seats", "b.holding": "Holding seats…", "b.confirm": "Pay and confirm",
    "b.confirming": "Confirming…", "b.cancel": "Cancel booking", "b.held": "Seats held until {time}",
    booking: "Booking", status: "Status", "status.held": "held", "status.confirmed": "confirmed",
    "status.cancelled": "cancelled", "status.expired": "expired", paid: "Paid", refund: "Refund",
    "qr.title": "Your ticket", "qr.refresh": "Code changes in {s} s", "qr.payload": "QR payload (for the gate page)",
    "qr.copy": "Copy", "qr.copied": "Copied", events: "History", "my.bookings": "My bookings",
    "my.none": "No bookings yet.", show: "Show", back: "Back", account: "Account",
    "account.forget": "Forget this device's account", "face.title": "Face boarding (test templates)",
    "face.consent": "I consent to face boarding", "face.enrol": "Enrol", "face.enrolled": "Face enrolled",
    "face.erase": "Erase my face", "face.erased": "Face erased", "face.template": "Test template",
    "o.title": "Operator", "key": "Key", "key.operator": "Operator key", "key.gate": "Gate key",
    "key.use": "Use this key", "key.forget": "Forget key", "key.hint": "Kept in this tab only; never shown again.",
    "o.operator": "Operator id", "o.publish": "Publish a feed", "o.feed": "Feed name", "o.file": "GTFS zip",
    "o.upload": "Validate and publish", "o.uploading": "Validating…", "o.accepted": "Accepted: version {v}",
    "o.same": "These bytes already are version {v}", "o.rejected": "Rejected: the feed has errors (version {v} kept as rejected)",
    "o.report": "Validation report", "o.code": "Notice code", "o.severity": "Severity", "o.count": "Count",
    "o.file.col": "File", "o.row": "Row", "o.field": "Field", "o.message": "Message", "o.clean": "No notices: a clean feed.",
    "o.versions": "Versions", "o.version": "Version", "o.created": "Created", "o.activate": "Activate",
    "o.rollback": "Roll back to this", "o.active": "live", "o.activated": "Version {v} is live",
    "vs.active": "live", "vs.accepted": "accepted", "vs.superseded": "superseded", "vs.rejected": "rejected",
    "o.errors": "errors", "o.warnings": "warnings", "o.nofeeds": "No feeds yet.", "o.stats": "{stops} stops, {routes} routes, {trips} trips",
    "o.qr": "QR", "o.face": "Face", "o.idcard": "ID card", "o.offline": "Offline",
    "o.conflicts": "Conflicts (tickets used twice offline)", "o.noconflicts": "No conflicts.",
    "o.checkins": "Check-ins today per station", "o.nocheckins": "No check-ins today.",
    "o.station": "Station", "o.checkins.n": "Check-ins", "o.passengers": "Passengers",
    "o.alerts": "Live alerts and delays", "o.noalerts": "No alerts.", "o.winner": "First tap", "o.loser": "Second tap",
    refresh: "Refresh", "g.title": "Gate", "g.gate": "Gate id", "g.online": "Online", "g.offline": "Offline (manifest)", "g.opens": "Opens here at", "g.closed": "Closed here at",
    "g.qr": "QR payload", "g.validate": "Validate", "g.scan": "Scan with camera", "g.scan.stop": "Stop camera",
    "g.noscan": "This browser cannot read QR codes from the camera (no BarcodeDetector); paste the payload.",
    "g.face": "Face (test template)", "g.face.check": "Check face", "accept": "ACCEPT", "reject": "REJECT",
    "g.manifest": "Download manifest", "g.manifest.ok": "Manifest for {station}, {date}: {n} bookings, signed by {kid}",
    "g.manifest.none": "No manifest loaded.", "g.taps": "Taps to upload: {n}", "g.upload": "Upload taps",
    "g.uploaded": "Uploaded: {r} recorded, {c} conflicts, {d} duplicates", "g.noface.offline": "The manifest carries no face templates: faces are checked online only.",
    "g.id": "ID card", "g.id.check": "Check ID card", "g.id.prc_id": "PRC resident ID", "g.id.passport": "Passport",
    "g.id.hk_macao_permit": "HK/Macao permit", "g.id.taiwan_permit": "Taiwan permit",
    "g.noid.offline": "ID cards are checked online here (the gate tool checks them offline: maas gate check --id-type).",
    "g.crypto.missing": "This browser's WebCrypto lacks {what}: the manifest cannot be verified here, so offline validation is off.",
    "g.passengers": "passengers", "g.passenger": "passenger", "leg": "leg", "code": "code",
    "g.replaced": "This leg was replaced: board leg {leg} instead ({trip}, departing {departure} from {station})",
    "rt.ontime": "on time", "rt.late": "+{min} min late", "rt.early": "{min} min early",
    error: "Error", "err.network": "The service cannot be reached.", loading: "Loading…", close: "Close",
  },
  zh: {
    brand: "maas 出行", "nav.passenger": "乘客", "nav.operator": "运营方", "nav.gate": "闸机",
    elderly: "大字简洁", foot: "maas — 一次行程，一张票。",
    "p.title": "规划行程", from: "出发", to: "到达", "stop.placeholder": "车站或站点名称",
    date: "日期", time: "时间", "arrive.by": "按到达时间", wheelchair: "无障碍（轮椅）",
    modes: "交通方式", plan: "查询", planning: "查询中…", "no.itineraries": "该时间没有找到行程。",
    "pick.stops": "请从提示中选择出发地和目的地。", "no.stops": "没有匹配的站点。",
    transfers: "次换乘", "transfer.one": "换乘 1 次", "transfer.none": "直达", total: "合计",
    book: "预订此行程", walk: "步行", "walk.only": "全程步行，无需购票。",
    "mode.bus": "公交", "mode.coach": "客车", "mode.rail": "铁路", "mode.metro": "地铁",
    "mode.tram": "有轨电车", "mode.ferry": "轮渡", "mode.air": "航班", "mode.other": "其他", "mode.walk": "步行",
    "step.board": "{time} 在 {stop} 乘坐{mode} {route}", "step.alight": "{time} 在 {stop} 下车",
    "step.walk": "步行至 {stop}（{min} 分钟）", stops: "站", min: "分钟", "h": "小时",
    "b.title": "乘客", "b.name": "姓名", "b.id": "证件号码", "b.category": "类别",
    "cat.adult": "成人", "cat.child": "儿童", "cat.senior": "老年人", "cat.disabled": "残疾人",
    "b.hold": "锁定座位", "b.holding": "正在锁定座位…", "b.confirm": "支付并确认", "b.confirming": "确认中…",
    "b.cancel": "取消预订", "b.held": "座位保留至 {time}", booking: "订单", status: "状态",
    "status.held": "已锁座", "status.confirmed": "已确认", "status.cancelled": "已取消", "status.expired": "已过期",
    paid: "已付", refund: "退款", "qr.title": "您的乘车码", "qr.refresh": "{s} 秒后刷新",
    "qr.payload": "二维码内容（用于闸机页面）", "qr.copy": "复制", "qr.copied": "已复制", events: "记录",
    "my.bookings": "我的订单", "my.none": "暂无订单。", show: "查看", back: "返回", account: "账户",
    "account.forget": "在本设备上忘记账户", "face.title": "刷脸乘车（测试模板）", "face.consent": "我同意刷脸乘车",
    "face.enrol": "登记", "face.enrolled": "已登记人脸", "face.erase": "删除我的人脸", "face.erased": "人脸已删除",
    "face.template": "测试模板",
    "o.title": "运营方", key: "密钥", "key.operator": "运营方密钥", "key.gate": "闸机密钥", "key.use": "使用此密钥",
    "key.forget": "忘记密钥", "key.hint": "仅保存在本标签页中，不会再次显示。", "o.operator": "运营方编号",
    "o.publish": "发布数据", "o.feed": "数据源名称", "o.file": "GTFS 压缩包", "o.upload": "校验并发布",
    "o.uploading": "校验中…", "o.accepted": "已接受：版本 {v}", "o.same": "相同文件已是版本 {v}",
    "o.rejected": "已拒绝：数据有错误（版本 {v} 记为拒绝）", "o.report": "校验报告", "o.code": "问题代码",
    "o.severity": "级别", "o.count": "数量", "o.file.col": "文件", "o.row": "行", "o.field": "字段",
    "o.message": "说明", "o.clean": "没有问题：数据完好。", "o.versions": "版本", "o.version": "版本",
    "o.created": "创建时间", "o.activate": "启用", "o.rollback": "回滚到此版本", "o.active": "使用中",
    "o.activated": "版本 {v} 已启用", "vs.active": "使用中", "vs.accepted": "已接受", "vs.superseded": "已替换", "vs.rejected": "已拒绝",
    "o.errors": "错误", "o.warnings": "警告", "o.nofeeds": "暂无数据源。",
    "o.stats": "{stops} 个站点，{routes} 条线路，{trips} 个班次", "o.qr": "二维码", "o.face": "刷脸", "o.idcard": "刷证", "o.offline": "离线",
    "o.conflicts": "冲突（离线重复使用的车票）",
    "o.noconflicts": "没有冲突。", "o.checkins": "今日各站检票", "o.nocheckins": "今日暂无检票。",
    "o.station": "车站", "o.checkins.n": "检票", "o.passengers": "乘客", "o.alerts": "实时通告与延误",
    "o.noalerts": "没有通告。", "o.winner": "首次检票", "o.loser": "重复检票", refresh: "刷新",
    "g.title": "闸机", "g.gate": "闸机编号", "g.online": "在线", "g.offline": "离线（名单）", "g.opens": "本站开始检票", "g.closed": "本站停止检票", "g.qr": "二维码内容",
    "g.validate": "验票", "g.scan": "用摄像头扫码", "g.scan.stop": "关闭摄像头",
    "g.noscan": "此浏览器无法用摄像头识别二维码（没有 BarcodeDetector），请粘贴内容。",
    "g.face": "人脸（测试模板）", "g.face.check": "刷脸", accept: "通过", reject: "拒绝",
    "g.manifest": "下载名单", "g.manifest.ok": "{station} {date} 的名单：{n} 个订单，签名密钥 {kid}",
    "g.manifest.none": "尚未加载名单。", "g.taps": "待上传检票：{n}", "g.upload": "上传检票记录",
    "g.uploaded": "已上传：记录 {r}，冲突 {c}，重复 {d}", "g.noface.offline": "名单中没有人脸模板：刷脸只能在线验证。",
    "g.id": "身份证件", "g.id.check": "刷证", "g.id.prc_id": "居民身份证", "g.id.passport": "护照",
    "g.id.hk_macao_permit": "港澳居民来往内地通行证", "g.id.taiwan_permit": "台湾居民来往大陆通行证",
    "g.noid.offline": "此页面只能在线验证证件（离线请用闸机工具：maas gate check --id-type）。",
    "g.crypto.missing": "此浏览器的 WebCrypto 不支持 {what}：无法在此校验名单，离线验票已关闭。",
    "g.passengers": "位乘客", "g.passenger": "位乘客", leg: "行程段", code: "代码",
    "g.replaced": "此行程段已改签：请改乘第 {leg} 段（{trip}，{departure} 从 {station} 出发）",
    "rt.ontime": "准点", "rt.late": "晚点 {min} 分钟", "rt.early": "提前 {min} 分钟",
    error: "错误", "err.network": "无法连接服务。", loading: "加载中…", close: "关闭",
  },
};

let lang = pickDefault();

function pickDefault() {
  const saved = localStorage.getItem("maas.lang");
  if (saved === "zh" || saved === "en") return saved;
  const nav = (navigator.languages && navigator.languages[0]) || navigator.language || "en";
  return nav.toLowerCase().startsWith("zh") ? "zh" : "en";
}

export function currentLang() { return lang; }

export function setLang(next) {
  lang = next === "zh" ? "zh" : "en";
  localStorage.setItem("maas.lang", lang);
}

// t("step.board", {mode: "Bus"}): the string in the current language, {names} filled in
export function t(key, vars) {
  const s = STRINGS[lang][key] ?? STRINGS.en[key] ?? key;
  return vars ? s.replace(/\{(\w+)\}/g, (_, k) => (k in vars ? String(vars[k]) : `{${k}}`)) : s;
}

// every element with data-i18n gets its text; data-i18n-placeholder its placeholder
export function translateStatic(root = document) {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-placeholder]")) {
    el.placeholder = t(el.dataset.i18nPlaceholder);
  }
}
