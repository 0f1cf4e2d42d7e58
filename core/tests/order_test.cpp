// Term order, =:= and map key/iteration order, checked against facts taken
// from a real erl (OTP 25): each known answer names the expression it came
// from. Properties run over the shared term generators, and the last tests ask
// the live BEAM (the oracle) about generated terms.
#include "nifhost/core/order.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <numeric>
#include <span>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "nifhost/core/atom_table.hpp"
#include "nifhost/core/etf.hpp"
#include "nifhost/core/hash.hpp"
#include "nifhost/core/heap.hpp"
#include "nifhost/core/terms.hpp"
#include "nifhost/core/text.hpp"
#include "nifhost/testing/beam_oracle.hpp"
#include "nifhost/testing/term_gen.hpp"

using namespace nifhost::core;
using nifhost::testing::BeamOracle;
using nifhost::testing::OwnedTerm;

namespace {

int sgn(int v) { return (v > 0) - (v < 0); }

Term parse(Heap& h, std::string_view text) {
  auto t = parse_term(text, h);
  if (!t) {
    ADD_FAILURE() << "cannot parse " << text << ": " << t.error().message;
    return kNilTerm;
  }
  return *t;
}

Term tuple(Heap& h, std::initializer_list<Term> e) { return nifhost::core::make_tuple(h, e); }
Term list(Heap& h, std::initializer_list<Term> e) { return make_list(h, e); }
Term char_list(Heap& h, const std::string& s) {
  std::vector<Term> e;
  for (char c : s) e.push_back(make_small(static_cast<unsigned char>(c)));
  return make_list(h, e);
}
Term map_of(Heap& h, std::vector<Term> keys, std::vector<Term> values) {
  auto m = make_map(h, keys, values);
  EXPECT_TRUE(m.has_value());
  return m ? *m : kNilTerm;
}
// maps:from_list([{K(I), V(I)} || I <- lists:seq(Lo, Hi)]) for integer-made keys and values.
template <class KeyFn, class ValueFn>
Term map_from(Heap& h, int lo, int hi, KeyFn key, ValueFn value) {
  std::vector<Term> k, v;
  for (int i = lo; i <= hi; ++i) {
    k.push_back(key(i));
    v.push_back(value(i));
  }
  return map_of(h, k, v);
}

// A fun as erl encodes it (term_to_binary without the version byte).
Term fun(Heap& h, std::initializer_list<std::uint8_t> bytes) {
  return make_fun(h, std::span<const std::uint8_t>(bytes.begin(), bytes.size()));
}

// The properties checked for every pair of known answers.
void expect_order(Term a, Term b, int order, bool equal_, bool exact, const std::string& what) {
  SCOPED_TRACE(what);
  EXPECT_EQ(sgn(compare(a, b)), order);
  EXPECT_EQ(sgn(compare(b, a)), -order);
  EXPECT_EQ(equal(a, b), equal_);
  EXPECT_EQ(identical(a, b), exact);
  EXPECT_EQ(identical(b, a), exact);
}

// ---------------------------------------------------------------- known answers
// {A, B, Order, A == B, A =:= B}, printed by erl 25 for each pair
// (Order: -1 if A < B, 1 if A > B, else 0).
struct CompareCase {
  const char* a;
  const char* b;
  int order;
  bool equal;
  bool exact;
};
const CompareCase kCompareCases[] = {
    {"1", "1.0", 0, true, false},
    {"1", "2.0", -1, false, false},
    {"2", "1.5", 1, false, false},
    {"-1", "-1.0", 0, true, false},
    {"0", "-0.0", 0, true, false},
    {"0.0", "-0.0", 0, true, true},
    {"18446744073709551617", "18446744073709551616.0", 1, false, false},
    {"18446744073709551616", "18446744073709551616.0", 0, true, false},
    {"18446744073709551615", "18446744073709551616.0", -1, false, false},
    {"-18446744073709551617", "-18446744073709551616.0", -1, false, false},
    {"9007199254740993", "9007199254740992.0", 1, false, false},
    {"9007199254740993", "9007199254740994.0", -1, false, false},
    {"576460752303423487", "576460752303423488.0", -1, false, false},
    {"576460752303423489", "576460752303423488.0", 1, false, false},
    {"1.0e300", "123456789012345678901234567890", 1, false, false},
    {"-1.0e300", "-123456789012345678901234567890", -1, false, false},
    {"170141183460469231731687303715884105728", "1.7014118346046923e38", 0, true, false},
    {"170141183460469231731687303715884105729", "1.7014118346046923e38", 1, false, false},
    {"0.5", "0", 1, false, false},
    {"-0.5", "0", -1, false, false},
    {"99999999999999999999", "-99999999999999999999", 1, false, false},
    {"-99999999999999999999", "-99999999999999999998", -1, false, false},
    {"1", "a", -1, false, false},
    {"1.0e300", "a", -1, false, false},
    {"a", "b", -1, false, false},
    {"a", "aa", -1, false, false},
    {"ab", "b", -1, false, false},
    {"'Z'", "a", -1, false, false},
    {"''", "a", -1, false, false},
    {"{}", "#{}", -1, false, false},
    {"{a,b}", "{c}", 1, false, false},
    {"{1,2}", "{1,2.0}", 0, true, false},
    {"{1,2}", "{1,3}", -1, false, false},
    {"#{}", "[]", -1, false, false},
    {"[]", "[a]", -1, false, false},
    {"[a]", "<<>>", -1, false, false},
    {"[1,2]", "[1,3]", -1, false, false},
    {"[1]", "[1,2]", -1, false, false},
    {"[1,2]", "[1|2]", 1, false, false},
    {"[1|2]", "[1|3]", -1, false, false},
    {"[1|2]", "[1,2|3]", -1, false, false},
    {"\"abc\"", "\"abd\"", -1, false, false},
    {"\"abc\"", "<<\"abc\">>", -1, false, false},
    {"<<1:1>>", "<<1>>", 1, false, false},
    {"<<0:1>>", "<<0>>", -1, false, false},
    {"<<1,2:3>>", "<<1,2>>", 1, false, false},
    {"<<1:1>>", "<<128>>", -1, false, false},
    {"<<128,0:1>>", "<<128>>", 1, false, false},
    {"<<\"abc\">>", "<<\"abd\">>", -1, false, false},
    {"<<\"ab\">>", "<<\"abc\">>", -1, false, false},
    {"<<255>>", "<<1,2,3>>", 1, false, false},
    {"<<5:3>>", "<<5:4>>", 1, false, false},
    {"<<5:3>>", "<<160>>", -1, false, false},
    {"#{1 => a}", "#{1.0 => a}", -1, false, false},
    {"#{1 => b}", "#{1.0 => a}", -1, false, false},
    {"#{a => 2, b => 1}", "#{a => 1, b => 2}", 1, false, false},
    {"#{a => 1, c => 1}", "#{b => 1, c => 1}", -1, false, false},
    {"#{a => 1}", "#{a => 1.0}", 0, true, false},
    {"#{a => 1}", "#{a => 1, b => 2}", -1, false, false},
    {"#{b => 1}", "#{a => 1, b => 2}", -1, false, false},
    {"#{1 => 1, 2 => 2}", "#{1 => 1, 2.0 => 2}", -1, false, false},
    {"#{2 => x}", "#{1.0 => x}", -1, false, false},
    {"#{{1} => x}", "#{{1.0} => x}", -1, false, false},
    {"#{a => #{b => 1}}", "#{a => #{b => 1.0}}", 0, true, false},
    {"{#{1 => 1}}", "{#{1 => 1.0}}", 0, true, false},
    {"[1.0, 2]", "[1, 2.0]", 0, true, false},
    {"{1.0, a}", "{1, b}", -1, false, false},
    // Atoms compare by their text in code point order.
    {"z", "'\u00e9'", -1, false, false},
    {"'\u00e9'", "'\u03bb'", -1, false, false},
    {"'\u03bb'", "'\U0001F600'", -1, false, false},
};

TEST(Compare, KnownAnswersFromErl) {
  Heap h;
  for (const auto& c : kCompareCases) {
    expect_order(parse(h, c.a), parse(h, c.b), c.order, c.equal, c.exact,
                 std::string(c.a) + " vs " + c.b);
  }
}

TEST(Compare, LargeMapsKnownAnswersFromErl) {
  Heap h;
  auto I = [](int i) { return make_small(i); };
  auto F = [&](int i) { return make_float(h, i); };
  // M = maps:from_list([{I, I} || I <- lists:seq(1, 40)]) against:
  Term m = map_from(h, 1, 40, I, I);
  struct {
    const char* erl;
    Term other;
    int order;
    bool equal, exact;
  } cases[] = {
      {"maps:from_list([{I, I} || I <- lists:seq(1, 40)] ++ [{41, 0}])",
       map_from(h, 1, 41, I, [](int i) { return make_small(i == 41 ? 0 : i); }), -1, false, false},
      {"maps:from_list([{I, I} || I <- lists:seq(2, 41)])", map_from(h, 2, 41, I, I), -1, false,
       false},
      {"maps:from_list([{I, float(I)} || I <- lists:seq(1, 40)])", map_from(h, 1, 40, I, F), 0,
       true, false},
      {"maps:from_list([{float(I), I} || I <- lists:seq(1, 40)])", map_from(h, 1, 40, F, I), -1,
       false, false},
      {"maps:from_list([{I, I} || I <- lists:seq(1, 39)] ++ [{40, 41}])",
       map_from(h, 1, 40, I, [](int i) { return make_small(i == 40 ? 41 : i); }), -1, false, false},
      {"maps:from_list([{I, I} || I <- lists:seq(1, 39)] ++ [{40, 40.0}])",
       map_from(h, 1, 40, I, [&](int i) { return i == 40 ? make_float(h, 40) : make_small(i); }), 0,
       true, false},
      {"maps:from_list([{I, I} || I <- lists:seq(1, 39)] ++ [{40.0, 40}])",
       map_from(
           h, 1, 40, [&](int i) { return i == 40 ? make_float(h, 40) : make_small(i); }, I),
       -1, false, false},
      {"the same map built again", map_from(h, 1, 40, I, I), 0, true, true},
  };
  for (const auto& c : cases) expect_order(m, c.other, c.order, c.equal, c.exact, c.erl);

  // maps:from_list([{list_to_binary([I]), I} || I <- lists:seq(1, 40)]) <
  // maps:from_list([{list_to_binary([I]), I} || I <- lists:seq(2, 41)])
  auto B = [&](int i) { return make_binary(h, std::string(1, static_cast<char>(i))); };
  expect_order(map_from(h, 1, 40, B, I), map_from(h, 2, 41, B, I), -1, false, false, "binary keys");
  // maps:from_list([{I, I} || I <- lists:seq(1, 40)] ++ [{1.0e10, 0}]) >
  // maps:from_list([{I, I} || I <- lists:seq(1, 40)] ++ [{10000000000, 0}])
  std::vector<Term> k1, k2, v;
  for (int i = 1; i <= 40; ++i) {
    k1.push_back(make_small(i));
    v.push_back(make_small(i));
  }
  k2 = k1;
  k1.push_back(make_float(h, 1.0e10));
  k2.push_back(make_small(10000000000));
  v.push_back(make_small(0));
  expect_order(map_of(h, k1, v), map_of(h, k2, v), 1, false, false, "1.0e10 vs 10000000000 key");
}

// lists:sort([self(), make_ref(), hd(erlang:ports()), fun() -> ok end, fun lists:map/2,
//             {}, #{}, [], [a], <<>>, a, 1.0])
// -> [1.0, a, #Ref<...>, #Fun<...>, fun lists:map/2, #Port<0.0>, <0.9.0>, {}, #{}, [], [a], <<>>]
TEST(Compare, TypeOrderFromErl) {
  Heap h;
  std::uint32_t ids[] = {237, 754188289, 1156621340};
  Term sorted[] = {
      make_float(h, 1.0),
      atom("a"),
      make_ref(h, atoms::kNonode, 0, ids),
      fun(h, {0x70, 0x00, 0x00, 0x00, 0x45, 0x00, 0x3b, 0x1b, 0x0d, 0x5d, 0x96, 0xef, 0x5f, 0xb8,
              0x66, 0x30, 0x92, 0x9c, 0x7f, 0x53, 0x95, 0xd5, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
              0x00, 0x00, 0x64, 0x00, 0x01, 0x67, 0x61, 0x00, 0x62, 0x01, 0xd8, 0xd8, 0x6a, 0x58,
              0x64, 0x00, 0x0d, 0x6e, 0x6f, 0x6e, 0x6f, 0x64, 0x65, 0x40, 0x6e, 0x6f, 0x68, 0x6f,
              0x73, 0x74, 0x00, 0x00, 0x00, 0x09, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}),
      fun(h, {0x71, 0x64, 0x00, 0x05, 0x6c, 0x69, 0x73, 0x74, 0x73, 0x64, 0x00, 0x03, 0x6d, 0x61,
              0x70, 0x61, 0x02}),
      make_port(h, atoms::kNonode, 0, 0),
      make_pid(h, atoms::kNonode, 9, 0, 0),
      tuple(h, {}),
      make_empty_map(h),
      kNilTerm,
      list(h, {atom("a")}),
      make_binary(h, ""),
  };
  for (std::size_t i = 0; i < std::size(sorted); ++i) {
    for (std::size_t j = 0; j < std::size(sorted); ++j) {
      SCOPED_TRACE(std::to_string(i) + " vs " + std::to_string(j));
      EXPECT_EQ(sgn(compare(sorted[i], sorted[j])), i < j ? -1 : i > j ? 1 : 0);
    }
  }
}

// Identifiers built with binary_to_term from NEW_PID_EXT, V4_PORT_EXT and
// NEWER_REFERENCE_EXT in erl: pid(Node, Number, Serial, Creation),
// port(Node, Number, Creation), ref(Node, Creation, Words).
TEST(Compare, IdentifiersFromErl) {
  Heap h;
  Term nonode = atoms::kNonode;
  Term ab = atom("a@b");
  Term zb = atom("z@b");
  Term zzz = atom("zzz@b");
  auto pid = [&](Term n, std::uint32_t num, std::uint32_t ser, std::uint32_t cr) {
    return make_pid(h, n, num, ser, cr);
  };
  auto port = [&](Term n, std::uint64_t num, std::uint32_t cr) { return make_port(h, n, num, cr); };
  auto ref = [&](Term n, std::uint32_t cr, std::vector<std::uint32_t> w) {
    return make_ref(h, n, cr, w);
  };
  struct {
    const char* erl;
    Term a, b;
    bool less;
  } cases[] = {
      // Pids: serial, then number, then node name and creation.
      {"pid(nonode@nohost,5,1,0) < pid(nonode@nohost,6,0,0)", pid(nonode, 5, 1, 0),
       pid(nonode, 6, 0, 0), false},
      {"pid('a@b',1,0,1) < pid(nonode@nohost,2,0,0)", pid(ab, 1, 0, 1), pid(nonode, 2, 0, 0), true},
      {"pid('a@b',3,0,1) < pid(nonode@nohost,2,0,0)", pid(ab, 3, 0, 1), pid(nonode, 2, 0, 0),
       false},
      {"pid('a@b',2,0,1) < pid(nonode@nohost,2,0,0)", pid(ab, 2, 0, 1), pid(nonode, 2, 0, 0), true},
      {"pid('z@b',2,0,1) < pid(nonode@nohost,2,0,0)", pid(zb, 2, 0, 1), pid(nonode, 2, 0, 0),
       false},
      {"pid('a@b',2,0,1) < pid('a@b',2,0,2)", pid(ab, 2, 0, 1), pid(ab, 2, 0, 2), true},
      {"pid('a@b',5,0,2) < pid('a@b',6,0,1)", pid(ab, 5, 0, 2), pid(ab, 6, 0, 1), true},
      {"pid('a@b',1,1,1) < pid('a@b',2,0,1)", pid(ab, 1, 1, 1), pid(ab, 2, 0, 1), false},
      // Ports: node name and creation, then number.
      {"port(nonode@nohost,5,0) < port('a@b',3,1)", port(nonode, 5, 0), port(ab, 3, 1), false},
      {"port('a@b',5,1) < port('z@b',3,1)", port(ab, 5, 1), port(zb, 3, 1), true},
      {"port('a@b',3,2) < port('a@b',5,1)", port(ab, 3, 2), port(ab, 5, 1), false},
      // References: node name and creation, then words from the last.
      {"ref('a@b',1,[9]) < ref('z@b',1,[1])", ref(ab, 1, {9}), ref(zb, 1, {1}), true},
      {"ref('a@b',1,[1,2]) < ref('a@b',1,[2,1])", ref(ab, 1, {1, 2}), ref(ab, 1, {2, 1}), false},
      {"ref('a@b',1,[5]) < ref('a@b',1,[5,1])", ref(ab, 1, {5}), ref(ab, 1, {5, 1}), true},
      {"ref('a@b',2,[1]) < ref('a@b',1,[2])", ref(ab, 2, {1}), ref(ab, 1, {2}), false},
      {"ref(nonode@nohost,0,[1,2,3]) < ref('a@b',1,[1,2,3])", ref(nonode, 0, {1, 2, 3}),
       ref(ab, 1, {1, 2, 3}), false},
      {"ref(nonode@nohost,0,[1,2,3]) < ref('zzz@b',1,[0,0,0])", ref(nonode, 0, {1, 2, 3}),
       ref(zzz, 1, {0, 0, 0}), true},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.erl);
    EXPECT_NE(compare(c.a, c.b), 0);
    EXPECT_EQ(compare(c.a, c.b) < 0, c.less);
    EXPECT_EQ(compare(c.b, c.a) < 0, !c.less);
  }
  // {ref('a@b',1,[5]) == ref('a@b',1,[5,0]), ref('a@b',1,[5]) =:= ref('a@b',1,[5,0])}
  // -> {true, true}: missing words count as zeros.
  EXPECT_EQ(compare(ref(ab, 1, {5}), ref(ab, 1, {5, 0})), 0);
  EXPECT_TRUE(identical(ref(ab, 1, {5}), ref(ab, 1, {5, 0})));
  // A local pid equals itself built again, and differs from the same numbers elsewhere.
  EXPECT_TRUE(identical(pid(nonode, 5, 1, 0), make_local_pid(5, 1)));
  EXPECT_FALSE(identical(pid(nonode, 5, 1, 0), pid(ab, 5, 1, 0)));
}

