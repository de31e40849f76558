#include "sample/line_heat_html.hpp"

#include <algorithm>
#include <map>

#include <fmt/format.h>

#include "report/source_lines.hpp"

namespace pyxray {
namespace {

constexpr std::size_t kFiles = 10;
constexpr std::size_t kIndexLines = 15;
constexpr int kWholeFileLines = 2000;  // a longer file is shown around its sampled lines only
constexpr int kContext = 8;

// Only inline styles: the policy forbids scripts, and everything else, so the page cannot load
// anything whatever the source it shows holds. The heat toggle is a radio pair and CSS (no script):
// rows carry their own and total strengths as custom properties.
constexpr const char* kHead =
    "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
    "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n";
constexpr const char* kStyle =
    "<style>\n"
    "body{font:14px/1.4 system-ui,sans-serif;margin:1em 2em;color:#222;background:#fff}\n"
    "table{border-collapse:collapse}th,td{padding:0 .6em;text-align:right;vertical-align:top}\n"
    "th{border-bottom:1px solid #999}td.l,th.l{text-align:left}\n"
    "table.src{font:13px/1.35 ui-monospace,monospace;tab-size:8}\n"
    "table.src td.n{color:#888}table.src td.s{text-align:left;white-space:pre}\n"
    "table.src tr.gap td{color:#888;text-align:left}\n"
    "table.src tr{background:rgba(255,64,0,var(--o,0))}\n"
    "#heat-total:checked~main table.src tr{background:rgba(255,64,0,var(--t,0))}\n"
    "section{margin-top:2em}h2{font-size:15px;font-family:ui-monospace,monospace;word-break:break-all}\n"
    ".note{color:#a40}\n"
    "</style>\n";

std::string escape(std::string_view text, bool attribute) {
  const std::string printable = printable_source_line(text);
  std::string out;
  out.reserve(printable.size());
  for (char c : printable) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += attribute ? "&quot;" : "\""; break;
      case '\'': out += attribute ? "&#39;" : "'"; break;
      default: out += c;
    }
  }
  return out;
}

std::string share(uint64_t part, uint64_t whole) {
  return whole ? fmt::format("{:.1f}%", 100.0 * static_cast<double>(part) / static_cast<double>(whole)) : "-";
}

// The row's background strengths: 0.08 to 0.8 by its share of the profile's hottest line, none
// without samples.
std::string heat_style(const LineCost* c, uint64_t max_own, uint64_t max_total) {
  if (!c) return "";
  auto alpha = [](uint64_t n, uint64_t max) {
    return 0.08 + 0.72 * static_cast<double>(n) / static_cast<double>(std::max<uint64_t>(max, 1));
  };
  std::string style;
  if (c->own) style += fmt::format("--o:{:.3f};", alpha(c->own, max_own));
  if (c->total) style += fmt::format("--t:{:.3f}", alpha(c->total, max_total));
  return style.empty() ? "" : fmt::format(" style=\"{}\"", style);
}

}  // namespace

std::string html_text(std::string_view text) { return escape(text, false); }
std::string html_attribute(std::string_view text) { return escape(text, true); }

