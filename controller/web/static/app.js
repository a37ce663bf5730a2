// Loa Làng web UI: live refresh (server-sent events), JSON actions, recording in the browser.
(function () {
  "use strict";
  var csrf = document.body.dataset.csrf || "";

  // Live: the server says what changed; htmx re-fetches the parts listening for it.
  if (csrf && window.EventSource) {
    var source = new EventSource("/ui/stream");
    ["fleet", "progress"].forEach(function (name) {
      source.addEventListener(name, function () {
        if (window.htmx) { window.htmx.trigger(document.body, name); }
      });
    });
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
      if (response.ok) { window.location.reload(); return; }
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

  // Record a bulletin with the microphone; the recording becomes the form's file.
  var record = document.getElementById("record");
  if (record && navigator.mediaDevices && window.MediaRecorder) {
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
          document.getElementById("file").files = transfer.files;
          var preview = document.getElementById("preview");
          preview.src = URL.createObjectURL(blob);
          preview.hidden = false;
          record.textContent = record.dataset.start;
        };
        recorder.start();
        record.textContent = record.dataset.stop;
      });
    });
  } else if (record) {
    record.hidden = true;
  }
})();
