// The ETF codec against the real erl (OTP 25), byte for byte: erl re-encodes
// what nifhost encodes and must give back the same bytes, and erl and nifhost
// must accept and refuse the same malformed inputs. Every batch goes to erl in
// one pipeline; the terms come from fixed seeds, so a failure reproduces.
#include <cstdio>
#include <map>
#include <rapidcheck.h>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "nifhost/core/atom_table.hpp"
#include "nifhost/core/etf.hpp"
#include "nifhost/core/order.hpp"
#include "nifhost/core/terms.hpp"
#include "nifhost/testing/beam_oracle.hpp"
#include "nifhost/testing/hex.hpp"
#include "nifhost/testing/term_gen.hpp"

namespace {

using namespace nifhost::core;
using nifhost::testing::BeamOracle;
using nifhost::testing::to_hex;
namespace oracle_request = nifhost::testing::oracle_request;
namespace oracle_answer = nifhost::testing::oracle_answer;
using Bytes = std::vector<std::uint8_t>;

// Local identifiers within the BEAM's ranges (erl refuses local pids past 15
// bits of number and 13 of serial): the generators may make larger ones, which
// only a nifhost VM would. Returns nullopt if clamping made two map keys equal.
std::optional<Term> beam_identifiers(Heap& h, Term t) {
  if (is_local_pid(t))
    return make_local_pid(local_pid_id(t) & 0x7FFF, local_pid_serial(t) & 0x1FFF);
  if (is_local_port(t)) return make_local_port(local_port_number(t) & 0xFFFFFFF);
  if (is_cons(t)) {
    std::vector<Term> elems;
    for (; is_cons(t); t = cons_tail(t)) {
      auto e = beam_identifiers(h, cons_head(t));
      if (!e) return std::nullopt;
      elems.push_back(*e);
    }
    auto tail = beam_identifiers(h, t);
    if (!tail) return std::nullopt;
    return make_list(h, elems, *tail);
  }
  if (!is_boxed(t)) return t;
  switch (box_subtag(t)) {
    case Subtag::kTuple: {
      std::vector<Term> elems;
      for (std::size_t i = 0; i < tuple_arity(t); ++i) {
        auto e = beam_identifiers(h, tuple_elements(t)[i]);
        if (!e) return std::nullopt;
        elems.push_back(*e);
      }
      return nifhost::core::make_tuple(h, elems);
    }
    case Subtag::kMap: {
      std::vector<Term> keys, values;
      for (std::size_t i = 0; i < map_size(t); ++i) {
        auto k = beam_identifiers(h, map_keys(t)[i]);
        auto v = beam_identifiers(h, map_values(t)[i]);
        if (!k || !v) return std::nullopt;
        keys.push_back(*k);
        values.push_back(*v);
      }
      return make_map(h, keys, values);
    }
    case Subtag::kRef: {
      RefView r = ref_view(t);
      if (r.node != atoms::kNonode || r.creation != 0) return t;
      std::uint32_t ids[3] = {r.id[0] & 0x3FFFF, r.count > 1 ? r.id[1] : 0,
                              r.count > 2 ? r.id[2] : 0};
      return make_ref(h, atoms::kNonode, 0, ids);
    }
    default:
      return t;
  }
}

// True if t holds a map of more than 32 keys: such maps are encoded in their
// stored order, which make_map (order.hpp) must make the BEAM's HAMT order.
bool holds_hamt_map(Term t) {
  if (is_cons(t)) {
    for (; is_cons(t); t = cons_tail(t))
      if (holds_hamt_map(cons_head(t))) return true;
    return holds_hamt_map(t);
  }
  if (is_tuple(t)) {
    for (std::size_t i = 0; i < tuple_arity(t); ++i)
      if (holds_hamt_map(tuple_elements(t)[i])) return true;
    return false;
  }
  if (!is_map(t)) return false;
  if (map_size(t) > 32) return true;
  for (std::size_t i = 0; i < map_size(t); ++i)
    if (holds_hamt_map(map_keys(t)[i]) || holds_hamt_map(map_values(t)[i])) return true;
  return false;
}

class EtfDifferential : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto o = BeamOracle::start();
    ASSERT_TRUE(o.has_value()) << nifhost::testing::describe(o.error());
    oracle_ = new BeamOracle(std::move(*o));
  }
  static void TearDownTestSuite() {
    delete oracle_;
    oracle_ = nullptr;
  }
  static BeamOracle& oracle() { return *oracle_; }
  static std::vector<std::string> run(const std::vector<std::string>& lines) {
    auto answers = oracle_->pipeline(lines);
    EXPECT_TRUE(answers.has_value()) << nifhost::testing::describe(answers.error());
    if (!answers) return {};
    EXPECT_EQ(answers->size(), lines.size());
    return *answers;
  }
  static inline BeamOracle* oracle_ = nullptr;
};

