"use strict";
(function () {
  var T = JSON.parse(document.getElementById("texts").textContent);
  var SOURCE = "<!DOCTYPE html>\n" + document.documentElement.outerHTML;
  var form = document.getElementById("unlock-form");
  var status = document.getElementById("status");
  var busy = false;
  function b64(s) { var bin = atob(s), a = new Uint8Array(bin.length); for (var i = 0; i < bin.length; i++) a[i] = bin.charCodeAt(i); return a; }
  function tob64(a) { var s = ""; for (var i = 0; i < a.length; i += 0x8000) s += String.fromCharCode.apply(null, a.subarray(i, i + 0x8000)); return btoa(s); }
  function envelope() { return JSON.parse(atob(document.getElementById("payload").textContent.trim())); }
  async function keyOf(code, salt, iterations) {
    var base = await crypto.subtle.importKey("raw", new TextEncoder().encode(code.normalize("NFC")), "PBKDF2", false, ["deriveKey"]);
    return crypto.subtle.deriveKey({ name: "PBKDF2", hash: "SHA-256", salt: salt, iterations: iterations }, base, { name: "AES-GCM", length: 256 }, false, ["encrypt", "decrypt"]);
  }
  var AAD = new TextEncoder().encode("opendmp-portable-record-v1");
  async function open(code) {
    var env = envelope();
    var key = await keyOf(code, b64(env.salt), env.iterations);
    var plain = await crypto.subtle.decrypt({ name: "AES-GCM", iv: b64(env.iv), additionalData: AAD }, key, b64(env.data));
    return JSON.parse(new TextDecoder().decode(plain));
  }
  function el(tag, text, attrs) { var e = document.createElement(tag); if (text != null) e.textContent = text; if (attrs) for (var k in attrs) e.setAttribute(k, attrs[k]); return e; }
  function date(s) { if (!s) return ""; var d = new Date(s); return isNaN(d) ? s : d.toLocaleDateString(document.documentElement.lang === "en" ? "en-GB" : "fr-FR"); }
  function section(root, title, items, render) {
    root.appendChild(el("h2", title));
    if (!items || items.length === 0) { root.appendChild(el("p", T.none, { "class": "muted" })); return; }
    var ul = el("ul"); items.forEach(function (i) { ul.appendChild(el("li", render(i))); }); root.appendChild(ul);
  }
  function show(p) {
    var root = document.getElementById("record");
    root.textContent = "";
    root.appendChild(el("h1", T.title));
    root.appendChild(el("p", T.pseudonym + " " + p.pseudonym + (p.birthYear ? " — " + T.born + " " + p.birthYear : "") + (p.sex ? " — " + p.sex : "")));
    root.appendChild(el("p", T.generated + " " + date(p.generatedAt) + (p.generatedBy ? " — " + p.generatedBy : ""), { "class": "muted" }));
    var s = p.synthesis || {};
    section(root, T.allergies, s.allergies, function (a) { return a.label + (a.source ? " (" + a.source + ")" : ""); });
    section(root, T.medications, s.medications, function (m) { return m.label + (m.active ? " — " + T.active : "") + (m.last ? " — " + date(m.last) : ""); });
    section(root, T.problems, s.problems, function (c) { return c.label + (c.date ? " — " + date(c.date) : ""); });
    section(root, T.results, s.results, function (r) { return r.label + " : " + r.value + (r.interpretation ? " (" + r.interpretation + ")" : "") + (r.date ? " — " + date(r.date) : ""); });
    section(root, T.vaccinations, s.vaccinations, function (v) { return v.label + (v.date ? " — " + date(v.date) : ""); });
    section(root, T.latest, s.latest, function (d) { return date(d.date) + " — " + d.title + (d.author ? " — " + d.author : ""); });
    root.appendChild(el("h2", T.documents));
    if (!p.documents || p.documents.length === 0) root.appendChild(el("p", T.none, { "class": "muted" }));
    (p.documents || []).forEach(function (d) {
      root.appendChild(el("h3", d.title + " — " + date(d.date)));
      if (d.author) root.appendChild(el("p", d.author, { "class": "muted" }));
      var bytes = b64(d.data);
      if (d.contentType === "text/plain") { root.appendChild(el("pre", new TextDecoder().decode(bytes))); }
      else {
        var a = el("a", T.download + " (" + d.name + ")", { href: URL.createObjectURL(new Blob([bytes], { type: "application/octet-stream" })), download: d.name });
        root.appendChild(el("p")).appendChild(a);
      }
    });
    var change = el("form", null, { id: "change-form", autocomplete: "off" });
    change.appendChild(el("h2", T.change));
    change.appendChild(el("label", T.newCode, { "for": "new-code" }));
    change.appendChild(el("input", null, { id: "new-code", type: "password", required: "", minlength: "6" }));
    change.appendChild(el("label", T.confirm, { "for": "new-code2" }));
    change.appendChild(el("input", null, { id: "new-code2", type: "password", required: "", minlength: "6" }));
    change.appendChild(el("button", T.save, { type: "submit" }));
    var changed = el("p", null, { role: "status" });
    change.appendChild(changed);
    root.appendChild(change);
    change.addEventListener("submit", async function (ev) {
      ev.preventDefault();
      var a = document.getElementById("new-code").value, b = document.getElementById("new-code2").value;
      if (a !== b) { changed.textContent = T.mismatch; return; }
      var env = envelope();
      var salt = crypto.getRandomValues(new Uint8Array(16)), iv = crypto.getRandomValues(new Uint8Array(12));
      var key = await keyOf(a, salt, env.iterations);
      var data = new Uint8Array(await crypto.subtle.encrypt({ name: "AES-GCM", iv: iv, additionalData: AAD }, key, new TextEncoder().encode(JSON.stringify(p))));
      var next = btoa(JSON.stringify({ v: 1, kdf: "PBKDF2-SHA256", iterations: env.iterations, salt: tob64(salt), iv: tob64(iv), data: tob64(data) }));
      var start = SOURCE.indexOf('id="payload">') + 'id="payload">'.length, end = SOURCE.indexOf("<\/script>", start);
      var html = SOURCE.slice(0, start) + next + SOURCE.slice(end);
      var link = el("a", T.saved, { href: URL.createObjectURL(new Blob([html], { type: "text/html" })), download: "dossier-medical-portable.html" });
      changed.textContent = ""; changed.appendChild(link); link.click();
    });
    document.getElementById("unlock").hidden = true;
    root.hidden = false;
  }
  form.addEventListener("submit", async function (ev) {
    ev.preventDefault();
    if (busy) return;
    busy = true; status.textContent = T.opening;
    var code = document.getElementById("code").value;
    try { var p = await open(code); status.textContent = ""; show(p); }
    catch (e) { status.textContent = T.wrong; status.className = "error"; }
    finally { busy = false; document.getElementById("code").value = ""; }
  });
})();
