// Term text against the real BEAM: for a deterministic batch of generated
// terms, print_term must equal erl's io_lib:format("~100000p"), and parsing
// erl's text must give the term erl's own parser gives (compared as
// term_to_binary bytes). Each direction goes to the oracle as one pipeline.
#include <algorithm>
#include <bit>
#include <cmath>
#include <iostream>
#include <limits>
#include <rapidcheck.h>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "nifhost/core/atom_table.hpp"
#include "nifhost/core/etf.hpp"
#include "nifhost/core/heap.hpp"
#include "nifhost/core/order.hpp"
#include "nifhost/core/terms.hpp"
#include "nifhost/core/text.hpp"
#include "nifhost/testing/beam_oracle.hpp"
#include "nifhost/testing/hex.hpp"
#include "nifhost/testing/term_gen.hpp"

using namespace nifhost::core;
using nifhost::testing::BeamOracle;
using nifhost::testing::OwnedTerm;
namespace oracle_request = nifhost::testing::oracle_request;
namespace oracle_answer = nifhost::testing::oracle_answer;

namespace {

constexpr std::uint64_t kSeed = 0x7e57'7e47'2025'0001;
constexpr std::size_t kTerms = 1000;
constexpr std::size_t kMaxReported = 10;

// Generated terms, plus (for one in four) local pids, ports and references
// within the limits binary_to_term accepts for this node. Identifiers of
// other nodes are left out: erl prints those by their index in its own node
// table, which nothing outside that VM can reproduce.
rc::Gen<OwnedTerm> gen_batch_term() {
  return rc::gen::exec([] {
    nifhost::testing::TermGenOptions o;
    o.identifiers = false;
    OwnedTerm t = *nifhost::testing::gen_term(o);
    if (*rc::gen::inRange(0, 4) != 0) return t;
    Heap& h = *t.heap;
    Term pid = make_pid(h, atoms::kNonode, *rc::gen::inRange<std::uint32_t>(0, 1u << 15),
                        *rc::gen::inRange<std::uint32_t>(0, 1u << 13), kLocalCreation);
    Term port =
        make_port(h, atoms::kNonode, *rc::gen::inRange<std::uint64_t>(0, 1u << 28), kLocalCreation);
    std::uint32_t ids[3] = {*rc::gen::inRange<std::uint32_t>(0, 1u << 18),
                            *rc::gen::arbitrary<std::uint32_t>(),
                            *rc::gen::arbitrary<std::uint32_t>()};
    Term ref = make_ref(h, atoms::kNonode, kLocalCreation, ids);
    t.term = make_list(h, {t.term, pid, port, ref});
    return t;
  });
}

std::vector<OwnedTerm> generate(std::size_t n) {
  rc::Random random(kSeed);
  auto gen = gen_batch_term();
  std::vector<OwnedTerm> out;
  for (std::size_t i = 0; i < n; ++i) out.push_back(gen(random.split()).value());
  return out;
}

// Calls f on t and every term inside it; stops early when f returns true.
template <typename F>
bool any_subterm(Term t, const F& f) {
  if (f(t)) return true;
  if (is_cons(t)) {
    for (; is_cons(t); t = cons_tail(t))
      if (any_subterm(cons_head(t), f)) return true;
    return any_subterm(t, f);
  }
  if (is_tuple(t)) {
    for (std::size_t i = 0; i < tuple_arity(t); ++i)
      if (any_subterm(tuple_elements(t)[i], f)) return true;
  }
  if (is_map(t)) {
    for (std::size_t i = 0; i < map_size(t); ++i)
      if (any_subterm(map_keys(t)[i], f) || any_subterm(map_values(t)[i], f)) return true;
  }
  return false;
}

// Pids, ports and references have no Erlang syntax (erl_parse refuses them).
bool has_identifier(Term t) {
  return any_subterm(t, [](Term x) { return is_pid(x) || is_port(x) || is_reference(x); });
}

// A map of more than 32 keys is a HAMT, iterated in the order of its keys'
// internal hashes; OTP 25 hashes an atom, pid or port by its raw word, and an
// atom's word is its index in that VM's atom table. Such maps print (and
// encode) in an order no other VM can reproduce, so their texts are compared
// by meaning (=:= in erl) instead of character by character.
bool has_vm_ordered_map(Term t) {
  auto vm_word = [](Term x) { return is_atom(x) || is_pid(x) || is_port(x) || is_fun(x); };
  return any_subterm(t, [&](Term x) {
    if (!is_map(x) || map_size(x) <= kFlatmapLimit) return false;
    for (std::size_t i = 0; i < map_size(x); ++i)
      if (any_subterm(map_keys(x)[i], vm_word)) return true;
    return false;
  });
}

// Where two texts first differ, with some context, for a readable failure.
std::string first_difference(std::string_view a, std::string_view b) {
  std::size_t i = 0;
  while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
  std::size_t from = i > 60 ? i - 60 : 0;
  return "at " + std::to_string(i) + "\n    erl:  ..." + std::string(a.substr(from, 120)) +
         "\n    ours: ..." + std::string(b.substr(from, 120));
}

std::vector<std::uint8_t> etf_of(Term t) {
  auto bytes = encode(t);
  EXPECT_TRUE(bytes.has_value()) << (bytes ? "" : bytes.error().what());
  return bytes ? *bytes : std::vector<std::uint8_t>{};
}

// Sends print requests for every term; returns erl's texts (empty on error,
// with the failure recorded).
std::vector<std::string> erl_print(BeamOracle& oracle, const std::vector<Term>& terms) {
  std::vector<std::string> lines;
  for (Term t : terms) lines.push_back(oracle_request::print(etf_of(t)));
  auto answers = oracle.pipeline(lines);
  EXPECT_TRUE(answers.has_value()) << (answers ? "" : describe(answers.error()));
  std::vector<std::string> texts(terms.size());
  if (!answers) return texts;
  for (std::size_t i = 0; i < terms.size(); ++i) {
    auto text = oracle_answer::parse_text((*answers)[i]);
    EXPECT_TRUE(text.has_value()) << "erl could not print term " << i << " ("
                                  << print_term(terms[i])
                                  << "): " << (text ? "" : describe(text.error()));
    if (text) texts[i] = *text;
  }
  return texts;
}

// Compares print_term with erl's texts; returns how many are identical.
std::size_t compare_prints(const std::vector<Term>& terms, const std::vector<std::string>& erl) {
  std::size_t same = 0, reported = 0;
  for (std::size_t i = 0; i < terms.size(); ++i) {
    std::string ours = print_term(terms[i]);
    if (ours == erl[i]) {
      ++same;
    } else if (reported++ < kMaxReported) {
      ADD_FAILURE() << "term " << i << " prints differently " << first_difference(erl[i], ours);
    }
  }
  return same;
}

}  // namespace

