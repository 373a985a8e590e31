// The grid map of the report and patrol pages: draws the grids (GeoJSON from /api/grids) as SVG
// and puts the tapped point into the form's lat/lon fields. Patrol findings take the phone's
// position when the browser gives it. No tiles: it works on an offline intranet.
(function () {
  function draw(svg, collection) {
    var features = collection.features || [];
    var xs = [], ys = [];
    features.forEach(function (f) { f.geometry.coordinates[0].forEach(function (p) { xs.push(p[0]); ys.push(p[1]); }); });
    if (!xs.length) { return; }
    var w = Math.min.apply(null, xs), e = Math.max.apply(null, xs), s = Math.min.apply(null, ys), n = Math.max.apply(null, ys);
    var pad = 0.01; w -= pad; e += pad; s -= pad; n += pad;
    var x = function (lon) { return (lon - w) / (e - w) * 400; };
    var y = function (lat) { return (n - lat) / (n - s) * 300; };
    var ns = "http://www.w3.org/2000/svg";
    features.forEach(function (f) {
      var path = document.createElementNS(ns, "polygon");
      path.setAttribute("points", f.geometry.coordinates[0].map(function (p) { return x(p[0]) + "," + y(p[1]); }).join(" "));
      path.setAttribute("class", "grid-cell");
      path.setAttribute("data-grid", f.properties.code);
      var title = document.createElementNS(ns, "title");
      title.textContent = f.properties.name;
      path.appendChild(title);
      svg.appendChild(path);
    });
    var pin = document.createElementNS(ns, "circle");
    pin.setAttribute("r", "5"); pin.setAttribute("class", "pin"); pin.setAttribute("cx", "-10"); pin.setAttribute("cy", "-10");
    svg.appendChild(pin);
    svg.addEventListener("click", function (event) {
      var box = svg.getBoundingClientRect();
      var px = (event.clientX - box.left) / box.width * 400, py = (event.clientY - box.top) / box.height * 300;
      var lon = w + px / 400 * (e - w), lat = n - py / 300 * (n - s);
      pin.setAttribute("cx", px); pin.setAttribute("cy", py);
      document.getElementById("lat").value = lat.toFixed(6);
      document.getElementById("lon").value = lon.toFixed(6);
      document.getElementById("pin-text").textContent = lat.toFixed(5) + ", " + lon.toFixed(5);
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    var svg = document.getElementById("grid-map");
    if (svg) {
      fetch(svg.getAttribute("data-grids")).then(function (r) { return r.json(); }).then(function (c) { draw(svg, c); });
    }
    if (document.querySelector("form[data-locate]") && navigator.geolocation) {
      navigator.geolocation.getCurrentPosition(function (position) {
        document.querySelectorAll("form[data-locate]").forEach(function (form) {
          form.elements.lat.value = position.coords.latitude.toFixed(6);
          form.elements.lon.value = position.coords.longitude.toFixed(6);
        });
      }, function () {}, { timeout: 5000 });
    }
  });
})();
