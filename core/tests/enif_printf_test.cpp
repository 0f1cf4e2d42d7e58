// %T of enif_snprintf against the real BEAM. nh_terms (nifs/src/nh_terms.c)
// is loaded into erl through the oracle; its snprintf/1 returns the text the
// BEAM's enif_snprintf("%T") makes of its argument, and snprintf/2 the whole
// buffer after a call with a given size. The same terms go through nifhost's
// enif_snprintf here, called directly, and the bytes must be identical.
//
// Width and precision cannot be asked of nh_terms (its format is "%T"); the
// expectations for them below were established against erl (OTP 25) with a
// NIF that takes its format as an argument.
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <optional>
#include <rapidcheck.h>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "nifhost/core/atom_table.hpp"
#include "nifhost/core/env.hpp"
#include "nifhost/core/etf.hpp"
#include "nifhost/core/heap.hpp"
#include "nifhost/core/loader.hpp"
#include "nifhost/core/order.hpp"
#include "nifhost/core/terms.hpp"
#include "nifhost/core/text.hpp"
#include "nifhost/testing/beam_oracle.hpp"
#include "nifhost/testing/term_gen.hpp"

namespace {

using namespace nifhost::core;
using nifhost::testing::BeamOracle;
using nifhost::testing::Bytes;
using nifhost::testing::OwnedTerm;
namespace oracle_request = nifhost::testing::oracle_request;
namespace oracle_answer = nifhost::testing::oracle_answer;

constexpr std::uint64_t kSeed = 0x7e57'0f0f'2025'0025;
constexpr std::size_t kTerms = 400;
constexpr std::size_t kMaxReported = 10;

// ---------------------------------------------------------------- the BEAM side
std::string nh_terms_path() {
  const char* dir = std::getenv("NIFHOST_BINARY_DIR");
  return std::string(dir != nullptr ? dir : ".") + "/nifs/nh_terms.so";
}

// erl with nh_terms loaded, shared by the tests here; nullptr (with the
// failure recorded) when that cannot be had.
BeamOracle* beam() {
  static std::optional<BeamOracle> instance;
  static std::string error;
  static bool tried = false;
  if (!tried) {
    tried = true;
    std::string path = nh_terms_path();
    auto lib = NifLibrary::open(path, {});
    auto started = BeamOracle::start();
    if (!lib) {
      error = "cannot open " + path + ": " + lib.error().message();
    } else if (!started) {
      error = describe(started.error());
    } else {
      std::vector<nifhost::testing::NifFunctionSpec> specs;
      for (const NifFunction& f : (*lib)->functions()) specs.push_back({f.name, f.arity});
      auto load_info = encode(make_small(0));
      auto loaded = started->load_nif(path.substr(0, path.size() - 3), "nh_terms", specs,
                                      load_info ? *load_info : Bytes{});
      if (loaded)
        instance = std::move(*started);
      else
        error = "loading nh_terms into erl: " + describe(loaded.error());
    }
  }
  if (!instance) ADD_FAILURE() << error;
  return instance ? &*instance : nullptr;
}

Bytes etf_of(Term t) {
  auto bytes = encode(t);
  EXPECT_TRUE(bytes.has_value()) << (bytes ? "" : bytes.error().what());
  return bytes ? *bytes : Bytes{};
}

// ETF of the argument list [args...].
Bytes args_etf(std::initializer_list<Term> args) {
  Heap heap;
  return etf_of(make_list(heap, args));
}

// The bytes of the binary a call returned, or nullopt (with the failure recorded).
std::optional<std::string> binary_result(std::string_view answer) {
  auto outcome = oracle_answer::parse_call(answer);
  if (!outcome || outcome->raised) {
    ADD_FAILURE() << "nh_terms call failed: "
                  << (outcome ? outcome->exception_class : describe(outcome.error()));
    return std::nullopt;
  }
  Heap heap;
  auto t = decode(outcome->term, heap);
  if (!t || !is_bitstring(*t)) {
    ADD_FAILURE() << "nh_terms did not return a binary";
    return std::nullopt;
  }
  BitstringView v = bitstring_view(*t);
  return std::string(reinterpret_cast<const char*>(v.data), v.byte_size);
}

// What the BEAM's enif_snprintf("%T") makes of each term (nh_terms:snprintf/1).
std::vector<std::optional<std::string>> beam_texts(BeamOracle& oracle,
                                                   const std::vector<Term>& terms) {
  std::vector<std::string> lines;
  for (Term t : terms) lines.push_back(oracle_request::call("nh_terms", "snprintf", args_etf({t})));
  auto answers = oracle.pipeline(lines);
  std::vector<std::optional<std::string>> out(terms.size());
  if (!answers) {
    ADD_FAILURE() << describe(answers.error());
    return out;
  }
  for (std::size_t i = 0; i < terms.size(); ++i) out[i] = binary_result((*answers)[i]);
  return out;
}

// ---------------------------------------------------------------- our side
std::string ours(Term t) {
  int n = enif_snprintf(nullptr, 0, "%T", t);
  EXPECT_GE(n, 0);
  if (n < 0) return {};
  std::string buf(static_cast<std::size_t>(n) + 1, '#');
  EXPECT_EQ(enif_snprintf(buf.data(), buf.size(), "%T", t), n);
  EXPECT_EQ(buf.back(), '\0');
  buf.pop_back();
  return buf;
}

std::string formatted(const char* fmt, Term t) {
  char buf[512];
  int n = enif_snprintf(buf, sizeof buf, fmt, t);
  EXPECT_EQ(n, static_cast<int>(std::strlen(buf))) << fmt;
  return buf;
}

// Where two texts first differ, with some context, for a readable failure.
std::string first_difference(std::string_view beam_text, std::string_view ours_text) {
  std::size_t i = 0;
  while (i < beam_text.size() && i < ours_text.size() && beam_text[i] == ours_text[i]) ++i;
  std::size_t from = i > 60 ? i - 60 : 0;
  return "at byte " + std::to_string(i) + " of " + std::to_string(beam_text.size()) +
         "\n    beam: ..." + std::string(beam_text.substr(from, 120)) + "\n    ours: ..." +
         std::string(ours_text.substr(from, 120));
}

// Compares ours with the BEAM's text for every term; returns how many are identical.
std::size_t compare_all(const std::vector<Term>& terms,
                        const std::vector<std::optional<std::string>>& beam_text) {
  std::size_t same = 0, reported = 0;
  for (std::size_t i = 0; i < terms.size(); ++i) {
    if (!beam_text[i]) continue;
    std::string text = ours(terms[i]);
    if (text == *beam_text[i])
      ++same;
    else if (reported++ < kMaxReported)
      ADD_FAILURE() << "term " << i << " (" << print_term(terms[i]).substr(0, 200)
                    << ") prints differently " << first_difference(*beam_text[i], text);
  }
  return same;
}

// ---------------------------------------------------------------- term selection
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

// Pids, ports and references of another node: the BEAM prints the index of
// that node in its own distribution table, which no other VM can reproduce.
bool has_foreign_identifier(Term t) {
  return any_subterm(t, [](Term x) {
    if (is_boxed_of(x, Subtag::kExtPid)) return true;
    if (is_boxed_of(x, Subtag::kExtPort)) return true;
    if (is_boxed_of(x, Subtag::kRef)) return ref_view(x).node != atoms::kNonode;
    return false;
  });
}

// The BEAM prints a map of more than 32 keys as its HAMT, whose shape follows
// the keys' internal hashes; OTP 25 hashes an atom, pid or port by its word,
// and an atom's word is its index in that VM's atom table. Such maps have a
// shape no other VM can reproduce.
bool has_vm_shaped_map(Term t) {
  auto vm_word = [](Term x) { return is_atom(x) || is_pid(x) || is_port(x) || is_fun(x); };
  return any_subterm(t, [&](Term x) {
    if (!is_map(x) || map_size(x) <= kFlatmapLimit) return false;
    for (std::size_t i = 0; i < map_size(x); ++i)
      if (any_subterm(map_keys(x)[i], vm_word)) return true;
    return false;
  });
}

bool has_hamt(Term t) {
  return any_subterm(t, [](Term x) { return is_map(x) && map_size(x) > kFlatmapLimit; });
}

// A key whose hash is the same in every VM (no atoms, pids, ports or funs).
Term portable_key(Heap& heap, const nifhost::testing::TermGenOptions& o) {
  namespace detail = nifhost::testing::detail;
  switch (*rc::gen::inRange(0, 5)) {
    case 0:
      return detail::gen_float(heap);
    case 1:
      return detail::gen_bitstring(heap, o);
    case 2:
      return make_tuple(heap, {detail::gen_integer(heap, o), detail::gen_bitstring(heap, o)});
    default:
      return detail::gen_integer(heap, o);
  }
}

// Generated terms. Identifiers of other nodes are left out (see
// has_foreign_identifier), and one term in eight is a map of more than 32
// portable keys: the generator's own large maps nearly always have an atom
// key somewhere, which would leave the BEAM's HAMT printing untested.
rc::Gen<OwnedTerm> gen_batch_term() {
  return rc::gen::exec([] {
    nifhost::testing::TermGenOptions o;
    o.foreign_nodes = false;
    OwnedTerm t = *nifhost::testing::gen_term(o);
    if (*rc::gen::inRange(0, 8) != 0) return t;
    Heap& h = *t.heap;
    std::size_t n = *rc::gen::inRange<std::size_t>(33, 120);
    std::vector<Term> keys, values;
    for (std::size_t i = 0; i < n; ++i) {
      keys.push_back(portable_key(h, o));
      values.push_back(i == 0 ? t.term : nifhost::testing::detail::gen_any(h, o, 2));
    }
    while (keys.size() > kFlatmapLimit) {  // drop entries until no key repeats
      if (auto m = make_map(h, keys, values)) {
        t.term = *m;
        break;
      }
      keys.pop_back();
      values.pop_back();
    }
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

// A term the BEAM's own parser makes of `text`, decoded into env.
Term beam_term(BeamOracle& oracle, ErlNifEnv* env, const std::string& text) {
  auto etf = oracle.encode_text(text);
  EXPECT_TRUE(etf.has_value()) << text << ": " << (etf ? "" : describe(etf.error()));
  ERL_NIF_TERM t = enif_make_atom(env, "encode_text_failed");
  if (etf) {
    EXPECT_NE(enif_binary_to_term(env, etf->data(), etf->size(), &t, 0), 0u) << text;
  }
  return t;
}

}  // namespace

// ---------------------------------------------------------------- differential
TEST(EnifPrintf, GeneratedTermsPrintAsTheBeamPrintsThem) {
  BeamOracle* oracle = beam();
  ASSERT_NE(oracle, nullptr);
  std::vector<OwnedTerm> owned = generate(kTerms);
  std::vector<Term> compared;
  std::size_t vm_shaped = 0, hamts = 0;
  for (const OwnedTerm& o : owned) {
    ASSERT_FALSE(has_foreign_identifier(o.term));
    // Printed here too (and must not crash), but not compared.
    if (has_vm_shaped_map(o.term)) {
      ++vm_shaped;
      EXPECT_FALSE(ours(o.term).empty());
      continue;
    }
    hamts += has_hamt(o.term) ? 1 : 0;
    compared.push_back(o.term);
  }
  std::size_t same = compare_all(compared, beam_texts(*oracle, compared));
  std::cout << "%T differential: " << compared.size() << " terms, " << same << " identical ("
            << hamts << " with HAMT maps; not compared: " << vm_shaped
            << " with HAMT maps keyed by atoms, pids, ports or funs)\n";
  EXPECT_EQ(same, compared.size());
  // The batch must exercise what it claims to.
  EXPECT_GT(compared.size(), kTerms * 3 / 4);
  EXPECT_GE(hamts, kTerms / 40);
}

TEST(EnifPrintf, ChosenTermsPrintAsTheBeamPrintsThem) {
  BeamOracle* oracle = beam();
  ASSERT_NE(oracle, nullptr);
  Heap heap;
  EnvScope scope(EnvKind::kProcessBound, heap, nullptr, nullptr);
  ErlNifEnv* env = scope.get();

  std::vector<std::string> texts = {
      // funs, atoms (the runtime's quoting), strings, binaries
      "fun lists:map/2", "fun 'a b':'c@d'/3", "fun erlang:'+'/2", "fun 'end':'Fun'/0", "''",
      "'Hello'", "'a b'", "'with\\'quote'", "'back\\\\slash'", "'caf\\x{e9}'", "'\\x{20ac}'",
      "'x\\x{85}y'", "'\\t\\n\\r\\f\\b\\v\\e\\0'", "'a\\db'", "'end'", "a@b", "'Ab_9'",
      "'\\x{1F600}'", "'\\x{e9}t\\x{e9}'", "'\\x{c0}b'", "\"tab\\there\\r\"",
      "\"q\\\"uote\\\\back\"", "[160, 255, 13, 32]", "[127]", "[128]", "[256]", "[27]",
      "\"caf\\x{e9}\"", "[$a | $b]", "[$a, 1000]", "<<\"a\\\"b\\\\c\">>", "<<>>", "<<1:3>>",
      "<<0, 1:1>>", "<<\"abc\", 5:4>>", "<<127>>", "<<\"\\n\">>", "<<255, 0, 7:7>>",
      "<<\"caf\\x{e9}\"/utf8>>",
      // numbers
      "-0.0", "0.0", "1.0e300", "5.0e-324", "123.456", "-1.5e-7", "1.7976931348623157e308",
      "576460752303423487", "576460752303423488", "-576460752303423488", "-576460752303423489",
      "18446744073709551616", "-" + std::string(400, '9'),
      // containers
      "#{}", "#{a => 1, \"s\" => [], {t} => <<1>>, 1.0 => 1, 1 => 1.0}", "[1, [2 | 3], [] | x]",
      "{}", "{{}, [[]], #{[] => {}}}", "[{a, \"b\"}, #{\"k\" => [$v]}]"};

  // HAMT maps: integer keys; values that make the [Key|Value] leaves print
  // as proper lists and as strings; nested HAMTs; keys of every portable type.
  auto hamt_text = [](int n, auto value) {
    std::string s = "#{";
    for (int i = 0; i < n; ++i) s += (i ? ", " : "") + std::to_string(i) + " => " + value(i);
    return s + "}";
  };
  texts.push_back(hamt_text(33, [](int i) { return std::to_string(i * 2); }));
  texts.push_back(hamt_text(40, [](int i) { return "[" + std::to_string(i) + "]"; }));
  texts.push_back(hamt_text(100, [](int) { return std::string("\"bc\""); }));
  texts.push_back(hamt_text(300, [](int) { return std::string("[]"); }));
  texts.push_back(hamt_text(35, [&](int i) {
    return i % 10 == 0 ? hamt_text(34, [](int) { return std::string("x"); }) : std::string("1");
  }));
  {
    std::string mixed = "#{";
    for (int i = 0; i < 40; ++i)
      mixed += (i ? ", " : "") +
               std::string(i % 4 == 0   ? "<<" + std::to_string(i) + ">>"
                           : i % 4 == 1 ? std::to_string(i) + ".5"
                           : i % 4 == 2 ? "{" + std::to_string(i) + ", [1]}"
                                        : "\"k" + std::to_string(i) + "\"") +
               " => " + std::to_string(i);
    texts.push_back(mixed + "}");
  }

  std::vector<Term> terms;
  for (const std::string& text : texts) terms.push_back(beam_term(*oracle, env, text));

  // Terms too large to write as text: budget exhaustion in every kind of
  // term, and deep nesting.
  std::vector<Term> many(100001);
  for (std::size_t i = 0; i < many.size(); ++i) many[i] = make_small(static_cast<int>(i % 1000));
  terms.push_back(make_list(heap, many));
  terms.push_back(make_binary(heap, std::string(150000, 'a')));
  terms.push_back(make_binary(heap, std::string(150000, '\x01')));
  terms.push_back(make_list(heap, std::vector<Term>(120000, make_small('z'))));
  std::vector<Term> atoms(600, atom(std::string(255, 'q')));
  // (Qualified: with a std::vector argument, ADL would also find std::make_tuple.)
  terms.push_back(nifhost::core::make_tuple(heap, atoms));
  Term wide = nifhost::core::make_tuple(heap, std::vector<Term>(99990, make_small(1)));
  terms.push_back(make_list(heap, {wide, atom("abcdefghij")}));
  Term nested = kNilTerm;
  for (int i = 0; i < 120000; ++i) nested = make_list(heap, {nested});
  terms.push_back(nested);
  Term shallow = make_small(7);
  for (int i = 0; i < 5000; ++i) shallow = make_tuple(heap, {shallow});
  terms.push_back(shallow);
  {
    std::vector<Term> keys, values;
    for (int i = 0; i < 5000; ++i) {
      keys.push_back(make_small(i));
      values.push_back(make_small(-i));
    }
    terms.push_back(*make_map(heap, keys, values));
  }
  // A local fun (NEW_FUN_EXT): module my_mod, old index 3, old uniq 12345678,
  // no free variables, made by nonode@nohost's <0.0.0>.
  {
    Bytes fun = {131, 112, 0, 0, 0, 0, 1};  // tag, size (patched), arity
    for (int i = 0; i < 16; ++i) fun.push_back(static_cast<std::uint8_t>(i));  // uniq
    for (std::uint8_t b : {0, 0, 0, 5, 0, 0, 0, 0}) fun.push_back(b);          // index, num_free
    fun.insert(fun.end(), {119, 6, 'm', 'y', '_', 'm', 'o', 'd'});  // SMALL_ATOM_UTF8_EXT
    for (std::uint8_t b : {97, 3, 98, 0, 0xBC, 0x61, 0x4E}) fun.push_back(b);  // 3, 12345678
    fun.insert(fun.end(), {88, 119, 13});
    for (char c : std::string("nonode@nohost")) fun.push_back(static_cast<std::uint8_t>(c));
    fun.insert(fun.end(), 12, 0);  // id, serial, creation
    std::uint32_t size = static_cast<std::uint32_t>(fun.size() - 2);
    for (int i = 0; i < 4; ++i) fun[2 + i] = static_cast<std::uint8_t>(size >> (24 - 8 * i));
    ERL_NIF_TERM t;
    ASSERT_NE(enif_binary_to_term(env, fun.data(), fun.size(), &t, 0), 0u);
    terms.push_back(t);
  }

  std::size_t same = compare_all(terms, beam_texts(*oracle, terms));
  std::cout << "%T chosen terms: " << terms.size() << " terms, " << same << " identical\n";
  EXPECT_EQ(same, terms.size());
}

// The buffer after a call with a buffer too small, byte for byte (the BEAM's
// nh_terms:snprintf/2 fills it with '#' first): a NUL-terminated prefix.
TEST(EnifPrintf, TruncatesAsTheBeamDoes) {
  BeamOracle* oracle = beam();
  ASSERT_NE(oracle, nullptr);
  Heap heap;
  EnvScope scope(EnvKind::kProcessBound, heap, nullptr, nullptr);
  ErlNifEnv* env = scope.get();
  std::vector<Term> terms = {
      beam_term(*oracle, env, "{123456, 'Hello', 2.5, <<\"bin\">>, \"str\", [a | b]}"),
      // (nh_terms:snprintf/2 takes buffers of up to 64 KiB.)
      make_list(heap, std::vector<Term>(5000, make_small(123456)))};
  std::vector<std::string> lines;
  std::vector<std::pair<Term, std::size_t>> cases;
  for (Term t : terms) {
    std::size_t len = ours(t).size();
    for (std::size_t size : {std::size_t{0}, std::size_t{1}, std::size_t{2}, std::size_t{7},
                             len - 1, len, len + 1, len + 5}) {
      cases.emplace_back(t, size);
      Term size_term = make_small(static_cast<std::int64_t>(size));
      lines.push_back(oracle_request::call("nh_terms", "snprintf", args_etf({t, size_term})));
    }
  }
  auto answers = oracle->pipeline(lines);
  ASSERT_TRUE(answers.has_value()) << describe(answers.error());
  for (std::size_t i = 0; i < cases.size(); ++i) {
    auto [t, size] = cases[i];
    auto beam_buffer = binary_result((*answers)[i]);
    ASSERT_TRUE(beam_buffer.has_value());
    std::string buffer(size, '#');
    int n = enif_snprintf(buffer.data(), size, "%T", t);
    EXPECT_EQ(buffer, *beam_buffer) << "size " << size;
    // The return value is snprintf's: the length of the whole text. (The
    // BEAM's after truncation is what its writer accepted of each piece of
    // text plus the full length of each number: an artefact, not a length.)
    EXPECT_EQ(n, static_cast<int>(ours(t).size())) << "size " << size;
  }
}

// ---------------------------------------------------------------- width and precision
// Precision is the printer's budget: a unit per term visited, an atom's
// length more, a unit per character of a string or byte of a binary; the
// text stops where the budget ran out and ends with "... ". Established
// against erl (OTP 25).
TEST(EnifPrintf, PrecisionIsTheBeamsBudget) {
  Heap heap;
  EnvScope scope(EnvKind::kProcessBound, heap, nullptr, nullptr);
  ErlNifEnv* env = scope.get();
  auto a = [&](const char* name) { return enif_make_atom(env, name); };
  auto i = [&](int v) { return enif_make_int(env, v); };
  auto str = [&](const char* s) { return enif_make_string(env, s, ERL_NIF_LATIN1); };
  auto bin = [&](std::string_view bytes) { return make_binary(heap, bytes); };
  auto bits = [&](std::vector<std::uint8_t> bytes, std::size_t whole, unsigned trailing) {
    return *make_bitstring(heap, bytes, whole, trailing);
  };
  ERL_NIF_TERM map_a1;
  ASSERT_TRUE(enif_make_map_put(env, enif_make_new_map(env), a("a"), i(1), &map_a1));
  Bytes fun_etf = {131, 113, 100, 0, 5, 'l', 'i', 's', 't', 's', 100, 0, 3, 'm', 'a', 'p', 97, 2};
  ERL_NIF_TERM fun;
  ASSERT_NE(enif_binary_to_term(env, fun_etf.data(), fun_etf.size(), &fun, 0), 0u);

  EXPECT_EQ(formatted("%.0T", a("abc")), "... ");
  EXPECT_EQ(formatted("%.1T", i(5)), "5... ");
  EXPECT_EQ(formatted("%.2T", enif_make_tuple2(env, i(1), i(2))), "{1,... ");
  EXPECT_EQ(formatted("%.3T", enif_make_tuple2(env, i(1), i(2))), "{1,2}... ");
  EXPECT_EQ(formatted("%.4T", enif_make_tuple2(env, i(1), i(2))), "{1,2}");
  EXPECT_EQ(formatted("%.3T", str("hello")), "\"he... ");
  EXPECT_EQ(formatted("%.3T", bin("hello")), "<<\"hel... ");
  EXPECT_EQ(formatted("%.3T", bin(std::string("\1\2\3\4\5", 5))), "<<1,2,3... ");
  EXPECT_EQ(formatted("%.5T", a("abcdefgh")), "abcdefgh... ");
  EXPECT_EQ(formatted("%.9T", a("abcdefgh")), "abcdefgh... ");
  EXPECT_EQ(formatted("%.3T", enif_make_list3(env, a("a"), a("b"), a("c"))), "[a... ");
  EXPECT_EQ(formatted("%.2T", enif_make_list_cell(env, a("a"), a("b"))), "[a... ");
  EXPECT_EQ(formatted("%.3T", map_a1), "#{a... ");
  EXPECT_EQ(formatted("%.4T", map_a1), "#{a=>1}... ");
  EXPECT_EQ(formatted("%.5T", map_a1), "#{a=>1}");
  EXPECT_EQ(formatted("%.2T", fun), "fun lists:map/2... ");
  EXPECT_EQ(formatted("%.1T", bin("")), "<<>>... ");
  EXPECT_EQ(formatted("%.1T", bits({0x20}, 0, 3)), "<<1:3>>... ");
  EXPECT_EQ(formatted("%.2T", bits({1, 0x40}, 1, 3)), "<<1,2:3>>... ");
  EXPECT_EQ(formatted("%.2T", bits({1, 2, 0x40}, 2, 3)), "<<1,2... ");
  EXPECT_EQ(formatted("%.1T", str("")), "[]... ");
  EXPECT_EQ(formatted("%.2T", str("a")), "\"a\"... ");
  EXPECT_EQ(formatted("%.1T", str("ab")), "\"... ");
  // '.' alone leaves the default budget, as does a negative '*'.
  EXPECT_EQ(formatted("%.T", a("abc")), "abc");
  char buf[64];
  EXPECT_EQ(enif_snprintf(buf, sizeof buf, "%.*T", -1, a("abc")), 3);
  EXPECT_STREQ(buf, "abc");
  EXPECT_EQ(enif_snprintf(buf, sizeof buf, "%.*T", 1, i(5)), 5);
  EXPECT_STREQ(buf, "5... ");
}

// Width pads with blanks. Right-aligned, the BEAM measures the term with a
// writer that counts only what its numeric conversions wrote, so only the
// digits reduce the padding. Established against erl (OTP 25).
TEST(EnifPrintf, WidthPadsAsTheBeamPads) {
  Heap heap;
  EnvScope scope(EnvKind::kProcessBound, heap, nullptr, nullptr);
  ErlNifEnv* env = scope.get();
  ERL_NIF_TERM abc = enif_make_atom(env, "abc");
  ERL_NIF_TERM twelve = enif_make_int(env, 12);
  EXPECT_EQ(formatted("%10T", abc), std::string(10, ' ') + "abc");
  EXPECT_EQ(formatted("%10T", twelve), std::string(8, ' ') + "12");
  EXPECT_EQ(
      formatted("%10T", enif_make_tuple2(env, enif_make_int(env, 1), enif_make_atom(env, "a"))),
      std::string(9, ' ') + "{1,a}");
  EXPECT_EQ(formatted("%-10T|", abc), "abc       |");
  EXPECT_EQ(formatted("%-10T|", twelve), "12        |");
  EXPECT_EQ(formatted("%20.3T|", make_binary(heap, std::string_view("hello"))),
            std::string(20, ' ') + "<<\"hel... |");
  EXPECT_EQ(formatted("%2T", twelve), "12");
  char buf[64];
  EXPECT_EQ(enif_snprintf(buf, sizeof buf, "%*T|", 5, twelve), 6);
  EXPECT_STREQ(buf, "   12|");
  // A negative '*' width pads nothing (erts_printf_format pads only a width > 0).
  EXPECT_EQ(enif_snprintf(buf, sizeof buf, "%*T|", -5, twelve), 3);
  EXPECT_STREQ(buf, "12|");
}

// THE_NON_VALUE (what a NIF returns after raising) prints as erl_printf_term.c
// prints it.
TEST(EnifPrintf, TheNonValuePrintsAsTnv) {
  Heap heap;
  EnvScope scope(EnvKind::kProcessBound, heap, nullptr, nullptr);
  ErlNifEnv* env = scope.get();
  ERL_NIF_TERM raised = enif_make_badarg(env);
  EXPECT_EQ(formatted("%T", raised), "<TNV>");
}

// enif_fprintf writes the text enif_snprintf makes.
TEST(EnifPrintf, FprintfWritesTheSameText) {
  Heap heap;
  EnvScope scope(EnvKind::kProcessBound, heap, nullptr, nullptr);
  ErlNifEnv* env = scope.get();
  ERL_NIF_TERM t = enif_make_tuple2(env, enif_make_double(env, 2.5), enif_make_atom(env, "A b"));
  std::string expected = formatted("[%5T]", t);
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(enif_fprintf(f, "[%5T]", t), static_cast<int>(expected.size()));
  std::rewind(f);
  char line[128] = {};
  ASSERT_NE(std::fgets(line, sizeof line, f), nullptr);
  EXPECT_EQ(std::string(line), expected);
  std::fclose(f);
}

// Identifiers of another node: the BEAM writes the index of that node in its
// own distribution table (<5.85.0>), which names nothing outside that VM.
// They print as print_term prints them (text.hpp), naming node and creation.
TEST(EnifPrintf, OtherNodesIdentifiersNameTheirNode) {
  Heap heap;
  Term node = atom("a@host");
  EXPECT_EQ(formatted("%T", make_pid(heap, node, 85, 1, 3)), "#Pid<'a@host'.3.85.1>");
  EXPECT_EQ(formatted("%T", make_port(heap, node, 5, 3)), "#Port<'a@host'.3.5>");
  std::uint32_t ids[3] = {1, 2, 3};
  EXPECT_EQ(formatted("%T", make_ref(heap, node, 3, ids)), "#Ref<'a@host'.3.3.2.1>");
}
