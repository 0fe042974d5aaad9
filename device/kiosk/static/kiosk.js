// The kiosk page: shows the dispenser's state and sends the visitor's presses.
// It never keeps a typed code longer than it takes to send it.
"use strict";

const $ = (id) => document.getElementById(id);
let version = -1;
let presenceUrl = null;
let typed = "";
let mode = "idle";

async function post(path, body, type = "application/json") {
  try {
    await fetch(path, {
      method: "POST",
      headers: { "Content-Type": type },
      body: type === "application/json" ? JSON.stringify(body) : body,
    });
  } catch (err) {
    // The dispenser program restarts rarely; the next poll shows its state again.
  }
}

function show(view) {
  const screen = $("screen");
  if (view.mode !== mode && view.mode === "typing") typed = "";
  mode = view.mode;
  screen.dataset.mode = view.mode;
  screen.dataset.outcome = view.outcome || "";
  $("title-zh").textContent = view.title_zh;
  $("title-en").textContent = view.title_en;
  $("detail-zh").textContent = view.detail_zh;
  $("detail-en").textContent = view.detail_en;
  $("site").textContent = view.site_name || "fairroll";
  const net = $("net");
  net.textContent = view.online ? "在线 Online" : "离线 Offline";
  net.classList.toggle("bad", !view.online);
  const paper = $("paper");
  paper.textContent = `纸 Paper ${view.paper_level}%`;
  paper.classList.toggle("bad", view.status !== "ok");
  const showPresence = Boolean(view.presence_url) && view.mode === "idle";
  $("presence").hidden = !showPresence;
  if (showPresence && view.presence_url !== presenceUrl) {
    presenceUrl = view.presence_url;
    $("presence-img").src = "/presence.svg?u=" + encodeURIComponent(presenceUrl.slice(-12));
  }
  const typing = view.mode === "typing";
  $("keypad").hidden = !typing;
  $("typed").textContent = "●".repeat(Math.max(typed.length, view.typed_digits || 0));
  const visible = new Set(view.buttons);
  document.querySelectorAll("nav button").forEach((b) => {
    b.hidden = !visible.has(b.dataset.button);
  });
  $("sim").hidden = !view.simulation;
}

async function poll() {
  for (;;) {
    try {
      const answer = await fetch(`/api/state?since=${version}`, { cache: "no-store" });
      const data = await answer.json();
      version = data.version;
      show(data.view);
    } catch (err) {
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

document.querySelectorAll("nav button").forEach((b) => {
  b.addEventListener("click", () => post("/api/input", { kind: "button", value: b.dataset.button }));
});

document.querySelectorAll(".keys button").forEach((b) => {
  b.addEventListener("click", () => {
    const key = b.dataset.key;
    if (key === "*") typed = "";
    else if (key === "#") {
      const code = typed;
      typed = "";
      if (code) post("/api/input", { kind: "code", value: code });
    } else if (typed.length < 12) typed += key;
    $("typed").textContent = "●".repeat(typed.length);
  });
});

document.querySelectorAll("#sim [data-service]").forEach((b) => {
  b.addEventListener("click", () => post("/api/input", { kind: "service", value: b.dataset.service }));
});
// The simulated camera panel says what happened to what it was given (errors included).
async function simHold(body, type) {
  const status = $("sim-status");
  status.textContent = "";
  status.dataset.outcome = "";
  try {
    const answer = await fetch("/api/sim/hold", {
      method: "POST",
      headers: { "Content-Type": type },
      body: type === "application/json" ? JSON.stringify(body) : body,
    });
    if (answer.ok) {
      status.textContent = "已放到摄像头前 · Held in front of the camera";
      status.dataset.outcome = "ok";
      return;
    }
    let message = `HTTP ${answer.status}`;
    try {
      message = (await answer.json()).error.message;
    } catch (err) {
      // not JSON: keep the status line
    }
    status.textContent = `出错 · Error: ${message}`;
    status.dataset.outcome = "error";
  } catch (err) {
    status.textContent = "出错 · Error: 取纸机程序未响应 · the dispenser program did not answer";
    status.dataset.outcome = "error";
  }
}
$("sim-hold").addEventListener("click", () => {
  const payload = $("sim-payload").value.trim();
  if (payload) simHold({ payload }, "application/json");
  else {
    $("sim-status").textContent = "出错 · Error: 请先粘贴取纸码 · paste a token's text first";
    $("sim-status").dataset.outcome = "error";
  }
});
$("sim-visitor").addEventListener("click", async () => {
  const answer = await fetch("/api/sim/visitor", { method: "POST" });
  const data = await answer.json();
  $("sim-code").textContent = answer.ok
    ? `数字码 · typed code: ${data.code}`
    : data.error.message;
});
$("sim-face").addEventListener("click", async () => {
  const answer = await fetch("/api/sim/face", { method: "POST" });
  const data = await answer.json();
  $("sim-face-note").textContent = answer.ok
    ? `${data.seconds} 秒内请按“刷脸”并同意 · For ${data.seconds} s: press Use face, then Agree`
    : data.error.message;
});
$("sim-image").addEventListener("change", (e) => {
  const file = e.target.files[0];
  if (file) simHold(file, file.type || "application/octet-stream");
});

poll();