// ---------------------------------------------------------------- encoding
TEST_F(EtfDifferential, ErlReencodesOurEncodingIdentically) {
  constexpr std::uint64_t kTerms = 1000;
  Heap h;
  std::vector<Term> terms;
  auto gen = nifhost::testing::gen_term();
  auto big = nifhost::testing::gen_term({.max_depth = 3, .max_width = 40});
  for (std::uint64_t seed = 1; terms.size() < kTerms; ++seed) {
    auto sample =
        (seed % 5 == 0 ? big : gen)(rc::Random(seed), static_cast<int>(seed % 100)).value();
    auto t = beam_identifiers(h, copy_term(h, sample.term));
    if (t) terms.push_back(*t);
  }
  // Shapes the generators make rarely: long strings at the STRING_EXT limit,
  // big maps of atoms, bignums of every length, funs as erl made them.
  for (std::size_t n : {65534, 65535, 65536}) {
    std::vector<Term> xs(n, make_small(static_cast<std::int64_t>(n % 256)));
    terms.push_back(make_list(h, xs));
  }
  for (int n : {33, 64, 100, 1000}) {
    std::vector<Term> k, v;
    for (int i = 0; i < n; ++i) {
      k.push_back(atom("key_" + std::to_string(i)));
      v.push_back(make_small(i));
    }
    terms.push_back(*make_map(h, k, v));
  }
  for (std::size_t bytes = 1; bytes <= 300; bytes += 7) {
    std::vector<std::uint64_t> d((bytes + 7) / 8, 0x0123456789ABCDEFull);
    d.back() &= bytes % 8 ? (std::uint64_t{1} << (8 * (bytes % 8))) - 1 : ~std::uint64_t{0};
    if (d.back() == 0) d.back() = 1;
    terms.push_back(make_bignum(h, bytes % 2 == 1, d));
  }
  for (const char* text : {"fun lists:map/2", "[fun erlang:'+'/2, #{k => fun lists:seq/3}]"}) {
    auto bytes = oracle().encode_text(text);
    ASSERT_TRUE(bytes.has_value()) << text << ": " << nifhost::testing::describe(bytes.error());
    auto t = decode(*bytes, h);
    ASSERT_TRUE(t.has_value()) << text << ": " << t.error().what();
    terms.push_back(*t);
  }
  // A closure as erl 25 encodes it: term_to_binary(M:mk(<<"abc">>)) for
  // mk(X) -> fun(Y) -> {X, Y} end in a module vt.
  auto closure = nifhost::testing::from_hex(
      "83700000004e01469a8ef1f76268b321d258386e6a98b2000000000000000164000276746100620234d477"
      "5864000d6e6f6e6f6465406e6f686f7374000000090000000000000000"
      "6d00000003616263");
  ASSERT_TRUE(closure.has_value());
  auto ct = decode(*closure, h);
  ASSERT_TRUE(ct.has_value()) << ct.error().what();
  terms.push_back(*ct);
  terms.push_back(make_tuple(h, {*ct, *ct, make_list(h, {*ct})}));

  std::vector<Bytes> ours;
  std::vector<std::string> lines;
  for (Term t : terms) {
    ours.push_back(encode(t).value());
    lines.push_back(oracle_request::roundtrip(ours.back()));
  }
  auto answers = run(lines);
  ASSERT_EQ(answers.size(), terms.size());
  std::size_t identical = 0, same_term = 0, shown = 0, hamt = 0;
  for (std::size_t i = 0; i < terms.size(); ++i) {
    bool big_map = holds_hamt_map(terms[i]);
    hamt += big_map ? 1 : 0;
    auto theirs = oracle_answer::parse_etf(answers[i]);
    if (theirs && *theirs == ours[i]) {
      ++identical;
      continue;
    }
    // A map of more than 32 keys keyed by atoms (or pids/ports) has no fixed
    // order: the BEAM hashes those keys' in-memory words, so even two runs of
    // erl disagree. Such a map must still be the same term (=:=).
    if (big_map && theirs) {
      Heap h;
      auto back = decode(*theirs, h);
      if (back && nifhost::core::identical(*back, terms[i])) {
        ++same_term;
        continue;
      }
    }
    if (shown++ < 5)
      ADD_FAILURE() << "term " << i << (big_map ? " (holds a map of more than 32 keys)" : "")
                    << ": ours " << to_hex(ours[i]).substr(0, 400) << "\n erl "
                    << answers[i].substr(0, 400);
  }
  std::printf(
      "differential: %zu terms, %zu identical (%zu hold maps of more than 32 keys, "
      "%zu of those differ in key order and are =:= to erl's)\n",
      terms.size(), identical, hamt, same_term);
  EXPECT_EQ(identical + same_term, terms.size());
}

