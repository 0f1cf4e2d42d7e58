#pragma once
// enif_common.hpp — private helpers for the files that implement the enif ABI
// (enif_*.cpp): the heap of an env, the exception protocol, the C-ABI
// exception boundary and latin-1 text. Both halves of the ABI — the term
// functions and the runtime functions (envs, resources, threads, the call
// dispatcher) — include it, so the dispatcher and enif_raise_exception agree
// on what a raised exception looks like.
//
//   ERL_NIF_TERM enif_make_int(ErlNifEnv* env, int i) {
//     return enif::guard_term(env, [&] { return make_integer(enif::heap_of(env), i); });
//   }
//
// The exception protocol, which the call dispatcher relies on: a NIF raises by
// returning what enif_raise_exception/enif_make_badarg returned (kNonValue);
// the env then has exception_pending set and exception_reason holds the reason
// (class error). As in the BEAM, once an exception is pending the NIF's return
// value is ignored and the exception is raised in the caller.
#include <cassert>
#include <cstdint>
#include <exception>
#include <new>
#include <string>
#include <string_view>
#include <type_traits>

#include "nifhost/core/atom_table.hpp"
#include "nifhost/core/env.hpp"
#include "nifhost/core/heap.hpp"
#include "nifhost/core/term.hpp"

namespace nifhost::core::enif {

// The BEAM's THE_NON_VALUE: the word a NIF returns after raising. A header
// word (tag 00) is never a term, so it cannot be mistaken for one.
inline constexpr Term kNonValue = 0;

// The heap terms made in `env` live on. Every env has one (process-bound and
// callback envs borrow the caller's, allocated envs own theirs).
inline Heap& heap_of(ErlNifEnv* env) {
  // A NULL or heapless env here is a NIF bug the BEAM would crash on too.
  assert(env != nullptr && env->heap != nullptr);
  return *env->heap;
}

// Marks an error-class exception with `reason` pending in env and returns
// kNonValue (enif_raise_exception). Later raises replace the reason, as in the BEAM.
inline Term raise(ErlNifEnv* env, Term reason) {
  env->exception_pending = true;
  env->exception_reason = reason;
  return kNonValue;
}

// Runs `body` (which returns a term) at the C ABI boundary: an allocation
// failure becomes a pending error:enomem exception instead of an exception
// escaping into C code.
template <class F>
Term guard_term(ErlNifEnv* env, F&& body) noexcept {
  try {
    return body();
  } catch (...) {
    return raise(env, atoms::kEnomem);
  }
}

// Runs `body` at the C ABI boundary; any exception (allocation failure)
// becomes `failure`, the function's documented failure value.
template <class R, class F>
R guard(R failure, F&& body) noexcept {
  try {
    return body();
  } catch (...) {
    return failure;
  }
}

// Latin-1 text (one byte per character) as UTF-8.
inline std::string latin1_to_utf8(std::string_view latin1) {
  std::string out;
  out.reserve(latin1.size() * 2);
  for (char ch : latin1) {
    auto c = static_cast<unsigned char>(ch);
    if (c < 0x80) {
      out.push_back(ch);
    } else {
      out.push_back(static_cast<char>(0xC0 | (c >> 6)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    }
  }
  return out;
}

// The atom's name in latin-1, if every character is below 256 (what
// ERL_NIF_LATIN1 can express).
inline bool atom_latin1(Term atom, std::string& out) {
  return utf8_to_latin1(atom_text(atom), out);
}

}  // namespace nifhost::core::enif
