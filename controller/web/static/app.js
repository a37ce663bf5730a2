// Loa Làng web UI: live refresh (server-sent events), JSON actions, recording in the browser.
(function () {
  "use strict";
  var csrf = document.body.dataset.csrf || "";

  // Live: the server says what changed; htmx re-fetches the parts listening for it.
  if (csrf && window.EventSource) {
    var source = new EventSource("/ui/stream");
    ["fleet", "progress", "broadcasts"].forEach(function (name) {
      source.addEventListener(name, function () {
        if (window.htmx) { window.htmx.trigger(document.body, name); }
      });
    });
  }

  // The menu on a phone: one button opens the pages (the header stays one line high).
  var header = document.querySelector("header");
  var toggle = header && header.querySelector(".menu-toggle");
  if (toggle) {
    header.classList.add("js-menu");
    toggle.addEventListener("click", function () {
      var open = header.classList.toggle("open");
      toggle.setAttribute("aria-expanded", open ? "true" : "false");
    });
  }

  // What the last action saved, said once after the reload it caused.
  var said = window.sessionStorage.getItem("loalang-saved");
  if (said) {
    window.sessionStorage.removeItem("loalang-saved");
    var note = document.createElement("p");
    note.className = "notice saved"; note.setAttribute("role", "status"); note.textContent = said;
    var main = document.getElementById("main");
    if (main) { main.insertBefore(note, main.firstChild); }
  }

  // Tables on a phone: each cell carries its column's name (CSS shows it as a card).
  function labelCells(root) {
    (root.querySelectorAll ? root : document).querySelectorAll("table").forEach(function (table) {
      var names = Array.prototype.map.call(table.querySelectorAll("thead th"), function (th) {
        return th.textContent.trim();
      });
      if (!names.length) { return; }
      table.querySelectorAll("tbody tr").forEach(function (tr) {
        Array.prototype.forEach.call(tr.children, function (td, i) {
          if (names[i] && !td.dataset.label) { td.dataset.label = names[i]; }
        });
      });
    });
  }
  labelCells(document);
  document.addEventListener("htmx:afterSwap", function (event) { labelCells(event.target.parentNode || document); });

  // An emergency waiting for a second person: the badge grows, and the page says so aloud.
  var lastWaiting = Number((document.getElementById("emergency-badge") || {dataset: {}}).dataset.count || 0);
  document.addEventListener("htmx:afterSwap", function () {
    var badge = document.getElementById("emergency-badge");
    if (!badge) { return; }
    var count = Number(badge.dataset.count || 0);
    if (count > lastWaiting) { beep(); }
    lastWaiting = count;
  });
  function beep() {
    var Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) { return; }
    try {
      var ctx = new Context(), osc = ctx.createOscillator(), gain = ctx.createGain();
      osc.frequency.value = 880; gain.gain.value = 0.2;
      osc.connect(gain); gain.connect(ctx.destination);
      osc.start(); osc.stop(ctx.currentTime + 0.6);
    } catch (e) { /* a browser that will not play before a click: the badge still shows */ }
  }

  // Buttons that call the JSON API: data-post="/api/...", optional data-body, data-ask.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-post]");
    if (!button) { return; }
    var body = button.dataset.body ? JSON.parse(button.dataset.body) : {};
    if (button.dataset.confirm && !window.confirm(button.dataset.confirm)) { return; }
    if (button.dataset.ask) {
      var answer = window.prompt(button.dataset.prompt || button.dataset.ask);
      if (answer === null) { return; }
      body[button.dataset.ask] = answer;
    }
    send(button.dataset.post, button.dataset.method || "POST", body, button);
  });

  function send(url, method, body, button) {
    if (button) { button.disabled = true; }
    fetch(url, {
      method: method, credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf,
                "Accept-Language": document.documentElement.lang},
      body: JSON.stringify(body)
    }).then(function (response) {
      if (response.ok) {
        // data-open="/ui/broadcasts/": go to what the answer made (its id), else reload
        if (button && button.dataset.open) {
          return response.json().then(function (made) {
            window.location.assign(button.dataset.open + encodeURIComponent(made.id));
          });
        }
        var saved = button && (button.dataset.saved || (button.form && button.form.dataset.saved));
        if (saved) { window.sessionStorage.setItem("loalang-saved", saved); }
        window.location.reload(); return;
      }
      return response.json().then(function (data) {
        var box = document.getElementById("action-error");
        if (box) { box.textContent = data.error ? data.error.message : response.statusText; box.hidden = false; }
        if (button) { button.disabled = false; }
      });
    });
  }

  // Forms that call the JSON API: <form data-api="/api/..." data-method="PUT">. Number inputs
  // become numbers; checkboxes sharing a name become a list (data-list="name" on the form).
  document.addEventListener("submit", function (event) {
    if (event.target.dataset.confirm && !window.confirm(event.target.dataset.confirm)) {
      event.preventDefault(); return;
    }
    var form = event.target.closest("form[data-api]");
    if (!form) { return; }
    event.preventDefault();
    var body = {}, lists = (form.dataset.list || "").split(" ").filter(Boolean);
    lists.forEach(function (name) { body[name] = []; });
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || el.name === "csrf") { return; }
      if (lists.indexOf(el.name) >= 0) { if (el.checked) { body[el.name].push(el.value); } return; }
      if (el.type === "number") { if (el.value !== "") { body[el.name] = Number(el.value); } return; }
      body[el.name] = el.value;
    });
    send(form.dataset.api, form.dataset.method || "POST", body, form.querySelector("button"));
  });

  // The routine's form: show only the fields of the chosen repetition (all show without JS).
  var repeats = document.querySelectorAll("input[name=repeat]");
  function showRepeat() {
    var chosen = document.querySelector("input[name=repeat]:checked");
    document.querySelectorAll("[data-for-repeat]").forEach(function (el) {
      el.hidden = !chosen || el.dataset.forRepeat !== chosen.value;
    });
  }
  repeats.forEach(function (r) { r.addEventListener("change", showRepeat); });
  if (repeats.length) { showRepeat(); }

  // Record with the microphone; the recording becomes the file input named by data-target.
  // Where the browser allows no microphone (plain http:// off this machine), say why.
  document.querySelectorAll("button.record").forEach(function (record) {
    if (!(navigator.mediaDevices && window.MediaRecorder)) {
      // say why on a line of its own, with the way to the station's HTTPS address
      var why = document.createElement("p");
      why.className = "notice mic-why";
      why.textContent = record.dataset.why || "";
      var port = record.dataset.securePort;
      if (port && port !== "0" && window.location.protocol === "http:") {
        var link = document.createElement("a");
        link.className = "button secure-link";
        link.href = "https://" + window.location.hostname + (port === "443" ? "" : ":" + port) +
          window.location.pathname + window.location.search;
        link.textContent = record.dataset.secureText || link.href;
        why.appendChild(document.createElement("br"));
        why.appendChild(link);
      }
      record.hidden = true;
      (record.closest("p") || record).insertAdjacentElement("afterend", why);
      return;
    }
    var recorder = null, chunks = [];
    record.addEventListener("click", function () {
      if (recorder && recorder.state === "recording") { recorder.stop(); return; }
      navigator.mediaDevices.getUserMedia({audio: true}).then(function (stream) {
        chunks = [];
        recorder = new MediaRecorder(stream);
        recorder.ondataavailable = function (e) { chunks.push(e.data); };
        recorder.onstop = function () {
          stream.getTracks().forEach(function (t) { t.stop(); });
          var blob = new Blob(chunks, {type: recorder.mimeType || "audio/webm"});
          var file = new File([blob], "ghi-am.webm", {type: blob.type});
          var transfer = new DataTransfer();
          transfer.items.add(file);
          document.getElementById(record.dataset.target).files = transfer.files;
          var preview = document.getElementById(record.dataset.preview);
          preview.src = URL.createObjectURL(blob);
          preview.hidden = false;
          record.textContent = record.dataset.start;
        };
        recorder.start();
        record.textContent = record.dataset.stop;
      });
    });
  });

  // The send form: show the fields of the chosen content (all show without JavaScript).
  var contents = document.querySelectorAll("input[name=content]");
  function showContent() {
    var chosen = document.querySelector("input[name=content]:checked");
    document.querySelectorAll("[data-for-content]").forEach(function (el) {
      el.hidden = !chosen || el.dataset.forContent !== chosen.value;
    });
  }
  contents.forEach(function (c) { c.addEventListener("change", showContent); });
  if (contents.length) { showContent(); }

  function api(url, method, body) {
    return fetch(url, {
      method: method, credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf,
                "Accept-Language": document.documentElement.lang},
      body: body === undefined ? undefined : JSON.stringify(body)
    }).then(function (r) {
      return r.text().then(function (text) { return {ok: r.ok, data: text ? JSON.parse(text) : {}}; });
    });
  }

  // Follow a media job: progress into a <progress>, then done(job) or failed(job).
  function follow(jobId, bar, label, stages, done, failed) {
    api("/api/jobs/" + jobId, "GET").then(function (answer) {
      var job = answer.data;
      if (bar) { bar.hidden = false; bar.value = job.progress; }
      if (label && stages) { label.textContent = stages[job.stage] || job.stage; }
      if (job.state === "done") { done(job); return; }
      if (job.state === "failed") { failed(job); return; }
      setTimeout(function () { follow(jobId, bar, label, stages, done, failed); }, 400);
    });
  }

  // Text to speech: listen first (the bulletin is made once; sending it reuses it).
  var say = document.getElementById("say-preview");
  if (say) {
    var text = document.getElementById("text"), voice = document.getElementById("voice");
    var language = document.getElementById("language"), sha = document.getElementById("media-sha");
    var noVoice = document.getElementById("no-voice");
    var forget = function () {
      sha.value = "";
      var option = language.options[language.selectedIndex];
      noVoice.hidden = !(option && option.dataset.noVoice);
    };
    [text, voice, language].forEach(function (el) { el.addEventListener("input", forget);
                                                    el.addEventListener("change", forget); });
    forget();
    say.addEventListener("click", function () {
      var bar = document.getElementById("say-progress"), audio = document.getElementById("say-audio");
      var said = document.getElementById("said"), error = document.getElementById("action-error");
      say.disabled = true;
      api("/api/speech/said", "POST", {text: text.value}).then(function (answer) {
        if (answer.ok) { said.querySelector("span").textContent = answer.data.said; said.hidden = false; }
      });
      api("/api/speech", "POST", {title: document.getElementById("title").value,
                                  parts: [{language: language.value, text: text.value,
                                           voice: voice.value}]}).then(function (answer) {
        if (!answer.ok) {
          say.disabled = false;
          window.alert(answer.data.error ? answer.data.error.message : "");
          return;
        }
        follow(answer.data.id, bar, null, null, function (job) {
          sha.value = job.media.sha256;
          audio.src = job.media.url;
          audio.hidden = false;
          bar.hidden = true;
          say.disabled = false;
        }, function (job) {
          bar.hidden = true;
          say.disabled = false;
          window.alert(job.error ? job.error.messages[document.documentElement.lang] || "" : "");
        });
      });
    });
  }

  // Sending a file: the upload's own progress, buttons disabled until the answer.
  var sendForm = document.getElementById("send-form");
  if (sendForm && window.FormData && window.XMLHttpRequest) {
    sendForm.addEventListener("submit", function (event) {
      event.preventDefault();
      var data = new FormData(sendForm);
      if (event.submitter && event.submitter.name) { data.append(event.submitter.name, event.submitter.value); }
      var buttons = sendForm.querySelectorAll("button[type=submit]");
      buttons.forEach(function (b) { b.disabled = true; });
      var bar = document.getElementById("upload-progress");
      var xhr = new XMLHttpRequest();
      xhr.open("POST", sendForm.getAttribute("action"));  // .action is the button named "action"
      xhr.upload.onprogress = function (e) {
        if (e.lengthComputable) { bar.hidden = false; bar.value = e.loaded / e.total; }
      };
      xhr.onload = function () {
        if (xhr.status < 400 && xhr.responseURL) { window.location.assign(xhr.responseURL); return; }
        document.open(); document.write(xhr.responseText); document.close();  // the form, with why
      };
      xhr.onerror = function () { buttons.forEach(function (b) { b.disabled = false; }); };
      xhr.send(data);
    });
  }

  // Elapsed time of what is on air (the banner, the live page), every second.
  setInterval(function () {
    document.querySelectorAll(".elapsed[data-since]").forEach(function (el) {
      if (!el.dataset.since) { return; }
      var s = Math.max(0, Math.floor((Date.now() - Date.parse(el.dataset.since)) / 1000));
      var h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60, sec = s % 60;
      el.textContent = (h ? h + ":" : "") + String(m).padStart(2, "0") + ":" + String(sec).padStart(2, "0");
    });
  }, 1000);

  // Going live: the microphone's level before and during; "Bắt đầu" creates the live
  // broadcast and sends the microphone (WebM/Opus chunks, 100 ms each) over a WebSocket;
  // "Kết thúc" ends it. Other sources (line-in, a streaming client) need no microphone here.
  var liveForm = document.getElementById("live-form");
  if (liveForm) {
    var mic = null, recorder = null, socket = null, liveId = null, meter = document.getElementById("level");
    var startButton = document.getElementById("live-start"), endButton = document.getElementById("live-end");
    var sourceOf = function () { return (liveForm.querySelector("input[name=source]:checked") || {}).value; };
    var showSource = function () {
      liveForm.querySelectorAll("[data-for-source]").forEach(function (el) {
        el.hidden = el.dataset.forSource !== sourceOf();
      });
      if (sourceOf() === "browser") { openMic(); }
    };
    var canUseMic = !!(window.isSecureContext && navigator.mediaDevices && window.MediaRecorder);
    function openMic() {
      if (mic || !canUseMic) {
        document.getElementById("mic-why").hidden = canUseMic;
        return Promise.resolve(mic);
      }
      return navigator.mediaDevices.getUserMedia({audio: {echoCancellation: false, noiseSuppression: true}}).then(function (stream) {
        mic = stream;
        var Context = window.AudioContext || window.webkitAudioContext;
        var ctx = new Context(), analyser = ctx.createAnalyser(), data = new Float32Array(1024);
        ctx.createMediaStreamSource(stream).connect(analyser);
        (function draw() {
          analyser.getFloatTimeDomainData(data);
          var sum = 0; for (var i = 0; i < data.length; i++) { sum += data[i] * data[i]; }
          meter.value = Math.min(1, Math.sqrt(sum / data.length) * 4);
          meter.dataset.level = meter.value;
          requestAnimationFrame(draw);
        })();
        return stream;
      });
    }
    liveForm.querySelectorAll("input[name=source]").forEach(function (r) { r.addEventListener("change", showSource); });
    showSource();
    var fail = function (message) {
      var box = document.getElementById("action-error");
      box.textContent = message; box.hidden = false;
      startButton.disabled = false;
    };
    liveForm.addEventListener("submit", function (event) {
      event.preventDefault();
      var villages = Array.prototype.map.call(liveForm.querySelectorAll("input[name=village]:checked"), function (c) { return c.value; });
      var targets = villages.indexOf("all") >= 0 ? ["all"] : villages.map(function (v) { return "zone:" + v; });
      var source = sourceOf();
      startButton.disabled = true;
      var ready = source === "browser" ? openMic() : Promise.resolve(null);
      ready.then(function (stream) {
        if (source === "browser" && !stream) { fail(document.getElementById("mic-why").textContent); return; }
        return api("/api/live", "POST", {targets: targets, title: document.getElementById("title").value, source: source}).then(function (answer) {
          if (!answer.ok) { fail(answer.data.error ? answer.data.error.message : ""); return; }
          liveId = answer.data.broadcast_id;
          document.getElementById("live-mount").textContent = source === "client" ? answer.data.source_url : "";
          var status = document.getElementById("live-status");
          status.querySelector(".elapsed").dataset.since = new Date().toISOString();
          status.hidden = false; startButton.hidden = true; endButton.hidden = false;
          if (source !== "browser") { return; }
          var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
          socket = new WebSocket(scheme + window.location.host + answer.data.feed + "?csrf=" + encodeURIComponent(csrf));
          socket.binaryType = "arraybuffer";
          socket.onopen = function () {
            recorder = new MediaRecorder(stream, {mimeType: "audio/webm;codecs=opus", audioBitsPerSecond: 32000});
            recorder.ondataavailable = function (e) {
              if (e.data.size && socket.readyState === 1) { socket.send(e.data); }
            };
            recorder.start(40);
          };
        });
      }).catch(function (error) { fail(String(error)); });
    });
    endButton.addEventListener("click", function () {
      endButton.disabled = true;
      if (recorder && recorder.state !== "inactive") { recorder.stop(); }
      if (socket) { socket.close(); }
      api("/api/live/" + liveId + "/end", "POST").then(function () { window.location.reload(); });
    });
    document.getElementById("source-password").addEventListener("click", function () {
      api("/api/live/source-password", "POST").then(function (answer) {
        var out = document.getElementById("source-password-out");
        out.querySelector("code").textContent = answer.ok ? answer.data.user + " / " + answer.data.password : "";
        out.hidden = false;
      });
    });
    window.addEventListener("beforeunload", function (event) {
      if (liveId && recorder && recorder.state === "recording") { event.preventDefault(); event.returnValue = ""; }
    });
  }

  // A job's page: its progress live, then the bulletin's page.
  var jobBox = document.getElementById("job");
  if (jobBox && ["done", "failed"].indexOf(jobBox.dataset.state) < 0) {
    var stages = JSON.parse(document.getElementById("job-stages").dataset.stages || "{}");
    follow(jobBox.dataset.job, document.getElementById("job-progress"),
           document.getElementById("job-stage"), stages, function (job) {
             window.location.assign(job.broadcast_id ? "/ui/broadcasts/" + job.broadcast_id
                                                     : window.location.href + "?stay=1");
           }, function () { window.location.reload(); });
  }

  // The send form: which versions each village will hear, as the languages are chosen
  // (the same rule as controller/domain/languages.py: its own languages in its order, else all).
  var villageBox = document.getElementById("villages");
  if (villageBox && villageBox.dataset.names) {
    var names = JSON.parse(villageBox.dataset.names);
    var hearsNow = function () {
      var main = document.getElementById("language"), extra = document.getElementById("extra_language");
      var versions = [main ? main.value : "vi"];
      if (extra && extra.value) versions.push(extra.value);
      villageBox.querySelectorAll(".hears").forEach(function (el) {
        var chosen = [];
        el.dataset.hears.split(",").forEach(function (code) {
          versions.forEach(function (v) { if (v === code && chosen.indexOf(v) < 0) chosen.push(v); });
        });
        if (!chosen.length) chosen = versions;
        el.querySelector("span").textContent = chosen.map(function (c) { return names[c] || c; }).join(" → ");
      });
    };
    ["language", "extra_language"].forEach(function (id) {
      var el = document.getElementById(id);
      if (el) el.addEventListener("change", hearsNow);
    });
    hearsNow();
  }
})();
