"""The page's inline stylesheet and script (no fonts, images or code from anywhere else).

The script never writes data as markup: it copies a point's escaped `data-tip` attribute into
the tooltip with textContent, opens or closes the tree, and hides a field's points on the map.
"""

CSS = """
:root{--ink:#1f2933;--muted:#6b7785;--line:#e3e7ec;--bg:#f5f6f8;--card:#fff;--accent:#4e79a7;
--bad:#b42318;--badbg:#fde8e8;--warn:#9a5b00;--warnbg:#fff1d6}
*{box-sizing:border-box}
html{scroll-behavior:smooth}
body{margin:0;font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
color:var(--ink);background:var(--bg);-webkit-font-smoothing:antialiased}
.wrap{max-width:1240px;margin:0 auto;padding:0 24px}
header.top{background:#1f2933;color:#e9edf2;padding:26px 0 22px}
header.top h1{font-size:26px;margin:0;font-weight:650;letter-spacing:-.01em;color:#fff}
header.top .gen{color:#9aa5b1;font-size:12.5px;margin:2px 0 14px}
.run{margin-top:12px}
.run .who{font-size:15px;font-weight:600;color:#fff}
.run .who span{font-weight:400;color:#9aa5b1;font-size:13px;margin-left:8px}
.kpis{display:flex;flex-wrap:wrap;gap:10px;margin-top:8px}
.kpi{background:#2b3744;border-radius:8px;padding:8px 14px;min-width:128px}
.kpi b{display:block;font-size:20px;font-weight:650;color:#fff;font-variant-numeric:tabular-nums}
.kpi small{color:#9aa5b1;font-size:11.5px;text-transform:uppercase;letter-spacing:.05em}
.dot{display:inline-block;width:10px;height:10px;border-radius:50%;margin-right:8px;vertical-align:0}
nav{position:sticky;top:0;z-index:5;background:rgba(255,255,255,.94);border-bottom:1px solid var(--line)}
nav a{display:inline-block;padding:10px 12px;color:var(--ink);text-decoration:none;font-weight:500;
font-size:13.5px}
nav a:hover{color:var(--accent)}
section{padding:26px 0 6px}
h2{font-size:20px;margin:0 0 14px;font-weight:650;letter-spacing:-.01em}
h4{margin:0 0 8px;font-size:13.5px;font-weight:600}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(460px,100%),1fr));gap:16px;align-items:start}
.grid>:not(.card),.grid>.wide{grid-column:1/-1}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:16px 18px;margin:0;
min-width:0;box-shadow:0 1px 2px rgba(16,24,40,.04)}
figcaption{font-weight:600;margin-bottom:10px;font-size:14.5px}
.note,.sub{color:var(--muted);font-size:12.5px;margin:6px 0}
.sub{margin-top:14px;font-weight:600;color:var(--ink)}
.missing{color:var(--muted);font-style:italic;margin:4px 0 10px}
.muted{color:var(--muted)}
.side{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(420px,100%),1fr));gap:22px}
.stack>.run-cell+.run-cell{margin-top:18px}
.run-cell{min-width:0}
.chart{width:100%;height:auto;display:block;overflow:visible}
.chart .t{font-size:11px;fill:#52606d}
.chart .t.muted{fill:var(--muted)} .chart .t.small{font-size:10.5px}
.chart .t.onbar{font-weight:600;font-size:11.5px}
.chart .grid{stroke:#edf0f3} .chart .axis{stroke:#9aa5b1} .chart .frame{fill:#fbfcfd;stroke:var(--line)}
.legend{display:flex;flex-wrap:wrap;gap:4px 14px;margin-top:8px;font-size:12.5px}
.legend i,.losses i{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:6px}
.key{font:inherit;background:none;border:0;padding:2px 0;color:inherit;cursor:default}
button.key{cursor:pointer} button.key.off{opacity:.35;text-decoration:line-through}
.map .pt{stroke:#fff;stroke-width:.6;fill-opacity:.8;cursor:pointer}
.map .pt:hover{stroke:#1f2933;stroke-width:1.5;fill-opacity:1} .map .pt.off{display:none}
#tip{position:fixed;z-index:20;pointer-events:none;max-width:380px;background:#1f2933;color:#fff;
padding:8px 10px;border-radius:6px;font-size:12.5px;line-height:1.4;white-space:pre-wrap;
box-shadow:0 4px 14px rgba(0,0,0,.2)}
[hidden]{display:none!important}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{padding:6px 10px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
thead th{font-size:11.5px;text-transform:uppercase;letter-spacing:.04em;color:var(--muted);font-weight:600}
table.num td{font-variant-numeric:tabular-nums;white-space:nowrap}
thead th{vertical-align:bottom}
table.num td:not(:first-child),table.num th:not(:first-child){text-align:right}
table.metrics td:last-child,table.metrics th:last-child{text-align:left;white-space:normal}
table.total-last tr:last-child td{border-top:2px solid var(--line);font-weight:600}
.mini{display:inline-block;width:60px;height:7px;background:#eef1f5;border-radius:4px;vertical-align:1px;overflow:hidden}
.mini i{display:block;height:100%;background:var(--accent)}
td em,.cell em{font-style:normal;color:var(--muted);font-size:11.5px}
.tools{display:flex;gap:8px;margin-bottom:8px}
.tools button{font:inherit;font-size:12.5px;padding:4px 10px;border:1px solid var(--line);border-radius:6px;
background:#fff;cursor:pointer}
.tools button:hover{border-color:var(--accent);color:var(--accent)}
.stat{display:inline-block;background:#fff;border:1px solid var(--line);border-radius:8px;padding:6px 12px;
margin:0 8px 4px 0;font-size:13px}
.stat.bad strong{color:var(--bad)}
.tree{font-size:13px}
.tree .head{font-size:11.5px;text-transform:uppercase;letter-spacing:.04em;color:var(--muted);font-weight:600;
border-bottom:1px solid var(--line);margin-bottom:4px}
.tree summary,.tree .leaf,.tree .head{display:flex;align-items:center;gap:12px;padding:3px 6px;
border-radius:6px}
.tree summary{list-style:none;cursor:pointer}
.tree summary::-webkit-details-marker{display:none}
.tree summary::before{content:"\\25B8";display:inline-block;width:10px;color:var(--muted);
transition:transform .12s}
.tree details[open]>summary::before{transform:rotate(90deg)}
.tree summary:hover,.tree .leaf:hover{background:#f3f6f9}
.tree .leaf{padding-left:28px}
.tree .kids{margin-left:11px;border-left:1px solid var(--line);padding-left:6px}
.tree .nm{flex:1;min-width:0;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.tree .lvl{font-size:10px;text-transform:uppercase;letter-spacing:.06em;color:#9aa5b1;margin-left:8px}
.warn{font-size:11px;background:var(--warnbg);color:var(--warn);border-radius:999px;padding:0 7px;
margin-left:8px}
.cells{display:flex;gap:14px;flex:none}
.cell{width:210px}
.tree .cell{display:grid;grid-template-columns:1fr 52px 34px;align-items:center;gap:6px}
.tree .cell.h,.tree .cell.na{display:block;text-align:right}
.tree .cell.h{overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.tree .cell small{grid-column:1/-1;color:var(--muted);font-size:11px;line-height:1.2}
.tree .cell b{text-align:right;font-weight:600;font-variant-numeric:tabular-nums}
.bar{height:8px;background:#eef1f5;border-radius:4px;overflow:hidden}
.bar i{display:block;height:100%;background:var(--accent);border-radius:4px}
.badge{grid-column:1/-1;justify-self:end;font-size:11px;font-weight:600;background:var(--badbg);color:var(--bad);
border-radius:999px;padding:0 8px}
.tree .has-zero>summary .nm,.tree .leaf.has-zero .nm{color:var(--bad)}
.headline{font-size:15px;margin:0 0 10px}
.frow{display:grid;grid-template-columns:minmax(0,150px) 120px 1fr 52px;align-items:center;gap:10px;
padding:5px 0 2px}
.frow .step{font-weight:600;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.frow .io,.frow .pct{font-variant-numeric:tabular-nums;font-size:12.5px}
.frow .pct{text-align:right;color:var(--muted)}
.fbar{width:100%;height:14px;display:block;background:#eef1f5;border-radius:3px}
.losses{list-style:none;margin:0 0 6px;padding:0 0 4px;display:flex;flex-wrap:wrap;gap:2px 14px;
font-size:12px;color:#52606d;border-bottom:1px dashed var(--line)}
.losses b{font-variant-numeric:tabular-nums} .losses .bad{color:var(--bad)}
table.samples{table-layout:fixed;min-width:640px}
table.samples col.c-subj{width:170px}
details.disc>summary{background:#f3f5f8;padding:6px 10px;font-weight:600;cursor:pointer;
border-bottom:1px solid var(--line)}
details.disc>summary:hover{background:#eaeef3}
.subj{font-weight:500}
.pill{display:inline-block;font-size:11px;padding:0 8px;border-radius:999px;background:#eef1f5;margin-top:3px}
.pill.basic{background:#e1eef8;color:#29577f}.pill.challenging{background:#dde5f0;color:#2c4a72}
.pill.evolved{background:#f2e4ef;color:#74466a}
.txt{white-space:pre-wrap;word-break:break-word}
details.txt summary{list-style:none;cursor:pointer}
details.txt summary::-webkit-details-marker{display:none}
details.txt[open] .pre{display:none}
.more{display:block;color:var(--accent);font-size:12px;margin-top:2px}
details.txt[open] .more{font-size:0}
details.txt[open] .more::before{content:"hide";font-size:12px}
footer{color:var(--muted);font-size:12px;padding:24px 0 40px}
@media (max-width:700px){.cell{width:150px}.frow{grid-template-columns:1fr 1fr;}.fbar{grid-column:1/-1}}
"""