TEST_F(EtfDifferential, ErlDecodesOurCompressedEncodings) {
  Heap h;
  std::vector<Term> terms;
  auto gen = nifhost::testing::gen_term({.max_depth = 3, .max_width = 30});
  for (std::uint64_t seed = 5000; terms.size() < 200; ++seed) {
    auto sample = gen(rc::Random(seed), 60).value();
    auto t = beam_identifiers(h, copy_term(h, sample.term));
    if (t) terms.push_back(*t);
  }
  std::vector<std::string> lines;
  std::vector<Bytes> plain;
  std::size_t compressed = 0;
  for (std::size_t i = 0; i < terms.size(); ++i) {
    Bytes z = encode(terms[i], {.compression = static_cast<int>(1 + i % 9)}).value();
    if (z[1] == etf_tag::kCompressed) ++compressed;
    plain.push_back(encode(terms[i]).value());
    lines.push_back(oracle_request::roundtrip(z));
  }
  auto answers = run(lines);
  ASSERT_EQ(answers.size(), terms.size());
  std::size_t same = 0;
  for (std::size_t i = 0; i < terms.size(); ++i) {
    auto theirs = oracle_answer::parse_etf(answers[i]);
    if (theirs && *theirs == plain[i])
      ++same;
    else
      ADD_FAILURE() << "term " << i << ": " << answers[i].substr(0, 300);
  }
  std::printf(
      "differential: %zu compressed encodings (%zu used zlib), %zu decoded by erl to "
      "the same term\n",
      terms.size(), compressed, same);
  EXPECT_GT(compressed, 20u);
}

// ---------------------------------------------------------------- malformed input
struct Malformed {
  std::string what;
  Bytes bytes;
};

void add_truncations(std::vector<Malformed>& out, const std::string& name, const Bytes& valid,
                     std::size_t step) {
  for (std::size_t n = 0; n < valid.size(); n += step)
    out.push_back({name + " cut to " + std::to_string(n),
                   Bytes(valid.begin(), valid.begin() + static_cast<long>(n))});
}

