"use strict";
// Keeps the operator's token in a cookie: the dashboard's requests, and
// its EventSource (which cannot send headers), carry it.
const form = document.getElementById("signin");
if (document.cookie.split("; ").some((c) => c.startsWith("edgecoap_token=")))
  document.getElementById("refused").hidden = false;
form.addEventListener("submit", (e) => {
  e.preventDefault();
  const t = document.getElementById("token").value.trim();
  document.cookie = "edgecoap_token=" + encodeURIComponent(t) +
    "; path=/; SameSite=Strict";
  location.reload();
});