TEST(TextDifferential, GeneratedTermsPrintAndParseAsInErl) {
  auto oracle = BeamOracle::start();
  ASSERT_TRUE(oracle.has_value()) << describe(oracle.error());

  std::vector<OwnedTerm> owned = generate(kTerms);
  const std::size_t n = owned.size();
  std::vector<Term> terms;
  std::vector<bool> exact(n), syntax(n);
  for (std::size_t i = 0; i < n; ++i) {
    terms.push_back(owned[i].term);
    exact[i] = !has_vm_ordered_map(terms[i]);
    syntax[i] = !has_identifier(terms[i]);
  }

  // print_term against ~100000p.
  std::vector<std::string> erl_texts = erl_print(*oracle, terms);
  std::vector<std::string> our_texts;
  for (Term t : terms) our_texts.push_back(print_term(t));

  // Our parses of erl's texts; erl's parses of both texts.
  Heap heap;
  std::vector<std::vector<std::uint8_t>> ours_of_erl(n);
  std::size_t reported = 0;
  for (std::size_t i = 0; i < n; ++i) {
    auto t = parse_term(erl_texts[i], heap);
    if (t)
      ours_of_erl[i] = etf_of(*t);
    else if (reported++ < kMaxReported)
      ADD_FAILURE() << "cannot parse erl's text " << erl_texts[i].substr(0, 200) << ": "
                    << t.error().message;
  }
  std::vector<std::string> lines;
  for (std::size_t i = 0; i < n; ++i) {
    lines.push_back(oracle_request::encode_text(erl_texts[i]));
    lines.push_back(oracle_request::encode_text(our_texts[i]));
  }
  auto parsed = oracle->pipeline(lines);
  ASSERT_TRUE(parsed.has_value()) << describe(parsed.error());
  std::vector<std::vector<std::uint8_t>> erl_of_erl(n), erl_of_ours(n);
  for (std::size_t i = 0; i < n; ++i) {
    auto a = oracle_answer::parse_etf((*parsed)[2 * i]);
    auto b = oracle_answer::parse_etf((*parsed)[2 * i + 1]);
    // erl_parse refuses exactly the texts with pids, ports or references in them.
    EXPECT_EQ(a.has_value(), syntax[i]) << "erl parsing " << erl_texts[i].substr(0, 200) << ": "
                                        << (a ? "ok" : describe(a.error()));
    if (a) erl_of_erl[i] = *a;
    if (b) erl_of_ours[i] = *b;
  }

  // Where the map order is the VM's own, texts and bytes are compared by
  // meaning: erl's =:= between the terms.
  std::vector<std::string> compares;
  std::vector<std::size_t> compared;
  for (std::size_t i = 0; i < n; ++i) {
    if (exact[i] || ours_of_erl[i].empty()) continue;
    std::vector<std::uint8_t> original = etf_of(terms[i]);
    compares.push_back(oracle_request::compare(ours_of_erl[i], original));
    if (syntax[i]) {
      compares.push_back(oracle_request::compare(erl_of_ours[i], original));
      compares.push_back(oracle_request::compare(erl_of_erl[i], ours_of_erl[i]));
    }
    compared.push_back(i);
  }
  auto verdicts = oracle->pipeline(compares);
  ASSERT_TRUE(verdicts.has_value()) << describe(verdicts.error());
  std::vector<bool> equivalent(n, false);
  for (std::size_t k = 0, line = 0; k < compared.size(); ++k) {
    std::size_t i = compared[k];
    std::size_t count = syntax[i] ? 3 : 1;
    bool all = true;
    for (std::size_t j = 0; j < count; ++j) {
      auto c = oracle_answer::parse_comparison((*verdicts)[line++]);
      all = all && c && c->exact;
    }
    equivalent[i] = all;
  }

  std::size_t printed_same = 0, printed_equivalent = 0, parsed_total = 0, parsed_same = 0,
              read_back = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (exact[i]) {
      if (our_texts[i] == erl_texts[i])
        ++printed_same;
      else if (reported++ < kMaxReported)
        ADD_FAILURE() << "term " << i << " prints differently "
                      << first_difference(erl_texts[i], our_texts[i]);
      if (ours_of_erl[i] == etf_of(terms[i])) ++read_back;
      if (syntax[i]) {
        ++parsed_total;
        if (ours_of_erl[i] == erl_of_erl[i])
          ++parsed_same;
        else if (reported++ < kMaxReported)
          ADD_FAILURE() << "text " << erl_texts[i].substr(0, 200) << " parses differently; ETF "
                        << first_difference(nifhost::testing::to_hex(erl_of_erl[i]),
                                            nifhost::testing::to_hex(ours_of_erl[i]));
      }
    } else if (equivalent[i]) {
      ++printed_equivalent;
      ++read_back;
      if (syntax[i]) ++parsed_total, ++parsed_same;
    } else {
      if (syntax[i]) ++parsed_total;
      if (reported++ < kMaxReported)
        ADD_FAILURE() << "term " << i << " (a map over 32 keys with atom keys) is not =:= "
                      << "across the texts: erl " << erl_texts[i].substr(0, 200) << "\n ours "
                      << our_texts[i].substr(0, 200);
    }
  }
  std::size_t vm_ordered = static_cast<std::size_t>(std::count(exact.begin(), exact.end(), false));
  std::cout << "text differential: " << n << " terms, " << printed_same << " printed identically, "
            << printed_equivalent << " of " << vm_ordered
            << " with VM-ordered maps (over 32 keys, atom keys) printed equivalently (=:=); "
            << parsed_same << " of " << parsed_total << " Erlang-syntax texts parsed as erl parses "
            << "them (" << n - parsed_total
            << " hold pids/ports/refs, which erl_parse cannot read); " << read_back
            << " of erl's texts read back to the original term\n";
  EXPECT_EQ(printed_same + printed_equivalent, n);
  EXPECT_EQ(parsed_same, parsed_total);
  EXPECT_EQ(read_back, n);
  EXPECT_GT(parsed_total, n / 2);  // the batch must exercise parsing, not only skip it
  EXPECT_GT(printed_same, n * 9 / 10);
}

