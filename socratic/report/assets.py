"""The report's inline stylesheet and script (no external resources)."""

CSS = """
:root { --fg: #1d2230; --muted: #5b6475; --line: #d9dde5; --bg: #f6f7f9; --accent: #2456c8; --win: #0b7a3b; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg);
  background: var(--bg); }
header.top { background: #fff; border-bottom: 1px solid var(--line); padding: 14px 24px; }
header.top h1 { margin: 0 0 4px; font-size: 20px; }
.meta { color: var(--muted); font-size: 12px; }
.warnings { background: #b3261e; color: #fff; padding: 10px 24px; font-weight: 600; }
.warnings ul, .problems ul { margin: 4px 0 0; padding-left: 20px; }
.problems { background: #fff4d6; color: #5a4300; padding: 8px 24px; border-bottom: 1px solid #ecd9a0; }
nav.views { padding: 8px 24px; background: #fff; border-bottom: 1px solid var(--line); position: sticky; top: 0;
  z-index: 2; }
nav.views a { margin-right: 16px; color: var(--accent); text-decoration: none; font-weight: 600; }
main { padding: 8px 24px 40px; }
section.view { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 12px 16px;
  margin: 16px 0; }
section.view > h2 { margin: 0 0 10px; font-size: 17px; }
h3 { font-size: 14px; margin: 14px 0 6px; }
pre, .text { white-space: pre-wrap; word-break: break-word; }
pre { background: var(--bg); border: 1px solid var(--line); border-radius: 4px; padding: 6px 8px; margin: 2px 0;
  font: 12.5px/1.4 ui-monospace, SFMono-Regular, Menlo, monospace; }
.scalar { font-family: ui-monospace, monospace; color: #6b3fa0; }
.media { font-family: ui-monospace, monospace; color: var(--muted); }
table { border-collapse: collapse; }
table.kv th { text-align: left; vertical-align: top; color: var(--muted); font-weight: 600; padding: 2px 10px 2px 0; }
table.kv td { padding: 2px 0; }
table.grid { width: 100%; }
table.grid th, table.grid td { border-bottom: 1px solid var(--line); padding: 4px 8px; text-align: left;
  vertical-align: top; }
table.grid th { background: var(--bg); position: sticky; top: 38px; }
ol.list { margin: 0; padding-left: 28px; }
details > summary { cursor: pointer; color: var(--accent); }
details.fold > summary { font-size: 12px; }
img.thumb { max-width: 160px; max-height: 120px; border-radius: 4px; border: 1px solid var(--line);
  display: block; }
img.hero { max-width: 320px; max-height: 320px; border-radius: 6px; border: 1px solid var(--line); }
.chip { display: inline-block; width: 96px; height: 72px; background: var(--bg) center / contain no-repeat;
  border: 1px solid var(--line); border-radius: 3px; vertical-align: middle; }
.nothumb { display: inline-block; width: 160px; min-height: 60px; padding: 6px; font-size: 11px; color: var(--muted);
  border: 1px dashed #c9a227; background: #fffbea; border-radius: 4px; }
.timeline { display: flex; flex-direction: column; gap: 8px; }
.entry { display: grid; grid-template-columns: 170px 1fr; gap: 12px; border: 1px solid var(--line);
  border-radius: 6px; padding: 8px; }
.entry .when { font-weight: 700; font-family: ui-monospace, monospace; }
.entry .logline { margin: 4px 0; }
.speech, .sounds { margin: 4px 0 0; padding-left: 0; list-style: none; }
.speech li::before { content: "said "; color: var(--muted); font-size: 11px; text-transform: uppercase; }
.sounds li::before { content: "sound "; color: var(--muted); font-size: 11px; text-transform: uppercase; }
table.records th { position: static; }
.speech .at, .sounds .at { font-family: ui-monospace, monospace; color: var(--muted); margin-right: 6px; }
.summary { font-size: 15px; background: #eef4ff; border-left: 4px solid var(--accent); padding: 8px 12px; }
.level { margin-left: 12px; }
.candidates li { margin: 2px 0; }
.winner { background: #e4f6ea; border-left: 4px solid var(--win); padding-left: 6px; font-weight: 600; }
.winner::after { content: " ★ chosen"; color: var(--win); font-size: 12px; }
.score { font-family: ui-monospace, monospace; color: var(--muted); margin-right: 8px; }
.bar { display: inline-block; height: 8px; background: var(--accent); border-radius: 2px; vertical-align: middle;
  margin-right: 6px; }
.cols { display: flex; gap: 24px; flex-wrap: wrap; }
.cols > div { flex: 1 1 300px; min-width: 0; }
.dag svg { max-width: 100%; height: auto; }
.cached { color: var(--win); font-weight: 600; }
.warn { color: #b3261e; }
.node-detail { border-top: 1px solid var(--line); padding: 6px 0; }
.filters { margin: 6px 0 10px; display: flex; gap: 12px; align-items: center; }
.filters input { padding: 4px 8px; width: 280px; }
tr.error td { background: #fdecea; }
table.nodes td:nth-child(3), table.nodes td:nth-child(4) { white-space: nowrap; }
tr.hidden { display: none; }
.prompt-example { font-size: 12.5px; }
"""

JS = """
(function () {
  var q = document.getElementById('filter-text'), st = document.getElementById('filter-status');
  if (!q || !st) return;
  var rows = Array.prototype.slice.call(document.querySelectorAll('#items tbody tr'));
  var count = document.getElementById('filter-count');
  function apply() {
    var needle = q.value.toLowerCase(), want = st.value, shown = 0;
    rows.forEach(function (r) {
      var ok = (!needle || r.textContent.toLowerCase().indexOf(needle) >= 0) &&
               (want === 'all' || r.getAttribute('data-status') === want);
      r.classList.toggle('hidden', !ok);
      if (ok) shown += 1;
    });
    count.textContent = shown + ' of ' + rows.length + ' items';
  }
  q.addEventListener('input', apply);
  st.addEventListener('change', apply);
  apply();
})();
"""
