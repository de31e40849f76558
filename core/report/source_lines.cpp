#include "report/source_lines.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "base/limits.hpp"
#include "base/utf8.hpp"
#include "target/process_files.hpp"

namespace pyxray {
namespace {

// The file's bytes if `path` names a regular file of at most max_size bytes. The path comes from the
// target's memory (co_filename), so it may name anything: a FIFO would block open() forever and
// /dev/zero would never end, so only regular files are opened (O_NONBLOCK covers a file swapped for
// a FIFO after the stat), and never more than the size they had is read.
std::optional<std::string> read_regular_file(const std::string& path, std::size_t max_size) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < 0 ||
      static_cast<std::size_t>(st.st_size) > max_size)
    return std::nullopt;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) return std::nullopt;
  struct stat opened {};
  std::optional<std::string> out;
  if (::fstat(fd, &opened) == 0 && S_ISREG(opened.st_mode)) {
    std::string data(static_cast<std::size_t>(std::min<off_t>(opened.st_size, static_cast<off_t>(max_size))), '\0');
    std::size_t done = 0;
    while (done < data.size()) {
      ssize_t n = ::read(fd, data.data() + done, data.size() - done);
      if (n <= 0) break;
      done += static_cast<std::size_t>(n);
    }
    data.resize(done);
    out = std::move(data);
  }
  ::close(fd);
  return out;
}

}  // namespace

const std::vector<std::string>* SourceLines::lines(const std::string& path) {
  auto it = files_.find(path);
  if (it == files_.end()) {
    std::optional<std::vector<std::string>> content;
    const std::string opened = target_ ? target_file_path(*target_, path) : path;
    const auto max_size = static_cast<std::size_t>(limits().source_file);
    auto data = read_regular_file(opened, max_size);
    // Only an absolute path: a relative one was relative to the target's working directory, not ours.
    if (!data && also_as_given_ && opened != path && !path.empty() && path.front() == '/')
      data = read_regular_file(path, max_size);
    if (data) {
      content.emplace();
      std::size_t start = 0;
      while (start < data->size()) {
        std::size_t end = data->find('\n', start);
        if (end == std::string::npos) end = data->size();
        std::string l = data->substr(start, end - start);
        if (!l.empty() && l.back() == '\r') l.pop_back();
        content->push_back(std::move(l));
        start = end + 1;
      }
    }
    it = files_.emplace(path, std::move(content)).first;
  }
  return it->second ? &*it->second : nullptr;
}

std::optional<std::string> SourceLines::line(const std::string& path, int line) {
  const auto* all = lines(path);
  if (!all || line < 1 || static_cast<std::size_t>(line) > all->size()) return std::nullopt;
  const std::string& l = (*all)[line - 1];
  auto start = l.find_first_not_of(" \t\f");
  if (start == std::string::npos) return std::string();
  auto end = l.find_last_not_of(" \t\f");
  return l.substr(start, end - start + 1);
}

std::string printable_source_line(std::string_view raw) {
  const std::string text = sanitize_utf8(raw);
  std::string out;
  out.reserve(text.size());
  std::size_t column = 0;
  for (unsigned char c : text) {
    if (c == '\t') {
      const std::size_t spaces = 8 - column % 8;
      out.append(spaces, ' ');
      column += spaces;
      continue;
    }
    if (c < 0x20 || c == 0x7f) {
      out += "\xEF\xBF\xBD";  // U+FFFD
      ++column;
      continue;
    }
    out += static_cast<char>(c);
    if ((c & 0xC0) != 0x80) ++column;  // a continuation byte is not a column of its own
  }
  return out;
}

}  // namespace pyxray
