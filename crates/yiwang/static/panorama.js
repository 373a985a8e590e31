// Service panorama charts, drawn with the vendored ECharts from the same figures as the page
// (/api/panorama with the page's filter).
(function () {
  function chart(id, option) {
    var el = document.getElementById(id);
    if (!el) { return; }
    var c = echarts.init(el);
    c.setOption(option);
    window.addEventListener("resize", function () { c.resize(); });
  }
  document.addEventListener("DOMContentLoaded", function () {
    var root = document.getElementById("panorama-charts");
    if (!root || !window.echarts) { return; }
    fetch("/api/panorama?" + root.getAttribute("data-query")).then(function (r) { return r.json(); }).then(function (f) {
      var days = f.by_day.map(function (d) { return d.name; });
      chart("chart-trend", { tooltip: { trigger: "axis" }, legend: {}, xAxis: { type: "category", data: days },
        yAxis: [{ type: "value" }, { type: "value", min: 0, max: 100 }],
        series: [{ name: "评价", type: "bar", data: f.by_day.map(function (d) { return d.ratings; }) },
                 { name: "好评率%", type: "line", yAxisIndex: 1,
                   data: f.by_day.map(function (d) { return d.positive_rate === null ? null : +(d.positive_rate * 100).toFixed(2); }) }] });
      chart("chart-levels", { tooltip: {}, series: [{ type: "pie", radius: "65%",
        data: f.by_level.map(function (l) { return { name: l.label, value: l.count }; }) }] });
      chart("chart-channels", { tooltip: {}, xAxis: { type: "category", data: f.by_channel.map(function (c) { return c.code + " " + c.label; }) },
        yAxis: { type: "value" }, series: [{ type: "bar", data: f.by_channel.map(function (c) { return c.count; }) }] });
    });
  });
})();
