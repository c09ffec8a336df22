// The login form keeps the UI route that asked for it (the page's own hash wins over the server's echo).
if (location.hash) document.getElementById("next").value = location.hash;
