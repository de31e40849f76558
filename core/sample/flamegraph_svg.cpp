#include "sample/flamegraph_svg.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>

#include <fmt/format.h>

namespace pyxray {
namespace {

// Geometry, in SVG user units.
constexpr double kWidth = 1200;
constexpr double kPad = 10;
constexpr double kRow = 16;
constexpr double kFont = 12;
constexpr double kCharWidth = 0.59 * kFont;  // average glyph width of the sans-serif font used
constexpr double kTop = 3 * kRow + 8;        // title, subtitle, buttons
constexpr double kBottom = 2 * kRow;         // the details line
constexpr double kMinWidth = 0.1;            // narrower frames (and their callees) are left out

// A count as text: whole numbers without a decimal point (the usual case: samples), others as they
// are (a folded file may hold fractional counts).
std::string count_text(double v) {
  if (v == std::floor(v) && std::abs(v) < 9e15) return fmt::format("{:.0f}", v);
  return fmt::format("{}", v);
}

std::string thread_label(const SampledThread& t) {
  std::string id = t.native_id ? fmt::format("tid {}", *t.native_id) : fmt::format("0x{:x}", t.thread_id);
  return t.name.empty() ? fmt::format("thread {}", id) : fmt::format("thread {} ({})", t.name, id);
}

// Text that is safe inside XML: escaped markup characters, valid UTF-8, no control characters.
std::string xml_text(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    std::size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    bool valid = len > 0 && i + len <= s.size();
    for (std::size_t k = 1; valid && k < len; ++k) valid = (static_cast<unsigned char>(s[i + k]) >> 6) == 2;
    if (!valid) {
      out += "\xef\xbf\xbd";  // U+FFFD
      ++i;
      continue;
    }
    if (len == 1) {
      switch (c) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&quot;"; break;
        default: out += c < 0x20 ? '?' : static_cast<char>(c);
      }
    } else {
      out.append(s, i, len);
    }
    i += len;
  }
  return out;
}

// Characters of `label` that fit in `width`, with ".." when cut; "" when not even three fit. The
// script does the same when zooming.
std::string fitted(const std::string& label, double width) {
  auto fit = static_cast<std::size_t>(std::max(0.0, (width - 6) / kCharWidth));
  if (fit < 3) return "";
  if (label.size() <= fit) return label;
  std::size_t cut = fit - 2;
  while (cut > 0 && (static_cast<unsigned char>(label[cut]) >> 6) == 2) --cut;  // not inside a UTF-8 sequence
  return label.substr(0, cut) + "..";
}

// Warm colours for Python frames, cool ones for native frames, a hue per function name so that the
// same function has the same colour everywhere.
std::string colour(const FlameNode& b) {
  if (b.kind == FlameNode::kRoot) return "rgb(200,200,200)";
  if (b.kind == FlameNode::kThread) return "rgb(160,200,150)";
  std::string name = b.label.substr(0, b.label.find(" ("));
  uint32_t h = 2166136261u;
  for (unsigned char c : name) h = (h ^ c) * 16777619u;
  double v1 = (h & 0xff) / 255.0, v2 = ((h >> 8) & 0xff) / 255.0, v3 = ((h >> 16) & 0xff) / 255.0;
  if (b.kind == FlameNode::kNative)
    return fmt::format("rgb({},{},{})", static_cast<int>(80 + 60 * v3), static_cast<int>(150 + 60 * v1),
                       static_cast<int>(200 + 55 * v2));
  return fmt::format("rgb({},{},{})", static_cast<int>(205 + 50 * v3), static_cast<int>(230 * v1),
                     static_cast<int>(55 * v2));
}

int depth_of(const FlameNode& b) {
  int d = 0;
  for (const auto& [key, c] : b.children) d = std::max(d, depth_of(*c) + 1);
  return d;
}

struct Writer {
  std::string out;
  double total = 1;
  double height = 0;

  void box(const FlameNode& b, double start, int depth) {
    double scale = (kWidth - 2 * kPad) / total;
    double w = b.count * scale;
    if (w < kMinWidth) return;
    double x = kPad + start * scale;
    double y = height - kBottom - (depth + 1) * kRow;
    std::string details = b.details.empty() ? fmt::format("{} sample{}, {:.2f}%", count_text(b.count),
                                                          b.count == 1 ? "" : "s", 100.0 * b.count / total)
                                            : b.details;
    out += fmt::format(
        "<g data-s=\"{}\" data-n=\"{}\" data-d=\"{}\"><title>{} ({})</title>"
        "<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"{}\" rx=\"2\"/>"
        "<text x=\"{:.1f}\" y=\"{:.1f}\">{}</text></g>\n",
        count_text(start), count_text(b.count), depth, xml_text(b.label), xml_text(details), x, y, w, kRow - 1,
        b.fill.empty() ? colour(b) : b.fill, x + 3, y + kRow - 4.5, xml_text(fitted(b.label, w)));
    double child_start = start;
    for (const auto& [key, c] : b.children) {
      box(*c, child_start, depth + 1);
      child_start += c->count;
    }
  }
};

