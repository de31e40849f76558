// py-referrers --path's text and graph from chains made up here: the expression rules (a root's
// name, list and dict steps, ".__dict__ -> dict['x']" read as ".x", the target last) and Graphviz
// quoting.
#include "report/render_paths.hpp"

#include <gtest/gtest.h>

namespace pyxray {
namespace {

PathRoot global(const std::string& module, const std::string& name) {
  PathRoot r;
  r.kind = PathRoot::Kind::Global;
  r.module = module;
  r.name = r.attr = name;
  r.holder = "sys.modules['" + module + "']";
  r.legacy = module + "." + name;
  return r;
}

TEST(RenderPaths, GlobalThroughADictAndAList) {
  PathView p{global("leakapp", "CACHE"),
             {{0x1000, "dict", "['k']", ""}, {0x2000, "list", "[3]", ""}, {0x7f00, "leakapp.Widget", "", ""}}};
  EXPECT_EQ(path_expression(p), "sys.modules['leakapp'].CACHE['k'] -> list[3] -> <leakapp.Widget 0x7f00>");
  EXPECT_EQ(path_root_json(p.root).dump(), R"({"kind":"global","module":"leakapp","name":"CACHE"})");
}

TEST(RenderPaths, InstanceDictReadsAsAnAttribute) {
  PathView p{global("app", "handler"),
             {{0x10, "app.Handler", ".__dict__", ""},
              {0x20, "dict", "['seen']", ""},
              {0x30, "set", "(member)", ""},
              {0x40, "str", "", ""}}};
  EXPECT_EQ(path_expression(p), "sys.modules['app'].handler.seen -> set(member) -> <str 0x40>");
  // In the middle of a chain too.
  PathView q{global("app", "items"),
             {{0x10, "list", "[0]", ""},
              {0x20, "app.Node", ".__dict__", ""},
              {0x30, "dict", "['next']", ""},
              {0x40, "app.Node", "", ""}}};
  EXPECT_EQ(path_expression(q), "sys.modules['app'].items[0] -> app.Node.next -> <app.Node 0x40>");
}

TEST(RenderPaths, DictTargetAndOddKeysStayAsTheyAre) {
  // The __dict__ itself is the target: it is shown, not folded away.
  PathView p{global("app", "obj"), {{0x10, "app.Thing", ".__dict__", ""}, {0x20, "dict", "", ""}}};
  EXPECT_EQ(path_expression(p), "sys.modules['app'].obj.__dict__ -> <dict 0x20>");
  // A key that is no identifier keeps the subscript.
  PathView q{global("app", "obj"),
             {{0x10, "app.Thing", ".__dict__", ""}, {0x20, "dict", "['a b']", ""}, {0x30, "int", "", ""}}};
  EXPECT_EQ(path_expression(q), "sys.modules['app'].obj.__dict__ -> dict['a b'] -> <int 0x30>");
  EXPECT_EQ(identifier_key("['registry']"), "registry");
  EXPECT_EQ(identifier_key("['9lives']"), "");
  EXPECT_EQ(identifier_key("[3]"), "");
  EXPECT_EQ(identifier_key("(key)"), "");
}

TEST(RenderPaths, UnlabelledStepsAndOtherRoots) {
  PathRoot local;
  local.kind = PathRoot::Kind::Local;
  local.holder = "thread 12 frame main";
  local.name = local.attr = "keep";
  local.legacy = "thread 12 frame main: keep";
  PathView p{local, {{0x10, "functools.partial", "", ""}, {0x20, "tuple", "[1]", ""}, {0x30, "bytes", "", ""}}};
  EXPECT_EQ(path_expression(p), "thread 12 frame main: keep -> tuple[1] -> <bytes 0x30>");
  EXPECT_EQ(path_root_json(local).dump(), R"({"kind":"local","module":null,"name":"keep"})");

  PathRoot cls;
  cls.kind = PathRoot::Kind::Class;
  cls.module = "app";
  cls.name = "Widget.registry";
  cls.holder = "sys.modules['app'].Widget";
  cls.attr = "registry";
  PathView c{cls, {{0x10, "list", "[0]", ""}, {0x20, "app.Widget", "", ""}}};
  EXPECT_EQ(path_expression(c), "sys.modules['app'].Widget.registry[0] -> <app.Widget 0x20>");

  PathRoot interned;
  interned.kind = PathRoot::Kind::Interned;
  interned.holder = "sys.intern";
  interned.attr = "('key')";
  PathView i{interned, {{0x50, "str", "", ""}}};
  EXPECT_EQ(path_expression(i), "sys.intern('key') is <str 0x50>");
  EXPECT_EQ(path_root_json(interned).dump(), R"({"kind":"interned","module":null,"name":null})");

  PathRoot frozen;
  frozen.kind = PathRoot::Kind::Frozen;
  frozen.holder = "gc.freeze()d ";
  frozen.attr = "<list 0x60>";
  PathView f{frozen, {{0x60, "list", "[1]", ""}, {0x70, "app.Orphan", "", ""}}};
  EXPECT_EQ(path_expression(f), "gc.freeze()d <list 0x60>[1] -> <app.Orphan 0x70>");
  EXPECT_EQ(path_root_json(frozen).dump(), R"({"kind":"frozen","module":null,"name":null})");
}

TEST(RenderPaths, DotQuoting) {
  EXPECT_EQ(dot_quote("plain"), "\"plain\"");
  EXPECT_EQ(dot_quote("say \"hi\"\\now"), "\"say \\\"hi\\\"\\\\now\"");
  EXPECT_EQ(dot_quote("two\nlines"), "\"two\\nlines\"");
  EXPECT_EQ(dot_quote(std::string("tab\there\x01", 9)), "\"tab here \"");
}

TEST(RenderPaths, DotGraph) {
  PathView p{global("leakapp", "CACHE"),
             {{0x1000, "dict", "['k']", "{'k': [...]}"},
              {0x2000, "list", "[3]", "[...]"},
              {0x7f00, "leakapp.Widget", "", "<leakapp.Widget object at 0x7f00>"}}};
  // A second chain through the same list: shared nodes and edges are drawn once.
  PathView q = p;
  q.root.name = q.root.attr = "ALIAS";
  const std::string dot = paths_dot({p, q});
  EXPECT_EQ(dot.rfind("digraph ObjectGraph {\n", 0), 0u) << dot;
  EXPECT_NE(dot.find("  o7f00 [label=\"leakapp.Widget\\n<leakapp.Widget object at 0x7f00>\", fillcolor=\"0,0,1.00\", "
                     "color=red, fontcolor=red];\n"),
            std::string::npos)
      << dot;
  EXPECT_NE(dot.find("  o1000 -> o2000 [label=\"['k']\", weight=2];\n"), std::string::npos) << dot;
  EXPECT_NE(dot.find("  r0 [shape=ellipse, label=\"sys.modules['leakapp']\""), std::string::npos) << dot;
  EXPECT_NE(dot.find("  r0 -> o1000 [label=\"CACHE\"];\n"), std::string::npos) << dot;
  EXPECT_NE(dot.find("  r0 -> o1000 [label=\"ALIAS\"];\n"), std::string::npos) << dot;
  std::size_t nodes = 0;
  for (std::size_t at = dot.find("  o2000 [label"); at != std::string::npos; at = dot.find("  o2000 [label", at + 1))
    ++nodes;
  EXPECT_EQ(nodes, 1u) << dot;
  EXPECT_EQ(dot.substr(dot.size() - 2), "}\n");
}

}  // namespace
}  // namespace pyxray
