// Work-order statistics charts, drawn with the vendored ECharts from the same figures as the
// page (/api/workorders/stats) and the grids' GeoJSON (/api/grids) for the map.
(function () {
  function chart(id, option) {
    var el = document.getElementById(id);
    if (!el) { return; }
    var c = echarts.init(el);
    c.setOption(option);
    window.addEventListener("resize", function () { c.resize(); });
  }
  function pairs(map) { return Object.keys(map).map(function (k) { return { name: k, value: map[k] }; }); }
  document.addEventListener("DOMContentLoaded", function () {
    var root = document.getElementById("stats-charts");
    if (!root || !window.echarts) { return; }
    var q = "?from=" + root.getAttribute("data-from") + "&to=" + root.getAttribute("data-to");
    Promise.all([fetch("/api/workorders/stats" + q).then(function (r) { return r.json(); }),
                 fetch("/api/grids").then(function (r) { return r.json(); })]).then(function (all) {
      var s = all[0], grids = all[1];
      var days = Object.keys(s.by_day);
      chart("chart-days", { tooltip: { trigger: "axis" }, xAxis: { type: "category", data: days },
        yAxis: { type: "value" }, series: [{ type: "line", data: days.map(function (d) { return s.by_day[d]; }) }] });
      chart("chart-channels", { tooltip: {}, series: [{ type: "pie", radius: "65%", data: pairs(s.by_channel) }] });
      var cats = Object.keys(s.by_category);
      chart("chart-categories", { tooltip: {}, grid: { left: 110 }, xAxis: { type: "value" },
        yAxis: { type: "category", data: cats }, series: [{ type: "bar", data: cats.map(function (c) { return s.by_category[c]; }) }] });
      var deps = s.by_department.slice(0, 12);
      chart("chart-departments", { tooltip: { trigger: "axis" }, legend: {}, grid: { left: 160 }, xAxis: { type: "value" },
        yAxis: { type: "category", data: deps.map(function (d) { return d.department; }) },
        series: [{ name: "工单", type: "bar", data: deps.map(function (d) { return d.orders; }) },
                 { name: "按时办结", type: "bar", data: deps.map(function (d) { return d.on_time; }) },
                 { name: "不满意", type: "bar", data: deps.map(function (d) { return d.dissatisfied; }) }] });
      grids.features.forEach(function (f) { f.properties.name = f.properties.code; });
      echarts.registerMap("grids", grids);
      var max = Math.max.apply(null, [1].concat(Object.values(s.open_by_grid)));
      chart("chart-map", { tooltip: {}, visualMap: { min: 0, max: max, left: "left", bottom: 0, calculable: true },
        geo: { map: "grids", roam: true },
        series: [{ type: "map", map: "grids", geoIndex: 0, data: pairs(s.open_by_grid) },
                 { type: "scatter", coordinateSystem: "geo", data: s.open_points,
                   symbolSize: function (p) { return 4 + Math.min(16, 2 * Math.sqrt(p[2])); } }] });
    });
  });
})();
