#include "base/terminal_progress.hpp"

#include <string>

#include <unistd.h>

namespace pyxray {
namespace {

void write_all(std::string_view s) {
  while (!s.empty()) {
    ssize_t n = ::write(STDERR_FILENO, s.data(), s.size());
    if (n <= 0) return;  // a closed or full terminal: progress is not worth blocking for
    s.remove_prefix(static_cast<std::size_t>(n));
  }
}

}  // namespace

TerminalProgress::TerminalProgress() : enabled_(::isatty(STDERR_FILENO) == 1) {}

void TerminalProgress::show(std::string_view text) {
  if (!enabled_) return;
  std::string line = "\r";
  line += text;
  line += "\033[K";  // erase what a longer previous line left
  write_all(line);
  shown_ = true;
}

void TerminalProgress::clear() {
  if (!shown_) return;
  write_all("\r\033[K");
  shown_ = false;
}

}  // namespace pyxray