void add_corruptions(std::vector<Malformed>& out, const std::string& name, const Bytes& valid) {
  for (std::size_t i = 1; i < valid.size(); ++i) {
    for (std::uint8_t v :
         {std::uint8_t{0x00}, std::uint8_t{0xFF}, static_cast<std::uint8_t>(valid[i] + 1)}) {
      // A byte 112 could become a NEW_FUN_EXT tag: erl 25.2.3 crashes on funs
      // whose creator is not a pid, so none are sent.
      if (v == valid[i] || v == etf_tag::kNewFun) continue;
      Bytes b = valid;
      b[i] = v;
      out.push_back({name + " byte " + std::to_string(i) + " = " + std::to_string(v), b});
    }
  }
}

void put32(Bytes& b, std::uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<std::uint8_t>(v >> s));
}

std::vector<Malformed> malformed_inputs(Heap& h) {
  std::vector<Malformed> out;
  Term pid = make_local_pid(9, 3);
  std::uint32_t ids[] = {1, 2, 3};
  Term sample =
      make_tuple(h, {atoms::kOk, make_integer(h, -123456789012LL), make_float(h, 2.5),
                     make_list(h, {make_small(1), make_small(300)}), make_binary(h, "bytes"), pid,
                     make_ref(h, atoms::kNonode, 0, ids), make_local_port(7)});
  Term k[] = {atom("a"), make_small(1)}, v[] = {make_binary(h, "x"), kNilTerm};
  Term map = *make_map(h, k, v);
  std::uint8_t bits[] = {0xA0};
  Term bitstring = *make_bitstring(h, bits, 0, 3);
  Bytes s = encode(sample).value();
  Bytes m = encode(map).value();
  Bytes bs = encode(bitstring).value();
  Bytes big = encode(make_integer(h, INT64_MIN)).value();
  Bytes str = encode(make_list(h, {make_small(104), make_small(105)})).value();
  Bytes atom_utf8 = encode(atom("\xc5\x9d\xc5\x9d")).value();

  add_truncations(out, "tuple", s, 3);
  add_truncations(out, "map", m, 1);
  add_corruptions(out, "tuple", Bytes(s.begin(), s.begin() + 40));
  add_corruptions(out, "map", m);
  add_corruptions(out, "bitstring", bs);
  add_corruptions(out, "bignum", big);
  add_corruptions(out, "string", str);
  add_corruptions(out, "utf8 atom", atom_utf8);

  // Compressed data: honest, lying about its size, cut short, trailing.
  std::vector<Term> ones(200, make_small(1));
  Bytes z = encode(make_list(h, ones), {.compression = 6}).value();
  out.push_back({"compressed", z});
  for (int delta : {-1, 1, 1000}) {
    Bytes b = z;
    std::uint32_t size =
        (std::uint32_t{b[2]} << 24 | std::uint32_t{b[3]} << 16 | std::uint32_t{b[4]} << 8 | b[5]) +
        static_cast<std::uint32_t>(delta);
    b.resize(2);
    put32(b, size);
    b.insert(b.end(), z.begin() + 6, z.end());
    out.push_back({"compressed size " + std::to_string(delta), b});
  }
  out.push_back({"compressed cut short", Bytes(z.begin(), z.end() - 3)});
  Bytes zt = z;
  zt.push_back(0);
  out.push_back({"compressed with a trailing byte", zt});
  out.push_back({"compressed in a tuple", {131, 104, 1, 80, 0, 0, 0, 1, 0}});

  // One per class of the hardening tests.
  const std::pair<const char*, Bytes> fixed[] = {
      {"empty", {}},
      {"version 130", {130, 97, 1}},
      {"trailing byte", {131, 97, 1, 0}},
      {"NaN", {131, 70, 0x7F, 0xF8, 0, 0, 0, 0, 0, 0}},
      {"duplicate key", {131, 116, 0, 0, 0, 2, 97, 1, 97, 2, 97, 1, 97, 3}},
      {"absurd list", {131, 108, 255, 255, 255, 255, 97, 1, 106, 0}},
      {"absurd tuple", {131, 105, 255, 255, 255, 255, 97, 1}},
      {"absurd map", {131, 116, 128, 0, 0, 0, 97, 1, 97, 2}},
      {"nested claims", {131, 104, 3, 104, 3, 104, 3, 97, 1, 97, 2}},
      {"atom cache ref", {131, 82, 0}},
      {"local ext", {131, 121, 0}},
      {"bits 0 of 1", {131, 77, 0, 0, 0, 1, 0, 255}},
      {"bits 9", {131, 77, 0, 0, 0, 1, 9, 255}},
      {"overlong utf8", {131, 119, 2, 0xC0, 0x80}},
      {"export arity -1", {131, 113, 100, 0, 1, 'm', 100, 0, 1, 'f', 98, 255, 255, 255, 255}},
      {"export arity 2^59",
       {131, 113, 100, 0, 1, 'm', 100, 0, 1, 'f', 110, 8, 0, 0, 0, 0, 0, 0, 0, 0, 8}},
  };
  for (const auto& [what, bytes] : fixed) out.push_back({what, bytes});

  // erl reads a word past a reference of length 0 (see etf_test.cpp,
  // ZeroWordReferencesReadNoWords): the two would part ways on purpose there.
  std::erase_if(out, [](const Malformed& m) {
    for (std::size_t i = 1; i + 2 < m.bytes.size(); ++i)
      if ((m.bytes[i] == etf_tag::kNewerReference || m.bytes[i] == etf_tag::kNewReference) &&
          m.bytes[i + 1] == 0 && m.bytes[i + 2] == 0)
        return true;
    return false;
  });
  return out;
}

