// Objects that print by name and address: types, instances, modules, functions, code objects, bound
// and built-in methods, and 2.7's old-style classes and instances.
#include <algorithm>

#include <fmt/format.h>

#include "interp/objects.hpp"
#include "layout/layout.hpp"
#include "repr/repr_impl.hpp"
#include "target/memory.hpp"

namespace pyxray::repr_detail {
namespace {

Expected<void> need(int64_t offset, const char* what) {
  if (offset == kAbsent) return fail(fmt::format("no layout for {}", what));
  return {};
}

}  // namespace

Expected<std::optional<uint64_t>> Engine::dict_str_value(uint64_t dict, std::string_view key) {
  if (dict == 0) return std::optional<uint64_t>{};
  return objects_.dict_get_str(dict, key);
}

Expected<bool> Engine::is_none(uint64_t addr) {
  PYX_TRY(type, objects_.type_of(addr));
  return classify(type).kind == Kind::None;
}

Expected<Engine::TypeNames> Engine::type_names(uint64_t type) {
  TypeNames names;
  PYX_TRY(tp_name, objects_.type_name_of_type(type));
  names.tp_name = tp_name;
  if (!is_heap_type(type)) {
    // A static type's module is what precedes the last dot of tp_name, else the builtins module.
    std::size_t dot = tp_name.rfind('.');
    names.module = dot == std::string::npos ? dialect_.builtins_module : tp_name.substr(0, dot);
    names.name = dot == std::string::npos ? tp_name : tp_name.substr(dot + 1);
    return names;
  }
  // A class: __module__ from its dict (absent or not a str: no module), 3.x __qualname__ / 2.7 __name__.
  if (auto s = need(L_.type_tp_dict, "type dicts"); !s) return Unexpected<Error>{s.error()};
  PYX_TRY(dict, mem_.read_ptr(type + L_.type_tp_dict));
  PYX_TRY(module, dict_str_value(dict, "__module__"));
  if (module) {
    if (auto text = plain_text(*module)) names.module = *text;
  }
  int64_t name_field = dialect_.has_qualname ? L_.heaptype_ht_qualname : L_.heaptype_ht_name;
  if (auto s = need(name_field, "class names"); !s) return Unexpected<Error>{s.error()};
  PYX_TRY(name_obj, mem_.read_ptr(type + name_field));
  names.name = plain_text(name_obj).value_or(tp_name);
  return names;
}

Engine::Result Engine::emit_type(uint64_t type) {
  PYX_TRY(names, type_names(type));
  const char* kind = dialect_.classic_reprs && !is_heap_type(type) ? "type" : "class";
  if (names.module && *names.module != dialect_.builtins_module) {
    out_ += fmt::format("<{} '{}.{}'>", kind, *names.module, names.name);
  } else {
    out_ += fmt::format("<{} '{}'>", kind, names.tp_name);
  }
  return {};
}

Engine::Result Engine::emit_object(uint64_t addr, uint64_t type, int depth) {
  PYX_TRY(names, type_names(type));
  const std::string name = names.module && *names.module != dialect_.builtins_module
                               ? fmt::format("{}.{}", *names.module, names.name)
                               : names.tp_name;
  // An instance of a class (a heap type) shows what its __dict__ holds; one without attributes, or
  // of a static type, prints as object.__repr__ does.
  if (is_heap_type(type) && emit_instance(addr, name, depth)) return {};
  out_ += fmt::format("<{} object at 0x{:x}>", name, addr);
  return {};
}

bool Engine::emit_instance(uint64_t addr, const std::string& name, int depth) {
  // The attributes vars(obj) would list, like a dict's items: at most max_items of them, each value
  // one level deeper; a cycle or the depth limit shows as (...). CPython's libpython.py prints
  // <Name(attr=value, ...) at remote 0x...>; the module-qualified name is object.__repr__'s.
  const bool nested = depth >= limits_.max_depth || std::find(active_.begin(), active_.end(), addr) != active_.end();
  Items items;
  bool more = false;
  const std::size_t max = nested ? 1 : static_cast<std::size_t>(limits_.max_items);
  auto r = objects_.instance_items(addr, [&](uint64_t k, uint64_t v) {
    if (items.size() >= max) {
      more = true;
      return false;
    }
    items.emplace_back(k, v);
    return true;
  });
  if (!r || (items.empty() && !more)) return false;  // no attributes (or unreadable ones): object.__repr__
  if (nested) {
    out_ += fmt::format("<{}(...) at 0x{:x}>", name, addr);
    return true;
  }
  ActiveGuard guard(active_, addr);
  out_ += fmt::format("<{}(", name);
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i) out_ += ", ";
    if (out_of_budget()) return true;
    const auto [key, value] = items[i];
    auto text = plain_text(key, static_cast<std::size_t>(limits_.max_string));
    if (text) {
      out_ += *text;
    } else {
      emit(key, depth + 1);  // not a str (setattr cannot make one, but a __dict__ can hold one)
    }
    if (cut_) return true;
    out_ += '=';
    emit(value, depth + 1);
    if (cut_) return true;
  }
  if (more) out_ += items.empty() ? "..." : ", ...";
  out_ += fmt::format(") at 0x{:x}>", addr);
  return true;
}