// The interactive part. Frames carry their place in sample units (data-s: first sample, data-n:
// samples, data-d: depth), so zooming and searching never parse the drawing back.
constexpr const char* kScript = R"JS(
"use strict";
var W = 1200, PAD = 10, CHAR = 0.59 * 12;
var frames, details, matched, unzoom, total, zoomed = null, pattern = null;
function info(g) { return { s: +g.getAttribute("data-s"), n: +g.getAttribute("data-n"), d: +g.getAttribute("data-d") }; }
function label(g) { var t = g.querySelector("title").textContent; return t.substring(0, t.lastIndexOf(" (")); }
function fit(g, width) {
  var text = g.querySelector("text"), name = label(g), room = Math.floor((width - 6) / CHAR);
  if (room < 3) text.textContent = "";
  else if (name.length <= room) text.textContent = name;
  else text.textContent = name.substring(0, room - 2) + "..";
}
function place(g, from, count) {
  var f = info(g), scale = (W - 2 * PAD) / count, rect = g.querySelector("rect");
  var x = PAD + (f.s - from) * scale, w = f.n * scale;
  rect.setAttribute("x", x.toFixed(1)); rect.setAttribute("width", w.toFixed(1));
  g.querySelector("text").setAttribute("x", (x + 3).toFixed(1));
  fit(g, w);
}
function zoom(g) {
  var z = info(g);
  zoomed = g;
  unzoom.classList.remove("hidden");
  for (var i = 0; i < frames.length; i++) {
    var e = frames[i], f = info(e);
    e.classList.remove("hidden"); e.classList.remove("parent");
    if (f.d >= z.d && f.s >= z.s && f.s + f.n <= z.s + z.n) place(e, z.s, z.n);
    else if (f.d < z.d && f.s <= z.s && f.s + f.n >= z.s + z.n) { place(e, f.s, f.n); e.classList.add("parent"); }
    else e.classList.add("hidden");
  }
}
function reset() {
  zoomed = null;
  unzoom.classList.add("hidden");
  for (var i = 0; i < frames.length; i++) {
    frames[i].classList.remove("hidden"); frames[i].classList.remove("parent");
    place(frames[i], 0, total);
  }
}
function search(text) {
  var re;
  try { re = new RegExp(text); } catch (e) { alert("Not a regular expression: " + text); return; }
  pattern = text;
  var spans = [];
  for (var i = 0; i < frames.length; i++) {
    var g = frames[i], hit = re.test(label(g)) && g.getAttribute("data-d") !== "0";
    var rect = g.querySelector("rect");
    if (!rect.hasAttribute("data-fill")) rect.setAttribute("data-fill", rect.getAttribute("fill"));
    rect.setAttribute("fill", hit ? "rgb(230,0,230)" : rect.getAttribute("data-fill"));
    if (hit) { var f = info(g); spans.push([f.s, f.s + f.n]); }
  }
  spans.sort(function (a, b) { return a[0] - b[0]; });
  var covered = 0, end = -1;
  for (var j = 0; j < spans.length; j++) {
    var lo = Math.max(spans[j][0], end), hi = spans[j][1];
    if (hi > lo) covered += hi - lo;
    end = Math.max(end, hi);
  }
  matched.textContent = "Matched: " + (100 * covered / total).toFixed(2) + "% of samples";
}
function clear_search() {
  pattern = null;
  for (var i = 0; i < frames.length; i++) {
    var rect = frames[i].querySelector("rect");
    if (rect.hasAttribute("data-fill")) rect.setAttribute("fill", rect.getAttribute("data-fill"));
  }
  matched.textContent = "";
}
function ask() {
  var text = prompt("Search frames (regular expression):", pattern || "");
  if (text === null) return;
  if (text === "") clear_search(); else search(text);
}
function init() {
  frames = document.querySelectorAll("#frames > g");
  details = document.getElementById("details");
  matched = document.getElementById("matched");
  unzoom = document.getElementById("unzoom");
  total = +document.getElementById("frames").getAttribute("data-total");
  for (var i = 0; i < frames.length; i++) {
    frames[i].addEventListener("mouseover", function () { details.textContent = this.querySelector("title").textContent; });
    frames[i].addEventListener("mouseout", function () { details.textContent = " "; });
    frames[i].addEventListener("click", function () { zoom(this); });
  }
  unzoom.addEventListener("click", reset);
  document.getElementById("search").addEventListener("click", ask);
  window.addEventListener("keydown", function (e) {
    if ((e.ctrlKey || e.metaKey) && e.key === "f") { e.preventDefault(); ask(); }
    else if (e.key === "Escape") { if (pattern) clear_search(); else if (zoomed) reset(); }
  });
}
window.addEventListener("load", init);
)JS";

}  // namespace

