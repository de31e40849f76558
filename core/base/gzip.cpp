#include "base/gzip.hpp"

#include <zlib.h>

#include <algorithm>
#include <cstdint>

#include <fmt/format.h>

namespace pyxray {

Expected<std::string> gzip_compress(std::string_view data) {
  z_stream z{};
  // 15 window bits, plus 16: zlib then writes a gzip header and trailer instead of zlib's own.
  if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    return fail("gzip: zlib could not start a stream");
  std::string out;
  out.resize(deflateBound(&z, static_cast<uLong>(std::min<std::size_t>(data.size(), UINT32_MAX))) + 64);
  std::size_t in_at = 0, out_at = 0;
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    // zlib counts in uInt: feed a large input in pieces, and grow the output as needed.
    if (z.avail_in == 0 && in_at < data.size()) {
      std::size_t n = std::min<std::size_t>(data.size() - in_at, 1u << 30);
      z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data() + in_at));
      z.avail_in = static_cast<uInt>(n);
      in_at += n;
    }
    if (out_at == out.size()) out.resize(out.size() * 2);
    std::size_t room = std::min<std::size_t>(out.size() - out_at, 1u << 30);
    z.next_out = reinterpret_cast<Bytef*>(out.data() + out_at);
    z.avail_out = static_cast<uInt>(room);
    rc = deflate(&z, in_at == data.size() ? Z_FINISH : Z_NO_FLUSH);
    out_at += room - z.avail_out;
    if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
      deflateEnd(&z);
      return fail(fmt::format("gzip: zlib failed ({})", rc));
    }
  }
  deflateEnd(&z);
  out.resize(out_at);
  return out;
}

}  // namespace pyxray
