#include "commands/args.hpp"

#include <cctype>
#include <charconv>

#include <fmt/format.h>

namespace pyxray {

std::optional<std::string> ParsedArgs::value(const std::string& flag) const {
  auto it = flags.find(flag);
  if (it == flags.end()) return std::nullopt;
  return it->second;
}

Expected<std::vector<std::string>> tokenize(std::string_view line) {
  std::vector<std::string> out;
  std::string cur;
  bool in_token = false;
  char quote = 0;
  for (std::size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (quote) {
      if (c == quote) quote = 0;
      else if (c == '\\' && quote == '"' && i + 1 < line.size()) cur.push_back(line[++i]);
      else cur.push_back(c);
    } else if (c == '\'' || c == '"') {
      quote = c;
      in_token = true;
    } else if (c == '\\' && i + 1 < line.size()) {
      cur.push_back(line[++i]);
      in_token = true;
    } else if (c == ' ' || c == '\t' || c == '\n') {
      if (in_token) out.push_back(std::move(cur));
      cur.clear();
      in_token = false;
    } else {
      cur.push_back(c);
      in_token = true;
    }
  }
  if (quote) return fail(fmt::format("unterminated {} quote", quote));
  if (in_token) out.push_back(std::move(cur));
  return out;
}

Expected<ParsedArgs> parse_args(std::string_view command, std::string_view line, const std::vector<FlagSpec>& specs,
                                std::size_t max_positional) {
  PYX_TRY(tokens, tokenize(line));
  ParsedArgs parsed;
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    const std::string& tok = tokens[i];
    if (tok.size() > 1 && tok[0] == '-' && !(tok.size() > 1 && std::isdigit(static_cast<unsigned char>(tok[1])))) {
      std::string name = tok;
      std::optional<std::string> inline_value;
      if (auto eq = tok.find('='); eq != std::string::npos) {
        name = tok.substr(0, eq);
        inline_value = tok.substr(eq + 1);
      }
      const FlagSpec* spec = nullptr;
      for (const auto& s : specs)
        if (s.name == name) spec = &s;
      if (!spec) return fail(fmt::format("{}: unknown option '{}' (see 'help {}')", command, name, command));
      if (spec->takes_value) {
        std::string value;
        if (inline_value) {
          value = *inline_value;
        } else if (i + 1 < tokens.size()) {
          value = tokens[++i];
        } else {
          return fail(fmt::format("{}: option '{}' needs a value", command, name));
        }
        parsed.values_given.emplace_back(name, value);
        auto [it, fresh] = parsed.flags.try_emplace(name, value);
        if (!fresh) it->second = spec->repeatable ? it->second + "," + value : value;
      } else {
        if (inline_value) return fail(fmt::format("{}: option '{}' takes no value", command, name));
        parsed.flags[name] = "";
      }
    } else {
      parsed.positional.push_back(tok);
    }
  }
  if (parsed.positional.size() > max_positional) {
    return fail(fmt::format("{}: unexpected argument '{}' (see 'help {}')", command, parsed.positional[max_positional],
                            command));
  }
  return parsed;
}

Expected<long long> parse_count(std::string_view flag, std::string_view text, long long min, long long max) {
  long long v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size() || v < min || v > max)
    return fail(fmt::format("{} wants a number from {} to {}, not '{}'", flag, min, max, text));
  return v;
}

}  // namespace pyxray
