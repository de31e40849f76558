// gzip compression of a file's contents in memory (the pprof format is a gzipped protobuf).
#pragma once

#include <string>
#include <string_view>

#include "base/expected.hpp"

namespace pyxray {

// `data` as one gzip member (RFC 1952), as `gzip -c` would write it.
Expected<std::string> gzip_compress(std::string_view data);

}  // namespace pyxray
