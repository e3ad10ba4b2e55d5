// nslab web: draws the running labs and follows their state over one
// streamed response. Plain JavaScript and SVG, nothing loaded from
// elsewhere. The token comes once in the page's address, then lives in
// this tab's sessionStorage and is sent in a header, never in a cookie.
(function () {
  "use strict";
  var q = new URLSearchParams(location.search);
  var token = q.get("token") || sessionStorage.getItem("nslab-token") || "";
  if (q.get("token")) {
    sessionStorage.setItem("nslab-token", token);
    history.replaceState(null, "", q.get("lab") ? "/?lab=" + encodeURIComponent(q.get("lab")) : "/");
  }
  var $ = function (id) { return document.getElementById(id); };
  var esc = function (s) {
    return String(s == null ? "" : s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  };

  function api(path, opt) {
    opt = opt || {};
    opt.headers = Object.assign({ "X-Nslab-Token": token }, opt.headers || {});
    return fetch(path, opt).then(function (r) {
      if (!r.ok) return r.text().then(function (t) { throw new Error(t.trim() || r.statusText); });
      return r;
    });
  }

  var current = q.get("lab");     // lab shown
  var graphs = {};        // lab -> {version, graph}
  var lastState = {};     // lab -> LabState
  var els = { cables: {}, hits: {}, rates: {}, vertices: {} };
  var selected = null;    // {kind: "node"|"cable", id}
  var view = { x: 0, y: 0, w: 1000, h: 600 };
  window.nslab = { ready: false, drawnAt: 0, labs: [] };

  function rate(bps, short) {
    var b = bps * 8;
    if (b < 1) return "0";
    var u = short ? ["b/s", "kb/s", "Mb/s", "Gb/s"] : ["bit/s", "kbit/s", "Mbit/s", "Gbit/s"], i = 0;
    while (b >= 1000 && i < u.length - 1) { b /= 1000; i++; }
    return (b >= 100 || (short && b >= 10) ? b.toFixed(0) : b.toFixed(1)) + " " + u[i];
  }
  function bytes(n) {
    var u = ["B", "KiB", "MiB", "GiB", "TiB"], i = 0;
    while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
    return (i ? n.toFixed(1) : n) + " " + u[i];
  }

  // The tabs, one a lab.
  function tabs(labs) {
    var names = labs.map(function (l) { return l.name; });
    window.nslab.labs = names;
    if (!current || names.indexOf(current) < 0) {
      var next = names[0] || null;
      if (next !== current) { current = next; switchLab(); }
    }
    var html = labs.map(function (l) {
      return '<button data-lab="' + esc(l.name) + '" class="' + (l.name === current ? "on" : "") + '">' +
        esc(l.name) + (l.nodes ? '<span class="n">' + l.nodes + "</span>" : "") + "</button>";
    }).join("");
    if ($("tabs").innerHTML !== html) $("tabs").innerHTML = html;
    $("empty").classList.toggle("on", !current);
  }
  $("tabs").addEventListener("click", function (e) {
    var b = e.target.closest("button");
    if (!b || b.dataset.lab === current) return;
    current = b.dataset.lab;
    switchLab();
  });

  // switchLab shows the lab now current: its graph as held, and a stream
  // of its state and events in place of the other's.
  function switchLab() {
    selected = null;
    events = [];
    showEvents();
    details();
    draw();
    if (current && !(graphs[current] && graphs[current].graph)) loadGraph(current, null);
    if (lastState[current]) apply(lastState[current]);
    stream();
  }

  // loadGraph fetches a lab's graph unless the one held (or coming) is of
  // that version; a version of null asks for the graph as it is (the
  // lab named in the page's address, fetched before the first state).
  function loadGraph(name, version) {
    var g = graphs[name];
    if (g && (g.version === version || g.loading === version || (g.loading === null && version !== null))) return;
    graphs[name] = Object.assign(g || {}, { loading: version });
    api("/api/graph?lab=" + encodeURIComponent(name)).then(function (r) { return r.json(); }).then(function (graph) {
      graphs[name] = { version: graph.version, graph: graph };
      if (name === current) { draw(); if (lastState[name]) apply(lastState[name]); }
      var st = lastState[name];
      if (st && st.version !== graph.version) loadGraph(name, st.version);
    }).catch(function (err) { graphs[name] = {}; status("graph of " + name + ": " + err.message, false); });
  }

  // draw builds the SVG of the current lab's graph: as one string of
  // markup, which the browser parses far faster than it takes thousands
  // of elements made one by one.
  function draw() {
    var cg = $("cables"), vg = $("vertices");
    els = { cables: {}, hits: {}, rates: {}, vertices: {} };
    var g = current && graphs[current] && graphs[current].graph;
    if (!g) { cg.textContent = ""; vg.textContent = ""; return; }
    var at = {};
    g.nodes.forEach(function (v) { at[v.id] = v; });
    var big = g.nodes.length > 300;
    var cs = [], vs = [];
    g.cables.forEach(function (c) {
      var a = at[c.a.vertex], b = at[c.b.vertex];
      if (!a || !b) return;
      var xy = ' x1="' + a.x + '" y1="' + a.y + '" x2="' + b.x + '" y2="' + b.y + '" data-id="' + esc(c.id) + '"';
      cs.push('<line class="cable' + (c.shape ? " shaped" : "") + '" data-state="unknown"' + xy + "/>");
      cs.push('<line class="hit"' + xy + "><title>" + esc(cableName(c)) + "</title></line>");
      if (!big) {
        // Towards the lower end: cables that leave one vertex part there;
        // beside the cable, on the side it leans to.
        var lo = a.y <= b.y ? b : a, hi = lo === a ? b : a;
        var mx = hi.x + (lo.x - hi.x) * 0.62, my = hi.y + (lo.y - hi.y) * 0.62;
        if (Math.abs(a.x - b.x) < Math.abs(a.y - b.y)) {
          var left = lo.x < hi.x;
          cs.push('<text class="rate" data-id="' + esc(c.id) + '" x="' + (mx + (left ? -7 : 7)) + '" y="' + (my + 4) + '" text-anchor="' + (left ? "end" : "start") + '"></text>');
        } else {
          cs.push('<text class="rate" data-id="' + esc(c.id) + '" x="' + mx + '" y="' + (my - 7) + '"></text>');
        }
      }
    });
    g.nodes.forEach(function (v) {
      var shape;
      if (v.kind === "bridge") {
        var bw = Math.max(44, v.name.length * 7 + 18);
        shape = '<rect class="shape" x="' + (-bw / 2) + '" y="-11" width="' + bw + '" height="22" rx="6"/>';
      } else if (v.kind === "host") {
        shape = '<rect class="shape" x="-16" y="-16" width="32" height="32" rx="4"/>';
      } else {
        shape = '<circle class="shape" r="' + (v.kind === "router" ? 15 : 12) + '"/>';
      }
      var glyph = v.kind === "router" ? "R" : v.kind === "host" ? "H" : "";
      var ly = v.kind === "bridge" ? 4 : v.kind === "router" ? 30 : 27;
      vs.push('<g class="vertex ' + v.kind + '" transform="translate(' + v.x + "," + v.y + ')" data-id="' + esc(v.id) + '">' + shape +
        (glyph ? '<text class="glyph" y="4">' + glyph + "</text>" : "") +
        '<text y="' + ly + '"' + (v.kind === "bridge" ? ' class="inside"' : "") + ">" + esc(v.name) + "</text>" +
        "<title>" + esc(v.kind + " " + v.name) + "</title></g>");
    });
    cg.innerHTML = cs.join("");
    vg.innerHTML = vs.join("");
    cg.querySelectorAll(".cable").forEach(function (e) { els.cables[e.dataset.id] = e; });
    cg.querySelectorAll(".hit").forEach(function (e) { els.hits[e.dataset.id] = e; });
    cg.querySelectorAll(".rate").forEach(function (e) { els.rates[e.dataset.id] = e; });
    vg.querySelectorAll(".vertex").forEach(function (e) { els.vertices[e.dataset.id] = e; });
    fit(g);
    markSelected();
    window.nslab.drawnAt = performance.now();
    window.nslab.ready = true;
    document.body.dataset.lab = current;
    summary();
  }

  function cableName(c) {
    var end = function (e) { return e.node ? e.node + ":" + e.iface : e.vertex.replace(/^b:/, ""); };
    return end(c.a) + " — " + end(c.b);
  }

  function fit(g) {
    var r = $("graph").getBoundingClientRect();
    // At most 1.4 times life size: a small lab sits in the middle.
    var w = Math.max(g.width, r.width / 1.4), h = Math.max(g.height, r.height / 1.4);
    var aspect = r.width / Math.max(r.height, 1);
    if (w / h < aspect) w = h * aspect; else h = w / aspect;
    view = { x: (g.width - w) / 2, y: (g.height - h) / 2, w: w, h: h };
    setView();
  }
  function setView() {
    var svg = $("graph");
    svg.setAttribute("viewBox", view.x + " " + view.y + " " + view.w + " " + view.h);
    // Zoomed far out, names would be specks: they show from half size on.
    svg.classList.toggle("far", svg.getBoundingClientRect().width / view.w < 0.5);
  }

  // Pan and zoom.
  var svg = $("graph"), drag = null;
  svg.addEventListener("wheel", function (e) {
    e.preventDefault();
    var r = svg.getBoundingClientRect();
    var k = Math.exp(e.deltaY * 0.0015);
    var px = view.x + (e.clientX - r.left) / r.width * view.w, py = view.y + (e.clientY - r.top) / r.height * view.h;
    view = { x: px - (px - view.x) * k, y: py - (py - view.y) * k, w: view.w * k, h: view.h * k };
    setView();
  }, { passive: false });
  svg.addEventListener("mousedown", function (e) { drag = { x: e.clientX, y: e.clientY, v: Object.assign({}, view), moved: false }; });
  window.addEventListener("mousemove", function (e) {
    if (!drag) return;
    var r = svg.getBoundingClientRect();
    var dx = e.clientX - drag.x, dy = e.clientY - drag.y;
    if (Math.abs(dx) + Math.abs(dy) > 3) { drag.moved = true; svg.classList.add("drag"); }
    view.x = drag.v.x - dx / r.width * view.w; view.y = drag.v.y - dy / r.height * view.h;
    setView();
  });
  window.addEventListener("mouseup", function () { svg.classList.remove("drag"); setTimeout(function () { drag = null; }, 0); });

  svg.addEventListener("click", function (e) {
    if (drag && drag.moved) return;
    var v = e.target.closest(".vertex"), c = e.target.closest(".hit, .cable");
    if (v) selected = { kind: "vertex", id: v.dataset.id };
    else if (c) selected = { kind: "cable", id: c.dataset.id };
    else selected = null;
    markSelected();
    details();
  });

  function markSelected() {
    Object.keys(els.vertices).forEach(function (id) { els.vertices[id].classList.toggle("sel", !!selected && selected.kind === "vertex" && selected.id === id); });
    Object.keys(els.cables).forEach(function (id) { els.cables[id].classList.toggle("sel", !!selected && selected.kind === "cable" && selected.id === id); });
  }

  var partitionColours = ["#a371f7", "#58a6ff", "#3fb950", "#d29922", "#f778ba", "#79c0ff"];

  // apply colours the current lab's cables from its state.
  function apply(st) {
    var g = graphs[current] && graphs[current].graph;
    if (!g) return;
    g.cables.forEach(function (c) {
      var el = els.cables[c.id];
      var cs = st.cables[c.id];
      if (!el || !cs) return;
      var state = cs.unknown ? "unknown" : cs.up ? "up" : "down";
      if (el.dataset.state !== state) {
        el.dataset.state = state;
        el.classList.toggle("down", state === "down");
        el.classList.toggle("unknown", state === "unknown");
      }
      var busy = cs.up && cs.ab + cs.ba > 1000;
      el.classList.toggle("busy", busy);
      var w = busy ? Math.min(2 + Math.log10(1 + (cs.ab + cs.ba) / 1000), 8) : 2;
      el.style.strokeWidth = el.classList.contains("sel") ? "" : w;
      el.classList.toggle("shaped", !!c.shape || !!(st.shapes && (st.shapes[c.a.node + ":" + c.a.iface] || st.shapes[c.b.node + ":" + c.b.iface])));
      var t = els.rates[c.id];
      if (t) t.textContent = busy ? rate(cs.ab + cs.ba, true) : "";
    });
    var group = {};
    (st.partition || []).forEach(function (grp, i) { grp.forEach(function (n) { group["n:" + n] = partitionColours[i % partitionColours.length]; }); });
    Object.keys(els.vertices).forEach(function (id) {
      var s = els.vertices[id].querySelector(".shape");
      s.style.stroke = group[id] || "";
      s.style.strokeWidth = group[id] ? 4 : "";
    });
    summary();
    panels(st);
    if (selected && selected.kind === "cable") details(true);
  }

  function summary() {
    var st = lastState[current], g = graphs[current] && graphs[current].graph;
    if (!st || !g) { $("summary").innerHTML = ""; return; }
    var down = 0, busy = 0;
    Object.keys(st.cables).forEach(function (k) {
      var c = st.cables[k];
      if (c.unknown) return;
      if (!c.up) down++; else if (c.ab + c.ba > 1000) busy++;
    });
    $("summary").innerHTML = "<h2>Lab</h2><h3>" + esc(current) + "</h3>" +
      '<div class="muted">' + g.nodes.length + " vertices · " + g.cables.length + " cables · " +
      '<span class="pill ' + (down ? "down" : "up") + '">' + down + " down</span> · " + busy + " with traffic</div>";
  }

  function panels(st) {
    var f = st.faults || [];
    var groups = (st.partition || []).map(function (grp, i) {
      return '<span class="group" style="border-color:' + partitionColours[i % partitionColours.length] + '">' + grp.map(esc).join(", ") + "</span>";
    }).join(" ");
    $("faults").innerHTML = f.length ? "<h2>Faults in force</h2>" + f.map(function (x) { return '<div><span class="pill warn">fault</span> ' + esc(x) + "</div>"; }).join("") +
      (groups ? '<div class="groups">partition groups (ring colours): ' + groups + "</div>" : "") : "";
    var sv = st.services || [];
    $("services").innerHTML = sv.length ? "<h2>Services</h2><table><tr><th>node/service</th><th>state</th><th>pid</th></tr>" +
      sv.map(function (s) {
        var cls = s.state === "running" ? "up" : (s.state === "failed" || s.state === "exited" ? "down" : "warn");
        return "<tr><td class=mono>" + esc(s.node + "/" + s.name) + '</td><td><span class="pill ' + cls + '">' + esc(s.state) + (s.ready ? " ✓" : "") + "</span></td><td>" + (s.pid || "") + "</td></tr>";
      }).join("") + "</table>" : "";
  }

  // details shows the selected node or cable.
  var nodeSeq = 0;
  function details(refresh) {
    var d = $("details");
    if (!selected) { d.innerHTML = '<h2>Details</h2><p class="muted">Click a node or a cable.</p>'; return; }
    var g = graphs[current] && graphs[current].graph;
    if (!g) return;
    if (selected.kind === "vertex") {
      if (refresh) return;
      var v = g.nodes.find(function (x) { return x.id === selected.id; });
      if (!v) return;
      if (v.kind !== "node" && v.kind !== "router") {
        var ports = g.cables.filter(function (c) { return c.b.vertex === v.id || c.a.vertex === v.id; });
        d.innerHTML = "<h2>" + esc(v.kind) + "</h2><h3>" + esc(v.name) + "</h3><div class=muted>" + ports.length + " cables</div>" +
          "<table>" + ports.map(function (c) { return "<tr><td class=mono>" + esc(cableName(c)) + "</td></tr>"; }).join("") + "</table>";
        return;
      }
      var seq = ++nodeSeq;
      d.innerHTML = "<h2>" + esc(v.kind) + "</h2><h3>" + esc(v.name) + '</h3><p class="muted">reading…</p>';
      api("/api/node?lab=" + encodeURIComponent(current) + "&node=" + encodeURIComponent(v.name)).then(function (r) { return r.json(); }).then(function (n) {
        if (seq !== nodeSeq) return;
        var html = "<h2>" + esc(v.kind) + '</h2><h3 id="node-name">' + esc(n.node) + '</h3><div class="muted mono">netns ' + esc(n.netns) + "</div>";
        html += '<table id="node-ifaces"><tr><th>interface</th><th>state</th><th>addresses</th></tr>' + n.interfaces.map(function (i) {
          var st = i.state === "up" || i.state === "unknown" ? "up" : "down";
          return "<tr><td class=mono>" + esc(i.name) + '</td><td><span class="pill ' + st + '">' + esc(i.state) + "</span></td><td class=mono>" + i.addresses.map(esc).join("<br>") + "</td></tr>";
        }).join("") + "</table>";
        html += "<h2 style='margin-top:8px'>Routes</h2><div class=mono>" + ((n.routes || []).map(esc).join("<br>") || "<span class=muted>none</span>") + "</div>";
        html += "<h2 style='margin-top:8px'>Processes</h2><div class=mono>" + ((n.processes || []).map(function (p) { return p.pid + " " + esc((p.args || []).join(" ")); }).join("<br>") || "<span class=muted>none</span>") + "</div>";
        d.innerHTML = html;
      }).catch(function (err) { if (seq === nodeSeq) d.innerHTML = '<h2>Error</h2><p class="muted">' + esc(err.message) + "</p>"; });
      return;
    }
    var c = g.cables.find(function (x) { return x.id === selected.id; });
    var cs = (lastState[current] && lastState[current].cables[selected.id]) || {};
    if (!c) return;
    var end = function (e) {
      return "<td class=mono>" + esc(e.node ? e.node + ":" + e.iface : e.vertex.replace(/^b:/, "bridge ")) + "</td><td class=mono>" + (e.addresses || []).map(esc).join("<br>") + "</td>";
    };
    var canCut = c.kind !== "trunk" && c.a.node;
    var html = "<h2>Cable</h2><h3>" + esc(cableName(c)) + "</h3>" +
      '<div><span id="cable-state" class="pill ' + (cs.up ? "up" : "down") + '">' + (cs.up ? "up" : "down") + "</span> " + esc(c.kind) + (c.shape ? " · shaped " + esc(c.shape) : "") + "</div>" +
      "<table><tr><th>end</th><th>addresses</th></tr><tr>" + end(c.a) + "</tr><tr>" + end(c.b) + "</tr></table>" +
      "<table style='margin-top:6px'><tr><th></th><th>A → B</th><th>B → A</th></tr>" +
      "<tr><td class=muted>rate</td><td>" + rate(cs.ab || 0) + "</td><td>" + rate(cs.ba || 0) + "</td></tr>" +
      "<tr><td class=muted>bytes</td><td>" + bytes(cs.tx_bytes || 0) + "</td><td>" + bytes(cs.rx_bytes || 0) + "</td></tr>" +
      "<tr><td class=muted>packets</td><td>" + (cs.tx_packets || 0) + "</td><td>" + (cs.rx_packets || 0) + "</td></tr></table>";
    if (canCut) html += '<button id="cut" class="act' + (cs.up ? "" : " join") + '">' + (cs.up ? "Cut cable" : "Join cable") + "</button>";
    if (refresh && d.querySelector("#cut") && d.querySelector("#cut").disabled) return;
    d.innerHTML = html;
    var b = $("cut");
    if (b) b.onclick = function () {
      b.disabled = true;
      api("/api/link", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ lab: current, node: c.a.node, iface: c.a.iface, up: !cs.up }) })
        .catch(function (err) { alert(err.message); }).then(function () { b.disabled = false; });
    };
  }

  // Events of the lab shown, newest first.
  var events = [];
  function event(e) {
    if (e.lab !== current) return;
    events.push(e);
    if (events.length > 1000) events.shift();
    showEvent(e);
  }
  function showEvents() {
    $("events").textContent = "";
    events.forEach(function (e) { if (e.lab === current) showEvent(e); });
  }
  function showEvent(e) {
    var li = document.createElement("li");
    var t = new Date(e.time);
    var bad = /down|removed|cut|exit|failed|partition|block/.test(e.kind);
    li.className = (e.source || "nslab") + (bad ? " bad" : "");
    var what = e.node && e.iface ? e.node + ":" + e.iface : (e.node || e.iface || e.service || "");
    li.innerHTML = '<span class="t">' + t.toTimeString().slice(0, 8) + '</span><span><span class="k">' + esc(e.kind) + "</span> " + esc(what) + (e.detail ? ' <span class="muted">' + esc(e.detail) + "</span>" : "") + "</span>";
    var ol = $("events");
    ol.insertBefore(li, ol.firstChild);
    while (ol.children.length > 200) ol.removeChild(ol.lastChild);
  }

  function status(text, live) {
    var s = $("status");
    s.textContent = text;
    s.className = "status " + (live ? "live" : "lost");
  }

  function onState(snap) {
    var st = snap.state;
    if (st) { lastState[st.name] = st; loadGraph(st.name, st.version); }
    tabs(snap.labs);
    if (st && st.name === current && graphs[current] && graphs[current].version === st.version) apply(st);
    if (!current) { $("cables").textContent = ""; $("vertices").textContent = ""; $("summary").innerHTML = ""; window.nslab.ready = true; }
    status("live · " + new Date(snap.time).toTimeString().slice(0, 8) + " · read in " + snap.took_ms.toFixed(0) + " ms", true);
  }

  // The stream of the lab shown: server-sent events over fetch, so the
  // token goes in a header rather than in an address. Another lab ends
  // it and starts one of its own.
  var streaming = null, retry = null;
  function stream() {
    if (streaming) streaming.abort();
    clearTimeout(retry);
    var ctl = new AbortController();
    streaming = ctl;
    api("/api/stream?lab=" + encodeURIComponent(current || ""), { signal: ctl.signal }).then(function (r) {
      var reader = r.body.getReader(), dec = new TextDecoder(), buf = "";
      function pump() {
        return reader.read().then(function (x) {
          if (x.done) throw new Error("stream ended");
          buf += dec.decode(x.value, { stream: true });
          var i;
          while ((i = buf.indexOf("\n\n")) >= 0) {
            var block = buf.slice(0, i); buf = buf.slice(i + 2);
            var kind = "message", data = "";
            block.split("\n").forEach(function (line) {
              if (line.indexOf("event: ") === 0) kind = line.slice(7);
              else if (line.indexOf("data: ") === 0) data += line.slice(6);
            });
            try {
              var v = JSON.parse(data);
              if (kind === "state") onState(v); else if (kind === "event") event(v);
            } catch (err) { console.error(err); }
          }
          return pump();
        });
      }
      return pump();
    }).catch(function (err) {
      if (ctl.signal.aborted) return; // a stream of another lab took over
      status("disconnected: " + err.message + " (retrying)", false);
      retry = setTimeout(stream, 2000);
    });
  }
  window.addEventListener("resize", function () { var g = graphs[current] && graphs[current].graph; if (g) fit(g); });
  if (current) loadGraph(current, null); // with the stream, not after its first state
  stream();
})();
