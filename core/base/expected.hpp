// A small std::expected stand-in: clang 14 (used for the fuzzers) cannot compile libstdc++'s
// <expected>, so the core carries this subset. Errors are human-readable messages because every
// failure ends up in front of a user as one line.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace pyxray {

struct Error {
  std::string message;
};

// Tag wrapper so that Expected<std::string> can hold either alternative unambiguously.
template <class E>
struct Unexpected {
  E error;
};

inline Unexpected<Error> fail(std::string message) { return {Error{std::move(message)}}; }

template <class T>
class [[nodiscard]] Expected {
 public:
  Expected(T value) : v_(std::in_place_index<0>, std::move(value)) {}
  Expected(Unexpected<Error> e) : v_(std::in_place_index<1>, std::move(e.error)) {}

  bool has_value() const { return v_.index() == 0; }
  explicit operator bool() const { return has_value(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const { return std::get<1>(v_); }
  template <class U>
  T value_or(U&& fallback) const {
    return has_value() ? value() : static_cast<T>(std::forward<U>(fallback));
  }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Expected<void> {
 public:
  Expected() = default;
  Expected(Unexpected<Error> e) : error_(std::move(e.error)), ok_(false) {}
  bool has_value() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { return error_; }

 private:
  Error error_;
  bool ok_ = true;
};

// Propagates an error out of a function returning any Expected<...>.
#define PYX_TRY(var, expr)                                                                 \
  auto var##_result_ = (expr);                                                             \
  if (!var##_result_) return ::pyxray::Unexpected<::pyxray::Error>{var##_result_.error()}; \
  auto var = std::move(*var##_result_)

}  // namespace pyxray
