// Dealroom activity reporting (first-party, no third-party script).
//
// Counts ACTIVE seconds only: the tab is visible and the person interacted (mouse, key, scroll,
// touch) within the idle limit, or a video is playing. Every 10 s it sends what accumulated
// since the last beat: seconds per item and PDF page, watched video ranges, sections opened.
// Each beat carries a sequence number; a beat that fails is re-sent as is (same number), so
// the server can drop replays and retries never double-count. On pagehide the rest goes out
// with navigator.sendBeacon. Room and viewer are NOT in the body: the server takes them from
// the signed buyer cookie; the page's signed stream token proves the beat comes from this page.
(function () {
  "use strict";
  var el = document.getElementById("dr-track");
  if (!el || !window.fetch) return;
  var url = el.dataset.beacon;
  var token = el.dataset.token;
  var idle = (parseInt(el.dataset.idle, 10) || 60) * 1000;
  var item = el.dataset.item || null;
  var BEAT_MS = 10000;

  var seq = 0;
  var inputs = 1; // arriving on the page was an interaction (a click or a typed address)
  var lastInput = Date.now();
  var lastTick = Date.now();
  var counts = {}; // "view|item|page" or "room" -> fractional seconds
  var sections = [];
  var queue = []; // serialized beats not yet acknowledged, oldest first
  var sending = false;

  var pdf = document.getElementById("pdf-viewer");
  var page = pdf ? 1 : 0; // the PDF page in front (the viewer opens on page 1)
  var video = document.querySelector("video[data-track-video]");
  var range = null; // {a, b, s} the video range being watched

  function interacted() {
    inputs += 1;
    lastInput = Date.now();
  }
  ["mousemove", "mousedown", "keydown", "wheel", "touchstart", "pointerdown"].forEach(function (name) {
    window.addEventListener(name, interacted, { passive: true, capture: true });
  });
  window.addEventListener("scroll", interacted, { passive: true, capture: true });

  function playing() {
    return !!(video && !video.paused && !video.ended && video.readyState > 2);
  }

  function key() {
    if (!item) return "room";
    return "view|" + item + "|" + (page || "");
  }

  function tick() {
    var now = Date.now();
    // Real elapsed time, but never more than 2 s per tick: a sleeping laptop is not reading.
    var elapsed = Math.min(now - lastTick, 2000) / 1000;
    lastTick = now;
    var visible = document.visibilityState === "visible";
    if (!visible) return;
    if (playing()) {
      var t = video.currentTime;
      if (!range || Math.abs(t - range.b) > 3) {
        flushRange();
        range = { a: t, b: t, s: 0 };
      }
      range.b = t;
      range.s += elapsed;
      return;
    }
    if (now - lastInput <= idle) {
      var k = key();
      counts[k] = (counts[k] || 0) + elapsed;
    }
  }

  var ranges = [];
  function flushRange() {
    if (range && range.b > range.a) ranges.push(range);
    range = null;
  }

  function takeEvents() {
    var events = [];
    Object.keys(counts).forEach(function (k) {
      var whole = Math.floor(counts[k]);
      if (whole < 1) return;
      counts[k] -= whole;
      if (k === "room") {
        events.push({ k: "room", s: whole });
      } else {
        var parts = k.split("|");
        var ev = { k: "view", item: parts[1], s: whole };
        if (parts[2]) ev.page = parseInt(parts[2], 10);
        events.push(ev);
      }
    });
    var open = range;
    if (open) {
      flushRange();
      range = { a: open.b, b: open.b, s: 0 }; // keep watching from here
    }
    ranges.forEach(function (r) {
      events.push({
        k: "video", item: item, a: Math.floor(r.a), b: Math.ceil(r.b), s: Math.round(r.s),
        d: video && isFinite(video.duration) ? Math.round(video.duration) : 0
      });
    });
    ranges = [];
    sections.forEach(function (id) { events.push({ k: "section", section: id }); });
    sections = [];
    return events;
  }

  function enqueue(final) {
    var events = takeEvents();
    if (!events.length && !final) return;
    if (!events.length && !queue.length) return;
    if (events.length) {
      seq += 1;
      queue.push(JSON.stringify({ t: token, seq: seq, ev: events, i: inputs, f: !!final }));
      inputs = 0;
    }
  }

  function sendNext() {
    if (sending || !queue.length) return;
    sending = true;
    var body = queue[0];
    fetch(url, {
      method: "POST", body: body, credentials: "same-origin", keepalive: true,
      headers: { "Content-Type": "application/json" }
    }).then(function (response) {
      // 2xx: stored or deliberately dropped; 4xx: never worth retrying. Only 5xx and network
      // failures keep the beat for the next try (with the same sequence number).
      if (response.status < 500) queue.shift();
    }).catch(function () {}).then(function () { sending = false; });
  }

  function beat() {
    enqueue(false);
    sendNext();
  }

  function flushAll() {
    tick();
    enqueue(true);
    while (queue.length) {
      var body = queue.shift();
      var sent = navigator.sendBeacon && navigator.sendBeacon(url, new Blob([body], { type: "text/plain" }));
      if (!sent) {
        queue.unshift(body);
        break;
      }
    }
  }

  document.addEventListener("visibilitychange", function () {
    tick();
    if (document.visibilityState === "hidden") flushAll();
    else lastTick = Date.now();
  });
  window.addEventListener("pagehide", flushAll);
  if (video) {
    video.addEventListener("play", interacted);
    video.addEventListener("seeking", function () { flushRange(); });
  }
  if (pdf) {
    pdf.addEventListener("dealroom:page", function (event) {
      tick(); // the time up to now belongs to the page that was in front
      page = event.detail.page;
      interacted();
    });
  }

  // Room sections: recorded once per page view when at least half of one comes into view.
  if ("IntersectionObserver" in window) {
    var seen = {};
    var observer = new IntersectionObserver(function (entries) {
      entries.forEach(function (entry) {
        var id = entry.target.getAttribute("data-track-section");
        if (entry.isIntersecting && id && !seen[id] && document.visibilityState === "visible") {
          seen[id] = true;
          sections.push(id);
          observer.unobserve(entry.target);
        }
      });
    }, { threshold: 0.5 });
    document.querySelectorAll("[data-track-section]").forEach(function (node) { observer.observe(node); });
  }

  setInterval(tick, 1000);
  setInterval(beat, BEAT_MS);
  // Test hook: lets a browser test force a beat without waiting 10 s.
  el.addEventListener("dealroom:beat", function () { tick(); beat(); });
})();