std::string line_heat_html(const LineCosts& costs, SourceLines& sources, const LineViewInfo& info) {
  // The files shown, each with a generated id (never a path: ids and links hold no target text).
  std::vector<const FileCost*> files;
  std::map<std::string, std::size_t> file_number;
  for (const auto& f : costs.files) {
    if (files.size() == kFiles) break;
    file_number[f.file] = files.size() + 1;
    files.push_back(&f);
  }
  std::map<std::string, std::map<int, const LineCost*>> lines_of;
  uint64_t max_own = 0, max_total = 0;
  for (const auto& l : costs.lines) {
    max_own = std::max(max_own, l.own);
    max_total = std::max(max_total, l.total);
    if (file_number.count(l.file)) lines_of[l.file][l.line] = &l;
  }
  auto anchor = [&](const std::string& file, int line) { return fmt::format("f{}-L{}", file_number.at(file), line); };

  const std::string summary = line_view_summary(costs, info);
  std::string out = kHead;
  out += fmt::format("<title>{}</title>\n", html_text("py-sample lines: " + info.title));
  out += kStyle;
  out += "</head>\n<body>\n";
  out +=
      "<input type=\"radio\" name=\"heat\" id=\"heat-own\" checked><label for=\"heat-own\">own samples</label>\n"
      "<input type=\"radio\" name=\"heat\" id=\"heat-total\"><label for=\"heat-total\">total samples</label>\n"
      "<main>\n";
  out += fmt::format("<h1>{}</h1>\n<p>{}</p>\n", html_text(info.title), html_text(summary));
  if (costs.lines.empty()) {
    out += "<p>No samples with a Python line.</p>\n</main>\n</body>\n</html>\n";
    return out;
  }

  // The index: files, then the hottest lines.
  out +=
      "<h2>Files</h2>\n<table class=\"index\">\n<tr><th class=\"l\">File</th><th>Own</th><th>Total</th>"
      "<th>Hottest line</th></tr>\n";
  for (const FileCost* f : files) {
    const LineCost* hottest = nullptr;
    for (const auto& [line, c] : lines_of[f->file])
      if (!hottest || c->own > hottest->own) hottest = c;
    out +=
        fmt::format("<tr><td class=\"l\"><a href=\"#f{}\">{}</a></td><td>{}</td><td>{}</td><td>", file_number[f->file],
                    html_text(f->file), share(f->own, costs.samples), share(f->total, costs.samples));
    if (hottest && hottest->own)
      out += fmt::format("<a href=\"#{}\">{}</a>", anchor(f->file, hottest->line), hottest->line);
    out += "</td></tr>\n";
  }
  out += "</table>\n";
  if (costs.files.size() > files.size())
    out += fmt::format("<p>{} more files with fewer samples are not shown.</p>\n", costs.files.size() - files.size());

  out +=
      "<h2>Hottest lines</h2>\n<table class=\"index\">\n<tr><th>Own</th><th>Total</th><th class=\"l\">Line</th>"
      "<th class=\"l\">Function</th><th class=\"l\">Source</th></tr>\n";
  for (std::size_t i = 0; i < costs.lines.size() && i < kIndexLines && costs.lines[i].own; ++i) {
    const LineCost& l = costs.lines[i];
    const std::string where = html_text(fmt::format("{}:{}", l.file, l.line));
    auto text = sources.line(l.file, l.line);
    out += fmt::format(
        "<tr><td>{} ({})</td><td>{} ({})</td><td class=\"l\">{}</td><td class=\"l\">{}</td>"
        "<td class=\"l\"><code>{}</code></td></tr>\n",
        l.own, share(l.own, costs.samples), l.total, share(l.total, costs.samples),
        file_number.count(l.file) ? fmt::format("<a href=\"#{}\">{}</a>", anchor(l.file, l.line), where) : where,
        html_text(l.function), text ? html_text(*text) : "");
  }
  out += "</table>\n";

  // Each file: its source (or the windows around its sampled lines), one row a line.
  for (const FileCost* f : files) {
    const std::size_t n = file_number[f->file];
    const auto& sampled = lines_of[f->file];
    out += fmt::format("<section id=\"f{}\">\n<h2>{}</h2>\n<p>own {}, total {}</p>\n", n, html_text(f->file),
                       share(f->own, costs.samples), share(f->total, costs.samples));
    const auto* all = sources.lines(f->file);
    if (!all) out += fmt::format("<p class=\"note\">source not readable: {}</p>\n", html_text(f->file));
    else if (info.changed && info.changed(f->file)) out += fmt::format("<p class=\"note\">{}</p>\n", kChangedNote);
    out += "<table class=\"src\">\n<tr><th>Line</th><th>Own</th><th>Total</th><th class=\"l\">Source</th></tr>\n";
    auto row = [&](int line) {
      auto it = sampled.find(line);
      const LineCost* c = it == sampled.end() ? nullptr : it->second;
      const std::string text =
          all && line >= 1 && line <= static_cast<int>(all->size()) ? html_text((*all)[line - 1]) : "";
      out += fmt::format(
          "<tr id=\"f{}-L{}\"{}><td class=\"n\">{}</td><td>{}</td><td>{}</td><td class=\"s\">{}</td></tr>\n", n, line,
          heat_style(c, max_own, max_total), line, c && c->own ? fmt::format("{}", c->own) : "",
          c ? fmt::format("{}", c->total) : "", text);
    };
    std::vector<std::pair<int, int>> ranges;
    std::vector<int> numbers;
    for (const auto& [line, c] : sampled) numbers.push_back(line);
    if (!all) {
      for (int line : numbers) ranges.emplace_back(line, line);
    } else if (static_cast<int>(all->size()) <= kWholeFileLines) {
      // Whole file; a sampled line past its end (the file changed since) still gets its row.
      ranges.emplace_back(1, std::max(static_cast<int>(all->size()), numbers.empty() ? 0 : numbers.back()));
    } else if (!numbers.empty()) {
      ranges = line_windows(numbers, kContext, std::max(static_cast<int>(all->size()), numbers.back()));
    }
    for (std::size_t r = 0; r < ranges.size(); ++r) {
      if (r && all) out += "<tr class=\"gap\"><td colspan=\"4\">\xE2\x8B\xAF</td></tr>\n";  // U+22EF
      for (int line = ranges[r].first; line <= ranges[r].second; ++line) row(line);
    }
    out += "</table>\n</section>\n";
  }
  out += "</main>\n</body>\n</html>\n";
  return out;
}

}  // namespace pyxray
