#pragma once
// nifhost/testing/term_gen.hpp — RapidCheck generators for every Erlang term type.
//
// A generated term lives on its own heap, shared by the value so that copies
// made by RapidCheck while shrinking stay valid.
//
//   RC_GTEST_PROP(Etf, RoundTrip, ()) {
//     OwnedTerm t = *nifhost::testing::gen_term();
//     ...
//   }
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <rapidcheck.h>
#include <string>
#include <vector>

#include "nifhost/core/atom_table.hpp"
#include "nifhost/core/heap.hpp"
#include "nifhost/core/terms.hpp"

namespace nifhost::testing {

struct OwnedTerm {
  std::shared_ptr<core::Heap> heap;
  core::Term term = core::kNilTerm;
};

struct TermGenOptions {
  int max_depth = 4;          // nesting depth of containers
  std::size_t max_width = 6;  // elements per container (usually)
  bool identifiers = true;    // pids, ports and references
  bool foreign_nodes = true;  // identifiers of other nodes (external pids/ports/refs)
  bool large = false;         // occasionally large containers, binaries and bignums
  bool big_maps = true;       // maps past 32 keys (the BEAM's HAMT maps)
};

namespace detail {

inline core::Term gen_atom(core::Heap&) {
  static const char* const kFixed[] = {"ok",
                                       "error",
                                       "true",
                                       "false",
                                       "undefined",
                                       "a",
                                       "b",
                                       "z",
                                       "nonode@nohost",
                                       "Hello",
                                       "hello world",
                                       "",
                                       "end",
                                       "fun",
                                       "receive",
                                       "_x",
                                       "a@b",
                                       "with'quote",
                                       "with\\backslash",
                                       "caf\xc3\xa9",
                                       "\xc5\x9d",
                                       "\xe2\x82\xac",
                                       "ab\ncd",
                                       "\xf0\x9f\x98\x80",
                                       "abc_DEF_123"};
  int pick = *rc::gen::inRange(0, 10);
  if (pick < 7) {
    auto i = *rc::gen::inRange<std::size_t>(0, std::size(kFixed));
    return core::atom(kFixed[i]);
  }
  if (pick < 9) {
    // Short ASCII identifiers, lowercase first so most need no quotes.
    std::string s(1, static_cast<char>(*rc::gen::inRange('a', static_cast<char>('z' + 1))));
    auto len = *rc::gen::inRange<std::size_t>(0, 12);
    for (std::size_t i = 0; i < len; ++i) {
      static const char kChars[] = "abcxyzABZ019_@";
      s.push_back(kChars[*rc::gen::inRange<std::size_t>(0, sizeof(kChars) - 1)]);
    }
    return core::atom(s);
  }
  // Long atoms up to the 255-character limit.
  auto len = *rc::gen::inRange<std::size_t>(200, 256);
  return core::atom(std::string(len, *rc::gen::element('q', 'x')));
}

inline core::Term gen_integer(core::Heap& heap, const TermGenOptions& o) {
  switch (*rc::gen::inRange(0, 8)) {
    case 0:
      return core::make_small(*rc::gen::inRange<std::int64_t>(0, 256));
    case 1:
      return core::make_small(*rc::gen::inRange<std::int64_t>(-2000, 2000));
    case 2:
      return core::make_integer(heap, *rc::gen::arbitrary<std::int32_t>());
    case 3:
      return core::make_integer(heap, *rc::gen::arbitrary<std::int64_t>());
    case 4: {
      // Around the small/bignum and int32/int64 boundaries.
      static const std::int64_t kEdges[] = {core::kSmallMax,
                                            core::kSmallMin,
                                            core::kSmallMax + 1,
                                            core::kSmallMin - 1,
                                            2147483647,
                                            -2147483648LL,
                                            2147483648LL,
                                            -2147483649LL,
                                            std::numeric_limits<std::int64_t>::max(),
                                            std::numeric_limits<std::int64_t>::min()};
      return core::make_integer(heap, *rc::gen::elementOf(std::vector<std::int64_t>(
                                          std::begin(kEdges), std::end(kEdges))));
    }
    case 5:
      return core::make_unsigned(heap, *rc::gen::arbitrary<std::uint64_t>());
    default: {
      std::size_t digits = *rc::gen::inRange<std::size_t>(1, o.large ? 40 : 5);
      std::vector<std::uint64_t> mag(digits);
      for (auto& d : mag) d = *rc::gen::arbitrary<std::uint64_t>();
      if (*rc::gen::arbitrary<bool>()) mag.back() = *rc::gen::inRange<std::uint64_t>(1, 256);
      return core::make_bignum(heap, *rc::gen::arbitrary<bool>(), mag);
    }
  }
}

inline core::Term gen_float(core::Heap& heap) {
  static const double kFixed[] = {0.0,
                                  -0.0,
                                  1.0,
                                  -1.0,
                                  0.1,
                                  0.5,
                                  1.0e10,
                                  1.0e-5,
                                  123456789.0,
                                  1.0e21,
                                  1.0e22,
                                  1.0e-10,
                                  3.141592653589793,
                                  1.7976931348623157e308,
                                  2.2250738585072014e-308,
                                  5.0e-324,
                                  9007199254740993.0,
                                  1.0e15,
                                  1.0e16,
                                  0.001,
                                  100.0};
  switch (*rc::gen::inRange(0, 3)) {
    case 0:
      return core::make_float(
          heap, *rc::gen::elementOf(std::vector<double>(std::begin(kFixed), std::end(kFixed))));
    case 1:
      return core::make_float(heap, static_cast<double>(*rc::gen::inRange(-100000, 100000)) / 64.0);
    default: {
      double d;
      do {
        d = std::bit_cast<double>(*rc::gen::arbitrary<std::uint64_t>());
      } while (!std::isfinite(d));
      return core::make_float(heap, d);
    }
  }
}

inline core::Term gen_bitstring(core::Heap& heap, const TermGenOptions& o) {
  int pick = *rc::gen::inRange(0, 10);
  std::size_t len;
  if (pick < 6)
    len = *rc::gen::inRange<std::size_t>(0, 16);
  else if (pick < 9)
    len = *rc::gen::inRange<std::size_t>(16, 200);
  else
    len = o.large ? *rc::gen::inRange<std::size_t>(200, 100000) : 100;
  std::vector<std::uint8_t> bytes(len + 1);
  bool printable = *rc::gen::arbitrary<bool>();
  for (auto& b : bytes)
    b = printable ? static_cast<std::uint8_t>(*rc::gen::inRange(32, 127))
                  : *rc::gen::arbitrary<std::uint8_t>();
  unsigned bits = *rc::gen::inRange(0, 4) == 0 ? *rc::gen::inRange(1u, 8u) : 0u;
  if (bits) bytes[len] &= static_cast<std::uint8_t>(0xFF << (8 - bits));  // canonical padding
  auto t = core::make_bitstring(heap, bytes, len, bits);
  RC_ASSERT(t.has_value());
  return *t;
}

inline core::Term gen_identifier(core::Heap& heap, const TermGenOptions& o) {
  bool foreign = o.foreign_nodes && *rc::gen::inRange(0, 4) == 0;
  core::Term node =
      foreign
          ? core::atom(*rc::gen::element(std::string("a@host"), std::string("other@example.org")))
          : core::atoms::kNonode;
  std::uint32_t creation = foreign ? *rc::gen::inRange<std::uint32_t>(1, 5) : 0;
  switch (*rc::gen::inRange(0, 3)) {
    case 0:
      // A local pid's number has 15 significant bits and its serial 13, as
      // binary_to_term/1 enforces.
      return core::make_pid(heap, node, *rc::gen::inRange<std::uint32_t>(0, 1u << 15),
                            *rc::gen::inRange<std::uint32_t>(0, 8), creation);
    case 1:
      return core::make_port(heap, node, *rc::gen::inRange<std::uint64_t>(0, 1u << 27), creation);
    default: {
      std::vector<std::uint32_t> ids(3);
      ids[0] = *rc::gen::inRange<std::uint32_t>(0, 1u << 18);
      ids[1] = *rc::gen::arbitrary<std::uint32_t>();
      ids[2] = *rc::gen::arbitrary<std::uint32_t>();
      return core::make_ref(heap, node, creation, ids);
    }
  }
}

inline core::Term gen_any(core::Heap& heap, const TermGenOptions& o, int depth);

inline std::size_t gen_width(const TermGenOptions& o) {
  if (o.large && *rc::gen::inRange(0, 20) == 0) return *rc::gen::inRange<std::size_t>(100, 2000);
  return *rc::gen::inRange<std::size_t>(0, o.max_width + 1);
}

inline core::Term gen_container(core::Heap& heap, const TermGenOptions& o, int depth) {
  switch (*rc::gen::inRange(0, 6)) {
    case 0: {
      std::vector<core::Term> elems(gen_width(o));
      for (auto& e : elems) e = gen_any(heap, o, depth + 1);
      return core::make_tuple(heap, elems);
    }
    case 1: {
      std::vector<core::Term> elems(gen_width(o));
      for (auto& e : elems) e = gen_any(heap, o, depth + 1);
      return core::make_list(heap, elems);
    }
    case 2: {
      // Improper list.
      std::vector<core::Term> elems(*rc::gen::inRange<std::size_t>(1, 4));
      for (auto& e : elems) e = gen_any(heap, o, depth + 1);
      core::Term tail = gen_any(heap, o, depth + 1);
      if (core::is_list(tail)) tail = core::atoms::kOk;
      return core::make_list(heap, elems, tail);
    }
    case 3: {
      // A string: a list of small integers (printable or bytes or Unicode).
      std::vector<core::Term> elems(*rc::gen::inRange<std::size_t>(0, 20));
      int range = *rc::gen::inRange(0, 3);
      for (auto& e : elems)
        e = core::make_small(range == 0   ? *rc::gen::inRange(32, 127)
                             : range == 1 ? *rc::gen::inRange(0, 256)
                                          : *rc::gen::inRange(0, 0x3000));
      return core::make_list(heap, elems);
    }
    default: {
      std::size_t n = gen_width(o);
      if (o.big_maps && *rc::gen::inRange(0, 8) == 0) n = *rc::gen::inRange<std::size_t>(30, 70);
      std::vector<core::Term> keys, values;
      for (std::size_t i = 0; i < n; ++i) {
        keys.push_back(*rc::gen::arbitrary<bool>()
                           ? gen_any(heap, o, depth + 1)
                           : core::make_small(static_cast<std::int64_t>(i)));
        values.push_back(gen_any(heap, o, depth + 1));
      }
      // Drop duplicate keys by retrying with fewer entries.
      while (!keys.empty()) {
        auto m = core::make_map(heap, keys, values);
        if (m) return *m;
        keys.pop_back();
        values.pop_back();
      }
      return core::make_empty_map(heap);
    }
  }
}

inline core::Term gen_any(core::Heap& heap, const TermGenOptions& o, int depth) {
  bool leaf = depth >= o.max_depth || *rc::gen::inRange(0, 3) != 0;
  if (!leaf) return gen_container(heap, o, depth);
  switch (*rc::gen::inRange(0, o.identifiers ? 7 : 6)) {
    case 0:
    case 1:
      return gen_integer(heap, o);
    case 2:
      return gen_float(heap);
    case 3:
      return gen_atom(heap);
    case 4:
      return gen_bitstring(heap, o);
    case 5:
      return core::kNilTerm;
    default:
      return gen_identifier(heap, o);
  }
}

}  // namespace detail

// Any term, with the given options.
inline rc::Gen<OwnedTerm> gen_term(TermGenOptions o = {}) {
  return rc::gen::exec([o] {
    OwnedTerm t{std::make_shared<core::Heap>(), core::kNilTerm};
    t.term = detail::gen_any(*t.heap, o, 0);
    return t;
  });
}

// Deeply nested terms (lists, tuples and maps nested up to `depth` levels).
inline rc::Gen<OwnedTerm> gen_deep_term(int max_depth = 2000) {
  return rc::gen::exec([max_depth] {
    OwnedTerm t{std::make_shared<core::Heap>(), core::kNilTerm};
    int depth = *rc::gen::inRange(1, max_depth + 1);
    core::Term cur = detail::gen_any(*t.heap, TermGenOptions{.max_depth = 1}, 0);
    for (int i = 0; i < depth; ++i) {
      switch (*rc::gen::inRange(0, 3)) {
        case 0:
          cur = core::make_list(*t.heap, {cur});
          break;
        case 1:
          cur = core::make_tuple(*t.heap, {core::atoms::kOk, cur});
          break;
        default: {
          core::Term k = core::atoms::kOk;
          auto m = core::make_map(*t.heap, {&k, 1}, {&cur, 1});
          cur = *m;
        }
      }
    }
    t.term = cur;
    return t;
  });
}

// Terms with large parts: long lists, big binaries, bignums, large maps.
inline rc::Gen<OwnedTerm> gen_large_term() {
  return gen_term(TermGenOptions{.max_depth = 3, .max_width = 8, .large = true});
}

}  // namespace nifhost::testing

namespace rc {
template <>
struct Arbitrary<nifhost::testing::OwnedTerm> {
  static Gen<nifhost::testing::OwnedTerm> arbitrary() { return nifhost::testing::gen_term(); }
};
}  // namespace rc