TEST(TextDifferential, FloatsPrintAsInErl) {
  auto oracle = BeamOracle::start();
  ASSERT_TRUE(oracle.has_value()) << describe(oracle.error());
  Heap heap;
  std::vector<double> values;
  // Every power of ten and its neighbours across the range where the layout
  // switches between fixed and scientific notation, 2^53 and around it, the
  // extremes, and random bit patterns.
  for (int e = -30; e <= 30; ++e) {
    double p = std::pow(10.0, e);
    for (double m : {1.0, 1.5, 2.5, 9.99, 123.456, 1.0 / 3.0})
      values.insert(values.end(), {p * m, -p * m, std::nextafter(p * m, 0.0)});
  }
  for (int k = -3; k <= 3; ++k) values.push_back(9007199254740992.0 + 2.0 * k);
  values.insert(values.end(), {0.0, -0.0, 5e-324, 2.2250738585072014e-308,
                               std::numeric_limits<double>::max(), 1e21, 1e22, 1e23, 0.1 + 0.2});
  rc::Random random(kSeed + 1);
  auto bits = rc::gen::arbitrary<std::uint64_t>();
  while (values.size() < 2500) {
    double d = std::bit_cast<double>(bits(random.split()).value());
    if (std::isfinite(d)) values.push_back(d);
  }
  std::vector<Term> terms;
  for (double d : values) terms.push_back(make_float(heap, d));
  std::vector<std::string> erl = erl_print(*oracle, terms);
  std::size_t same = compare_prints(terms, erl);
  std::cout << "text differential: " << terms.size() << " floats, " << same
            << " printed identically\n";
  EXPECT_EQ(same, terms.size());
}

