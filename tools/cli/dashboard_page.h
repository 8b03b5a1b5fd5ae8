// The dashboard's single page: HTML, CSS and JavaScript inline, no external
// assets (the machines it runs on may have no internet). It opens
// /events (server-sent events) and redraws from each JSON state it receives
// (the fields are described in docs/dashboard.md).
#pragma once

namespace giftledger::cli {

inline constexpr const char* kDashboardPage = R"HTML(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>giftledger — live rooms</title>
<style>
  :root { --bg:#0f1220; --panel:#181c2f; --ink:#e8eaf6; --dim:#8f96c3; --accent:#ffb74d;
          --ok:#66bb6a; --bad:#ef5350; --line:#2a3052; }
  * { box-sizing: border-box; }
  body { margin:0; font:14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
         background:var(--bg); color:var(--ink); }
  header { display:flex; align-items:center; gap:24px; padding:14px 22px;
           border-bottom:1px solid var(--line); flex-wrap:wrap; }
  header h1 { font-size:18px; margin:0 12px 0 0; letter-spacing:.5px; display:flex;
              align-items:center; gap:8px; }
  .logo { width:18px; height:18px; border-radius:4px; background:var(--accent);
          box-shadow: inset 0 -6px 0 #e65100; }
  .stat { display:flex; flex-direction:column; min-width:110px; }
  .stat b { font-size:22px; font-variant-numeric:tabular-nums; }
  .stat span { color:var(--dim); font-size:12px; text-transform:uppercase; }
  #conn { margin-left:auto; font-size:12px; color:var(--dim); }
  #conn.live::before { content:"● "; color:var(--ok); }
  #conn.down::before { content:"● "; color:var(--bad); }
  main { display:grid; grid-template-columns:repeat(auto-fit, minmax(320px, 1fr)); gap:14px;
         padding:14px 22px; }
  section { background:var(--panel); border:1px solid var(--line); border-radius:10px;
            padding:12px 14px; min-height:120px; }
  section h2 { font-size:13px; margin:0 0 8px; color:var(--dim); text-transform:uppercase;
               letter-spacing:.6px; display:flex; justify-content:space-between; }
  table { width:100%; border-collapse:collapse; font-variant-numeric:tabular-nums; }
  td { padding:3px 4px; border-bottom:1px solid var(--line); }
  td.r { text-align:right; } td.rank { color:var(--dim); width:28px; }
  .tabs { display:flex; gap:6px; padding:10px 22px 0; }
  .tabs button { background:var(--panel); color:var(--ink); border:1px solid var(--line);
                 border-radius:16px; padding:4px 14px; cursor:pointer; }
  .tabs button.on { background:var(--accent); color:#1b1b1b; border-color:var(--accent); }
  ul.feed { list-style:none; margin:0; padding:0; max-height:260px; overflow:auto; }
  ul.feed li { padding:4px 0; border-bottom:1px solid var(--line); }
  .banner { color:var(--accent); font-weight:600; }
  .ok { color:var(--ok); } .bad { color:var(--bad); } .dim { color:var(--dim); }
  select { background:var(--bg); color:var(--ink); border:1px solid var(--line); }
</style>
</head>
<body>
<header>
  <h1><span class="logo"></span>giftledger</h1>
  <div class="stat"><b id="gifts">–</b><span>gifts / s</span></div>
  <div class="stat"><b id="cmds">–</b><span>commands / s</span></div>
  <div class="stat"><b id="p50">–</b><span>commit p50 ms</span></div>
  <div class="stat"><b id="p99">–</b><span>commit p99 ms</span></div>
  <div class="stat"><b id="events">–</b><span>events projected</span></div>
  <div id="conn" class="down">connecting</div>
</header>
<div class="tabs" id="tabs"></div>
<main>
  <section><h2>Global hosts</h2><table id="b_hosts"></table></section>
  <section><h2>Global gifters</h2><table id="b_gifters"></table></section>
  <section><h2><span>Room contributors</span><select id="room"></select></h2>
    <table id="b_room"></table></section>
  <section><h2>Big-gift banners</h2><ul class="feed" id="banners"></ul></section>
  <section><h2>Level-ups</h2><ul class="feed" id="levelups"></ul></section>
  <section><h2>Room gift lines</h2><ul class="feed" id="lines"></ul></section>
  <section><h2>Shards</h2><table id="shards"></table></section>
  <section><h2>Reconcile</h2><div id="reconcile" class="dim">no report yet</div></section>
</main>
<script>
"use strict";
const WINDOWS = ["hour", "day", "week", "month", "all"];
let windowName = "day", last = null, room = null;
const $ = (id) => document.getElementById(id);
const fmt = (n) => n === undefined || n === null ? "–" : Number(n).toLocaleString("en-US");
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({"&":"&amp;","<":"&lt;",">":"&gt;","\"":"&quot;"}[c]));
function tabs() {
  $("tabs").innerHTML = WINDOWS.map((w) =>
    `<button data-w="${w}" class="${w === windowName ? "on" : ""}">${w === "all" ? "all-time" : w}</button>`).join("");
  for (const b of $("tabs").querySelectorAll("button"))
    b.onclick = () => { windowName = b.dataset.w; tabs(); if (last) draw(last); };
}
function board(id, rows) {
  rows = rows || [];
  $(id).innerHTML = rows.length ? rows.map((r, i) =>
    `<tr><td class="rank">${i + 1}</td><td>${esc(r.name)}</td><td class="r">${fmt(r.coins)}</td></tr>`).join("")
    : `<tr><td class="dim">nothing in this window yet</td></tr>`;
}
function feed(id, items, line) {
  $(id).innerHTML = (items || []).map((x) => `<li>${line(x)}</li>`).join("") ||
    `<li class="dim">none yet</li>`;
}
function draw(s) {
  last = s;
  const r = s.rates || {};
  $("gifts").textContent = fmt(r.gifts_per_s);
  $("cmds").textContent = fmt(r.commands_per_s);
  $("p50").textContent = r.commit_p50_ms === undefined ? "–" : r.commit_p50_ms.toFixed(2);
  $("p99").textContent = r.commit_p99_ms === undefined ? "–" : r.commit_p99_ms.toFixed(2);
  $("events").textContent = fmt(s.events_projected);
  const b = s.boards || {};
  board("b_hosts", (b.global_hosts || {})[windowName]);
  board("b_gifters", (b.global_gifters || {})[windowName]);
  const rooms = b.rooms || [];
  if (room === null && rooms.length) room = String(rooms[0].room);
  $("room").innerHTML = rooms.map((x) =>
    `<option value="${x.room}" ${String(x.room) === room ? "selected" : ""}>room ${x.room}</option>`).join("");
  const cur = rooms.find((x) => String(x.room) === room);
  board("b_room", cur ? cur.windows[windowName] : []);
  feed("banners", s.banners, (x) =>
    `<span class="banner">${esc(x.payer)} → ${esc(x.host)}</span> ${esc(x.gift)} ×${x.count}` +
    ` <b>${fmt(x.coins)}</b> coins <span class="dim">room ${x.room}</span>`);
  feed("levelups", s.levelups, (x) => `${esc(x.user)} reached level <b>${x.level}</b>`);
  feed("lines", s.gift_lines, (x) =>
    `<span class="dim">room ${x.room}</span> ${esc(x.payer)} sent ${esc(x.gift)} ×${x.count}` +
    (x.combo > 1 ? ` <b>combo ×${x.combo}</b>` : ""));
  $("shards").innerHTML = "<tr><td class='dim'>shard</td><td class='r dim'>projected seq</td>" +
    "<td class='r dim'>ledger seq</td><td class='r dim'>checkpoint</td></tr>" +
    (s.shards || []).map((x) => `<tr><td>${x.shard}</td><td class="r">${fmt(x.projected_seq)}</td>` +
      `<td class="r">${fmt(x.ledger_seq)}</td><td class="r">${fmt(x.checkpoint_seq)}</td></tr>`).join("");
  const rc = s.reconcile;
  const mm = (m) => m.account_kind === "source" ? `${esc(m.source)} shard ${m.shard}: ${esc(m.field)}` :
    `${esc(m.source)} shard ${m.shard} ${esc(m.account_kind)} ${m.account} ${esc(m.field)}: ` +
    `expected ${fmt(m.expected)}, found ${fmt(m.found)}`;
  $("reconcile").innerHTML = rc ? `<span class="${rc.ok ? "ok" : "bad"}">${rc.ok ? "all agree" :
    rc.error ? "failed: " + esc(rc.error) : fmt(rc.mismatch_count) + " mismatches"}</span> ` +
    `<span class="dim">${esc(rc.at || "")}</span>` +
    (rc.mismatches || []).slice(0, 5).map((m) => `<div class="dim">${mm(m)}</div>`).join("") :
    "no report yet";
}
$("room").onchange = (e) => { room = e.target.value; if (last) draw(last); };
tabs();
function connect() {
  const es = new EventSource("/events");
  es.onopen = () => { $("conn").className = "live"; $("conn").textContent = "live"; };
  es.onmessage = (m) => { try { draw(JSON.parse(m.data)); } catch (e) { console.error(e); } };
  es.onerror = () => { $("conn").className = "down"; $("conn").textContent = "reconnecting"; };
}
connect();
</script>
</body>
</html>
)HTML";

}  // namespace giftledger::cli
