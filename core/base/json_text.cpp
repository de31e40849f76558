#include "base/json_text.hpp"

namespace pyxray {

std::string json_text(const nlohmann::json& j) {
  return j.dump(-1, ' ', true, nlohmann::json::error_handler_t::replace);
}

std::string json_line(const nlohmann::json& j) { return json_text(j) + "\n"; }

std::string json_line(const nlohmann::ordered_json& j) {
  return j.dump(-1, ' ', true, nlohmann::ordered_json::error_handler_t::replace) + "\n";
}

}  // namespace pyxray