JS = """
(function () {
  "use strict";
  var tip = document.getElementById("tip");
  function place(e) {
    var x = e.clientX + 14, y = e.clientY + 14;
    if (x + tip.offsetWidth > window.innerWidth - 8) x = e.clientX - tip.offsetWidth - 14;
    if (y + tip.offsetHeight > window.innerHeight - 8) y = e.clientY - tip.offsetHeight - 14;
    tip.style.left = Math.max(4, x) + "px";
    tip.style.top = Math.max(4, y) + "px";
  }
  document.addEventListener("mouseover", function (e) {
    var t = e.target.closest && e.target.closest("[data-tip]");
    if (!t) { tip.hidden = true; return; }
    tip.textContent = t.getAttribute("data-tip");
    tip.hidden = false;
    place(e);
  });
  document.addEventListener("mousemove", function (e) { if (!tip.hidden) place(e); });
  document.addEventListener("click", function (e) {
    var b = e.target.closest && e.target.closest("[data-open], [data-close]");
    if (b) {
      var open = b.hasAttribute("data-open");
      var sel = b.getAttribute(open ? "data-open" : "data-close");
      b.closest("section").querySelectorAll(sel).forEach(function (d) { d.open = open; });
      return;
    }
    var k = e.target.closest && e.target.closest("[data-field]");
    if (k) {
      var off = k.classList.toggle("off");
      var sel = '.pt[data-f="' + k.getAttribute("data-field") + '"]';
      k.closest(".mapbox").querySelectorAll(sel).forEach(function (p) { p.classList.toggle("off", off); });
    }
  });
})();
"""
