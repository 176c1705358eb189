// Live figures: every element with data-live-url is fetched again every data-live-seconds
// and its content replaced, while the page is visible. No library: fetch and innerHTML of
// our own server-rendered fragment.
(function () {
  "use strict";
  function refresh(element) {
    if (document.hidden) return;
    fetch(element.dataset.liveUrl, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (html === null) return;
        element.innerHTML = html;
        element.dataset.liveRefreshed = String(Number(element.dataset.liveRefreshed || 0) + 1);
      })
      .catch(function () { /* the next round tries again */ });
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-live-url]").forEach(function (element) {
      var seconds = Number(element.dataset.liveSeconds || 30);
      window.setInterval(function () { refresh(element); }, seconds * 1000);
    });
  });
})();
