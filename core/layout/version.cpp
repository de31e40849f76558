#include "layout/version.hpp"

#include <cctype>
#include <regex>

#include <fmt/format.h>

namespace pyxray {

std::string PyVersion::text() const {
  return micro_known ? fmt::format("{}.{}.{}", major, minor, micro) : fmt::format("{}.{}", major, minor);
}

std::optional<PyVersion> parse_version(std::string_view text) {
  static const std::regex re(R"(^\s*(\d+)\.(\d+)(?:\.(\d+))?)");
  std::match_results<std::string_view::const_iterator> m;
  if (!std::regex_search(text.begin(), text.end(), m, re)) return std::nullopt;
  PyVersion v;
  v.major = std::stoi(m[1].str());
  v.minor = std::stoi(m[2].str());
  if (m[3].matched) {
    v.micro = std::stoi(m[3].str());
    v.micro_known = true;
  }
  return v;
}

PyVersion version_from_hex(uint32_t hex) {
  return PyVersion{static_cast<int>((hex >> 24) & 0xff), static_cast<int>((hex >> 16) & 0xff),
                   static_cast<int>((hex >> 8) & 0xff), true};
}

std::optional<PyVersion> version_from_path(std::string_view path) {
  auto slash = path.rfind('/');
  std::string base(slash == std::string_view::npos ? path : path.substr(slash + 1));
  static const std::regex re(R"(^(?:lib)?python(\d)\.(\d+)[a-z]*(?:\.so|\.dylib|$|-|_d))");
  std::smatch m;
  if (!std::regex_search(base, m, re)) return std::nullopt;
  return PyVersion{std::stoi(m[1].str()), std::stoi(m[2].str()), 0, false};
}

Expected<void> check_supported(const PyVersion& v) {
  bool ok = (v.major == 2 && v.minor == 7) || (v.major == 3 && v.minor >= 6);
  if (!ok) return fail(fmt::format("CPython {} is not supported: 2.7 and 3.6–3.{} are", v.text(), kNewestKnownMinor));
  return {};
}

}  // namespace pyxray
