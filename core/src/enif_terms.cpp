// The enif ABI's term functions: numbers, atoms, strings, tuples, lists, type
// tests, comparison, hashing, copying, identifiers and exceptions.
//
// Each function follows erl_nif.c of OTP 25 (the failure values, the latin-1
// rules, the truncation rules of enif_get_string); where nifhost deviates the
// reason is in docs/enif.md.
#include <atomic>
#include <climits>
#include <cmath>
#include <cstdarg>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "enif_common.hpp"
#include "nifhost/core/atom_table.hpp"
#include "nifhost/core/hash.hpp"
#include "nifhost/core/order.hpp"
#include "nifhost/core/terms.hpp"

using nifhost::core::Term;
namespace core = nifhost::core;
namespace enif = nifhost::core::enif;

namespace {

bool is_latin1(ErlNifCharEncoding encoding) { return encoding == ERL_NIF_LATIN1; }

// A list of bytes [c1, c2, ...] for latin-1 text (ERL_NIF_LATIN1 strings).
Term make_byte_list(core::Heap& heap, const char* s, std::size_t len) {
  if (len == 0) return core::kNilTerm;
  Term* cells = heap.allocate_words(2 * len);
  for (std::size_t i = 0; i < len; ++i) {
    cells[2 * i] = core::make_small(static_cast<unsigned char>(s[i]));
    cells[2 * i + 1] = i + 1 < len ? core::make_cons_term(cells + 2 * (i + 1)) : core::kNilTerm;
  }
  return core::make_cons_term(cells);
}

// A list of `n` terms pulled from a va_list.
Term make_list_va(core::Heap& heap, unsigned n, va_list ap) {
  if (n == 0) return core::kNilTerm;
  Term* cells = heap.allocate_words(2 * static_cast<std::size_t>(n));
  for (unsigned i = 0; i < n; ++i) {
    cells[2 * i] = va_arg(ap, ERL_NIF_TERM);
    cells[2 * i + 1] = i + 1 < n ? core::make_cons_term(cells + 2 * (i + 1)) : core::kNilTerm;
  }
  return core::make_cons_term(cells);
}

}  // namespace

