// nh_terms on every backend: for generated arguments, each function answers
// what a model computed here says (std:: containers, or the core's compare,
// phash2 and ETF encoder where the function exposes exactly those), and what
// the real BEAM answers for the same library and arguments, byte for byte.
#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <optional>
#include <rapidcheck.h>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "gen.hpp"
#include "nifhost/core/atom_table.hpp"
#include "nifhost/core/etf.hpp"
#include "nifhost/core/hash.hpp"
#include "nifhost/core/order.hpp"
#include "nifhost/core/terms.hpp"
#include "nifhost/core/text.hpp"
#include "proptest.hpp"

namespace nifhost::proptests {
namespace {

using core::Heap;
using Args = std::vector<Term>;
using Entries = std::vector<std::pair<Term, Term>>;

constexpr int kRuns = 10;         // property runs per backend
constexpr int kCasesPerRun = 30;  // calls per run, checked against the BEAM in one round trip

// ------------------------------------------------------------------ the model's vocabulary

// What a call should answer: a value, or error:badarg.
using Want = std::optional<Term>;
constexpr Want kBadarg = std::nullopt;

Term integer(Heap& h, std::int64_t v) { return core::make_integer(h, v); }
Term tuple(Heap& h, std::initializer_list<Term> elements) { return core::make_tuple(h, elements); }
Term atom(std::string_view text) { return core::atom(text); }
Term boolean(bool b) { return b ? core::atoms::kTrue : core::atoms::kFalse; }

Term binary(Heap& h, std::span<const std::uint8_t> bytes) { return *core::make_binary(h, bytes); }

std::optional<std::vector<std::uint8_t>> binary_bytes(Term t) {
  if (!core::is_bitstring(t)) return std::nullopt;
  auto view = core::bitstring_view(t);
  if (!view.is_binary()) return std::nullopt;
  return std::vector<std::uint8_t>(view.data, view.data + view.byte_size);
}

// A proper list's elements; nullopt for anything else.
std::optional<Args> proper_list(Term t) {
  if (!core::list_length(t)) return std::nullopt;
  Args out;
  for (Term e : core::ListRange(t)) out.push_back(e);
  return out;
}

std::optional<Args> tuple_of(Term t) {
  if (!core::is_tuple(t)) return std::nullopt;
  return Args(core::tuple_elements(t), core::tuple_elements(t) + core::tuple_arity(t));
}

// Bytes 0..255 of a proper list of small integers (an Erlang latin-1 string).
std::optional<std::vector<std::uint8_t>> latin1_string(Term t) {
  auto elements = proper_list(t);
  if (!elements) return std::nullopt;
  std::vector<std::uint8_t> out;
  for (Term e : *elements) {
    if (!core::is_small(e) || core::small_value(e) < 0 || core::small_value(e) > 255)
      return std::nullopt;
    out.push_back(static_cast<std::uint8_t>(core::small_value(e)));
  }
  return out;
}

// Latin-1 bytes of an atom whose characters are all below 256.
std::optional<std::string> atom_latin1(Term t) {
  if (!core::is_atom(t)) return std::nullopt;
  std::string_view utf8 = core::atom_text(t);
  std::string out;
  for (std::size_t i = 0; i < utf8.size();) {
    auto c = static_cast<unsigned char>(utf8[i]);
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
      i += 1;
    } else if ((c & 0xE0) == 0xC0 && i + 1 < utf8.size()) {
      unsigned cp = ((c & 0x1Fu) << 6) | (static_cast<unsigned char>(utf8[i + 1]) & 0x3Fu);
      if (cp > 255) return std::nullopt;
      out.push_back(static_cast<char>(cp));
      i += 2;
    } else {
      return std::nullopt;  // three or four bytes: above U+07FF
    }
  }
  return out;
}

std::string latin1_to_utf8(std::span<const std::uint8_t> bytes) {
  std::string out;
  for (std::uint8_t b : bytes) {
    if (b < 0x80) {
      out.push_back(static_cast<char>(b));
    } else {
      out.push_back(static_cast<char>(0xC0 | (b >> 6)));
      out.push_back(static_cast<char>(0x80 | (b & 0x3F)));
    }
  }
  return out;
}

// ---- maps as a std::vector of pairs (keys matched with =:=)

Entries entries_of(Term map) {
  Entries out;
  for (std::size_t i = 0; i < core::map_size(map); ++i)
    out.emplace_back(core::map_keys(map)[i], core::map_values(map)[i]);
  return out;
}

Entries::iterator find_key(Entries& e, Term key) {
  return std::find_if(e.begin(), e.end(),
                      [&](const auto& kv) { return core::identical(kv.first, key); });
}

Entries put(Entries e, Term key, Term value) {
  auto it = find_key(e, key);
  if (it != e.end())
    it->second = value;
  else
    e.emplace_back(key, value);
  return e;
}

Entries without(Entries e, Term key) {
  auto it = find_key(e, key);
  if (it != e.end()) e.erase(it);
  return e;
}

// Empty if `pairs` (K, V) are exactly `want`, in any order.
std::string same_pairs(Entries pairs, Entries want) {
  if (pairs.size() != want.size())
    return fmt::format("{} pairs, the model has {}", pairs.size(), want.size());
  for (const auto& [k, v] : pairs) {
    auto it = find_key(want, k);
    if (it == want.end()) return "key " + core::print_term(k) + " is not in the model";
    if (!core::identical(it->second, v))
      return "key " + core::print_term(k) + " has " + core::print_term(v) + ", the model " +
             core::print_term(it->second);
    want.erase(it);
  }
  return {};
}

std::string same_map(Term got, const Entries& want) {
  if (!core::is_map(got)) return "not a map: " + core::print_term(got);
  return same_pairs(entries_of(got), want);
}

// ------------------------------------------------------------------ checks

// Empty if ours is `want` (=:=, or error:badarg for kBadarg).
std::string expect(const core::CallResult& ours, const Want& want) {
  if (!want) return is_badarg(ours) ? "" : "expected error:badarg, got " + show(ours);
  if (!ours.ok() || !core::identical(ours.value(), *want))
    return "expected " + core::print_term(*want) + ", got " + show(ours);
  return {};
}

std::string expect_map_result(const core::CallResult& ours, const Entries& want) {
  if (!ours.ok()) return "expected a map, got " + show(ours);
  return same_map(ours.value(), want);
}

// A function of nh_terms, how to make its arguments, and what the model says.
struct TermsFunction {
  const char* name;
  unsigned arity;
  Args (*args)(Heap& h);
  // Empty if ours is what the model says; nullptr: the BEAM is the only reference.
  std::string (*check)(Heap& h, const Args& a, const core::CallResult& ours);
};

// ---- argument makers

Term some_term(Heap& h) { return any_term(h); }

// Mostly integers (and sometimes something else), to exercise range checks.
Term int_or_other(Heap& h) {
  switch (pick(0, 6)) {
    case 0:
      return any_float(h);
    case 1:
      return some_term(h);
    default:
      return any_integer(h);
  }
}

Term float_or_other(Heap& h) { return one_in(5) ? int_or_other(h) : any_float(h); }

Term map_or_other(Heap& h) { return one_in(8) ? some_term(h) : any_map(h, 40); }

Term small_map_term(Heap& h);

// A map whose iteration order is the same in every VM (see beam_mismatch):
// a flatmap, or a larger map with integer keys (or not a map).
Term iteration_map(Heap& h) {
  switch (pick(0, 6)) {
    case 0:
      return small_map_term(h);
    case 1:
    case 2: {
      Args keys, values;
      const auto n = pick(33, 70);
      std::int64_t key = pick<std::int64_t>(-100, 100);
      for (int i = 0; i < n; ++i) {
        key += pick<std::int64_t>(1, 1000);  // increasing: distinct
        keys.push_back(integer(h, key));
        values.push_back(some_term(h));
      }
      return *core::make_map(h, keys, values);
    }
    default:
      return any_map(h, 32);
  }
}

// Terms without maps past 32 keys: their term_to_binary (and %T text) follow
// an order particular to each VM when their keys hold atoms.
Term small_map_term(Heap& h) { return any_term(h, testing::TermGenOptions{.big_maps = false}); }

// A key of the map (when it has one) or any term.
Term key_for(Heap& h, Term map) {
  if (core::is_map(map) && core::map_size(map) > 0 && coin())
    return core::map_keys(map)[pick<std::size_t>(0, core::map_size(map))];
  return coin() ? any_atom(h) : some_term(h);
}

Term list_or_other(Heap& h) {
  switch (pick(0, 6)) {
    case 0:
      return some_term(h);
    case 1: {  // improper
      Term head = some_term(h);
      return core::make_cons(h, head, coin() ? any_atom(h) : any_integer(h));
    }
    case 2:
      return core::kNilTerm;
    default:
      return any_list(h, 12);
  }
}

Term tuple_or_other(Heap& h) {
  if (one_in(6)) return some_term(h);
  Args elements(pick<std::size_t>(0, 10));
  for (Term& e : elements) e = any_term(h, testing::TermGenOptions{.max_depth = 2});
  return core::make_tuple(h, elements);
}

Term atom_or_other(Heap& h) { return one_in(6) ? some_term(h) : any_atom(h); }

Term string_or_other(Heap& h) {
  switch (pick(0, 5)) {
    case 0:
      return list_or_other(h);
    case 1:
      return any_char_list(h, 0, 600, 20);  // some characters above 255
    default:
      return any_char_list(h, 0, 256, 30);
  }
}

Term binary_or_other(Heap& h) {
  switch (pick(0, 8)) {
    case 0:
      return any_odd_bitstring(h);
    case 1:
      return some_term(h);
    default:
      return any_binary(h, 300);
  }
}

Term size_arg(Heap& h, std::int64_t around) {
  switch (pick(0, 6)) {
    case 0:
      return integer(h, pick<std::int64_t>(-3, 0));
    case 1:
      return any_atom(h);
    default:
      return integer(h, pick<std::int64_t>(0, around + 3));
  }
}

Term pid_or_other(Heap& h) {
  if (one_in(3)) return some_term(h);
  testing::TermGenOptions o;
  return beam_safe(h, testing::detail::gen_identifier(h, o));
}

// Two terms that are sometimes equal (==), identical, or numbers of both kinds.
Args related_pair(Heap& h) {
  Term a = some_term(h);
  switch (pick(0, 5)) {
    case 0:
      return {a, core::copy_term(h, a)};
    case 1: {
      const auto v = pick<std::int64_t>(-1000, 1000);
      return {integer(h, v), core::make_float(h, static_cast<double>(v))};
    }
    default:
      return {a, some_term(h)};
  }
}

Term salt(Heap& h) {
  switch (pick(0, 6)) {
    case 0:
      return integer(h, -1);
    case 1:
      return core::make_unsigned(h, any_u64());
    default:
      return integer(h, pick<std::int64_t>(0, 1LL << 32));
  }
}

Term time_unit(Heap& h) {
  switch (pick(0, 6)) {
    case 0:
      return integer(h, pick(-1, 6));
    case 1:
      return any_atom(h);
    default:
      return atom(*rc::gen::elementOf(
          std::vector<std::string>{"second", "millisecond", "microsecond", "nanosecond"}));
  }
}

// A time for convert_time_unit: an integer whose conversion between any two
// units fits in 64 bits, or something enif_get_int64 refuses. (Past that the
// BEAM's conversion overflows a signed multiplication, which C leaves
// undefined: what it answers there is no promise.)
Term time_value(Heap& h) {
  switch (pick(0, 8)) {
    case 0:
      return any_float(h);
    case 1:
      return any_atom(h);
    case 2: {  // beyond 64 bits
      const std::uint64_t magnitude[] = {any_u64(), 1 + any_u64() % 1000};
      return core::make_bignum(h, coin(), magnitude);
    }
    default: {
      constexpr std::int64_t kLimit = INT64_MAX / 1'000'000'000;
      return integer(h, pick<std::int64_t>(-kLimit, kLimit + 1));
    }
  }
}

// ---- the models

Want int_in(Term t, std::int64_t lo, std::int64_t hi) {
  auto v = core::integer_to_int64(t);
  if (!core::is_integer(t) || !v || *v < lo || *v > hi) return kBadarg;
  return t;
}

Want uint_in(Term t, std::uint64_t hi) {
  auto v = core::integer_to_uint64(t);
  if (!core::is_integer(t) || !v || *v > hi) return kBadarg;
  return t;
}

Term type_of_model(Heap& h, Term t) {
  const char* type = "unknown";
  switch (core::kind_of(t)) {
    case core::Kind::kInteger:
      type = "integer";
      break;
    case core::Kind::kFloat:
      type = "float";
      break;
    case core::Kind::kAtom:
      type = "atom";
      break;
    case core::Kind::kReference:
      type = "reference";
      break;
    case core::Kind::kFun:
      type = "fun";
      break;
    case core::Kind::kPort:
      type = "port";
      break;
    case core::Kind::kPid:
      type = "pid";
      break;
    case core::Kind::kTuple:
      type = "tuple";
      break;
    case core::Kind::kMap:
      type = "map";
      break;
    case core::Kind::kNil:
    case core::Kind::kList:
      type = "list";
      break;
    case core::Kind::kBitstring:
      type = "bitstring";
      break;
  }
  const Term checks[] = {boolean(core::is_atom(t)),
                         boolean(binary_bytes(t).has_value()),
                         boolean(core::is_nil(t)),
                         core::atoms::kFalse,  // is_exception: only for the raise marker
                         boolean(core::is_fun(t)),
                         boolean(core::is_list(t)),
                         boolean(core::is_map(t)),
                         boolean(core::is_number(t)),
                         boolean(core::is_pid(t)),
                         boolean(core::is_port(t)),
                         boolean(core::is_reference(t)),
                         boolean(core::is_tuple(t))};
  return tuple(h, {atom(type), core::make_tuple(h, checks)});
}

Term ok_tuple(Heap& h, Term v) { return tuple(h, {core::atoms::kOk, v}); }

// Every pair once; a flatmap's in map key order (backward: reversed). A
// larger map's order is the BEAM's hash order, which the BEAM comparison checks.
std::string check_map_iteration(const Args& a, const core::CallResult& ours, bool forward) {
  if (!core::is_map(a[0])) return expect(ours, kBadarg);
  if (!ours.ok()) return "expected [{K, V}], got " + show(ours);
  auto pairs = proper_list(ours.value());
  if (!pairs) return "not a list: " + show(ours);
  Entries got;
  for (Term p : *pairs) {
    if (!core::is_tuple(p) || core::tuple_arity(p) != 2)
      return "not a pair: " + core::print_term(p);
    got.emplace_back(core::tuple_elements(p)[0], core::tuple_elements(p)[1]);
  }
  if (got.size() <= core::kFlatmapLimit) {
    for (std::size_t i = 1; i < got.size(); ++i) {
      const int c = core::compare_map_keys(got[i - 1].first, got[i].first);
      if (forward ? c >= 0 : c <= 0)
        return fmt::format("pairs {} and {} are out of map key order", i - 1, i);
    }
  }
  return same_pairs(got, entries_of(a[0]));
}

std::string check_hash(Heap& h, const Args& a, const core::CallResult& ours, bool internal) {
  const bool with_salt = a.size() == 3;
  std::optional<std::uint64_t> s = with_salt ? core::integer_to_uint64(a[2]) : 0;
  if (!s || (with_salt && !core::is_integer(a[2]))) return expect(ours, kBadarg);
  // The BEAM ignores the salt of phash2 and truncates the internal one to 32 bits.
  const std::uint64_t hash =
      internal ? core::internal_hash(a[1], *s & 0xffffffffu) : std::uint64_t{core::phash2(a[1])};
  return expect(ours, core::make_unsigned(h, hash));
}

// Known-present atoms, and names no one interns.
Term existing_atom_name(Heap& h) {
  if (coin()) {
    const std::string name = *rc::gen::elementOf(
        std::vector<std::string>{"ok", "error", "true", "badarg", "nonode@nohost", "undefined"});
    return core::make_binary(h, name);
  }
  std::string name = "nh_no_such_atom_";
  for (int i = 0; i < 16; ++i) name.push_back(static_cast<char>(pick('a', 'z')));
  return core::make_binary(h, name);
}

const TermsFunction kFunctions[] = {
    {"noop", 0, [](Heap&) { return Args{}; },
     [](Heap&, const Args&, const core::CallResult& r) { return expect(r, core::atoms::kOk); }},
    {"echo", 1, [](Heap& h) { return Args{one_in(10) ? any_large_term(h) : some_term(h)}; },
     [](Heap&, const Args& a, const core::CallResult& r) { return expect(r, a[0]); }},
    {"make_copy", 1, [](Heap& h) { return Args{some_term(h)}; },
     [](Heap&, const Args& a, const core::CallResult& r) { return expect(r, a[0]); }},
    {"add", 2,
     [](Heap& h) {
       return Args{int_or_other(h), int_or_other(h)};
     },
     [](Heap& h, const Args& a, const core::CallResult& r) {
       auto x = core::integer_to_int64(a[0]);
       auto y = core::integer_to_int64(a[1]);
       std::int64_t sum;
       if (!core::is_integer(a[0]) || !core::is_integer(a[1]) || !x || !y ||
           __builtin_add_overflow(*x, *y, &sum))
         return expect(r, kBadarg);
       return expect(r, integer(h, sum));
     }},
    {"roundtrip_int", 1, [](Heap& h) { return Args{int_or_other(h)}; },
     [](Heap&, const Args& a, const core::CallResult& r) {
       return expect(r, int_in(a[0], INT_MIN, INT_MAX));
     }},
    {"roundtrip_uint", 1, [](Heap& h) { return Args{int_or_other(h)}; },
     [](Heap&, const Args& a, const core::CallResult& r) {
       return expect(r, uint_in(a[0], UINT_MAX));
     }},
    {"roundtrip_long", 1, [](Heap& h) { return Args{int_or_other(h)}; },
     [](Heap&, const Args& a, const core::CallResult& r) {
       return expect(r, int_in(a[0], LONG_MIN, LONG_MAX));
     }},
    {"roundtrip_ulong", 1, [](Heap& h) { return Args{int_or_other(h)}; },
     [](Heap&, const Args& a, const core::CallResult& r) {
       return expect(r, uint_in(a[0], ULONG_MAX));
     }},
    {"roundtrip_int64", 1, [](Heap& h) { return Args{int_or_other(h)}; },
     [](Heap&, const Args& a, const core::CallResult& r) {
       return expect(r, int_in(a[0], INT64_MIN, INT64_MAX));
     }},
    {"roundtrip_uint64", 1, [](Heap& h) { return Args{int_or_other(h)}; },
     [](Heap&, const Args& a, const core::CallResult& r) {
       return expect(r, uint_in(a[0], UINT64_MAX));
     }},
    {"roundtrip_double", 1, [](Heap& h) { return Args{float_or_other(h)}; },
     [](Heap&, const Args& a, const core::CallResult& r) {
       return expect(r, core::is_float(a[0]) ? Want(a[0]) : kBadarg);
     }},
    {"roundtrip_atom", 1, [](Heap& h) { return Args{atom_or_other(h)}; },
     [](Heap&, const Args& a, const core::CallResult& r) {
       return expect(r, atom_latin1(a[0]) ? Want(a[0]) : kBadarg);
     }},
    {"roundtrip_string", 1, [](Heap& h) { return Args{string_or_other(h)}; },
     [](Heap&, const Args& a, const core::CallResult& r) {
       return expect(r, latin1_string(a[0]) ? Want(a[0]) : kBadarg);
     }},
    {"roundtrip_tuple", 1, [](Heap& h) { return Args{tuple_or_other(h)}; },
     [](Heap&, const Args& a, const core::CallResult& r) {
       return expect(r, core::is_tuple(a[0]) ? Want(a[0]) : kBadarg);
     }},
    {"roundtrip_list", 1, [](Heap& h) { return Args{list_or_other(h)}; },
     [](Heap&, const Args& a, const core::CallResult& r) {
       return expect(r, core::is_list(a[0]) ? Want(a[0]) : kBadarg);
     }},
    {"roundtrip_map", 1, [](Heap& h) { return Args{map_or_other(h)}; },
     [](Heap&, const Args& a, const core::CallResult& r) {
       if (!core::is_map(a[0])) return expect(r, kBadarg);
       return expect_map_result(r, entries_of(a[0]));
     }},
    {"type_of", 1, [](Heap& h) { return Args{coin() ? any_odd_bitstring(h) : some_term(h)}; },
     [](Heap& h, const Args& a, const core::CallResult& r) {
       return expect(r, type_of_model(h, a[0]));
     }},
    {"list_from_tuple", 1, [](Heap& h) { return Args{tuple_or_other(h)}; },
     [](Heap& h, const Args& a, const core::CallResult& r) {
       auto e = tuple_of(a[0]);
       return expect(r, e ? Want(core::make_list(h, *e)) : kBadarg);
     }},
    {"reverse_list", 1, [](Heap& h) { return Args{list_or_other(h)}; },
     [](Heap& h, const Args& a, const core::CallResult& r) {
       auto e = proper_list(a[0]);
       if (!e) return expect(r, kBadarg);
       std::reverse(e->begin(), e->end());
       return expect(r, core::make_list(h, *e));
     }},
    {"list_cell", 1, [](Heap& h) { return Args{list_or_other(h)}; },
     [](Heap& h, const Args& a, const core::CallResult& r) {
       if (!core::is_cons(a[0])) return expect(r, kBadarg);
       return expect(r, tuple(h, {core::cons_head(a[0]), core::cons_tail(a[0])}));
     }},
    {"list_length", 1, [](Heap& h) { return Args{list_or_other(h)}; },
     [](Heap& h, const Args& a, const core::CallResult& r) {
       auto e = proper_list(a[0]);
       return expect(r, e ? Want(integer(h, static_cast<std::int64_t>(e->size()))) : kBadarg);
     }},
    {"prepend", 2,
     [](Heap& h) {
       return Args{some_term(h), list_or_other(h)};
     },
     [](Heap& h, const Args& a, const core::CallResult& r) {
       return expect(r, core::make_cons(h, a[0], a[1]));
     }},
    {"make_list3", 3,
     [](Heap& h) {
       return Args{some_term(h), some_term(h), some_term(h)};
     },
     [](Heap& h, const Args& a, const core::CallResult& r) {
       return expect(r, core::make_list(h, a));
     }},
    {"tuple_size", 1, [](Heap& h) { return Args{tuple_or_other(h)}; },
     [](Heap& h, const Args& a, const core::CallResult& r) {
       auto e = tuple_of(a[0]);
       return expect(r, e ? Want(integer(h, static_cast<std::int64_t>(e->size()))) : kBadarg);
     }},
    {"tuple_element", 2,
     [](Heap& h) {
       Term t = tuple_or_other(h);
       return Args{
           t, size_arg(h, core::is_tuple(t) ? static_cast<std::int64_t>(core::tuple_arity(t)) : 3)};
     },
     [](Heap&, const Args& a, const core::CallResult& r) {
       auto e = tuple_of(a[0]);
       auto i = core::is_small(a[1]) ? std::optional<std::int64_t>(core::small_value(a[1]))
                                     : std::nullopt;
       if (!e || !i || *i < 1 || *i > static_cast<std::int64_t>(e->size()))
         return expect(r, kBadarg);
       return expect(r, (*e)[static_cast<std::size_t>(*i - 1)]);
     }},
    {"tuple_from_list", 1, [](Heap& h) { return Args{list_or_other(h)}; },
     [](Heap& h, const Args& a, const core::CallResult& r) {
       auto e = proper_list(a[0]);
       return expect(r, e ? Want(core::make_tuple(h, *e)) : kBadarg);
     }},
    {"make_tuple3", 3,
     [](Heap& h) {
       return Args{some_term(h), some_term(h), some_term(h)};
     },
     [](Heap& h, const Args& a, const core::CallResult& r) {
       return expect(r, core::make_tuple(h, a));
     }},
    {"fixed_arity", 0, [](Heap&) { return Args{}; },
     [](Heap& h, const Args&, const core::CallResult& r) {
       const char* names[] = {"a", "b", "c", "d", "e", "f", "g", "h", "i"};
       Args letters;
       for (const char* n : names) letters.push_back(atom(n));
       Args parts;
       for (std::size_t n = 0; n <= 9; ++n)
         parts.push_back(core::make_tuple(h, std::span(letters.data(), n)));
       for (std::size_t n = 0; n <= 9; ++n)
         parts.push_back(core::make_list(h, std::span(letters.data(), n)));
       return expect(r, core::make_tuple(h, parts));
     }},
    {"big_ints", 0, [](Heap&) { return Args{}; },
     [](Heap& h, const Args&, const core::CallResult& r) {
       const std::int64_t small_max = (std::int64_t{1} << 59) - 1;
       const Term parts[] = {integer(h, INT_MIN),
                             integer(h, INT_MAX),
                             core::make_unsigned(h, UINT_MAX),
                             integer(h, LONG_MIN),
                             integer(h, LONG_MAX),
                             core::make_unsigned(h, ULONG_MAX),
                             integer(h, INT64_MIN),
                             integer(h, INT64_MAX),
                             core::make_unsigned(h, UINT64_MAX),
                             integer(h, small_max),
                             integer(h, small_max + 1),
                             integer(h, -small_max - 1),
                             integer(h, -small_max - 2),
                             core::make_unsigned(h, std::uint64_t{1} << 63)};
       return expect(r, core::make_tuple(h, parts));
     }},
    {"new_map", 0, [](Heap&) { return Args{}; },
     [](Heap&, const Args&, const core::CallResult& r) { return expect_map_result(r, {}); }},
    {"map_put", 3,
     [](Heap& h) {
       Term m = map_or_other(h);
       return Args{m, key_for(h, m), some_term(h)};
     },
     [](Heap&, const Args& a, const core::CallResult& r) {
       if (!core::is_map(a[0])) return expect(r, kBadarg);
       return expect_map_result(r, put(entries_of(a[0]), a[1], a[2]));
     }},
    {"map_update", 3,
     [](Heap& h) {
       Term m = map_or_other(h);
       return Args{m, key_for(h, m), some_term(h)};
     },
     [](Heap&, const Args& a, const core::CallResult& r) {
       if (!core::is_map(a[0])) return expect(r, kBadarg);
       Entries e = entries_of(a[0]);
       if (find_key(e, a[1]) == e.end()) return expect(r, core::atoms::kError);
       if (!r.ok() || !core::is_tuple(r.value()) || core::tuple_arity(r.value()) != 2 ||
           core::tuple_elements(r.value())[0] != core::atoms::kOk)
         return "expected {ok, Map}, got " + show(r);
       return same_map(core::tuple_elements(r.value())[1], put(e, a[1], a[2]));
     }},
    {"map_remove", 2,
     [](Heap& h) {
       Term m = map_or_other(h);
       return Args{m, key_for(h, m)};
     },
     [](Heap&, const Args& a, const core::CallResult& r) {
       if (!core::is_map(a[0])) return expect(r, kBadarg);
       return expect_map_result(r, without(entries_of(a[0]), a[1]));
     }},
    {"map_get", 2,
     [](Heap& h) {
       Term m = map_or_other(h);
       return Args{m, key_for(h, m)};
     },
     [](Heap& h, const Args& a, const core::CallResult& r) {
       if (!core::is_map(a[0])) return expect(r, kBadarg);
       Entries e = entries_of(a[0]);
       auto it = find_key(e, a[1]);
       return expect(r, it == e.end() ? core::atoms::kError : ok_tuple(h, it->second));
     }},
    {"map_size", 1, [](Heap& h) { return Args{map_or_other(h)}; },
     [](Heap& h, const Args& a, const core::CallResult& r) {
       if (!core::is_map(a[0])) return expect(r, kBadarg);
       return expect(r, integer(h, static_cast<std::int64_t>(entries_of(a[0]).size())));
     }},
    {"map_iter_forward", 1, [](Heap& h) { return Args{iteration_map(h)}; },
     [](Heap&, const Args& a, const core::CallResult& r) {
       return check_map_iteration(a, r, true);
     }},
    {"map_iter_backward", 1, [](Heap& h) { return Args{iteration_map(h)}; },
     [](Heap&, const Args& a, const core::CallResult& r) {
       return check_map_iteration(a, r, false);
     }},
    {"map_from_arrays", 2,
     [](Heap& h) {
       const auto n = pick<std::size_t>(0, 45);
       Args keys, values;
       for (std::size_t i = 0; i < n; ++i) {
         // Small integer keys repeat now and then: duplicates.
         keys.push_back(one_in(4) ? some_term(h) : integer(h, pick(0, 60)));
         values.push_back(any_integer(h));
       }
       if (one_in(8) && !values.empty()) values.pop_back();  // lengths differ
       return Args{core::make_list(h, keys), core::make_list(h, values)};
     },
     [](Heap&, const Args& a, const core::CallResult& r) {
       auto keys = proper_list(a[0]);
       auto values = proper_list(a[1]);
       if (!keys || !values || keys->size() != values->size()) return expect(r, kBadarg);
       Entries e;
       bool duplicate = false;
       for (std::size_t i = 0; i < keys->size(); ++i) {
         duplicate = duplicate || find_key(e, (*keys)[i]) != e.end();
         e = put(std::move(e), (*keys)[i], (*values)[i]);
       }
       // As the BEAM: duplicates are refused up to 32 keys, beyond that the last value wins.
       if (duplicate && keys->size() <= core::kFlatmapLimit) return expect(r, core::atoms::kError);
       if (!r.ok() || !core::is_tuple(r.value()) || core::tuple_arity(r.value()) != 2)
         return "expected {ok, Map}, got " + show(r);
       return same_map(core::tuple_elements(r.value())[1], e);
     }},
    {"compare", 2, [](Heap& h) { return related_pair(h); },
     [](Heap& h, const Args& a, const core::CallResult& r) {
       const int c = core::compare(a[0], a[1]);
       return expect(r, integer(h, (c > 0) - (c < 0)));
     }},
    {"is_identical", 2, [](Heap& h) { return related_pair(h); },
     [](Heap&, const Args& a, const core::CallResult& r) {
       return expect(r, boolean(core::identical(a[0], a[1])));
     }},
    {"hash", 2,
     [](Heap& h) {
       return Args{one_in(8) ? any_atom(h) : atom("phash2"), some_term(h)};
     },
     [](Heap& h, const Args& a, const core::CallResult& r) {
       if (a[0] != atom("phash2")) return expect(r, kBadarg);
       return check_hash(h, a, r, false);
     }},
    {"hash", 3,
     [](Heap& h) {
       return Args{atom("phash2"), some_term(h), salt(h)};
     },
     [](Heap& h, const Args& a, const core::CallResult& r) { return check_hash(h, a, r, false); }},
    {"hash", 3,
     [](Heap& h) {
       return Args{atom("internal"), any_atomless_term(h), salt(h)};
     },
     [](Heap& h, const Args& a, const core::CallResult& r) { return check_hash(h, a, r, true); }},
    {"term_to_binary", 1, [](Heap& h) { return Args{small_map_term(h)}; },
     [](Heap& h, const Args& a, const core::CallResult& r) {
       return expect(r, binary(h, etf(a[0])));
     }},
    {"binary_to_term", 2,
     [](Heap& h) {
       Term original = some_term(h);
       Bytes bytes = etf(original);
       auto trailer = any_bytes(6);  // binary_to_term/2 reports the bytes it used
       bytes.insert(bytes.end(), trailer.begin(), trailer.end());
       Term mode = one_in(8) ? any_atom(h) : atom("unsafe");
       return Args{binary(h, bytes), mode, original};  // the third is for the model only
     },
     [](Heap& h, const Args& a, const core::CallResult& r) {
       if (a[1] != atom("unsafe")) return expect(r, kBadarg);
       const auto used = static_cast<std::int64_t>(etf(a[2]).size());
       return expect(r, tuple(h, {a[2], integer(h, used)}));
     }},
    {"raise", 1, [](Heap& h) { return Args{some_term(h)}; },
     [](Heap&, const Args& a, const core::CallResult& r) {
       return is_exception(r, "error", a[0])
                  ? ""
                  : "expected error:" + core::print_term(a[0]) + ", got " + show(r);
     }},
    {"pending_exception", 1, [](Heap& h) { return Args{some_term(h)}; },
     [](Heap&, const Args& a, const core::CallResult& r) {
       return is_exception(r, "error", a[0])
                  ? ""
                  : "expected error:" + core::print_term(a[0]) + ", got " + show(r);
     }},
    {"badarg", 0, [](Heap&) { return Args{}; },
     [](Heap&, const Args&, const core::CallResult& r) { return expect(r, kBadarg); }},
    {"make_existing_atom", 1,
     [](Heap& h) { return Args{one_in(8) ? any_integer(h) : existing_atom_name(h)}; },
     [](Heap& h, const Args& a, const core::CallResult& r) {
       auto bytes = binary_bytes(a[0]);
       if (!bytes) return expect(r, kBadarg);
       std::string name(bytes->begin(), bytes->end());
       if (name.starts_with("nh_no_such_atom_")) return expect(r, core::atoms::kError);
       return expect(r, ok_tuple(h, atom(name)));
     }},
    {"atom_length", 1, [](Heap& h) { return Args{atom_or_other(h)}; },
     [](Heap& h, const Args& a, const core::CallResult& r) {
       auto l = atom_latin1(a[0]);
       return expect(r, l ? Want(integer(h, static_cast<std::int64_t>(l->size()))) : kBadarg);
     }},
    {"atom_to_latin1", 1, [](Heap& h) { return Args{atom_or_other(h)}; },
     [](Heap& h, const Args& a, const core::CallResult& r) {
       auto l = atom_latin1(a[0]);
       return expect(r, l ? Want(core::make_binary(h, *l)) : kBadarg);
     }},
    {"latin1_to_atom", 1,
     [](Heap& h) {
       return Args{one_in(6) ? binary_or_other(h)
                             : *core::make_binary(h, any_bytes(one_in(4) ? 300 : 40))};
     },
     [](Heap&, const Args& a, const core::CallResult& r) {
       auto bytes = binary_bytes(a[0]);
       if (!bytes || bytes->size() > 255) return expect(r, kBadarg);
       return expect(r, atom(latin1_to_utf8(*bytes)));
     }},
    {"latin1_to_string", 1, [](Heap& h) { return Args{binary_or_other(h)}; },
     [](Heap& h, const Args& a, const core::CallResult& r) {
       auto bytes = binary_bytes(a[0]);
       if (!bytes) return expect(r, kBadarg);
       Args chars;
       for (std::uint8_t b : *bytes) {
         if (b == 0) break;  // enif_make_string stops at the NUL
         chars.push_back(core::make_small(b));
       }
       return expect(r, core::make_list(h, chars));
     }},
    {"string_to_latin1", 1, [](Heap& h) { return Args{string_or_other(h)}; },
     [](Heap& h, const Args& a, const core::CallResult& r) {
       auto s = latin1_string(a[0]);
       return expect(r, s ? Want(binary(h, *s)) : kBadarg);
     }},
    {"get_atom_buf", 2, [](Heap& h) { return Args{atom_or_other(h), size_arg(h, 40)}; }, nullptr},
    {"get_string_buf", 2, [](Heap& h) { return Args{string_or_other(h), size_arg(h, 40)}; },
     nullptr},
    {"fdiv", 2,
     [](Heap& h) {
       return Args{float_or_other(h), one_in(6) ? core::make_float(h, 0.0) : float_or_other(h)};
     },
     [](Heap& h, const Args& a, const core::CallResult& r) {
       if (!core::is_float(a[0]) || !core::is_float(a[1])) return expect(r, kBadarg);
       const double q = core::float_value(a[0]) / core::float_value(a[1]);
       return expect(r, std::isfinite(q) ? Want(core::make_float(h, q)) : kBadarg);
     }},
    {"binary_part", 3,
     [](Heap& h) {
       Term b = binary_or_other(h);
       auto size = static_cast<std::int64_t>(binary_bytes(b) ? binary_bytes(b)->size() : 4);
       return Args{b, size_arg(h, size), size_arg(h, size)};
     },
     [](Heap& h, const Args& a, const core::CallResult& r) {
       auto bytes = binary_bytes(a[0]);
       auto pos = core::is_small(a[1]) ? std::optional<std::int64_t>(core::small_value(a[1]))
                                       : std::nullopt;
       auto len = core::is_small(a[2]) ? std::optional<std::int64_t>(core::small_value(a[2]))
                                       : std::nullopt;
       if (!bytes || !pos || !len || *pos < 0 || *len < 0 ||
           *pos > static_cast<std::int64_t>(bytes->size()) ||
           *len > static_cast<std::int64_t>(bytes->size()) - *pos)
         return expect(r, kBadarg);
       auto first = bytes->begin() + *pos;
       return expect(r, binary(h, std::vector<std::uint8_t>(first, first + *len)));
     }},
    {"resource_roundtrip", 1, [](Heap& h) { return Args{int_or_other(h)}; },
     [](Heap& h, const Args& a, const core::CallResult& r) {
       auto v = core::integer_to_int64(a[0]);
       if (!core::is_integer(a[0]) || !v) return expect(r, kBadarg);
       return expect(r, tuple(h, {a[0], core::make_binary(h, std::to_string(*v))}));
     }},
    {"pid_roundtrip", 1, [](Heap& h) { return Args{pid_or_other(h)}; },
     [](Heap&, const Args& a, const core::CallResult& r) {
       return expect(r, core::is_local_pid(a[0]) ? Want(a[0]) : kBadarg);
     }},
    {"convert_time_unit", 3,
     [](Heap& h) { return Args{time_value(h), time_unit(h), time_unit(h)}; }, nullptr},
};

// %T text: the BEAM renders floats C-style (1.500000e+00) and maps without
// spaces, unlike ~p; what reaches the buffer and the file must be its text.
Term text_term(Heap& h) {
  return any_term(h, testing::TermGenOptions{.identifiers = false, .big_maps = false});
}

std::string expect_binary(const core::CallResult& r) {
  return r.ok() && binary_bytes(r.value()) ? "" : "expected a binary, got " + show(r);
}

const TermsFunction kTextFunctions[] = {
    {"snprintf", 1, [](Heap& h) { return Args{text_term(h)}; },
     [](Heap&, const Args&, const core::CallResult& r) { return expect_binary(r); }},
    {"snprintf", 2,
     [](Heap& h) {
       return Args{text_term(h), integer(h, pick(0, 80))};
     },
     [](Heap&, const Args& a, const core::CallResult& r) {
       if (!r.ok() || !binary_bytes(r.value()) ||
           binary_bytes(r.value())->size() != static_cast<std::size_t>(core::small_value(a[1])))
         return "expected the whole buffer, got " + show(r);
       return std::string();
     }},
    {"fprintf", 1, [](Heap& h) { return Args{text_term(h)}; },
     [](Heap&, const Args&, const core::CallResult& r) { return expect_binary(r); }},
};

// ------------------------------------------------------------------ the property

// Runs batches of cases drawn from `table` on the host, each checked against
// the model as it runs and against the BEAM in one round trip per batch.
void check_against_model_and_beam(Host& host, core::LibraryHandle lib,
                                  std::span<const TermsFunction> table) {
  check_property(kRuns, [&] {
    Heap heap;  // the arguments, alive until the BEAM has answered
    model::Process& caller = host.vm().spawn();
    struct Case {
      const TermsFunction* fn;
      Args args;
      core::CallResult ours;
    };
    std::vector<Case> cases;
    std::vector<BeamRequest> requests;
    for (int i = 0; i < kCasesPerRun; ++i) {
      const TermsFunction& fn = table[pick<std::size_t>(0, table.size())];
      Args args = fn.args(heap);
      // Generators may add terms past the arity, for the model only.
      Args call_args(args.begin(), args.begin() + fn.arity);
      core::CallResult ours = host.call(caller, lib, fn.name, call_args);
      const std::string wrong = fn.check != nullptr ? fn.check(heap, args, ours) : "";
      if (!wrong.empty())
        RC_FAIL(fmt::format("nh_terms:{}{}: {}", fn.name, show_args(call_args), wrong));
      requests.push_back({"nh_terms", fn.name, args_etf(call_args)});
      cases.push_back({&fn, std::move(call_args), std::move(ours)});
    }
    auto theirs = beam_calls(requests);
    for (std::size_t i = 0; i < cases.size(); ++i) {
      std::string wrong = beam_mismatch(cases[i].ours, theirs[i]);
      // OTP 25's enif_make_map_from_arrays, given more than 32 keys that
      // duplicates bring down to 32 or fewer, answers a HAMT of that size, a
      // map nothing else in the BEAM makes (not even =:= to the same map made
      // by maps:from_list/1 there; later OTP releases fix it). Its bytes are
      // in hash order; the map they decode to must be ours.
      if (!wrong.empty() && std::string_view(cases[i].fn->name) == "map_from_arrays" &&
          cases[i].ours.ok() && !theirs[i].raised) {
        Heap beam_heap;
        auto decoded = core::decode(theirs[i].term, beam_heap);
        if (decoded && core::identical(*decoded, cases[i].ours.value())) wrong.clear();
      }
      if (!wrong.empty())
        RC_FAIL(
            fmt::format("nh_terms:{}{}: {}", cases[i].fn->name, show_args(cases[i].args), wrong));
    }
  });
}

class TermsProps : public ::testing::TestWithParam<BackendKind> {};

TEST_P(TermsProps, EveryFunctionAnswersAsTheModelAndTheBeam) {
  Host host(GetParam());
  const core::LibraryHandle lib = host.load("nh_terms");
  const auto info = host.backend().info(lib).value();
  beam_load(suite_stem("nh_terms"), "nh_terms", info.functions);

  check_against_model_and_beam(host, lib, kFunctions);
}

TEST_P(TermsProps, TermTextIsTheBeams) {
  Host host(GetParam());
  const core::LibraryHandle lib = host.load("nh_terms");
  beam_load(suite_stem("nh_terms"), "nh_terms", host.backend().info(lib).value().functions);
  check_against_model_and_beam(host, lib, kTextFunctions);
}

// Functions whose answers differ from run to run are checked by shape: the
// same shape in the BEAM and here.
TEST_P(TermsProps, UnrepeatableAnswersHaveTheirShape) {
  Host host(GetParam());
  const core::LibraryHandle lib = host.load("nh_terms");
  auto value = [&](std::string_view fn, std::string_view args) {
    core::CallResult r = host.call_text(lib, fn, args);
    EXPECT_TRUE(r.ok()) << fn << args << ": " << show(r);
    return r.ok() ? r.value() : core::kNilTerm;
  };
  EXPECT_TRUE(core::is_reference(value("make_ref", "[]")));
  EXPECT_EQ(value("ref_is_unique", "[]"), core::atoms::kTrue);
  EXPECT_EQ(value("self_alive", "[]"), core::atoms::kTrue);
  EXPECT_EQ(value("pid_alive", "[" + core::print_term(host.self().pid()) + "]"),
            core::atoms::kTrue);
  std::int64_t last_unique = 0, last_time = INT64_MIN;
  for (int i = 0; i < 50; ++i) {
    auto u = core::integer_to_int64(value("unique_integer", "[]"));
    ASSERT_TRUE(u.has_value());
    EXPECT_GT(*u, last_unique);  // positive and monotonic
    last_unique = *u;
    auto t = core::integer_to_int64(value("monotonic_time", "[nanosecond]"));
    ASSERT_TRUE(t.has_value());
    EXPECT_GE(*t, last_time);
    last_time = *t;
  }
  Term now = value("now_time", "[]");
  ASSERT_TRUE(core::is_tuple(now));
  EXPECT_EQ(core::tuple_arity(now), 3u);
}

NIFHOST_FOR_EVERY_BACKEND(TermsProps);

}  // namespace
}  // namespace nifhost::proptests
