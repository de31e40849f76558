#include "commands/output_file.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>

namespace pyxray {

Expected<OutputFile> OutputFile::open(std::string_view command, const std::string& path) {
  std::filesystem::path p(path);
  std::filesystem::path dir = p.has_parent_path() ? p.parent_path() : std::filesystem::path(".");
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec))
    return fail(fmt::format("{}: cannot write {}: {} is not a directory", command, path, dir.string()));
  if (std::filesystem::is_directory(p, ec))
    return fail(fmt::format("{}: cannot write {}: it is a directory", command, path));
  const bool existed = std::filesystem::exists(p, ec);
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
  if (fd < 0) return fail(fmt::format("{}: cannot write {}: {}", command, path, std::strerror(errno)));
  return OutputFile(path, fd, !existed);
}

OutputFile::OutputFile(OutputFile&& o) noexcept
    : path_(std::move(o.path_)), fd_(std::exchange(o.fd_, -1)), created_(o.created_), written_(o.written_) {}

OutputFile::~OutputFile() {
  if (fd_ < 0) return;
  ::close(fd_);
  if (created_ && !written_) ::unlink(path_.c_str());
}

Expected<void> OutputFile::write(std::string_view text) {
  written_ = true;
  if (::ftruncate(fd_, 0) != 0 && errno != EINVAL)  // EINVAL: not a regular file (a pipe, /dev/null)
    return fail(fmt::format("cannot write {}: {}", path_, std::strerror(errno)));
  ::lseek(fd_, 0, SEEK_SET);
  while (!text.empty()) {
    ssize_t n = ::write(fd_, text.data(), text.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return fail(fmt::format("cannot write {}: {}", path_, std::strerror(n < 0 ? errno : ENOSPC)));
    text.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

}  // namespace pyxray