TEST_F(EtfDifferential, ErlAcceptsAndRefusesWhatWeDo) {
  Heap h;
  std::vector<Malformed> inputs = malformed_inputs(h);
  ASSERT_GE(inputs.size(), 200u);
  std::vector<std::string> lines;
  for (const Malformed& m : inputs) {
    lines.push_back(oracle_request::decode_check(m.bytes));
    lines.push_back(oracle_request::used(m.bytes));
    lines.push_back(oracle_request::roundtrip(m.bytes));
  }
  auto answers = run(lines);
  ASSERT_EQ(answers.size(), 3 * inputs.size());
  // binary_to_term/1 ignores what follows the term: decode_prefix is its match.
  // The depth limit is nifhost's own (erl has none), so it is lifted here.
  const DecodeOptions options{.max_depth = 1u << 30};
  std::size_t erl_refused = 0, we_refused = 0, agree = 0;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const Malformed& m = inputs[i];
    bool erl_ok = oracle_answer::parse_ok(answers[3 * i]).has_value();
    Heap scratch;
    auto ours = decode_prefix(m.bytes, scratch, options);
    erl_refused += erl_ok ? 0 : 1;
    we_refused += ours ? 0 : 1;
    if (erl_ok != ours.has_value()) {
      ADD_FAILURE() << m.what << " (" << to_hex(m.bytes).substr(0, 200) << "): erl "
                    << (erl_ok ? "accepts" : "refuses") << ", nifhost "
                    << (ours ? "accepts" : "refuses: " + ours.error().what());
      continue;
    }
    if (ours) {
      // Both accept: same length used, same term (compared by erl's re-encoding).
      auto used = oracle_answer::parse_count(answers[3 * i + 1]);
      auto theirs = oracle_answer::parse_etf(answers[3 * i + 2]);
      auto again = encode(ours->term);
      if (!used || *used != ours->used || !theirs || !again || *theirs != *again) {
        ADD_FAILURE() << m.what << ": erl used " << answers[3 * i + 1] << " re-encoded "
                      << answers[3 * i + 2].substr(0, 200) << "; nifhost used " << ours->used;
        continue;
      }
    }
    ++agree;
  }
  std::printf(
      "differential: %zu malformed inputs, erl refuses %zu, nifhost refuses %zu, "
      "%zu agree\n",
      inputs.size(), erl_refused, we_refused, agree);
  EXPECT_EQ(agree, inputs.size());
}

}  // namespace