// Stand-ins for a NIF resource and a remote resource handle.
class TestResource final : public OffHeapObject {
 public:
  TestResource() : OffHeapObject(Type::kResource) {}

 private:
  ~TestResource() override = default;
  void destroy() override { delete this; }
};
class TestHandle final : public RemoteResource {
 public:
  TestHandle(std::uint64_t id) : RemoteResource(1, 1, id, 7) {}

 private:
  ~TestHandle() override = default;
  void destroy() override { delete this; }
};

// A resource orders and hashes as the reference the ETF encoder sends the
// BEAM in its place; remote handles come after this node's other references.
TEST(Compare, ResourcesAndHandlesAreReferences) {
  Heap h;
  auto* object = new TestResource;
  Term res = make_resource_term(h, object);
  object->release();  // the heap holds its own reference
  auto bytes = encode(res);
  ASSERT_TRUE(bytes.has_value());
  auto as_ref = decode(*bytes, h);
  ASSERT_TRUE(as_ref.has_value());
  ASSERT_TRUE(is_boxed_of(*as_ref, Subtag::kRef));
  EXPECT_EQ(compare(res, *as_ref), 0);
  EXPECT_EQ(phash2(res), phash2(*as_ref));
  EXPECT_EQ(internal_hash(res, 9), internal_hash(*as_ref, 9));

  auto* handle_object = new TestHandle(42);
  Term handle = make_handle_term(h, handle_object);
  handle_object->release();
  auto* other_object = new TestHandle(43);
  Term other_handle = make_handle_term(h, other_object);
  other_object->release();
  std::uint32_t foreign_ids[] = {1, 2, 3};
  Term others[] = {make_unique_ref(h), make_ref(h, atom("a@b"), 1, foreign_ids),
                   make_ref(h, atom("zzz@b"), 1, foreign_ids), make_small(1),
                   make_pid(h, atoms::kNonode, 1, 0, 0)};
  for (Term x : others) {
    EXPECT_EQ(sgn(compare(res, x)), sgn(compare(*as_ref, x)));
    EXPECT_EQ(sgn(compare(x, res)), sgn(compare(x, *as_ref)));
  }
  EXPECT_GT(compare(handle, res), 0);
  EXPECT_GT(compare(handle, others[0]), 0);
  EXPECT_GT(compare(handle, others[1]), 0);  // 'a@b' < nonode@nohost
  EXPECT_LT(compare(handle, others[2]), 0);  // nonode@nohost < 'zzz@b'
  EXPECT_LT(compare(handle, others[4]), 0);  // references before pids
  EXPECT_LT(compare(handle, other_handle), 0);
  EXPECT_TRUE(identical(handle, copy_term(h, handle)));
  EXPECT_FALSE(identical(handle, other_handle));
  EXPECT_NE(phash2(handle), phash2(other_handle));
}

