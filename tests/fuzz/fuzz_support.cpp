#include "fuzz_support.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace pyxray::fuzz {

MutableScene::MutableScene(synthetic::Scene scene) : scene_(std::move(scene)) {
  windows_ = scene_.builder->windows();
  const auto& image = *scene_.builder->image();
  for (const auto& w : windows_) {
    std::vector<std::byte> b(w.size);
    if (image.read(w.addr, b) != w.size) throw std::logic_error("a window is not mapped");
    original_.insert(original_.end(), b.begin(), b.end());
  }
}

std::unique_ptr<MutableScene::Overlay> MutableScene::apply(std::span<const uint8_t> data) {
  restore();
  auto& image = *scene_.builder->image();
  std::size_t at = 0;
  for (const auto& w : windows_) {
    if (at >= data.size()) break;
    std::size_t n = std::min(w.size, data.size() - at);
    image.write(w.addr, std::as_bytes(data.subspan(at, n)));
    at += n;
  }
  applied_ = at;
  return std::make_unique<Overlay>(*this);
}

void MutableScene::restore() {
  auto& image = *scene_.builder->image();
  std::size_t at = 0;
  for (const auto& w : windows_) {
    if (at >= applied_) break;
    std::size_t n = std::min(w.size, applied_ - at);
    image.write(w.addr, std::span(original_).subspan(at, n));
    at += n;
  }
  applied_ = 0;
}

MutableScene::Overlay::~Overlay() { scene_.restore(); }

std::unique_ptr<synthetic::SyntheticTarget> MutableScene::target(std::optional<int64_t> selected) const {
  return scene_.builder->target(nullptr, selected);
}

Bytes MutableScene::seed() const {
  Bytes out(original_.size());
  std::memcpy(out.data(), original_.data(), out.size());
  return out;
}

std::vector<MutableScene>& scenes(bool pymalloc) {
  static std::vector<MutableScene> plain, arenas;
  auto& all = pymalloc ? arenas : plain;
  if (all.empty()) {
    for (uint32_t v : synthetic::kBuilderVersions) all.emplace_back(synthetic::standard_scene(v, pymalloc));
  }
  return all;
}

std::vector<Seed> scene_seeds(const std::string& name, bool pymalloc, const Bytes& after_selector) {
  std::vector<Seed> out;
  auto& all = scenes(pymalloc);
  for (std::size_t i = 0; i < all.size(); ++i) {
    Bytes data{static_cast<uint8_t>(i)};
    data.insert(data.end(), after_selector.begin(), after_selector.end());
    Bytes windows = all[i].seed();
    data.insert(data.end(), windows.begin(), windows.end());
    out.push_back({fmt::format("{}-{}", name, all[i].scene().builder->version().text()), std::move(data)});
  }
  return out;
}

void finding(const std::string& what) {
  std::fprintf(stderr, "\n==pyxray-fuzz== FINDING: %s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}

void check_utf8(std::string_view text, std::string_view what) {
  // Strict, as Python's decoder (pybind11 hands command output to gdb's Python as str): no
  // overlong forms, no surrogates, nothing past U+10FFFF.
  std::size_t i = 0;
  while (i < text.size()) {
    auto c = static_cast<unsigned char>(text[i]);
    std::size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    bool ok = n != 0 && i + n <= text.size();
    uint32_t cp = n == 1 ? c : n == 2 ? c & 0x1f : n == 3 ? c & 0x0f : c & 0x07;
    for (std::size_t k = 1; ok && k < n; ++k) {
      auto cc = static_cast<unsigned char>(text[i + k]);
      ok = (cc >> 6) == 2;
      cp = cp << 6 | (cc & 0x3f);
    }
    static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    ok = ok && cp >= kMin[n] && cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff);
    if (!ok) finding(fmt::format("{} is not valid UTF-8 at byte {}: {}", what, i, std::string(text.substr(0, 300))));
    i += n;
  }
}

void run_checked(Session& session, std::string_view name, std::string_view args) {
  CommandResult r = session.run(name, args);
  std::string cmd = fmt::format("{} {}", name, args);
  check_utf8(r.output, fmt::format("the output of `{}`", cmd));
  // gdb's Python refuses text with a NUL in it (and LLDB's C strings end there).
  if (r.output.find('\0') != std::string::npos) finding(fmt::format("`{}` printed a NUL character", cmd));
  // Session::run's catch-all (text from the target may say "internal error" anywhere else).
  if (!r.ok && r.output.rfind(fmt::format("pyxray: internal error in {}:", name), 0) == 0)
    finding(fmt::format("`{}`: an exception escaped a decoder: {}", cmd, r.output));
  if (!r.ok) {
    if (r.output.rfind("pyxray: ", 0) != 0 || r.output.find('\n') != std::string::npos)
      finding(fmt::format("`{}` failed without one 'pyxray:' line: {}", cmd, r.output));
    return;
  }
  if (args.find("--json") != std::string_view::npos) {
    // One JSON document on the last line (notes and warnings may come first on other lines).
    std::string_view out = r.output;
    while (!out.empty() && out.back() == '\n') out.remove_suffix(1);
    auto nl = out.rfind('\n');
    std::string_view last = nl == std::string_view::npos ? out : out.substr(nl + 1);
    if (!nlohmann::json::accept(last))
      finding(fmt::format("`{}` printed invalid JSON: {}", cmd, std::string(last.substr(0, 2000))));
  }
}

}  // namespace pyxray::fuzz
