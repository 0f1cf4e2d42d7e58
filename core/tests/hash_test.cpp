// erlang:phash2/1 and the internal hash (enif_hash), checked against values
// taken from a real erl (OTP 25). Internal hash values came from a NIF calling
// enif_hash(ERL_NIF_INTERNAL_HASH, Term, Salt) in erl 25; they are only given
// for terms without atoms, pids, ports or references, whose internal hash
// depends on the VM instance (it hashes their in-memory words).
#include "nifhost/core/hash.hpp"

#include <cstdint>
#include <limits>
#include <set>
#include <span>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "nifhost/core/atom_table.hpp"
#include "nifhost/core/etf.hpp"
#include "nifhost/core/heap.hpp"
#include "nifhost/core/order.hpp"
#include "nifhost/core/terms.hpp"
#include "nifhost/core/text.hpp"
#include "nifhost/testing/beam_oracle.hpp"
#include "nifhost/testing/term_gen.hpp"

using namespace nifhost::core;
using nifhost::testing::BeamOracle;
using nifhost::testing::OwnedTerm;

namespace {

Term parse(Heap& h, std::string_view text) {
  auto t = parse_term(text, h);
  if (!t) {
    ADD_FAILURE() << "cannot parse " << text << ": " << t.error().message;
    return kNilTerm;
  }
  return *t;
}

constexpr std::uint64_t kNoInternal = std::numeric_limits<std::uint64_t>::max();
const std::string kX255 = std::string(255, 'x');

// {Term as erl prints it with ~w, erlang:phash2(T), enif internal hash with
// salt 0, with salt 16#DEADBEEF}, and the erl expression the term came from.
struct HashCase {
  std::string text;
  std::uint32_t phash2;
  std::uint64_t internal0;
  std::uint64_t internal_deadbeef;
};
const HashCase kHashCases[] = {
    {"0", 88723725u, 3620831944u, 2774695808u},                      // 0
    {"1", 2614250u, 2441450838u, 915639723u},                        // 1
    {"-1", 44071773u, 559702020u, 883825513u},                       // -1
    {"42", 30328728u, 137677985u, 3686065483u},                      // 42
    {"134217727", 112602999u, 3843226830u, 2655503928u},             // 134217727
    {"134217728", 12354923u, 3413405710u, 1423181274u},              // 134217728
    {"-134217728", 69672967u, 1411125154u, 353022794u},              // -134217728
    {"-134217729", 76739502u, 650447913u, 153839992u},               // -134217729
    {"576460752303423487", 27520264u, 2748343757u, 1978277413u},     // 576460752303423487
    {"576460752303423488", 26969617u, 2160620466u, 2271153949u},     // 576460752303423488
    {"-576460752303423488", 35173814u, 767231620u, 3839447765u},     // -576460752303423488
    {"-576460752303423489", 36462311u, 1026718139u, 1988302301u},    // -576460752303423489
    {"18446744073709551616", 103122609u, 1670597026u, 1930394254u},  // 1 bsl 64
    {"-18446744073709551616", 13457787u, 1776020955u, 2596441374u},  // -(1 bsl 64)
    {"18446744073709551617", 32970872u, 2492051687u, 498035253u},    // (1 bsl 64) + 1
    {"1606938044258990275541962092341162602522202993782792835313721", 37994791u, 3971024722u,
     2798239934u},  // (1 bsl 200) + 12345
    {"-1267650600228229401496703205376", 124857544u, 1615963138u, 616382976u},  // -(1 bsl 100)
    {"0.0", 20875736u, 2778859731u, 3590069669u},                               // 0.0
    {"-0.0", 20875736u, 2778859731u, 3590069669u},                              // -0.0
    {"1.0", 77147068u, 1476340101u, 2055762031u},                               // 1.0
    {"-1.5", 13753666u, 3640257512u, 291717521u},                               // -1.5
    {"3.14159", 4008880u, 1065597409u, 3967683863u},                            // 3.14159
    {"1.0e300", 119088650u, 4116291860u, 1622865924u},                          // 1.0e300
    {"5.0e-324", 107647591u, 402330220u, 143686754u},                           // 5.0e-324
    {"a", 97u, kNoInternal, kNoInternal},                                       // a
    {"ok", 1883u, kNoInternal, kNoInternal},                                    // ok
    {"''", 0u, kNoInternal, kNoInternal},                                       // ''
    {"'hello world'", 18131988u, kNoInternal, kNoInternal},                     // 'hello world'
    {"'\u00e6\u00f8\u00e5'", 63077u, kNoInternal, kNoInternal},  // list_to_atom([230,248,229])
    {"'\u03bb'", 3483u, kNoInternal, kNoInternal},               // list_to_atom([955])
    {kX255, 32760u, kNoInternal, kNoInternal},             // list_to_atom(lists:duplicate(255, $x))
    {"<<>>", 13708901u, 3580844982u, 453296675u},          // <<>>
    {"<<1>>", 76691218u, 1985782986u, 1516061426u},        // <<1>>
    {"<<97,98,99>>", 98228475u, 298319117u, 1175482373u},  // <<"abc">>
    {"<<104,101,108,108,111,32,119,111,114,108,100>>", 33550279u, 678914913u,
     3737568830u},  // <<"hello world">>
    {"<<104,101,108,108,111,32,119,111,114,108,100,33>>", 25699699u, 2655069432u,
     2346765448u},  // <<"hello world!">>
    {"<<104,101,108,108,111,32,119,111,114,108,100,33,33>>", 2064796u, 3333130923u,
     2961055043u},  // <<"hello world!!">>
    {"<<1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,"
     "34,35,36,37,38,39,40,41,42,43,44,45,46,47,48,49,50,51,52,53,54,55,56,57,58,59,60,61,62,63,64,"
     "65,66,67,68,69,70,71,72,73,74,75,76,77,78,79,80,81,82,83,84,85,86,87,88,89,90,91,92,93,94,95,"
     "96,97,98,99,100>>",
     98965761u, 3578012041u, 3500548426u},                       // list_to_binary(lists:seq(1,100))
    {"<<1:1>>", 102233125u, 2541828467u, 1934987529u},           // <<1:1>>
    {"<<255,3:2>>", 29192568u, 2442885840u, 225827369u},         // <<255,3:2>>
    {"<<1,2,3,5:5>>", 39074102u, 3661554765u, 3731277135u},      // <<1,2,3,5:5>>
    {"[]", 113427502u, 2464209347u, 1129648907u},                // []
    {"[1]", 84609158u, 1762143407u, 2909866796u},                // [1]
    {"[1,2,3]", 25788620u, 2915507666u, 2191072295u},            // [1,2,3]
    {"[97,98,99,100]", 7922743u, 2584962673u, 2640946017u},      // "abcd"
    {"[97,98,99,100,101]", 71169904u, 513042836u, 2216296873u},  // "abcde"
    {"[256]", 73608398u, 452838862u, 768445248u},                // [256]
    {"[a]", 23864141u, kNoInternal, kNoInternal},                // [a]
    {"[1|2]", 86124794u, 813403020u, 3828397931u},               // [1|2]
    {"[[]]", 96416884u, 2972560227u, 633988981u},                // [[]]
    {"[-1]", 42412580u, 76863840u, 2881450204u},                 // [-1]
    {"[97,98,300,99,100]", 70028088u, 2841688825u, 1191016426u},  // "ab" ++ [300] ++ "cd"
    {"[1,2|3]", 8851781u, 411185328u, 4048545819u},               // [1,2|3]
    {"[a|b]", 74710280u, kNoInternal, kNoInternal},               // [a|b]
    {"[[97,98]|<<1>>]", 83592449u, 3452736575u, 106588531u},      // ["ab"|<<1>>]
    {"{}", 87486268u, 904478834u, 3540143218u},                   // {}
    {"{a}", 35332806u, kNoInternal, kNoInternal},                 // {a}
    {"{1,2}", 91564110u, 240741374u, 1608848814u},                // {1,2}
    {"{[],[]}", 23759702u, 2979499564u, 2310997710u},             // {[], []}
    {"{{}}", 17560713u, 106912623u, 3666292642u},                 // {{}}
    {"{[]}", 30249041u, 3460711933u, 3218916965u},                // {[]}
    {"#{}", 39679005u, 4050418618u, 215685037u},                  // #{}
    {"#{a => 1}", 59617982u, kNoInternal, kNoInternal},           // #{a => 1}
    {"#{1 => a,2 => b}", 42696347u, kNoInternal, kNoInternal},    // #{1 => a, 2 => b}
    {"#{[] => []}", 612558u, 2536004644u, 2165792848u},           // #{[] => []}
    {"#{16 => 16,18 => 18,5 => 5,19 => 19,27 => 27,35 => 35,10 => 10,24 => 24,36 => 36,4 => 4,21 "
     "=> 21,22 => 22,17 => 17,3 => 3,8 => 8,1 => 1,7 => 7,2 => 2,14 => 14,15 => 15,20 => 20,40 => "
     "40,13 => 13,38 => 38,6 => 6,28 => 28,25 => 25,34 => 34,32 => 32,9 => 9,37 => 37,11 => 11,31 "
     "=> 31,26 => 26,39 => 39,30 => 30,29 => 29,23 => 23,12 => 12,33 => 33}",
     55048502u, 2742925189u, 1241069774u},  // maps:from_list([{I, I} || I <- lists:seq(1, 40)])
    {"{#{a => {1,2.5}},[#{}]}", 79756487u, kNoInternal, kNoInternal},  // {#{a => {1, 2.5}}, [#{}]}
};

TEST(Phash2, KnownAnswersFromErl) {
  Heap h;
  for (const auto& c : kHashCases) {
    SCOPED_TRACE(c.text);
    Term t = parse(h, c.text);
    EXPECT_EQ(phash2(t), c.phash2);
    EXPECT_EQ(phash2(t), phash2_full(t) & ((1u << 27) - 1));
  }
}

TEST(InternalHash, KnownAnswersFromErl) {
  Heap h;
  for (const auto& c : kHashCases) {
    if (c.internal0 == kNoInternal) continue;
    SCOPED_TRACE(c.text);
    Term t = parse(h, c.text);
    EXPECT_EQ(internal_hash(t, 0), c.internal0);
    EXPECT_EQ(internal_hash(t, 0xDEADBEEF), c.internal_deadbeef);
    EXPECT_EQ(map_key_hash(t, 0), c.internal0);
  }
}

// Identifiers built in erl with binary_to_term from NEW_PID_EXT, V4_PORT_EXT and
// NEWER_REFERENCE_EXT: pid(Node, Number, Serial, Creation), port(Node, Number,
// Creation), ref(Node, Creation, Words). phash2 uses only the pid number, the
// port number and a reference's first word.
TEST(Phash2, IdentifiersFromErl) {
  Heap h;
  Term nonode = atoms::kNonode;
  Term ab = atom("a@b");
  auto ref = [&](Term n, std::uint32_t cr, std::vector<std::uint32_t> w) {
    return make_ref(h, n, cr, w);
  };
  struct {
    const char* erl;
    Term t;
    std::uint32_t phash2;
  } cases[] = {
      {"pid(nonode@nohost,5,0,0)", make_pid(h, nonode, 5, 0, 0), 131498469},
      {"pid(nonode@nohost,5,7,0)", make_pid(h, nonode, 5, 7, 0), 131498469},
      {"pid(nonode@nohost,6,0,0)", make_pid(h, nonode, 6, 0, 0), 17179711},
      {"pid('a@b',5,0,1)", make_pid(h, ab, 5, 0, 1), 131498469},
      {"pid('a@b',5,9,3)", make_pid(h, ab, 5, 9, 3), 131498469},
      {"pid('zz@b',5,9,3)", make_pid(h, atom("zz@b"), 5, 9, 3), 131498469},
      {"port(nonode@nohost,5,0)", make_port(h, nonode, 5, 0), 125905316},
      {"port('a@b',5,1)", make_port(h, ab, 5, 1), 125905316},
      {"port('a@b',(1 bsl 40) + 5,1)", make_port(h, ab, (std::uint64_t{1} << 40) + 5, 1), 69031236},
      {"ref(nonode@nohost,0,[1,2,3])", ref(nonode, 0, {1, 2, 3}), 118531908},
      {"ref(nonode@nohost,0,[1,5,6])", ref(nonode, 0, {1, 5, 6}), 118531908},
      {"ref('a@b',1,[1,2,3])", ref(ab, 1, {1, 2, 3}), 118531908},
      {"ref('a@b',1,[2])", ref(ab, 1, {2}), 1872200},
  };
  for (const auto& c : cases) EXPECT_EQ(phash2(c.t), c.phash2) << c.erl;
}

// Funs of module g as erl encodes them (see order_test.cpp, FunsFromErl):
// erlang:phash2/1 of each.
TEST(Phash2, FunsFromErl) {
  Heap h;
  auto local = [&](std::uint8_t index, std::uint8_t free_var) {
    std::vector<std::uint8_t> b = {
        0x70, 0x00, 0x00, 0x00, 0x45, 0x01, 0x3b, 0x1b,  0x0d, 0x5d, 0x96, 0xef,  0x5f, 0xb8,
        0x66, 0x30, 0x92, 0x9c, 0x7f, 0x53, 0x95, 0xd5,  0x00, 0x00, 0x00, index, 0x00, 0x00,
        0x00, 0x00, 0x64, 0x00, 0x01, 0x67, 0x61, index, 0x62, 0x01, 0xd8, 0xd8,  0x6a, 0x58,
        0x64, 0x00, 0x0d, 0x6e, 0x6f, 0x6e, 0x6f, 0x64,  0x65, 0x40, 0x6e, 0x6f,  0x68, 0x6f,
        0x73, 0x74, 0x00, 0x00, 0x00, 0x09, 0x00, 0x00,  0x00, 0x00, 0x00, 0x00,  0x00, 0x00};
    if (index == 0) b[5] = 0x00;
    if (free_var) {
      b[4] = 0x47;
      b[29] = 0x01;
      b.push_back(0x61);
      b.push_back(free_var);
    }
    return make_fun(h, b);
  };
  auto fun = [&](std::initializer_list<std::uint8_t> b) {
    return make_fun(h, std::span<const std::uint8_t>(b.begin(), b.size()));
  };
  struct {
    const char* erl;
    Term t;
    std::uint32_t phash2;
  } cases[] = {
      {"fun() -> ok end (#Fun<g.0.30988394>)", local(0, 0), 17469033},
      {"fun(X) -> X + 1 end (#Fun<g.1.30988394>)", local(1, 0), 57418104},
      {"#Fun<g.2.30988394>", local(2, 0), 81533497},
      {"#Fun<g.3.30988394>", local(3, 0), 81441530},
      {"fun lists:map/2",
       fun({0x71, 0x64, 0x00, 0x05, 0x6c, 0x69, 0x73, 0x74, 0x73, 0x64, 0x00, 0x03, 0x6d, 0x61,
            0x70, 0x61, 0x02}),
       34981515},
      {"fun lists:foldl/3",
       fun({0x71, 0x64, 0x00, 0x05, 0x6c, 0x69, 0x73, 0x74, 0x73, 0x64, 0x00, 0x05, 0x66, 0x6f,
            0x6c, 0x64, 0x6c, 0x61, 0x03}),
       7153484},
      {"fun erlang:abs/1",
       fun({0x71, 0x64, 0x00, 0x06, 0x65, 0x72, 0x6c, 0x61, 0x6e, 0x67, 0x64, 0x00, 0x03, 0x61,
            0x62, 0x73, 0x61, 0x01}),
       27471588},
      // Closures: the free variable (1, then 2) is hashed as a term.
      {"(fun(Y) -> fun(X) -> X + Y end end)(1)", local(5, 1), 42435891},
      {"(fun(Y) -> fun(X) -> X + Y end end)(2)", local(5, 2), 19479928},
  };
  for (const auto& c : cases) EXPECT_EQ(phash2(c.t), c.phash2) << c.erl;
}

// Large and deep terms: known answers, and no native recursion.
TEST(Phash2, LargeAndDeepFromErl) {
  Heap h(1 << 20);
  // erlang:phash2(lists:seq(1, 100000)) -> 117080664, internal 626442776
  std::vector<Term> e;
  for (int i = 1; i <= 100000; ++i) e.push_back(make_small(i));
  Term seq = make_list(h, e);
  EXPECT_EQ(phash2(seq), 117080664u);
  EXPECT_EQ(internal_hash(seq, 0), 626442776u);
  // erlang:phash2(lists:seq(-500, 500)) -> 51658796, internal 564020809
  e.clear();
  for (int i = -500; i <= 500; ++i) e.push_back(make_small(i));
  EXPECT_EQ(phash2(make_list(h, e)), 51658796u);
  EXPECT_EQ(internal_hash(make_list(h, e), 0), 564020809u);
  // lists:foldl(fun(_, A) -> [A] end, [], lists:seq(1, 100000)) -> 115397172, 4082139197
  Term deep = kNilTerm;
  for (int i = 0; i < 100000; ++i) deep = make_list(h, {deep});
  EXPECT_EQ(phash2(deep), 115397172u);
  EXPECT_EQ(internal_hash(deep, 0), 4082139197u);
  // lists:foldl(fun(I, A) -> {I, A} end, nil, lists:seq(1, 100000)) -> 88061113
  Term tup = atom("nil");
  for (int i = 1; i <= 100000; ++i) tup = make_tuple(h, {make_small(i), tup});
  EXPECT_EQ(phash2(tup), 88061113u);
  // lists:foldl(fun(I, A) -> #{I => A} end, 0, lists:seq(1, 50000)) -> 8492001, 145762296
  Term m = make_small(0);
  for (int i = 1; i <= 50000; ++i) {
    Term k = make_small(i);
    m = *make_map(h, {&k, 1}, {&m, 1});
  }
  EXPECT_EQ(phash2(m), 8492001u);
  EXPECT_EQ(internal_hash(m, 0), 145762296u);
  // maps:from_list([{I, I} || I <- lists:seq(1, 10000)]) -> 19135228, 2801271453
  std::vector<Term> k;
  for (int i = 1; i <= 10000; ++i) k.push_back(make_small(i));
  Term big = *make_map(h, k, k);
  EXPECT_EQ(phash2(big), 19135228u);
  EXPECT_EQ(internal_hash(big, 0), 2801271453u);
  // list_to_binary(lists:duplicate(100000, 7)) -> 42214832, 1111508388
  Term bin = make_binary(h, std::string(100000, '\x07'));
  EXPECT_EQ(phash2(bin), 42214832u);
  EXPECT_EQ(internal_hash(bin, 0), 1111508388u);
  // #{<<"k">> => [1.5, {2}], 3 => #{}} -> 78488683, 1136752434
  EXPECT_EQ(phash2(parse(h, "#{<<\"k\">> => [1.5, {2}], 3 => #{}}")), 78488683u);
  EXPECT_EQ(internal_hash(parse(h, "#{<<\"k\">> => [1.5, {2}], 3 => #{}}"), 0), 1136752434u);
  // #{[1] => x, 2.0 => y, 3 => z} -> 10427278
  EXPECT_EQ(phash2(parse(h, "#{[1] => x, 2.0 => y, 3 => z}")), 10427278u);
}

// ---------------------------------------------------------------- properties
RC_GTEST_PROP(HashProps, IdenticalTermsHashAlike, (const OwnedTerm& a)) {
  Heap h;
  Term b = copy_term(h, a.term);
  RC_ASSERT(phash2_full(a.term) == phash2_full(b));
  RC_ASSERT(internal_hash(a.term, 0) == internal_hash(b, 0));
  auto salt = *rc::gen::arbitrary<std::uint32_t>();
  RC_ASSERT(internal_hash(a.term, salt) == internal_hash(b, salt));
  RC_ASSERT(internal_hash(a.term, salt) <= 0xFFFFFFFFu);
  RC_ASSERT(map_key_hash(a.term, 0) == internal_hash(a.term, 0));
}

RC_GTEST_PROP(HashProps, AtomsHashByText, ()) {
  const char* texts[] = {
      "ok", "", "hello world", "caf\xc3\xa9", "\xe2\x82\xac", "abcdefghijklmnop"};
  for (const char* s : texts) {
    Term a = atom(s);
    RC_ASSERT(phash2_full(a) == atom_text_hash(a));
  }
  // A map's hash does not depend on the order its entries were given in.
  Heap h;
  std::vector<Term> k, v;
  auto n = *rc::gen::inRange<int>(0, 60);
  for (int i = 0; i < n; ++i) {
    k.push_back(make_small(i * 7));
    v.push_back(make_binary(h, std::to_string(i)));
  }
  Term m1 = *make_map(h, k, v);
  std::reverse(k.begin(), k.end());
  std::reverse(v.begin(), v.end());
  Term m2 = *make_map(h, k, v);
  RC_ASSERT(phash2(m1) == phash2(m2));
  RC_ASSERT(internal_hash(m1, 1) == internal_hash(m2, 1));
}

TEST(HashProps, ZeroSignDoesNotMatter) {
  Heap h;
  // erlang:phash2(0.0) =:= erlang:phash2(-0.0) in OTP 25 (see the table above).
  EXPECT_EQ(phash2(make_float(h, 0.0)), phash2(make_float(h, -0.0)));
  EXPECT_EQ(internal_hash(make_float(h, 0.0), 3), internal_hash(make_float(h, -0.0), 3));
}

TEST(HashProps, WellDistributed) {
  Heap h;
  std::set<std::uint64_t> internal, low16;
  std::set<std::uint32_t> p2;
  for (int i = 0; i < 10000; ++i) {
    Term t = make_small(i);
    internal.insert(internal_hash(t, 0));
    low16.insert(internal_hash(t, 0) & 0xFFFF);
    p2.insert(phash2(make_binary(h, "key" + std::to_string(i))));
  }
  EXPECT_EQ(internal.size(), 10000u);
  EXPECT_GT(low16.size(), 8000u);  // 10000 draws from 65536: ~9300 distinct expected
  EXPECT_GT(p2.size(), 9990u);
}

// ---------------------------------------------------------------- against the BEAM
BeamOracle& oracle() { return nifhost::testing::shared_oracle(); }

// erlang:phash2/1 in the real VM of generated terms (foreign-node identifiers
// only: local ones the BEAM may refuse to decode, and their hash is covered above).
RC_GTEST_PROP(BeamOracleDiff, Phash2Agrees, ()) {
  std::vector<OwnedTerm> terms;
  std::vector<std::string> lines;
  for (int i = 0; i < 4; ++i) {
    terms.push_back(*nifhost::testing::gen_term({.identifiers = false}));
    auto bytes = encode(terms.back().term);
    RC_ASSERT(bytes.has_value());
    lines.push_back(nifhost::testing::oracle_request::phash2(*bytes));
  }
  auto answers = oracle().pipeline(lines);
  RC_ASSERT(answers.has_value());
  for (std::size_t i = 0; i < terms.size(); ++i) {
    auto h = nifhost::testing::oracle_answer::parse_count((*answers)[i]);
    RC_ASSERT(h.has_value());
    RC_ASSERT(phash2(terms[i].term) == *h);
  }
}

}  // namespace