// In erl, with module g:
//   funs() -> Y = 7, Z = <<"zz">>,
//     [fun() -> ok end, fun(X) -> X + 1 end, fun(X) -> X + Y end, fun(X) -> {X, Z} end,
//      fun lists:map/2, fun lists:foldl/3, fun erlang:abs/1].
//   plus (fun(Y) -> fun(X) -> X + Y end end)(1) and (...)(2), indexes 7 and 8.
// [index(F) || F <- lists:sort(All)] -> [0,1,2,3,7,8,6,5,4]
TEST(Compare, FunsFromErl) {
  Heap h;
  auto local = [&](std::uint8_t index, std::uint8_t free_var) {
    std::vector<std::uint8_t> b = {
        0x70, 0x00, 0x00, 0x00, 0x45, 0x01, 0x3b, 0x1b,  0x0d, 0x5d, 0x96, 0xef,  0x5f, 0xb8,
        0x66, 0x30, 0x92, 0x9c, 0x7f, 0x53, 0x95, 0xd5,  0x00, 0x00, 0x00, index, 0x00, 0x00,
        0x00, 0x00, 0x64, 0x00, 0x01, 0x67, 0x61, index, 0x62, 0x01, 0xd8, 0xd8,  0x6a, 0x58,
        0x64, 0x00, 0x0d, 0x6e, 0x6f, 0x6e, 0x6f, 0x64,  0x65, 0x40, 0x6e, 0x6f,  0x68, 0x6f,
        0x73, 0x74, 0x00, 0x00, 0x00, 0x09, 0x00, 0x00,  0x00, 0x00, 0x00, 0x00,  0x00, 0x00};
    if (index == 0) b[5] = 0x00;  // arity 0
    if (free_var) {
      b[4] = 0x47;   // size
      b[29] = 0x01;  // one free variable
      b.push_back(0x61);
      b.push_back(free_var);
    }
    return make_fun(h, b);
  };
  Term all[] = {
      local(0, 0),
      local(1, 0),
      local(2, 0),
      local(3, 0),
      fun(h, {0x71, 0x64, 0x00, 0x05, 0x6c, 0x69, 0x73, 0x74, 0x73, 0x64, 0x00, 0x03, 0x6d, 0x61,
              0x70, 0x61, 0x02}),
      fun(h, {0x71, 0x64, 0x00, 0x05, 0x6c, 0x69, 0x73, 0x74, 0x73, 0x64, 0x00, 0x05, 0x66, 0x6f,
              0x6c, 0x64, 0x6c, 0x61, 0x03}),
      fun(h, {0x71, 0x64, 0x00, 0x06, 0x65, 0x72, 0x6c, 0x61, 0x6e, 0x67, 0x64, 0x00, 0x03, 0x61,
              0x62, 0x73, 0x61, 0x01}),
      local(5, 1),
      local(5, 2),
  };
  const std::size_t erl_sorted[] = {0, 1, 2, 3, 7, 8, 6, 5, 4};
  std::vector<std::size_t> idx(std::size(all));
  std::iota(idx.begin(), idx.end(), std::size_t{0});
  std::sort(idx.begin(), idx.end(),
            [&](std::size_t i, std::size_t j) { return compare(all[i], all[j]) < 0; });
  EXPECT_EQ(idx, std::vector<std::size_t>(std::begin(erl_sorted), std::end(erl_sorted)));
  for (Term f : all) EXPECT_TRUE(identical(f, copy_term(h, f)));
}

