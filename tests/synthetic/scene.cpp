#include "scene.hpp"

#include <fmt/format.h>

namespace pyxray::synthetic {
namespace {

// `n` code units, each on the line given for it, in order: {line, count}...
std::vector<int> lines(std::initializer_list<std::pair<int, int>> runs) {
  std::vector<int> out;
  for (auto [line, count] : runs) out.insert(out.end(), count, line);
  return out;
}

}  // namespace

Scene standard_scene(uint32_t version_hex, bool pymalloc, bool free_threaded) {
  Scene s;
  s.builder = std::make_unique<ProcessBuilder>(version_hex, BuilderOptions{pymalloc, free_threaded});
  ProcessBuilder& b = *s.builder;
  const int minor = b.version().minor;

  // The code: line tables with a backwards jump, a line delta over 127 and a range with no line.
  // clang-format off
  uint64_t module_code = b.code({"<module>", "<module>", "/srv/app/main.py", 1, false, false, 0, {},
                                 lines({{1, 2}, {3, 4}, {10, 2}, {24, 6}, {36, 2}, {43, 5}})});
  uint64_t main_code = b.code({"main", "main", "/srv/app/main.py", 36, true, false, 0, {"w", "data", "t"},
                               lines({{36, 1}, {37, 4}, {38, 6}, {39, 3}, {40, 9}})});
  uint64_t inner_code = b.code({"inner", "inner", "/srv/app/main.py", 10, true, false, 1, {"n", "total", "i", "add"},
                                lines({{10, 1}, {11, 3}, {12, 4}, {13, 5}, {12, 2}, {14, 6}, {-1, 1}, {15, 12}, {170, 2}})});
  uint64_t run_code = b.code({"run", "Worker.run", "/srv/app/main.py", 25, true, false, 1, {"self", "item"},
                              lines({{25, 1}, {26, 10}, {27, 8}, {26, 3}})});
  uint64_t items_code = b.code({"items", "Worker.items", "/srv/app/main.py", 28, true, minor >= 11, 1, {"self"},
                                lines({{28, 2}, {29, 4}, {30, 4}})});
  // clang-format on

  // The objects.
  uint64_t worker_cls = b.heap_class("Worker", "__main__");
  uint64_t hello = b.str("hello");
  uint64_t ucs = b.str("h\xc3\xa9llo w\xc3\xb6rld \xe2\x9c\x93 \xf0\x9f\x98\x80");  // héllo wörld ✓ 😀
  uint64_t latin = b.str("caf\xc3\xa9");                                            // café
  uint64_t data = b.bytes(std::string_view("\x00\x01hi'\"\xff", 7));
  uint64_t big = b.integer(-12345678901234567);
  uint64_t small = b.integer(42);
  uint64_t zero = b.integer(0);
  uint64_t pi = b.floating(3.25);
  uint64_t tup = b.tuple({small, hello});
  uint64_t one = b.tuple({zero});
  uint64_t lst = b.list({small, pi, b.list({b.list({zero})})});
  uint64_t st = b.set({small});
  uint64_t fst = b.set({hello}, true);
  uint64_t inst = b.instance(worker_cls, {{"x", small}, {"name", hello}});
  uint64_t mod = b.module("json");
  uint64_t fn = b.function(inner_code, "inner", "inner", 0);
  uint64_t cl = b.cell(small);
  s.root = b.dict_str({{"s", hello},          {"u", ucs},         {"latin", latin},
                       {"b", data},           {"big", big},       {"i", small},
                       {"zero", zero},        {"f", pi},          {"t", tup},
                       {"one", one},          {"l", lst},         {"set", st},
                       {"fs", fst},           {"none", b.none()}, {"yes", b.true_obj()},
                       {"no", b.false_obj()}, {"inst", inst},     {"cls", worker_cls},
                       {"mod", mod},          {"fn", fn},         {"code", inner_code},
                       {"cell", cl}});
  uint64_t globals = b.dict_str({{"__name__", b.str("__main__")}, {"Worker", worker_cls}, {"data", s.root}});
  s.reprs = {{hello, "'hello'"},
             {ucs, "'h\xc3\xa9llo w\xc3\xb6rld \xe2\x9c\x93 \xf0\x9f\x98\x80'"},
             {latin, "'caf\xc3\xa9'"},
             {data, "b'\\x00\\x01hi\\'\"\\xff'"},
             {big, "-12345678901234567"},
             {small, "42"},
             {zero, "0"},
             {pi, "3.25"},
             {tup, "(42, 'hello')"},
             {one, "(0,)"},
             {lst, "[42, 3.25, [[0]]]"},
             {st, "{42}"},
             {fst, "frozenset({'hello'})"},
             {b.none(), "None"},
             {b.true_obj(), "True"},
             {b.false_obj(), "False"},
             {worker_cls, "<class '__main__.Worker'>"},
             {inst, fmt::format("<__main__.Worker(x=42, name='hello') at {:#x}>", inst)},
             {fn, fmt::format("<function inner at {:#x}>", fn)},
             {cl, ""},
             {mod, ""},
             {inner_code, ""},
             {s.root, ""}};

  // The threads: the worker starts second, so its thread state is the list's head.
  int main_thread = b.add_thread(4242, 0x7f3a5d9e8740, "python3", "MainThread");
  int worker = b.add_thread(4251, 0x7f3a5b7ff6c0, "Thread-1", "Thread-1 (run)");
  b.push_frame(main_thread, module_code, 17, {}, globals, globals);
  b.push_frame(main_thread, main_code, 20, {inst, s.root, 0}, globals);
  b.push_frame(main_thread, inner_code, 24, {small, big, zero, cl}, globals);
  if (free_threaded && b.layout().iframe_tlbc_index != kAbsent) b.set_tlbc_index(worker, 1);
  b.push_frame(worker, run_code, 12, {inst, 0}, globals);
  if (minor >= 11) b.push_generator(worker, items_code, 5, {inst}, globals);
  else b.push_frame(worker, items_code, 5, {inst}, globals);
  b.set_gil_holder(-1);
  if (free_threaded) b.set_attached(main_thread, true);
  b.finish_modules(globals);

  s.threads = {
      {4251, 0x7f3a5b7ff6c0, "Thread-1 (run)", {{"items", 29}, {"run", 27}}},
      {4242, 0x7f3a5d9e8740, "MainThread", {{"inner", 15}, {"main", 40}, {"<module>", 43}}},
  };
  return s;
}

}  // namespace pyxray::synthetic