FlameNode& FlameNode::child(int child_kind, const std::string& child_label) {
  auto& slot = children[{child_kind, child_label}];
  if (!slot) {
    slot = std::make_unique<FlameNode>();
    slot->label = child_label;
    slot->kind = child_kind;
  }
  return *slot;
}

std::string flamegraph_svg(const StackAggregate& agg, const FrameTable& frames, const FlameGraphInfo& info) {
  FlameNode root;
  root.label = "all";
  root.kind = FlameNode::kRoot;
  const auto& nodes = agg.nodes();
  std::vector<bool> thread_has_samples(agg.threads().size());
  for (const auto& n : nodes)
    if (n.self && n.parent != StackAggregate::kNone) thread_has_samples[n.thread] = true;
  bool by_thread = std::count(thread_has_samples.begin(), thread_has_samples.end(), true) > 1;
  for (uint32_t i = 0; i < nodes.size(); ++i) {
    if (!nodes[i].self || nodes[i].parent == StackAggregate::kNone) continue;
    const auto n = static_cast<double>(nodes[i].self);
    FlameNode* b = &root;
    b->count += n;
    if (by_thread) {
      b = &b->child(FlameNode::kThread, thread_label(agg.threads()[nodes[i].thread]));
      b->count += n;
    }
    for (uint32_t f : agg.path(i)) {
      b = &b->child(frames.at(f).native ? FlameNode::kNative : FlameNode::kPython, frames.label(f));
      b->count += n;
    }
  }
  return flamegraph_svg(root, info);
}

std::string flamegraph_svg(const FlameNode& root, const FlameGraphInfo& info) {
  Writer w;
  w.total = root.count > 0 ? root.count : 1;
  int depth = depth_of(root) + 1;
  w.height = kTop + depth * kRow + kBottom + kRow;
  w.out.reserve(1 << 20);
  w.out += fmt::format(
      "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n"
      "<svg version=\"1.1\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1:.0f}\" "
      "viewBox=\"0 0 {0} {1:.0f}\">\n"
      "<!-- Flame graph written by pyxray py-sample. Each box is a frame; its width is its share of the "
      "samples; callers below callees. Hover for details, click to zoom, Ctrl-F or 'Search' to highlight. -->\n"
      "<style type=\"text/css\">\n"
      "text {{ font-family: Verdana, Arial, sans-serif; font-size: 12px; fill: rgb(0,0,0); }}\n"
      "#title {{ text-anchor: middle; font-size: 17px; }}\n"
      "#subtitle {{ text-anchor: middle; fill: rgb(100,100,100); }}\n"
      "#search, #unzoom {{ cursor: pointer; fill: rgb(0,0,160); }}\n"
      "#frames > g:hover > rect {{ stroke: black; stroke-width: 0.5; cursor: pointer; }}\n"
      "#frames > g > text {{ pointer-events: none; }}\n"
      ".hidden {{ display: none; }}\n"
      ".parent {{ opacity: 0.5; }}\n"
      "</style>\n"
      "<script type=\"text/ecmascript\"><![CDATA[{2}]]></script>\n"
      "<rect x=\"0\" y=\"0\" width=\"{0}\" height=\"{1:.0f}\" fill=\"rgb(250,250,240)\"/>\n"
      "<text id=\"title\" x=\"{3:.0f}\" y=\"24\">{4}</text>\n"
      "<text id=\"subtitle\" x=\"{3:.0f}\" y=\"42\">{5}</text>\n"
      "<text id=\"unzoom\" class=\"hidden\" x=\"{6:.0f}\" y=\"24\">Reset zoom</text>\n"
      "<text id=\"search\" x=\"{7:.0f}\" y=\"24\" style=\"text-anchor: end\">Search</text>\n"
      "<text id=\"matched\" x=\"{7:.0f}\" y=\"{8:.0f}\" style=\"text-anchor: end\"></text>\n"
      "<text id=\"details\" x=\"{6:.0f}\" y=\"{8:.0f}\"> </text>\n"
      "<g id=\"frames\" data-total=\"{9}\">\n",
      kWidth, w.height, kScript, kWidth / 2, xml_text(info.title), xml_text(info.subtitle), kPad, kWidth - kPad,
      w.height - kRow / 2, count_text(w.total));
  w.box(root, 0, 0);
  w.out += "</g>\n</svg>\n";
  return w.out;
}

}  // namespace pyxray