// maps:keys/1 of flatmaps (up to 32 keys) is map key order: integers before
// floats, otherwise term order.
TEST(MapKeyOrder, FlatmapsFromErl) {
  Heap h;
  struct {
    const char* erl_map;
    std::vector<const char*> keys;  // as erl 25 lists them
  } cases[] = {
      // maps:keys(#{1.0 => a, 1 => b, 2 => c, a => d})
      {"#{1.0 => a, 1 => b, 2 => c, a => d}", {"1", "2", "1.0", "a"}},
      // maps:keys(#{1.0 => a, 2 => b, -5.0 => c, 3 => d, 0.5 => e})
      {"#{1.0 => a, 2 => b, -5.0 => c, 3 => d, 0.5 => e}", {"2", "3", "-5.0", "0.5", "1.0"}},
      // maps:keys(#{{1} => a, {1.0} => b, [1] => c, <<1>> => d, 1.5 => e,
      //             99999999999999999999999 => f})
      {"#{{1} => a, {1.0} => b, [1] => c, <<1>> => d, 1.5 => e, 99999999999999999999999 => f}",
       {"99999999999999999999999", "1.5", "{1}", "{1.0}", "[1]", "<<1>>"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.erl_map);
    Term m = parse(h, c.erl_map);
    ASSERT_TRUE(is_map(m));
    ASSERT_EQ(map_size(m), c.keys.size());
    for (std::size_t i = 0; i < c.keys.size(); ++i) {
      EXPECT_TRUE(identical(map_keys(m)[i], parse(h, c.keys[i]))) << i;
      EXPECT_EQ(map_find_index(m, map_keys(m)[i]), i);
      if (i > 0) {
        EXPECT_LT(compare_map_keys(map_keys(m)[i - 1], map_keys(m)[i]), 0);
      }
    }
    // The order of the input does not matter.
    std::vector<Term> k(map_keys(m), map_keys(m) + map_size(m));
    std::vector<Term> v(map_values(m), map_values(m) + map_size(m));
    std::reverse(k.begin(), k.end());
    std::reverse(v.begin(), v.end());
    ASSERT_TRUE(order_map_entries(k, v));
    for (std::size_t i = 0; i < k.size(); ++i) {
      EXPECT_EQ(k[i], map_keys(m)[i]);
      EXPECT_EQ(v[i], map_values(m)[i]);
    }
  }
  // 1 and 1.0 are different keys; 0.0 and -0.0 are the same one in OTP 25
  // (0.0 =:= -0.0 is true).
  EXPECT_NE(compare_map_keys(make_small(1), make_float(h, 1.0)), 0);
  EXPECT_EQ(compare_map_keys(make_float(h, 0.0), make_float(h, -0.0)), 0);
}

// Maps past 32 keys iterate in HAMT order. Each case builds
//   Keys = <erl expression>, M = maps:from_list(lists:zip(Keys, lists:seq(0, length(Keys) - 1)))
// and lists [V || {_, V} <- maps:to_list(M)] as erl 25 gives it (maps:keys/1 and
// term_to_binary/1 give the same order). The last cases hold two keys whose
// 32-bit hashes collide, so the HAMT goes a level deeper.
struct HamtCase {
  const char* erl;
  void (*keys)(Heap&, std::vector<Term>&);
  std::vector<int> order;
};
const HamtCase kHamtCases[] = {
    {"lists:seq(1,100)",
     [](Heap&, std::vector<Term>& k) {
       for (int i = 1; i <= 100; ++i) k.push_back(make_small(i));
     },
     {32, 11, 72, 43, 22, 28, 46, 88, 60, 29, 42, 38, 44, 47, 56, 25, 68, 87, 62, 99,
      70, 45, 30, 97, 80, 10, 36, 8,  75, 31, 33, 24, 27, 84, 90, 63, 5,  71, 67, 85,
      50, 79, 37, 12, 58, 39, 76, 94, 40, 19, 77, 14, 13, 59, 1,  6,  82, 73, 98, 0,
      96, 7,  2,  74, 89, 57, 54, 16, 21, 51, 86, 20, 95, 3,  81, 35, 52, 49, 65, 23,
      9,  34, 69, 55, 61, 48, 26, 83, 93, 91, 41, 18, 66, 92, 64, 4,  53, 17, 78, 15}},
    {"[list_to_binary(\"k\" ++ integer_to_list(I)) || I <- lists:seq(1,50)]",
     [](Heap& h, std::vector<Term>& k) {
       for (int i = 1; i <= 50; ++i) k.push_back(make_binary(h, "k" + std::to_string(i)));
     },
     {23, 15, 27, 37, 32, 33, 10, 41, 19, 36, 47, 21, 6,  16, 3,  5,  4,
      12, 7,  31, 44, 13, 26, 28, 17, 45, 48, 20, 43, 9,  29, 34, 22, 11,
      40, 38, 49, 46, 39, 18, 1,  2,  0,  42, 35, 24, 30, 14, 8,  25}},
    {"[{I, <<I>>} || I <- lists:seq(1,60)]",
     [](Heap& h, std::vector<Term>& k) {
       for (int i = 1; i <= 60; ++i)
         k.push_back(
             tuple(h, {make_small(i), make_binary(h, std::string(1, static_cast<char>(i)))}));
     },
     {9,  21, 15, 51, 40, 14, 13, 36, 59, 38, 29, 10, 23, 45, 17, 5,  52, 47, 28, 12,
      53, 16, 20, 54, 42, 44, 55, 0,  6,  22, 24, 58, 27, 30, 56, 35, 41, 26, 48, 37,
      2,  4,  57, 49, 7,  11, 25, 43, 33, 3,  1,  32, 31, 8,  50, 46, 39, 19, 18, 34}},
    {"[I * 1.5 || I <- lists:seq(1,45)]",
     [](Heap& h, std::vector<Term>& k) {
       for (int i = 1; i <= 45; ++i) k.push_back(make_float(h, i * 1.5));
     },
     {35, 10, 34, 18, 13, 16, 6, 4,  27, 17, 39, 28, 37, 30, 36, 15, 22, 42, 19, 44, 23, 14, 20,
      7,  25, 43, 33, 26, 8,  0, 31, 12, 3,  21, 9,  41, 5,  1,  2,  29, 32, 38, 11, 40, 24}},
    {"[-(1 bsl 70) - I || I <- lists:seq(1,45)]",
     [](Heap& h, std::vector<Term>& k) {
       for (int i = 1; i <= 45; ++i)
         k.push_back(
             make_bignum(h, true, std::vector<std::uint64_t>{static_cast<std::uint64_t>(i), 64}));
     },
     {28, 24, 8,  3,  10, 12, 23, 18, 38, 22, 32, 5,  43, 39, 2,  1,  27, 31, 15, 37, 36, 6, 7,
      41, 13, 42, 35, 9,  20, 33, 21, 11, 16, 14, 40, 4,  44, 30, 19, 17, 0,  25, 26, 34, 29}},
    {"[\"key\" ++ integer_to_list(I) || I <- lists:seq(1,40)]",
     [](Heap& h, std::vector<Term>& k) {
       for (int i = 1; i <= 40; ++i) k.push_back(char_list(h, "key" + std::to_string(i)));
     },
     {3,  21, 31, 25, 13, 26, 8,  16, 5,  7,  33, 10, 19, 32, 2, 9,  30, 35, 39, 14,
      29, 23, 27, 36, 15, 28, 38, 1,  18, 12, 4,  37, 22, 20, 0, 24, 11, 17, 34, 6}},
    {"lists:append([[I, I + 0.25] || I <- lists:seq(-20,20)])",
     [](Heap& h, std::vector<Term>& k) {
       for (int i = -20; i <= 20; ++i) {
         k.push_back(make_small(i));
         k.push_back(make_float(h, i + 0.25));
       }
     },
     {61, 43, 19, 55, 64, 37, 35, 57, 27, 3,  20, 17, 63, 69, 67, 45, 14, 10, 75, 77, 9,
      36, 62, 58, 51, 30, 4,  0,  25, 65, 52, 12, 71, 40, 66, 28, 16, 80, 15, 6,  70, 68,
      44, 41, 54, 34, 42, 33, 56, 46, 23, 74, 48, 39, 38, 8,  49, 53, 29, 60, 47, 1,  5,
      26, 79, 11, 31, 21, 22, 81, 24, 73, 7,  78, 59, 50, 18, 76, 2,  13, 32, 72}},
    {"[[I, [I * 1000], {}] || I <- lists:seq(1,35)]",
     [](Heap& h, std::vector<Term>& k) {
       for (int i = 1; i <= 35; ++i)
         k.push_back(list(h, {make_small(i), list(h, {make_small(i * 1000)}), tuple(h, {})}));
     },
     {22, 7,  20, 24, 34, 33, 16, 21, 30, 10, 0,  2, 28, 1,  12, 32, 27, 6,
      13, 23, 3,  14, 19, 8,  11, 29, 17, 5,  18, 9, 31, 25, 4,  15, 26}},
    {"[#{I => 0, <<\"x\">> => 1} || I <- lists:seq(1,35)]",
     [](Heap& h, std::vector<Term>& k) {
       for (int i = 1; i <= 35; ++i) {
         Term mk[] = {make_small(i), make_binary(h, "x")};
         Term mv[] = {make_small(0), make_small(1)};
         k.push_back(*make_map(h, mk, mv));
       }
     },
     {1, 21, 13, 27, 11, 24, 12, 20, 10, 0, 14, 28, 22, 15, 25, 18, 31, 5,
      4, 23, 33, 16, 29, 34, 26, 9,  30, 7, 2,  6,  3,  19, 8,  32, 17}},
    {"[(1 bsl 40) * I || I <- lists:seq(1,40)]",
     [](Heap& h, std::vector<Term>& k) {
       for (int i = 1; i <= 40; ++i) k.push_back(make_integer(h, (std::int64_t{1} << 40) * i));
     },
     {5,  27, 13, 30, 20, 31, 26, 15, 14, 16, 39, 29, 28, 23, 36, 32, 18, 34, 3, 33,
      22, 17, 11, 21, 25, 8,  1,  37, 4,  0,  2,  6,  9,  38, 19, 24, 10, 35, 7, 12}},
    {"[-I * 1000003 || I <- lists:seq(1,40)]",
     [](Heap& h, std::vector<Term>& k) {
       for (int i = 1; i <= 40; ++i) k.push_back(make_integer(h, -std::int64_t{i} * 1000003));
     },
     {4, 18, 17, 19, 26, 14, 37, 23, 31, 32, 29, 34, 1, 11, 9,  28, 10, 30, 2,  27,
      8, 0,  20, 13, 6,  35, 33, 39, 16, 24, 36, 5,  3, 22, 21, 7,  12, 38, 15, 25}},
    {"[[], 0.0 | [list_to_binary(lists:duplicate(I, $z)) || I <- lists:seq(1,40)]]",
     [](Heap& h, std::vector<Term>& k) {
       k.push_back(kNilTerm);
       k.push_back(make_float(h, 0.0));
       for (int i = 1; i <= 40; ++i)
         k.push_back(make_binary(h, std::string(static_cast<std::size_t>(i), 'z')));
     },
     {29, 16, 25, 24, 31, 10, 39, 4,  18, 7,  20, 17, 14, 30, 34, 23, 21, 38, 8,  2,  9,
      27, 37, 36, 19, 15, 5,  28, 41, 12, 35, 26, 13, 1,  0,  3,  33, 11, 32, 22, 40, 6}},
    {"[40660, 59671 | lists:seq(1,40)]",
     [](Heap&, std::vector<Term>& k) {
       k = {make_small(40660), make_small(59671)};
       for (int i = 1; i <= 40; ++i) k.push_back(make_small(i));
     },
     {34, 13, 24, 30, 31, 40, 27, 0, 1,  32, 12, 38, 10, 33, 35, 26, 29, 7,  39, 14, 41,
      21, 16, 15, 3,  8,  2,  9,  4, 18, 23, 22, 5,  37, 25, 11, 36, 28, 20, 6,  19, 17}},
    {"[22575, 119693 | lists:seq(1,40)]",
     [](Heap&, std::vector<Term>& k) {
       k = {make_small(22575), make_small(119693)};
       for (int i = 1; i <= 40; ++i) k.push_back(make_small(i));
     },
     {34, 13, 24, 30, 31, 40, 27, 32, 12, 38, 10, 33, 35, 26, 29, 1,  0,  7,  39, 14, 41,
      21, 16, 15, 3,  8,  2,  9,  4,  18, 23, 22, 5,  37, 25, 11, 36, 28, 20, 6,  19, 17}},
    {"[121236, 167527 | lists:seq(1,40)]",
     [](Heap&, std::vector<Term>& k) {
       k = {make_small(121236), make_small(167527)};
       for (int i = 1; i <= 40; ++i) k.push_back(make_small(i));
     },
     {34, 13, 24, 30, 31, 40, 27, 32, 12, 38, 10, 33, 35, 26, 29, 7, 39, 14, 41, 21, 16,
      15, 3,  8,  2,  9,  4,  18, 23, 22, 5,  37, 25, 11, 36, 1,  0, 28, 20, 6,  19, 17}},
    {"[169647, 178740 | lists:seq(1,40)]",
     [](Heap&, std::vector<Term>& k) {
       k = {make_small(169647), make_small(178740)};
       for (int i = 1; i <= 40; ++i) k.push_back(make_small(i));
     },
     {34, 13, 24, 30, 31, 40, 27, 32, 12, 38, 10, 33, 35, 26, 29, 7,  39, 14, 41, 21, 16,
      15, 3,  8,  2,  9,  4,  18, 23, 22, 5,  37, 25, 11, 36, 28, 20, 6,  19, 0,  1,  17}},
    {"[29879, 217607 | lists:seq(1,40)]",
     [](Heap&, std::vector<Term>& k) {
       k = {make_small(29879), make_small(217607)};
       for (int i = 1; i <= 40; ++i) k.push_back(make_small(i));
     },
     {34, 13, 24, 30, 31, 40, 27, 32, 12, 38, 10, 33, 35, 26, 29, 7,  39, 14, 41, 21, 16,
      15, 3,  8,  2,  9,  4,  0,  1,  18, 23, 22, 5,  37, 25, 11, 36, 28, 20, 6,  19, 17}},
    {"[204923, 232672 | lists:seq(1,40)]",
     [](Heap&, std::vector<Term>& k) {
       k = {make_small(204923), make_small(232672)};
       for (int i = 1; i <= 40; ++i) k.push_back(make_small(i));
     },
     {34, 13, 24, 30, 31, 40, 27, 32, 12, 38, 10, 33, 35, 26, 29, 7,  39, 14, 41, 21, 16,
      15, 3,  8,  2,  9,  4,  0,  1,  18, 23, 22, 5,  37, 25, 11, 36, 28, 20, 6,  19, 17}},
};

TEST(MapKeyOrder, HamtIterationOrderFromErl) {
  for (const auto& c : kHamtCases) {
    SCOPED_TRACE(c.erl);
    Heap h;
    std::vector<Term> k, v;
    c.keys(h, k);
    for (std::size_t i = 0; i < k.size(); ++i)
      v.push_back(make_small(static_cast<std::int64_t>(i)));
    std::vector<Term> keys = k;
    ASSERT_TRUE(order_map_entries(keys, v));
    std::vector<int> got;
    for (Term x : v) got.push_back(static_cast<int>(small_value(x)));
    EXPECT_EQ(got, c.order);

    // make_map agrees, and every key is found where it is.
    std::vector<Term> v2;
    for (std::size_t i = 0; i < k.size(); ++i)
      v2.push_back(make_small(static_cast<std::int64_t>(i)));
    Term m = map_of(h, k, v2);
    for (std::size_t i = 0; i < k.size(); ++i) {
      EXPECT_EQ(small_value(map_values(m)[i]), c.order[i]);
      EXPECT_EQ(map_find_index(m, map_keys(m)[i]), i);
      auto expected = static_cast<std::size_t>(
          std::find(c.order.begin(), c.order.end(), static_cast<int>(i)) - c.order.begin());
      EXPECT_EQ(map_find_index(m, copy_term(h, k[i])), expected);
    }
    // Keys that are not there.
    EXPECT_FALSE(map_find_index(m, atom("not_a_key")).has_value());
    EXPECT_FALSE(map_find_index(m, make_binary(h, "not a key either")).has_value());
  }
}

TEST(MapKeyOrder, DuplicatesAreRefused) {
  Heap h;
  std::vector<Term> k = {make_small(1), make_small(2), make_small(1)};
  std::vector<Term> v = {kNilTerm, kNilTerm, kNilTerm};
  EXPECT_FALSE(order_map_entries(k, v));
  // 1 and 1.0 are distinct keys.
  k = {make_small(1), make_float(h, 1.0)};
  v = {kNilTerm, kNilTerm};
  EXPECT_TRUE(order_map_entries(k, v));
  // In a HAMT-sized map, including structurally equal keys on different heaps.
  k.clear();
  v.clear();
  for (int i = 0; i < 50; ++i) {
    k.push_back(tuple(h, {make_small(i), make_binary(h, "x")}));
    v.push_back(kNilTerm);
  }
  std::vector<Term> k2 = k, v2 = v;
  EXPECT_TRUE(order_map_entries(k2, v2));
  k.push_back(tuple(h, {make_small(17), make_binary(h, "x")}));
  v.push_back(kNilTerm);
  EXPECT_FALSE(order_map_entries(k, v));
}

// ---------------------------------------------------------------- scale
TEST(Compare, MillionElementListsQuickly) {
  Heap h(1 << 21);
  constexpr int kN = 1000000;
  std::vector<Term> e(kN);
  for (int i = 0; i < kN; ++i) e[static_cast<std::size_t>(i)] = make_small(i);
  Term a = make_list(h, e);
  Term b = make_list(h, e);
  e.back() = make_float(h, kN - 1);  // == but not =:=
  Term c = make_list(h, e);
  e.back() = make_small(kN);
  Term d = make_list(h, e);
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(compare(a, b), 0);
  EXPECT_TRUE(identical(a, b));
  EXPECT_EQ(compare(a, c), 0);
  EXPECT_FALSE(identical(a, c));
  EXPECT_LT(compare(a, d), 0);
  EXPECT_GT(compare(d, a), 0);
  auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_LT(elapsed, std::chrono::seconds(30));  // catches quadratic work, not noise
}

TEST(Compare, TenThousandKeyMapsQuickly) {
  Heap h(1 << 18);
  auto build = [&](int changed_value) {
    std::vector<Term> k, v;
    for (int i = 0; i < 10000; ++i) {
      k.push_back(i % 2 ? make_small(i) : make_binary(h, "key" + std::to_string(i)));
      v.push_back(make_small(i == 5000 ? changed_value : i));
    }
    return map_of(h, k, v);
  };
  auto start = std::chrono::steady_clock::now();
  Term a = build(5000);
  Term b = build(5000);
  Term c = build(5001);
  EXPECT_EQ(compare(a, b), 0);
  EXPECT_TRUE(identical(a, b));
  EXPECT_LT(compare(a, c), 0);
  for (std::size_t i = 0; i < map_size(a); i += 97) EXPECT_EQ(map_find_index(a, map_keys(a)[i]), i);
  auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_LT(elapsed, std::chrono::seconds(30));  // catches quadratic work, not noise
}

// Nesting far past the ETF decoder's limit (10,000) uses no native stack.
TEST(Compare, DeepNestingDoesNotRecurse) {
  Heap h(1 << 20);
  constexpr int kDepth = 50000;
  auto build = [&](Term innermost) {
    Term t = innermost;
    for (int i = 0; i < kDepth; ++i) {
      switch (i % 3) {
        case 0:
          t = list(h, {t});
          break;
        case 1:
          t = tuple(h, {atoms::kOk, t});
          break;
        default: {
          Term key = atoms::kOk;
          t = *make_map(h, {&key, 1}, {&t, 1});
        }
      }
    }
    return t;
  };
  Term a = build(make_small(1));
  Term b = build(make_small(1));
  Term c = build(make_float(h, 1.0));
  Term d = build(make_small(2));
  EXPECT_EQ(compare(a, b), 0);
  EXPECT_TRUE(identical(a, b));
  EXPECT_EQ(compare(a, c), 0);
  EXPECT_FALSE(identical(a, c));
  EXPECT_LT(compare(a, d), 0);
}

// ---------------------------------------------------------------- properties
// Swaps integers and integral floats of the same value (never inside map
// keys, which compare exactly), so the result is == to t; `changed` says
// whether it is also no longer =:=.
Term swap_numbers(Heap& h, Term t, bool in_key, bool& changed) {
  if (!in_key && is_float(t)) {
    double d = float_value(t);
    if (std::trunc(d) == d && std::fabs(d) < 1e15 && *rc::gen::arbitrary<bool>()) {
      changed = true;
      return make_integer(h, static_cast<std::int64_t>(d));
    }
    return t;
  }
  if (!in_key && is_small(t) && std::llabs(small_value(t)) < (1LL << 52) &&
      *rc::gen::arbitrary<bool>()) {
    changed = true;
    return make_float(h, static_cast<double>(small_value(t)));
  }
  if (is_tuple(t)) {
    std::vector<Term> e(tuple_elements(t), tuple_elements(t) + tuple_arity(t));
    for (auto& x : e) x = swap_numbers(h, x, in_key, changed);
    return nifhost::core::make_tuple(h, std::span<const Term>(e));
  }
  if (is_cons(t)) {
    std::vector<Term> e;
    Term x = t;
    for (; is_cons(x); x = cons_tail(x))
      e.push_back(swap_numbers(h, cons_head(x), in_key, changed));
    return make_list(h, e, swap_numbers(h, x, in_key, changed));
  }
  if (is_map(t)) {
    std::vector<Term> k(map_keys(t), map_keys(t) + map_size(t));
    std::vector<Term> v(map_values(t), map_values(t) + map_size(t));
    for (auto& x : v) x = swap_numbers(h, x, in_key, changed);
    return *make_map(h, k, v);
  }
  return t;
}

RC_GTEST_PROP(CompareProps, Antisymmetric, (const OwnedTerm& a, const OwnedTerm& b)) {
  RC_ASSERT(sgn(compare(a.term, b.term)) == -sgn(compare(b.term, a.term)));
  RC_ASSERT(sgn(compare_map_keys(a.term, b.term)) == -sgn(compare_map_keys(b.term, a.term)));
  RC_ASSERT(identical(a.term, b.term) == (compare_map_keys(a.term, b.term) == 0));
  if (identical(a.term, b.term)) RC_ASSERT(compare(a.term, b.term) == 0);
}

RC_GTEST_PROP(CompareProps, Transitive,
              (const OwnedTerm& a, const OwnedTerm& b, const OwnedTerm& c)) {
  std::vector<Term> t = {a.term, b.term, c.term};
  std::sort(t.begin(), t.end(), [](Term x, Term y) { return compare(x, y) < 0; });
  RC_ASSERT(compare(t[0], t[1]) <= 0);
  RC_ASSERT(compare(t[1], t[2]) <= 0);
  RC_ASSERT(compare(t[0], t[2]) <= 0);
  if (compare(t[0], t[1]) < 0 || compare(t[1], t[2]) < 0) RC_ASSERT(compare(t[0], t[2]) < 0);
  std::sort(t.begin(), t.end(), [](Term x, Term y) { return compare_map_keys(x, y) < 0; });
  RC_ASSERT(compare_map_keys(t[0], t[1]) <= 0);
  RC_ASSERT(compare_map_keys(t[1], t[2]) <= 0);
  RC_ASSERT(compare_map_keys(t[0], t[2]) <= 0);
}

RC_GTEST_PROP(CompareProps, CopiesAreIdentical, (const OwnedTerm& a)) {
  Heap h;
  Term b = copy_term(h, a.term);
  RC_ASSERT(compare(a.term, b) == 0);
  RC_ASSERT(identical(a.term, b));
  RC_ASSERT(phash2(a.term) == phash2(b));
}

RC_GTEST_PROP(CompareProps, IntegerFloatSwapsStayEqual, (const OwnedTerm& a)) {
  Heap h;
  bool changed = false;
  Term b = swap_numbers(h, a.term, false, changed);
  RC_ASSERT(compare(a.term, b) == 0);
  RC_ASSERT(compare(b, a.term) == 0);
  RC_ASSERT(identical(a.term, b) == !changed);
}

// Two terms that differ in one leaf are ordered by that leaf.
RC_GTEST_PROP(CompareProps, OrderedByFirstDifference, (const OwnedTerm& a, const OwnedTerm& b)) {
  Heap h;
  Term ta = tuple(h, {atoms::kOk, a.term, make_small(1)});
  Term tb = tuple(h, {atoms::kOk, b.term, make_small(0)});
  int c = compare(a.term, b.term);
  RC_ASSERT(sgn(compare(ta, tb)) == (c != 0 ? sgn(c) : 1));
  Term la = list(h, {a.term, make_small(1)});
  Term lb = list(h, {b.term});
  RC_ASSERT(sgn(compare(la, lb)) == (c != 0 ? sgn(c) : 1));
}

RC_GTEST_PROP(MapOrderProps, PermutationAndIdempotent, ()) {
  // Shallow keys, so most of the time goes to ordering rather than generating.
  auto count = *rc::gen::inRange<std::size_t>(0, 40);
  const auto terms = *rc::gen::container<std::vector<OwnedTerm>>(
      count, nifhost::testing::gen_term({.max_depth = 2, .max_width = 4}));
  Heap h;
  std::vector<Term> k, v;
  for (std::size_t i = 0; i < terms.size(); ++i) {
    k.push_back(terms[i].term);
    v.push_back(make_small(static_cast<std::int64_t>(i)));
  }
  // Grow some lists past the flatmap limit.
  if (*rc::gen::arbitrary<bool>()) {
    for (int i = 0; i < 40; ++i) {
      k.push_back(make_integer(h, *rc::gen::arbitrary<std::int64_t>()));
      v.push_back(make_small(static_cast<std::int64_t>(v.size())));
    }
  }
  bool has_duplicates = false;
  for (std::size_t i = 0; i < k.size(); ++i) {
    for (std::size_t j = i + 1; j < k.size(); ++j) has_duplicates |= identical(k[i], k[j]);
  }
  std::vector<Term> k1 = k, v1 = v;
  bool ok = order_map_entries(k1, v1);
  RC_ASSERT(ok == !has_duplicates);
  if (!ok) return;
  // A permutation that keeps each key with its value.
  std::vector<bool> seen(k.size(), false);
  for (std::size_t i = 0; i < k1.size(); ++i) {
    auto j = static_cast<std::size_t>(small_value(v1[i]));
    RC_ASSERT(!seen[j]);
    seen[j] = true;
    RC_ASSERT(k1[i] == k[j]);
  }
  if (k1.size() <= kFlatmapLimit) {
    for (std::size_t i = 1; i < k1.size(); ++i) RC_ASSERT(compare_map_keys(k1[i - 1], k1[i]) < 0);
  }
  // Ordering again changes nothing, from any starting order.
  std::vector<Term> k2 = k1, v2 = v1;
  std::reverse(k2.begin(), k2.end());
  std::reverse(v2.begin(), v2.end());
  RC_ASSERT(order_map_entries(k2, v2));
  RC_ASSERT(k2 == k1);
  RC_ASSERT(v2 == v1);
  // Lookups find every key, by an identical copy too.
  auto m = make_map(h, k, v);
  RC_ASSERT(m.has_value());
  for (std::size_t i = 0; i < k1.size(); ++i) {
    RC_ASSERT(map_keys(*m)[i] == k1[i]);
    RC_ASSERT(map_find_index(*m, copy_term(h, k1[i])) == std::optional<std::size_t>(i));
  }
}

RC_GTEST_PROP(MapOrderProps, GeneratedMapsAreCanonical, (const OwnedTerm& a)) {
  // Every map inside a generated term is in the order order_map_entries gives.
  std::vector<Term> stack = {a.term};
  while (!stack.empty()) {
    Term t = stack.back();
    stack.pop_back();
    if (is_tuple(t)) {
      for (std::size_t i = 0; i < tuple_arity(t); ++i) stack.push_back(tuple_elements(t)[i]);
    } else if (is_cons(t)) {
      stack.push_back(cons_head(t));
      stack.push_back(cons_tail(t));
    } else if (is_map(t)) {
      std::vector<Term> k(map_keys(t), map_keys(t) + map_size(t));
      std::vector<Term> v(map_values(t), map_values(t) + map_size(t));
      std::reverse(k.begin(), k.end());
      std::reverse(v.begin(), v.end());
      RC_ASSERT(order_map_entries(k, v));
      for (std::size_t i = 0; i < k.size(); ++i) {
        RC_ASSERT(k[i] == map_keys(t)[i]);
        RC_ASSERT(map_find_index(t, k[i]) == std::optional<std::size_t>(i));
        stack.push_back(k[i]);
        stack.push_back(v[i]);
      }
    }
  }
}

// ---------------------------------------------------------------- against the BEAM
BeamOracle& oracle() { return nifhost::testing::shared_oracle(); }

// Local identifiers within what the BEAM's binary_to_term accepts (pid
// number 15 bits, serial 13 bits; port number 28 bits).
Term beam_safe(Heap& h, Term t) {
  if (is_local_pid(t)) {
    return make_local_pid(local_pid_id(t) & 0x7FFF, local_pid_serial(t) & 0x1FFF);
  }
  if (is_local_port(t)) return make_local_port(local_port_number(t) & 0xFFFFFFF);
  if (is_tuple(t)) {
    std::vector<Term> e(tuple_elements(t), tuple_elements(t) + tuple_arity(t));
    for (auto& x : e) x = beam_safe(h, x);
    return nifhost::core::make_tuple(h, std::span<const Term>(e));
  }
  if (is_cons(t)) {
    std::vector<Term> e;
    Term x = t;
    for (; is_cons(x); x = cons_tail(x)) e.push_back(beam_safe(h, cons_head(x)));
    return make_list(h, e, beam_safe(h, x));
  }
  if (is_map(t)) {
    std::vector<Term> k(map_keys(t), map_keys(t) + map_size(t));
    std::vector<Term> v(map_values(t), map_values(t) + map_size(t));
    for (auto& x : k) x = beam_safe(h, x);
    for (auto& x : v) x = beam_safe(h, x);
    auto m = make_map(h, k, v);
    return m ? *m : make_empty_map(h);  // two keys may have become one
  }
  return t;
}

std::vector<std::uint8_t> etf(Term t) {
  auto bytes = encode(t);
  EXPECT_TRUE(bytes.has_value());
  return bytes ? *bytes : std::vector<std::uint8_t>{};
}

// Generated pairs, and pairs that are == (numbers swapped) or =:= (copies),
// compared by the real VM: order, == and =:= must all agree.
RC_GTEST_PROP(BeamOracleDiff, CompareAgrees, ()) {
  Heap h;
  std::vector<OwnedTerm> generated;  // keeps the generated terms' heaps alive
  auto next = [&] {
    generated.push_back(*nifhost::testing::gen_term());
    return beam_safe(h, generated.back().term);
  };
  std::vector<std::pair<Term, Term>> pairs;
  for (int i = 0; i < 3; ++i) {
    Term a = next();
    pairs.emplace_back(a, next());
  }
  bool changed = false;
  Term a = next();
  pairs.emplace_back(a, swap_numbers(h, a, false, changed));
  pairs.emplace_back(a, copy_term(h, a));
  std::vector<std::string> lines;
  for (auto [x, y] : pairs)
    lines.push_back(nifhost::testing::oracle_request::compare(etf(x), etf(y)));
  auto answers = oracle().pipeline(lines);
  RC_ASSERT(answers.has_value());
  for (std::size_t i = 0; i < pairs.size(); ++i) {
    auto c = nifhost::testing::oracle_answer::parse_comparison((*answers)[i]);
    RC_ASSERT(c.has_value());
    auto [x, y] = pairs[i];
    RC_ASSERT(sgn(compare(x, y)) == c->order);
    RC_ASSERT(equal(x, y) == c->equal);
    RC_ASSERT(identical(x, y) == c->exact);
  }
}

// Keys whose HAMT position the BEAM computes from their value alone (no
// atoms, pids, ports or references, which it hashes by their in-memory word).
// Size-independent generators, so even the first cases draw distinct keys.
Term portable_key(Heap& h, int depth) {
  switch (*rc::gen::inRange(0, depth > 1 ? 5 : 7)) {
    case 0:
      return make_integer(
          h, *rc::gen::inRange<std::int64_t>(-(std::int64_t{1} << 62), std::int64_t{1} << 62));
    case 1:
      return make_small(*rc::gen::inRange(-300, 300));
    case 2:
      return make_float(h, static_cast<double>(*rc::gen::inRange(-100000, 100000)) / 8.0);
    case 3:
      return make_binary(h, *rc::gen::container<std::string>(*rc::gen::inRange(0, 12),
                                                             rc::gen::inRange<char>(0, 127)));
    case 4:
      return make_bignum(h, *rc::gen::inRange(0, 2) == 1,
                         std::vector<std::uint64_t>{*rc::gen::inRange<std::uint64_t>(0, ~0ull),
                                                    *rc::gen::inRange<std::uint64_t>(1, 10)});
    case 5:
      return tuple(h, {portable_key(h, depth + 1), portable_key(h, depth + 1)});
    default:
      return list(h, {portable_key(h, depth + 1), portable_key(h, depth + 1)});
  }
}

// The BEAM's maps:to_list/1 of a map past 32 keys lists it in our order.
RC_GTEST_PROP(BeamOracleDiff, HamtOrderAgrees, ()) {
  Heap h;
  std::vector<Term> k, v;
  auto n = *rc::gen::inRange<std::size_t>(33, 120);
  // Should the draws repeat themselves, fill up with keys made distinct by
  // their position.
  for (std::size_t tries = 0; k.size() < n; ++tries) {
    Term key =
        tries < 20 * n
            ? portable_key(h, 0)
            : tuple(h, {make_small(static_cast<std::int64_t>(k.size())), portable_key(h, 1)});
    if (std::none_of(k.begin(), k.end(), [&](Term x) { return identical(x, key); })) {
      k.push_back(key);
      v.push_back(make_small(static_cast<std::int64_t>(v.size())));
    }
  }
  auto m = make_map(h, k, v);
  RC_ASSERT(m.has_value());
  auto answer = oracle().maps_to_list(etf(*m));
  RC_ASSERT(answer.has_value());
  auto list = decode(*answer, h);
  RC_ASSERT(list.has_value());
  std::size_t i = 0;
  for (Term pair : ListRange(*list)) {
    RC_ASSERT(i < map_size(*m));
    RC_ASSERT(identical(tuple_elements(pair)[0], map_keys(*m)[i]));
    ++i;
  }
  RC_ASSERT(i == map_size(*m));
}

}  // namespace