TEST(TextDifferential, FunsPrintAsInErl) {
  auto oracle = BeamOracle::start();
  ASSERT_TRUE(oracle.has_value()) << describe(oracle.error());
  Heap heap;
  std::vector<Term> terms;
  for (const char* text :
       {"fun lists:map/2", "fun 'A':'b c'/0", "fun end:fun/1", "fun a@b:'x\\ny'/3",
        "fun 'caf\xc3\xa9':'\xce\xbb'/1", "fun erlang:'and'/2", "fun m:'\\e\\d\\x{80}'/0"}) {
    auto t = parse_term(text, heap);
    ASSERT_TRUE(t.has_value()) << text << ": " << t.error().message;
    terms.push_back(*t);
  }
  // A local fun of a module erl has never loaded (term_to_binary(fun(X) -> X + 1 end)
  // in a module e4), printed from its bytes.
  std::vector<std::uint8_t> local{
      112, 0,   0,   0,   70,  1,   72, 9,   62, 224, 182, 77,  59,  238, 114, 122, 11, 236,
      31,  238, 78,  188, 0,   0,   0,  1,   0,  0,   0,   0,   100, 0,   2,   101, 52, 97,
      1,   98,  2,   64,  73,  247, 88, 100, 0,  13,  110, 111, 110, 111, 100, 101, 64, 110,
      111, 104, 111, 115, 116, 0,   0,  0,   9,  0,   0,   0,   0,   0,   0,   0,   0};
  terms.push_back(make_fun(heap, local));
  std::vector<std::string> erl = erl_print(*oracle, terms);
  EXPECT_EQ(compare_prints(terms, erl), terms.size());
}
