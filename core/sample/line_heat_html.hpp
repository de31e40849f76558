// py-sample's line heat view (-o X.html, --format html): one self-contained HTML page (no scripts,
// nothing loaded from elsewhere, which its Content-Security-Policy enforces) with an index of the
// hottest files and lines, then each of those files' source with every sampled line's own and total
// samples and a background whose strength is the line's share, computed here.
#pragma once

#include <string>
#include <string_view>

#include "sample/line_costs.hpp"
#include "sample/line_table.hpp"

namespace pyxray {

class SourceLines;

// Text for an HTML text node: valid UTF-8, control characters replaced (see printable_source_line),
// and & < > escaped.
std::string html_text(std::string_view text);
// The same for a double-quoted attribute value: quotes escaped too.
std::string html_attribute(std::string_view text);

std::string line_heat_html(const LineCosts& costs, SourceLines& sources, const LineViewInfo& info);

}  // namespace pyxray
