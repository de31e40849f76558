// Debuginfo layouts through any debugger's type API: the byte offset of a dotted field path
// ("interpreters.head") inside a struct, looking through anonymous struct and union members as C
// does. A front end supplies only how to list a type's direct members; the walk is the same for all.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pyxray {

template <class Type>
struct TypeMember {
  std::string name;    // "" for an anonymous struct or union member
  int64_t offset = 0;  // in bytes, from the start of the enclosing type
  Type type;           // with typedefs stripped
};

inline constexpr int kMaxAnonymousDepth = 8;  // nested anonymous members followed (a cycle guard)

// The member `name` of `type` and its offset, found also inside anonymous members. `members(type)`
// returns a type's direct data members (no static ones).
template <class Type, class Members>
std::optional<std::pair<int64_t, Type>> find_member(const Type& type, std::string_view name, const Members& members,
                                                    int depth = 0) {
  for (const TypeMember<Type>& m : members(type)) {
    if (m.name.empty()) {
      if (depth >= kMaxAnonymousDepth) continue;
      if (auto sub = find_member(m.type, name, members, depth + 1))
        return std::make_pair(m.offset + sub->first, sub->second);
    } else if (m.name == name) {
      return std::make_pair(m.offset, m.type);
    }
  }
  return std::nullopt;
}

// The offset of `path` ("a.b.c") in `root`; nullopt when some part is missing.
template <class Type, class Members>
std::optional<int64_t> field_path_offset(Type root, std::string_view path, const Members& members) {
  int64_t offset = 0;
  while (true) {
    const std::size_t dot = path.find('.');
    auto found = find_member(root, path.substr(0, dot), members);
    if (!found) return std::nullopt;
    offset += found->first;
    if (dot == std::string_view::npos) return offset;
    root = std::move(found->second);
    path.remove_prefix(dot + 1);
  }
}

}  // namespace pyxray