Engine::Result Engine::emit_module(uint64_t addr, int depth) {
  // md_dict follows PyObject_HEAD in every version; the field is looked up where debuginfo has it.
  const int64_t dict_field = L_.module_md_dict != kAbsent ? L_.module_md_dict : 16;
  PYX_TRY(dict, mem_.read_ptr(addr + dict_field));
  PYX_TRY(name, dict_str_value(dict, "__name__"));
  PYX_TRY(file, dict_str_value(dict, "__file__"));
  if (dialect_.classic_reprs) {  // module_repr in 2.7 prints the raw strings
    std::string n = name ? plain_text(*name).value_or("?") : "?";
    if (file) {
      if (auto f = plain_text(*file)) {
        out_ += fmt::format("<module '{}' from '{}'>", n, *f);
        return {};
      }
    }
    out_ += fmt::format("<module '{}' (built-in)>", n);
    return {};
  }
  // 3.x: importlib's _module_repr, from the module spec when there is one.
  // Names and file names are str leaves: printed at this depth, so a deep module still shows them.
  auto emit_name = [&](std::optional<uint64_t> obj) {
    if (obj && !is_none(*obj).value_or(true)) {
      emit(*obj, depth);
    } else {
      out_ += "'?'";
    }
  };
  PYX_TRY(module_loader, dict_str_value(dict, "__loader__"));
  if (dialect_.loader_module_repr && module_loader) {
    if (auto what = loader_module_repr(*module_loader)) {
      out_ += "<module ";
      emit_name(name);
      out_ += " (" + *what + ")>";
      return {};
    }
  }
  PYX_TRY(spec, dict_str_value(dict, "__spec__"));
  if (spec && !is_none(*spec).value_or(true)) {
    PYX_TRY(spec_name, objects_.instance_attr(*spec, "name"));
    PYX_TRY(origin, objects_.instance_attr(*spec, "origin"));
    out_ += "<module ";
    emit_name(spec_name);
    if (origin && !is_none(*origin).value_or(true)) {
      PYX_TRY(fileattr, objects_.instance_attr(*spec, "_set_fileattr"));  // spec.has_location
      bool has_location = fileattr && is_true(*fileattr).value_or(false);
      if (has_location) {
        out_ += " from ";
        emit(*origin, depth);
      } else {
        out_ += " (" + plain_text(*origin).value_or("?") + ")";
      }
    } else {
      PYX_TRY(loader, objects_.instance_attr(*spec, "loader"));
      if (loader && !is_none(*loader).value_or(true)) {
        out_ += " (";
        emit(*loader, depth + 1);
        out_ += ")";
      }
    }
    out_ += '>';
    return {};
  }
  out_ += "<module ";
  emit_name(name);
  if (file) {
    out_ += " from ";
    emit(*file, depth);
  } else if (module_loader && !is_none(*module_loader).value_or(true)) {
    out_ += " (";
    emit(*module_loader, depth + 1);
    out_ += ")";
  }
  out_ += '>';
  return {};
}

std::optional<std::string> Engine::loader_module_repr(uint64_t loader) {
  // The importlib loaders whose module_repr() 3.4-3.11 call: the built-in and frozen importers (used
  // as classes) and namespace package loaders (instances).
  auto type = objects_.type_of(loader);
  if (!type) return std::nullopt;
  const bool is_class = classify(*type).kind == Kind::Type;
  auto names = type_names(is_class ? loader : *type);
  if (!names) return std::nullopt;
  if (is_class && names->name == "BuiltinImporter") return "built-in";
  if (is_class && names->name == "FrozenImporter") return "frozen";
  if (!is_class && (names->name == "_NamespaceLoader" || names->name == "NamespaceLoader")) return "namespace";
  return std::nullopt;
}

Engine::Result Engine::emit_function(uint64_t addr) {
  const int64_t field = dialect_.has_qualname ? L_.function_func_qualname : L_.function_func_name;
  if (auto s = need(field, "function objects"); !s) return s;
  PYX_TRY(name_obj, mem_.read_ptr(addr + field));
  PYX_TRY(name, plain_text(name_obj));
  out_ += fmt::format("<function {} at 0x{:x}>", name, addr);
  return {};
}

Engine::Result Engine::emit_code(uint64_t addr) {
  PYX_TRY(name_obj, mem_.read_ptr(addr + L_.code_co_name));
  PYX_TRY(file_obj, mem_.read_ptr(addr + L_.code_co_filename));
  PYX_TRY(firstline, mem_.read<int32_t>(addr + L_.code_co_firstlineno));
  std::string name = plain_text(name_obj).value_or("?");
  auto file = plain_text(file_obj);
  if (dialect_.classic_reprs) {  // 2.7 prints %.100s and %.300s
    name = name.substr(0, 100);
    if (file) *file = file->substr(0, 300);
  }
  std::string where = file ? fmt::format("\"{}\"", *file) : "???";
  out_ += fmt::format("<code object {} at 0x{:x}, file {}, line {}>", name, addr, where, firstline ? firstline : -1);
  return {};
}

