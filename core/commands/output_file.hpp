// A file a command writes (py-sample's profile, py-locks' graph), opened before the work starts: a
// path that cannot be written (a directory, a file system that refuses new files, no permission)
// fails at once instead of after the work, whose result would be lost. An existing file keeps its
// contents until the result replaces them; a file created here is removed again if the command ends
// without writing it.
#pragma once

#include <string>
#include <string_view>

#include "base/expected.hpp"

namespace pyxray {

class OutputFile {
 public:
  // `command` prefixes the messages ("py-sample: cannot write ...").
  static Expected<OutputFile> open(std::string_view command, const std::string& path);
  OutputFile(OutputFile&& o) noexcept;
  OutputFile& operator=(OutputFile&&) = delete;
  ~OutputFile();

  // Replaces the file's contents with `text`.
  Expected<void> write(std::string_view text);

 private:
  OutputFile(std::string path, int fd, bool created) : path_(std::move(path)), fd_(fd), created_(created) {}
  std::string path_;
  int fd_ = -1;
  bool created_ = false, written_ = false;
};

}  // namespace pyxray
