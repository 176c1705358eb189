// The rollout form: choosing a channel fills in its default stage plan, unless the person
// has already written a plan of their own (the text is neither empty nor another default).
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var stages = document.getElementById("id_stages");
    var channel = document.getElementById("id_channel");
    if (!stages || !channel) return;
    var plans = JSON.parse(stages.dataset.channelPlans || "{}");
    var defaults = Object.values(plans);
    channel.addEventListener("change", function () {
      var text = stages.value.trim();
      if ((text === "" || defaults.indexOf(text) !== -1) && plans[channel.value] !== undefined) {
        stages.value = plans[channel.value];
      }
    });
  });
})();