Engine::Result Engine::emit_method(uint64_t addr, int depth) {
  if (auto s = need(L_.method_im_func, "method objects"); !s) return s;
  PYX_TRY(func, mem_.read_ptr(addr + L_.method_im_func));
  PYX_TRY(self, mem_.read_ptr(addr + L_.method_im_self));
  // The function's __qualname__ (2.7: __name__) when it is a Python function, as Python looks it up.
  std::string func_name = "?";
  if (auto t = objects_.type_of(func); t && classify(*t).kind == Kind::Function) {
    int64_t field = dialect_.has_qualname ? L_.function_func_qualname : L_.function_func_name;
    if (auto p = mem_.read_ptr(func + field)) func_name = plain_text(*p).value_or("?");
  }
  if (!dialect_.classic_reprs) {
    out_ += fmt::format("<bound method {} of ", func_name);
    emit(self, depth + 1);
    out_ += '>';
    return {};
  }
  // 2.7: <bound method Class.name of self>, or <unbound method Class.name>.
  std::string class_name = "?";
  if (auto klass = mem_.read_ptr(addr + L_.method_im_class); klass && *klass) {
    if (auto t = objects_.type_of(*klass)) {
      Kind k = classify(*t).kind;
      if (k == Kind::Type) {
        if (auto names = type_names(*klass)) class_name = names->name;
      } else if (k == Kind::Class27 && L_.class27_cl_name != kAbsent) {
        if (auto p = mem_.read_ptr(*klass + L_.class27_cl_name)) class_name = plain_text(*p).value_or("?");
      }
    }
  }
  if (self == 0) {
    out_ += fmt::format("<unbound method {}.{}>", class_name, func_name);
    return {};
  }
  out_ += fmt::format("<bound method {}.{} of ", class_name, func_name);
  emit(self, depth + 1);
  out_ += '>';
  return {};
}

Engine::Result Engine::emit_builtin_function(uint64_t addr) {
  if (auto s = need(L_.cfunction_m_ml, "built-in functions"); !s) return s;
  PYX_TRY(ml, mem_.read_ptr(addr + L_.cfunction_m_ml));
  PYX_TRY(name_ptr, mem_.read_ptr(ml + (L_.methoddef_ml_name == kAbsent ? 0 : L_.methoddef_ml_name)));
  PYX_TRY(name, mem_.read_cstring(name_ptr, max_name()));
  PYX_TRY(self, mem_.read_ptr(addr + L_.cfunction_m_self));
  bool function = self == 0;
  std::string self_type = "?";
  if (!function) {
    PYX_TRY(t, objects_.type_of(self));
    function = classify(t).kind == Kind::Module;
    self_type = objects_.type_name_of_type(t).value_or("?");
  }
  if (function) {
    out_ += fmt::format("<built-in function {}>", name);
  } else {
    out_ += fmt::format("<built-in method {} of {} object at 0x{:x}>", name, self_type, self);
  }
  return {};
}

Engine::Result Engine::emit_class27(uint64_t addr) {
  if (auto s = need(L_.class27_cl_name, "old-style classes"); !s) return s;
  PYX_TRY(name_obj, mem_.read_ptr(addr + L_.class27_cl_name));
  PYX_TRY(dict, mem_.read_ptr(addr + L_.class27_cl_dict));
  PYX_TRY(module, dict_str_value(dict, "__module__"));
  std::string name = plain_text(name_obj).value_or("?");
  std::string mod = "?";
  if (module) mod = plain_text(*module).value_or("?");
  out_ += fmt::format("<class {}.{} at 0x{:x}>", mod, name, addr);
  return {};
}

Engine::Result Engine::emit_instance27(uint64_t addr) {
  // instance_repr when the class has no __repr__ (one that has would run Python code).
  if (auto s = need(L_.instance27_in_class, "old-style instances"); !s) return s;
  if (auto s = need(L_.class27_cl_name, "old-style classes"); !s) return s;
  PYX_TRY(klass, mem_.read_ptr(addr + L_.instance27_in_class));
  PYX_TRY(name_obj, mem_.read_ptr(klass + L_.class27_cl_name));
  PYX_TRY(dict, mem_.read_ptr(klass + L_.class27_cl_dict));
  PYX_TRY(module, dict_str_value(dict, "__module__"));
  std::string name = plain_text(name_obj).value_or("?");
  std::string mod = "?";
  if (module) mod = plain_text(*module).value_or("?");
  out_ += fmt::format("<{}.{} instance at 0x{:x}>", mod, name, addr);
  return {};
}

}  // namespace pyxray::repr_detail