extern "C" {

// ---------------------------------------------------------------- type tests
int enif_is_atom(ErlNifEnv*, ERL_NIF_TERM term) { return core::is_atom(term); }

int enif_is_binary(ErlNifEnv*, ERL_NIF_TERM term) {
  return core::is_bitstring(term) && core::bitstring_view(term).is_binary();
}

int enif_is_ref(ErlNifEnv*, ERL_NIF_TERM term) { return core::is_reference(term); }
int enif_is_fun(ErlNifEnv*, ERL_NIF_TERM term) { return core::is_fun(term); }
int enif_is_pid(ErlNifEnv*, ERL_NIF_TERM term) { return core::is_pid(term); }
int enif_is_port(ErlNifEnv*, ERL_NIF_TERM term) { return core::is_port(term); }
int enif_is_tuple(ErlNifEnv*, ERL_NIF_TERM term) { return core::is_tuple(term); }
int enif_is_list(ErlNifEnv*, ERL_NIF_TERM term) { return core::is_list(term); }
int enif_is_empty_list(ErlNifEnv*, ERL_NIF_TERM term) { return core::is_nil(term); }
int enif_is_number(ErlNifEnv*, ERL_NIF_TERM term) { return core::is_number(term); }
int enif_is_map(ErlNifEnv*, ERL_NIF_TERM term) { return core::is_map(term); }

ErlNifTermType enif_term_type(ErlNifEnv*, ERL_NIF_TERM term) {
  switch (core::kind_of(term)) {
    case core::Kind::kInteger:
      return ERL_NIF_TERM_TYPE_INTEGER;
    case core::Kind::kFloat:
      return ERL_NIF_TERM_TYPE_FLOAT;
    case core::Kind::kAtom:
      return ERL_NIF_TERM_TYPE_ATOM;
    case core::Kind::kReference:
      return ERL_NIF_TERM_TYPE_REFERENCE;
    case core::Kind::kFun:
      return ERL_NIF_TERM_TYPE_FUN;
    case core::Kind::kPort:
      return ERL_NIF_TERM_TYPE_PORT;
    case core::Kind::kPid:
      return ERL_NIF_TERM_TYPE_PID;
    case core::Kind::kTuple:
      return ERL_NIF_TERM_TYPE_TUPLE;
    case core::Kind::kMap:
      return ERL_NIF_TERM_TYPE_MAP;
    case core::Kind::kNil:
    case core::Kind::kList:
      return ERL_NIF_TERM_TYPE_LIST;
    case core::Kind::kBitstring:
      return ERL_NIF_TERM_TYPE_BITSTRING;
  }
  return ERL_NIF_TERM_TYPE__MISSING_DEFAULT_CASE__READ_THE_MANUAL;
}

// ---------------------------------------------------------------- integers and floats
// The readers accept exactly the integers that fit the C type, small or
// bignum, as term_to_Sint/term_to_Uint do; floats never convert.
int enif_get_int(ErlNifEnv*, ERL_NIF_TERM term, int* ip) {
  auto v = core::integer_to_int64(term);
  if (!v || *v < INT_MIN || *v > INT_MAX) return 0;
  *ip = static_cast<int>(*v);
  return 1;
}

int enif_get_uint(ErlNifEnv*, ERL_NIF_TERM term, unsigned* ip) {
  auto v = core::integer_to_uint64(term);
  if (!v || *v > UINT_MAX) return 0;
  *ip = static_cast<unsigned>(*v);
  return 1;
}

int enif_get_long(ErlNifEnv*, ERL_NIF_TERM term, long* ip) {
  auto v = core::integer_to_int64(term);
  if (!v) return 0;
  *ip = static_cast<long>(*v);
  return 1;
}

int enif_get_ulong(ErlNifEnv*, ERL_NIF_TERM term, unsigned long* ip) {
  auto v = core::integer_to_uint64(term);
  if (!v) return 0;
  *ip = static_cast<unsigned long>(*v);
  return 1;
}

int enif_get_double(ErlNifEnv*, ERL_NIF_TERM term, double* dp) {
  if (!core::is_float(term)) return 0;
  *dp = core::float_value(term);
  return 1;
}

ERL_NIF_TERM enif_make_int(ErlNifEnv*, int i) { return core::make_small(i); }
ERL_NIF_TERM enif_make_uint(ErlNifEnv*, unsigned i) { return core::make_small(i); }

ERL_NIF_TERM enif_make_long(ErlNifEnv* env, long i) {
  if (core::fits_small(i)) return core::make_small(i);
  return enif::guard_term(env, [&] { return core::make_integer(enif::heap_of(env), i); });
}

ERL_NIF_TERM enif_make_ulong(ErlNifEnv* env, unsigned long i) {
  return enif::guard_term(env, [&] { return core::make_unsigned(enif::heap_of(env), i); });
}

// Erlang has no NaN or infinity: the BEAM answers badarg for them.
ERL_NIF_TERM enif_make_double(ErlNifEnv* env, double d) {
  if (!std::isfinite(d)) return enif::raise(env, core::atoms::kBadarg);
  return enif::guard_term(env, [&] { return core::make_float(enif::heap_of(env), d); });
}

// ---------------------------------------------------------------- atoms
ERL_NIF_TERM enif_make_atom_len(ErlNifEnv* env, const char* name, size_t len) {
  if (len > core::AtomTable::kMaxCharacters) return enif::raise(env, core::atoms::kBadarg);
  return enif::guard_term(env, [&]() -> Term {
    auto a = core::AtomTable::instance().intern_latin1(std::string_view(name, len));
    // The BEAM aborts when its atom table is full; a NIF gets badarg here.
    if (!a) return enif::raise(env, core::atoms::kBadarg);
    return *a;
  });
}

ERL_NIF_TERM enif_make_atom(ErlNifEnv* env, const char* name) {
  return enif_make_atom_len(env, name, std::strlen(name));
}

int enif_make_existing_atom_len(ErlNifEnv*, const char* name, size_t len, ERL_NIF_TERM* atom,
                                ErlNifCharEncoding encoding) {
  if (!is_latin1(encoding) || len > core::AtomTable::kMaxCharacters) return 0;
  return enif::guard(0, [&] {
    auto a = core::AtomTable::instance().find(enif::latin1_to_utf8(std::string_view(name, len)));
    if (!a) return 0;
    *atom = *a;
    return 1;
  });
}

int enif_make_existing_atom(ErlNifEnv* env, const char* name, ERL_NIF_TERM* atom,
                            ErlNifCharEncoding encoding) {
  return enif_make_existing_atom_len(env, name, std::strlen(name), atom, encoding);
}

// Copies the name and a NUL; returns its length + 1, or 0 if it does not fit
// in len bytes or has a character latin-1 cannot hold.
int enif_get_atom(ErlNifEnv*, ERL_NIF_TERM atom, char* buf, unsigned len,
                  ErlNifCharEncoding encoding) {
  if (!is_latin1(encoding) || !core::is_atom(atom) || len == 0) return 0;
  return enif::guard(0, [&] {
    std::string text;
    if (!enif::atom_latin1(atom, text) || text.size() >= len) return 0;
    std::memcpy(buf, text.data(), text.size());
    buf[text.size()] = '\0';
    return static_cast<int>(text.size()) + 1;
  });
}

int enif_get_atom_length(ErlNifEnv*, ERL_NIF_TERM atom, unsigned* len,
                         ErlNifCharEncoding encoding) {
  if (!is_latin1(encoding) || !core::is_atom(atom)) return 0;
  return enif::guard(0, [&] {
    std::string text;
    if (!enif::atom_latin1(atom, text)) return 0;
    *len = static_cast<unsigned>(text.size());
    return 1;
  });
}

// ---------------------------------------------------------------- strings
ERL_NIF_TERM enif_make_string_len(ErlNifEnv* env, const char* string, size_t len,
                                  ErlNifCharEncoding encoding) {
  if (!is_latin1(encoding)) return enif::raise(env, core::atoms::kBadarg);
  return enif::guard_term(env, [&] { return make_byte_list(enif::heap_of(env), string, len); });
}

ERL_NIF_TERM enif_make_string(ErlNifEnv* env, const char* string, ErlNifCharEncoding encoding) {
  return enif_make_string_len(env, string, std::strlen(string), encoding);
}

// As erl_nif.c: the number of bytes written including the NUL; 0 if the term
// is not a list of bytes (or len is 0); -len if the string was truncated to
// fit (the buffer then holds len-1 characters and a NUL).
int enif_get_string(ErlNifEnv*, ERL_NIF_TERM list, char* buf, unsigned len,
                    ErlNifCharEncoding encoding) {
  if (!is_latin1(encoding) || len < 1) return 0;
  unsigned n = 0;
  while (!core::is_nil(list)) {
    if (!core::is_cons(list)) {
      buf[n] = '\0';
      return 0;
    }
    Term c = core::cons_head(list);
    if (!core::is_small(c) || core::small_value(c) < 0 || core::small_value(c) > 255) {
      buf[n] = '\0';
      return 0;
    }
    buf[n++] = static_cast<char>(core::small_value(c));
    if (n >= len) {
      buf[n - 1] = '\0';
      return -static_cast<int>(len);
    }
    list = core::cons_tail(list);
  }
  buf[n] = '\0';
  return static_cast<int>(n) + 1;
}

// ---------------------------------------------------------------- tuples
int enif_get_tuple(ErlNifEnv*, ERL_NIF_TERM tpl, int* arity, const ERL_NIF_TERM** array) {
  if (!core::is_tuple(tpl)) return 0;
  *arity = static_cast<int>(core::tuple_arity(tpl));
  *array = core::tuple_elements(tpl);
  return 1;
}

ERL_NIF_TERM enif_make_tuple_from_array(ErlNifEnv* env, const ERL_NIF_TERM arr[], unsigned cnt) {
  return enif::guard_term(
      env, [&] { return core::make_tuple(enif::heap_of(env), std::span<const Term>(arr, cnt)); });
}

ERL_NIF_TERM enif_make_tuple(ErlNifEnv* env, unsigned cnt, ...) {
  va_list ap;
  va_start(ap, cnt);
  Term out = enif::guard_term(env, [&] {
    Term t;
    Term* e = core::alloc_tuple(enif::heap_of(env), cnt, t);
    for (unsigned i = 0; i < cnt; ++i) e[i] = va_arg(ap, ERL_NIF_TERM);
    return t;
  });
  va_end(ap);
  return out;
}

// ---------------------------------------------------------------- lists
ERL_NIF_TERM enif_make_list_cell(ErlNifEnv* env, ERL_NIF_TERM car, ERL_NIF_TERM cdr) {
  return enif::guard_term(env, [&] { return core::make_cons(enif::heap_of(env), car, cdr); });
}

ERL_NIF_TERM enif_make_list(ErlNifEnv* env, unsigned cnt, ...) {
  va_list ap;
  va_start(ap, cnt);
  Term out = enif::guard_term(env, [&] { return make_list_va(enif::heap_of(env), cnt, ap); });
  va_end(ap);
  return out;
}

ERL_NIF_TERM enif_make_list_from_array(ErlNifEnv* env, const ERL_NIF_TERM arr[], unsigned cnt) {
  return enif::guard_term(
      env, [&] { return core::make_list(enif::heap_of(env), std::span<const Term>(arr, cnt)); });
}

int enif_get_list_cell(ErlNifEnv*, ERL_NIF_TERM term, ERL_NIF_TERM* head, ERL_NIF_TERM* tail) {
  if (!core::is_cons(term)) return 0;
  *head = core::cons_head(term);
  *tail = core::cons_tail(term);
  return 1;
}

int enif_get_list_length(ErlNifEnv*, ERL_NIF_TERM term, unsigned* len) {
  auto n = core::list_length(term);
  if (!n || *n > UINT_MAX) return 0;
  *len = static_cast<unsigned>(*n);
  return 1;
}

int enif_make_reverse_list(ErlNifEnv* env, ERL_NIF_TERM term, ERL_NIF_TERM* list) {
  auto n = core::list_length(term);
  if (!n) return 0;
  return enif::guard(0, [&] {
    Term out = core::kNilTerm;
    if (*n > 0) {
      Term* cells = enif::heap_of(env).allocate_words(2 * *n);
      for (std::size_t i = 0; i < *n; ++i, term = core::cons_tail(term)) {
        cells[2 * i] = core::cons_head(term);
        cells[2 * i + 1] = out;
        out = core::make_cons_term(cells + 2 * i);
      }
    }
    *list = out;
    return 1;
  });
}

// ---------------------------------------------------------------- comparison, hashing, copying
int enif_is_identical(ERL_NIF_TERM lhs, ERL_NIF_TERM rhs) { return core::identical(lhs, rhs); }

int enif_compare(ERL_NIF_TERM lhs, ERL_NIF_TERM rhs) {
  int c = core::compare(lhs, rhs);
  return c < 0 ? -1 : c > 0 ? 1 : 0;
}

// As the BEAM: ERL_NIF_PHASH2 is erlang:phash2/1 and ignores the salt;
// ERL_NIF_INTERNAL_HASH uses the low 32 bits of the salt; other types give 0.
ErlNifUInt64 enif_hash(ErlNifHash type, ERL_NIF_TERM term, ErlNifUInt64 salt) {
  switch (type) {
    case ERL_NIF_INTERNAL_HASH:
      return core::internal_hash(term, static_cast<std::uint32_t>(salt));
    case ERL_NIF_PHASH2:
      return core::phash2(term);
  }
  return 0;
}

ERL_NIF_TERM enif_make_copy(ErlNifEnv* dst_env, ERL_NIF_TERM src_term) {
  return enif::guard_term(dst_env,
                          [&] { return core::copy_term(enif::heap_of(dst_env), src_term); });
}

// ---------------------------------------------------------------- references and unique integers
ERL_NIF_TERM enif_make_ref(ErlNifEnv* env) {
  return enif::guard_term(env, [&] { return core::make_unique_ref(enif::heap_of(env)); });
}

// Like erlang:unique_integer/1: positive ones start at 1, the others start at
// the most negative small integer (as the BEAM's do) so they stay immediate
// for as long as possible. Monotonic ones are strictly increasing in the order
// they are made; since every value comes from one atomic counter, all of them are.
ERL_NIF_TERM enif_make_unique_integer(ErlNifEnv* env, ErlNifUniqueInteger properties) {
  static std::atomic<std::uint64_t> counter{0};
  std::uint64_t n = counter.fetch_add(1, std::memory_order_relaxed);
  return enif::guard_term(env, [&] {
    if (properties & ERL_NIF_UNIQUE_POSITIVE) return core::make_unsigned(enif::heap_of(env), n + 1);
    return core::make_integer(enif::heap_of(env), core::kSmallMin + static_cast<std::int64_t>(n));
  });
}

// ---------------------------------------------------------------- pids and ports
int enif_get_local_pid(ErlNifEnv*, ERL_NIF_TERM term, ErlNifPid* pid) {
  if (!core::is_local_pid(term)) return 0;
  pid->pid = term;
  return 1;
}

void enif_set_pid_undefined(ErlNifPid* pid) { pid->pid = core::atoms::kUndefined; }

int enif_is_pid_undefined(const ErlNifPid* pid) { return pid->pid == core::atoms::kUndefined; }

int enif_get_local_port(ErlNifEnv*, ERL_NIF_TERM term, ErlNifPort* port_id) {
  if (!core::is_local_port(term)) return 0;
  port_id->port_id = term;
  return 1;
}

// ---------------------------------------------------------------- exceptions
ERL_NIF_TERM enif_raise_exception(ErlNifEnv* env, ERL_NIF_TERM reason) {
  return enif::raise(env, reason);
}

ERL_NIF_TERM enif_make_badarg(ErlNifEnv* env) { return enif::raise(env, core::atoms::kBadarg); }

int enif_has_pending_exception(ErlNifEnv* env, ERL_NIF_TERM* reason) {
  if (env->exception_pending && reason != nullptr) *reason = env->exception_reason;
  return env->exception_pending;
}

int enif_is_exception(ErlNifEnv* env, ERL_NIF_TERM term) {
  return env->exception_pending && term == enif::kNonValue;
}

}  // extern "C"
