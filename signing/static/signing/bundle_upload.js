// Uploading a bundle from the admin with a progress bar, through the management API (the
// session and CSRF token of the page): straight into the bucket with a presigned PUT where
// storage is S3 (the server then hashes the object in a task), else streamed to the server,
// which hashes it as it arrives. Without JavaScript the form posts as a plain form.
(function () {
  "use strict";
  var form, bar, label, result;

  function csrf() { return form.querySelector("[name=csrfmiddlewaretoken]").value; }

  function fields() {
    var data = {};
    ["path", "hardware_id", "version", "release_counter"].forEach(function (name) {
      data[name] = form.elements[name].value;
    });
    data.release_counter = Number(data.release_counter);
    return data;
  }

  function show(percent, text) {
    bar.value = percent;
    label.textContent = text;
  }

  function fail(text) {
    label.textContent = "";
    result.className = "errornote";
    result.textContent = text;
    form.querySelector("[type=submit]").disabled = false;
  }

  function message(xhr) {
    try {
      var error = JSON.parse(xhr.responseText).error;
      return error.message + (error.detail ? " " + JSON.stringify(error.detail) : "");
    } catch (e) { return "HTTP " + xhr.status; }
  }

  function send(method, url, body, headers, onDone) {
    var xhr = new XMLHttpRequest();
    xhr.open(method, url);
    Object.keys(headers).forEach(function (name) { xhr.setRequestHeader(name, headers[name]); });
    xhr.upload.onprogress = function (event) {
      if (event.lengthComputable) {
        var percent = Math.floor((event.loaded / event.total) * 100);
        show(percent, percent + " % of " + (event.total / 1048576).toFixed(1) + " MiB sent");
      }
    };
    xhr.onload = function () { onDone(xhr); };
    xhr.onerror = function () { fail("The upload was interrupted: nothing was kept; try again."); };
    xhr.send(body);
  }

  function api(method, url, body, onDone) {
    send(method, url, body ? JSON.stringify(body) : null,
      { "Content-Type": "application/json", "X-CSRFToken": csrf() }, onDone);
  }

  function done(bundle) {
    show(100, "100 % — " + bundle.status);
    result.className = "bundle-upload-done";
    var link = form.dataset.changeUrl.replace("0", String(bundle.id));
    result.innerHTML = "";
    var lines = [
      ["Bundle", bundle.path + " (" + bundle.length + " bytes)"],
      ["SHA-256", bundle.hashes.sha256],
      ["SHA-512", bundle.hashes.sha512],
    ];
    var list = document.createElement("dl");
    lines.forEach(function (pair) {
      var term = document.createElement("dt"), value = document.createElement("dd");
      term.textContent = pair[0];
      value.textContent = pair[1];
      value.className = "bundle-" + pair[0].toLowerCase().replace("-", "");
      list.appendChild(term);
      list.appendChild(value);
    });
    var open = document.createElement("a");
    open.href = link;
    open.textContent = "Open the bundle to publish it";
    result.appendChild(list);
    result.appendChild(open);
  }

  function whenHashed(id) {  // a direct upload is hashed by a task: ask until it is done
    api("GET", form.dataset.api + "/" + id, null, function (xhr) {
      var bundle = JSON.parse(xhr.responseText);
      if (bundle.status === "failed") return fail(bundle.failure || "The upload failed.");
      if (bundle.hashes && bundle.hashes.sha256) return done(bundle);
      window.setTimeout(function () { whenHashed(id); }, 1000);
    });
  }

  function direct(file) {
    api("POST", form.dataset.api + "/uploads", fields(), function (xhr) {
      if (xhr.status !== 201) return fail(message(xhr));
      var started = JSON.parse(xhr.responseText);
      send("PUT", started.upload.url, file, {}, function (put) {
        if (put.status >= 300) return fail("Storage refused the upload: HTTP " + put.status);
        show(100, "100 % sent; the server is hashing it…");
        api("POST", form.dataset.api + "/" + started.bundle.id + "/complete", null, function (c) {
          if (c.status !== 202) return fail(message(c));
          whenHashed(started.bundle.id);
        });
      });
    });
  }

  function streamed(file) {
    var body = new FormData();
    var data = fields();
    Object.keys(data).forEach(function (name) { body.append(name, data[name]); });
    body.append("file", file);
    send("POST", form.dataset.api, body, { "X-CSRFToken": csrf() }, function (xhr) {
      if (xhr.status !== 201) return fail(message(xhr));
      done(JSON.parse(xhr.responseText));
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    form = document.getElementById("bundle-upload");
    if (!form) return;
    bar = document.getElementById("upload-progress");
    label = document.getElementById("upload-progress-label");
    result = document.getElementById("upload-result");
    form.addEventListener("submit", function (event) {
      var file = form.elements.file.files[0];
      if (!file || !window.XMLHttpRequest) return;  // the plain form says what is missing
      event.preventDefault();
      form.querySelector("[type=submit]").disabled = true;
      result.textContent = "";
      result.className = "";
      bar.hidden = false;
      show(0, "starting…");
      (form.dataset.mode === "direct" ? direct : streamed)(file);
    });
  });
})();
