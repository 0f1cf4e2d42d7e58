// Term text: parse_term for every syntax, its errors, print_term against what
// erl's ~100000p prints (expected texts below were printed by erl, OTP 25),
// and the round trip parse(print(t)) == t.
#include "nifhost/core/text.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "nifhost/core/atom_table.hpp"
#include "nifhost/core/etf.hpp"
#include "nifhost/core/heap.hpp"
#include "nifhost/core/order.hpp"
#include "nifhost/core/terms.hpp"
#include "nifhost/testing/term_gen.hpp"

using namespace nifhost::core;

namespace {

Term parse_ok(Heap& heap, std::string_view text) {
  auto t = parse_term(text, heap);
  EXPECT_TRUE(t.has_value()) << "parsing " << text << ": " << (t ? "" : t.error().message);
  return t ? *t : atom("parse_failed");
}

std::string parse_error(std::string_view text) {
  Heap heap;
  auto t = parse_term(text, heap);
  EXPECT_FALSE(t.has_value()) << "parsed " << text << " as " << (t ? print_term(*t) : "");
  return t ? std::string() : t.error().message;
}

// Identity as =:= (and, for floats, the same bits: 0.0 =:= -0.0 in OTP 25).
::testing::AssertionResult same(Term a, Term b) {
  if (!identical(a, b))
    return ::testing::AssertionFailure() << print_term(a) << " =/= " << print_term(b);
  if (is_float(a) &&
      std::bit_cast<std::uint64_t>(float_value(a)) != std::bit_cast<std::uint64_t>(float_value(b)))
    return ::testing::AssertionFailure() << "float bits differ";
  return ::testing::AssertionSuccess();
}

std::vector<std::uint8_t> bits_of(Term t) {
  BitstringView v = bitstring_view(t);
  return {v.data, v.data + v.byte_size + (v.trailing_bits ? 1 : 0)};
}

Term bignum(Heap& heap, bool negative, std::vector<std::uint64_t> digits) {
  return make_bignum(heap, negative, digits);
}

Term chars(Heap& heap, std::initializer_list<std::int64_t> cs) {
  std::vector<Term> v;
  for (auto c : cs) v.push_back(make_small(c));
  return make_list(heap, v);
}

}  // namespace

// ------------------------------------------------------------------ parsing
TEST(ParseIntegers, DecimalRadixCharsSignsAndUnderscores) {
  Heap heap;
  struct Case {
    const char* text;
    std::int64_t value;
  } cases[] = {
      {"0", 0},
      {"42", 42},
      {"-5", -5},
      {"- 5", -5},
      {"+7", 7},
      {"1_000", 1000},
      {"16#ff", 255},
      {"16#FF_FF", 65535},
      {"2#1010", 10},
      {"36#zz", 1295},
      {"-16#ff", -255},
      {"$a", 97},
      {"$\\n", 10},
      {"$\\x{3bb}", 955},
      {"$\\^A", 1},
      {"$\\101", 65},
      {"$\\s", 32},
      {"$\\d", 127},
      {"$\\e", 27},
      {"$ ", 32},
      {"$λ", 955},
      {"-$a", -97},
      {"$\\x41", 65},
      {"$\\z", 'z'},
      {"576460752303423487", (std::int64_t{1} << 59) - 1},
      {"-576460752303423488", -(std::int64_t{1} << 59)},
      {"9223372036854775807", INT64_MAX},
  };
  for (const Case& c : cases)
    EXPECT_TRUE(same(parse_ok(heap, c.text), make_integer(heap, c.value))) << c.text;
}

TEST(ParseIntegers, Bignums) {
  Heap heap;
  // 2^70 and -(2^70); 2^64; a 40-digit number built from its 64-bit digits.
  EXPECT_TRUE(same(parse_ok(heap, "1180591620717411303424"), bignum(heap, false, {0, 64})));
  EXPECT_TRUE(same(parse_ok(heap, "-1180591620717411303424"), bignum(heap, true, {0, 64})));
  EXPECT_TRUE(same(parse_ok(heap, "18446744073709551616"), bignum(heap, false, {0, 1})));
  EXPECT_TRUE(same(parse_ok(heap, "16#1_0000_0000_0000_0000"), bignum(heap, false, {0, 1})));
  EXPECT_TRUE(same(parse_ok(heap, "340282366920938463463374607431768211455"),
                   bignum(heap, false, {~0ull, ~0ull})));
  EXPECT_TRUE(same(parse_ok(heap, "-9223372036854775808"), make_integer(heap, INT64_MIN)));
}

TEST(ParseFloats, Forms) {
  Heap heap;
  struct Case {
    const char* text;
    double value;
  } cases[] = {{"1.0", 1.0},           {"1.0e10", 1.0e10},
               {"-2.5e-3", -2.5e-3},   {"1.5E3", 1500.0},
               {"0.1e1", 1.0},         {"1_0.5_0e1_0", 1.05e11},
               {"1.0e-400", 0.0},      {"-0.0", -0.0},
               {"5.0e-324", 5.0e-324}, {"1.7976931348623157e308", 1.7976931348623157e308},
               {"2.5e+3", 2500.0}};
  for (const Case& c : cases)
    EXPECT_TRUE(same(parse_ok(heap, c.text), make_float(heap, c.value))) << c.text;
  EXPECT_NE(parse_error("1.0e400").find("out of range"), std::string::npos);
  // "1." is the integer 1 and the terminating dot; "1.e5" is not a float.
  EXPECT_TRUE(same(parse_ok(heap, "1."), make_small(1)));
  parse_error("1.e5");
}

TEST(ParseAtoms, UnquotedQuotedAndEscapes) {
  Heap heap;
  EXPECT_EQ(parse_ok(heap, "ok"), atoms::kOk);
  EXPECT_EQ(parse_ok(heap, "a@b"), atom("a@b"));
  EXPECT_EQ(parse_ok(heap, "aB_1"), atom("aB_1"));
  EXPECT_EQ(parse_ok(heap, "'hello world'"), atom("hello world"));
  EXPECT_EQ(parse_ok(heap, "'Abc'"), atom("Abc"));
  EXPECT_EQ(parse_ok(heap, "''"), atom(""));
  EXPECT_EQ(parse_ok(heap, "'\\n'"), atom("\n"));
  EXPECT_EQ(parse_ok(heap, "'it\\'s'"), atom("it's"));
  EXPECT_EQ(parse_ok(heap, "'\\x{3BB}'"), atom("\xce\xbb"));
  EXPECT_EQ(parse_ok(heap, "'λ'"), atom("\xce\xbb"));
  EXPECT_EQ(parse_ok(heap, "'\\303'"), atom("\xc3\x83"));  // character 195
  EXPECT_EQ(parse_ok(heap, "ßa"), atom("\xc3\x9f"
                                       "a"));  // latin-1 lowercase start
  EXPECT_EQ(parse_ok(heap, "'end'"), atom("end"));
  EXPECT_EQ(parse_ok(heap, "maybe"), atom("maybe"));  // not reserved in OTP 25
  EXPECT_NE(parse_error("end").find("reserved word"), std::string::npos);
  EXPECT_NE(parse_error("[a, receive]").find("1:5:"), std::string::npos);
  std::string long_name(256, 'x');
  EXPECT_NE(parse_error(long_name).find("too long"), std::string::npos);
  EXPECT_EQ(parse_ok(heap, std::string(255, 'x')), atom(std::string(255, 'x')));
}

TEST(ParseStrings, CharacterListsWithEscapesAndJoining) {
  Heap heap;
  EXPECT_TRUE(same(parse_ok(heap, "\"abc\""), chars(heap, {97, 98, 99})));
  EXPECT_EQ(parse_ok(heap, "\"\""), kNilTerm);
  EXPECT_TRUE(same(parse_ok(heap, "\"ab\" \"cd\""), chars(heap, {97, 98, 99, 100})));
  EXPECT_TRUE(same(parse_ok(heap, "\"a\" % between\n \"b\""), chars(heap, {97, 98})));
  EXPECT_TRUE(same(parse_ok(heap, "\"λé\""), chars(heap, {955, 233})));
  EXPECT_TRUE(same(parse_ok(heap, R"("\s\d\e\n\t\"\\\x{10FFFF}\1")"),
                   chars(heap, {32, 127, 27, 10, 9, 34, 92, 0x10FFFF, 1})));
  EXPECT_NE(parse_error("\"abc").find("1:1: unterminated string"), std::string::npos);
  EXPECT_NE(parse_error("\"\\x{110000}\"").find("10FFFF"), std::string::npos);
}

TEST(ParseBinaries, SegmentsSizesAndTypes) {
  Heap heap;
  using Bytes = std::vector<std::uint8_t>;
  struct Case {
    const char* text;
    Bytes bytes;
    unsigned trailing;
  } cases[] = {
      // Expected bytes from erl: erl_parse:parse_term of the same text.
      {"<<>>", {}, 0},
      {"<<1,2,3>>", {1, 2, 3}, 0},
      {"<<\"text\">>", {'t', 'e', 'x', 't'}, 0},
      {"<<\"λ\"/utf8>>", {0xCE, 0xBB}, 0},
      {"<<\"λ\">>", {0xBB}, 0},  // a character truncated to 8 bits
      {"<<256>>", {0}, 0},
      {"<<1:4>>", {0x10}, 4},
      {"<<1,2:3>>", {1, 0x40}, 3},
      {"<<97,98,1:4>>", {97, 98, 0x10}, 4},
      {"<<-1:4>>", {0xF0}, 4},
      {"<<300:16/little>>", {44, 1}, 0},
      {"<<16#abc:12/little>>", {0xBC, 0xA0}, 4},
      {"<<1:3/unit:8>>", {0, 0, 1}, 0},
      {"<<1:8/unit:2>>", {0, 1}, 0},
      {"<<1.5/float>>", {63, 248, 0, 0, 0, 0, 0, 0}, 0},
      {"<<1.5:32/float>>", {63, 192, 0, 0}, 0},
      {"<<1.0:16/float>>", {60, 0}, 0},
      {"<<1/float>>", {63, 240, 0, 0, 0, 0, 0, 0}, 0},
      {"<<-0.0/float>>", {128, 0, 0, 0, 0, 0, 0, 0}, 0},
      {"<<\"ab\":16>>", {0, 97, 0, 98}, 0},
      {"<<$a/utf16-little>>", {97, 0}, 0},
      {"<<\"a\"/utf32>>", {0, 0, 0, 97}, 0},
      {"<<16#1F600/utf16>>", {0xD8, 0x3D, 0xDE, 0x00}, 0},
      {"<< 1 : 4 / big-unsigned-integer , 2:4 >>", {0x12}, 0},
      {"<<1180591620717411303424:72>>", {0x40, 0, 0, 0, 0, 0, 0, 0, 0}, 0},
  };
  for (const Case& c : cases) {
    Term t = parse_ok(heap, c.text);
    ASSERT_TRUE(is_bitstring(t)) << c.text;
    EXPECT_EQ(bitstring_view(t).byte_size, c.bytes.size() - (c.trailing ? 1 : 0)) << c.text;
    EXPECT_EQ(bitstring_view(t).trailing_bits, c.trailing) << c.text;
    EXPECT_EQ(bits_of(t), c.bytes) << c.text;
  }
  parse_error("<<1/unit:8>>");       // a unit needs a size
  parse_error("<<\"ab\"/binary>>");  // as erl_parse:parse_term
  parse_error("<<16#D800/utf8>>");
  parse_error("<<1.0e10:16/float>>");
  parse_error("<<1.5>>");
  parse_error("<<1:4/wibble>>");
  EXPECT_NE(parse_error("<<1:4000000000>>").find("too large"), std::string::npos);
  EXPECT_NE(parse_error("<<\"abcdefghij\":100000000>>").find("too large"), std::string::npos);
  EXPECT_NE(parse_error("<<1 2>>").find("1:5: expected ',' or '>>'"), std::string::npos);
}

TEST(ParseContainers, TuplesListsMaps) {
  Heap heap;
  EXPECT_EQ(tuple_arity(parse_ok(heap, "{}")), 0u);
  Term t = parse_ok(heap, "{a,{b,[]}}");
  EXPECT_TRUE(same(t, make_tuple(heap, {atom("a"), make_tuple(heap, {atom("b"), kNilTerm})})));
  EXPECT_EQ(parse_ok(heap, "[]"), kNilTerm);
  EXPECT_EQ(parse_ok(heap, "[ ]"), kNilTerm);
  EXPECT_TRUE(
      same(parse_ok(heap, "[1,2|3]"),
           make_list(heap, std::vector<Term>{make_small(1), make_small(2)}, make_small(3))));
  EXPECT_TRUE(same(parse_ok(heap, "[1|[2]]"), make_list(heap, {make_small(1), make_small(2)})));
  EXPECT_EQ(map_size(parse_ok(heap, "#{}")), 0u);
  Term m = parse_ok(heap, "#{b => 2, a => 1}");
  ASSERT_EQ(map_size(m), 2u);
  EXPECT_EQ(map_get(m, atom("a")), std::optional<Term>(make_small(1)));
  EXPECT_EQ(map_get(m, atom("b")), std::optional<Term>(make_small(2)));
  Term dup = parse_ok(heap, "#{a => 1, a => 2}");  // the last value wins, as in Erlang
  ASSERT_EQ(map_size(dup), 1u);
  EXPECT_EQ(map_get(dup, atom("a")), std::optional<Term>(make_small(2)));
  // Many entries, some repeated: each key once, with its last value.
  std::string text = "#{";
  for (int i = 0; i < 3000; ++i)
    text += std::to_string(i % 1000) + " => " + std::to_string(i) + ",";
  text += "x => y}";
  Term big = parse_ok(heap, text);
  ASSERT_EQ(map_size(big), 1001u);
  EXPECT_EQ(map_get(big, make_small(7)), std::optional<Term>(make_small(2007)));
  Term nested = parse_ok(heap, "#{[1] => #{}, {} => <<>>}");
  EXPECT_EQ(map_size(nested), 2u);
}

TEST(ParseIdentifiers, LocalAndForeignForms) {
  Heap heap;
  EXPECT_EQ(parse_ok(heap, "<0.85.3>"), make_local_pid(85, 3));
  EXPECT_EQ(parse_ok(heap, "#Port<0.5>"), make_local_port(5));
  Term r = parse_ok(heap, "#Ref<0.3.2.1>");
  ASSERT_TRUE(is_boxed_of(r, Subtag::kRef));
  RefView rv = ref_view(r);
  EXPECT_EQ(rv.node, atoms::kNonode);
  ASSERT_EQ(rv.count, 3u);
  EXPECT_EQ(rv.id[0], 1u);
  EXPECT_EQ(rv.id[2], 3u);

  Term fp = parse_ok(heap, "#Pid<'a@host'.3.85.7>");
  PidView pv = pid_view(fp);
  EXPECT_EQ(pv.node, atom("a@host"));
  EXPECT_EQ(pv.creation, 3u);
  EXPECT_EQ(pv.id, 85u);
  EXPECT_EQ(pv.serial, 7u);
  PortView po = port_view(parse_ok(heap, "#Port<'other@example.org'.2.99>"));
  EXPECT_EQ(po.node, atom("other@example.org"));
  EXPECT_EQ(po.creation, 2u);
  EXPECT_EQ(po.id, 99u);
  RefView fr = ref_view(parse_ok(heap, "#Ref<a@host.1.30.20.10>"));
  EXPECT_EQ(fr.node, atom("a@host"));
  EXPECT_EQ(fr.creation, 1u);
  EXPECT_EQ(fr.id[0], 10u);
  EXPECT_EQ(fr.id[2], 30u);

  EXPECT_NE(parse_error("<8912.85.3>").find("1:1:"), std::string::npos);
  parse_error("#Ref<7.1.2.3>");
  parse_error("<0.1>");
  parse_error("#Port<0.1.2>");
}

TEST(ParseFuns, ExternalFunsOnly) {
  Heap heap;
  Term f = parse_ok(heap, "fun lists:map/2");
  ASSERT_TRUE(is_fun(f));
  // erl: term_to_binary(fun lists:map/2) without the version byte.
  std::vector<std::uint8_t> want{113, 100, 0, 5,   'l', 'i', 's', 't', 's',
                                 100, 0,   3, 'm', 'a', 'p', 97,  2};
  auto got = fun_bytes(f);
  EXPECT_EQ(std::vector<std::uint8_t>(got.begin(), got.end()), want);
  // As the runtime prints it: a reserved word is not quoted.
  Term g = parse_ok(heap, "fun 'A':'b c'/0");
  std::vector<std::uint8_t> want_g{113, 100, 0, 1, 'A', 100, 0, 3, 'b', ' ', 'c', 97, 0};
  auto got_g = fun_bytes(g);
  EXPECT_EQ(std::vector<std::uint8_t>(got_g.begin(), got_g.end()), want_g);
  EXPECT_TRUE(is_fun(parse_ok(heap, "fun end:fun/1")));
  EXPECT_NE(parse_error("#Fun<erl_eval.1.2>").find("cannot be read"), std::string::npos);
  EXPECT_NE(parse_error("fun foo/1").find("external funs"), std::string::npos);
  parse_error("fun lists:map/256");
}

TEST(ParseLayout, CommentsWhitespaceAndTheFinalDot) {
  Heap heap;
  Term want = make_tuple(heap, {atom("a"), atom("b")});
  EXPECT_TRUE(same(parse_ok(heap, "% leading comment\n{ a ,% x\n\tb }"), want));
  EXPECT_TRUE(same(parse_ok(heap, "{a,b}."), want));
  EXPECT_TRUE(same(parse_ok(heap, "  {a,b} .  \n% trailing\n"), want));
  parse_error("{a,b}..");
  parse_error("ok ok");
  parse_error("ok. ok");
}

TEST(ParseErrors, PointAtLineAndColumn) {
  EXPECT_EQ(parse_error("{1,2,3]"), "1:7: expected ',' or '}' after tuple element, found ']'");
  EXPECT_EQ(parse_error("[1\n}"), "2:1: expected ',', '|' or ']' after list element, found '}'");
  EXPECT_EQ(parse_error(""), "1:1: expected a term, found end of input");
  EXPECT_EQ(parse_error("{a,"), "1:4: expected a term, found end of input");
  EXPECT_EQ(parse_error("#{a 1}"), "1:5: expected '=>' after map key, found '1'");
  EXPECT_EQ(parse_error("[1|2,3]"), "1:5: expected ']' after the tail of a list, found ','");
  EXPECT_EQ(parse_error("  X"), "1:3: 'X' is a variable; a term cannot contain variables");
  EXPECT_EQ(parse_error("[λ]"), "1:2: expected a term, found 'λ'");  // columns count characters
  EXPECT_EQ(parse_error("{ok,\n  'a\xff'}"), "2:5: text is not valid UTF-8");
  Heap heap;
  auto e = parse_term("\n\n   {", heap);
  ASSERT_FALSE(e.has_value());
  EXPECT_EQ(e.error().line, 3u);
  EXPECT_EQ(e.error().column, 5u);
}

TEST(ParseDepth, NestingLimitIsAnErrorNotACrash) {
  Heap heap;
  // kMaxParseDepth open containers parse; one more is refused.
  std::string ok = std::string(kMaxParseDepth, '[') + "[]" + std::string(kMaxParseDepth, ']');
  EXPECT_TRUE(parse_term(ok, heap).has_value());
  std::string deep =
      std::string(kMaxParseDepth + 1, '{') + "x" + std::string(kMaxParseDepth + 1, '}');
  EXPECT_NE(parse_error(deep).find("nest deeper than 10000"), std::string::npos);
  std::string huge(1000000, '[');
  EXPECT_NE(parse_error(huge).find("nest deeper"), std::string::npos);
}

// ------------------------------------------------------------------ printing
// Expected texts: io_lib:format("~100000p", [T]) in erl (OTP 25).
TEST(PrintFloats, ShortestRoundTripInErlangsLayout) {
  Heap heap;
  struct Case {
    double value;
    const char* text;
  } cases[] = {
      {1.0, "1.0"},
      {0.1, "0.1"},
      {1.0e10, "1.0e10"},
      {1.0e-5, "1.0e-5"},
      {123456789.0, "123456789.0"},
      {1.0e21, "1.0e21"},
      {1.0e15, "1.0e15"},
      {1.0e-4, "0.0001"},
      {0.001, "0.001"},
      {1.5e-4, "1.5e-4"},
      {12345.678, "12345.678"},
      {2.5e-3, "0.0025"},
      {-0.0, "-0.0"},
      {0.0, "0.0"},
      {5.0e-324, "5.0e-324"},
      {1.7976931348623157e308, "1.7976931348623157e308"},
      {123456789012345680.0, "1.2345678901234568e17"},
      {9007199254740992.0, "9.007199254740992e15"},
      {1.0e18, "1.0e18"},
      {0.3, "0.3"},
      {100.0, "100.0"},
      {1.0e3, "1.0e3"},
      {1.2e-10, "1.2e-10"},
      {-2.5, "-2.5"},
  };
  for (const Case& c : cases) EXPECT_EQ(print_term(make_float(heap, c.value)), c.text) << c.text;
}

TEST(PrintLists, StringsUseTheLatin1PrintableRange) {
  Heap heap;
  EXPECT_EQ(print_term(chars(heap, {1, 2})), "[1,2]");
  EXPECT_EQ(print_term(chars(heap, {97, 98, 99})), "\"abc\"");
  EXPECT_EQ(print_term(
                make_list(heap, std::vector<Term>{make_small(97), make_small(98)}, make_small(99))),
            "[97,98|99]");
  EXPECT_EQ(print_term(chars(heap, {255})), "\"\xc3\xbf\"");  // UTF-8 of character 255
  EXPECT_EQ(print_term(chars(heap, {256})), "[256]");
  EXPECT_EQ(print_term(chars(heap, {160})), "\"\xc2\xa0\"");
  EXPECT_EQ(print_term(chars(heap, {159})), "[159]");
  EXPECT_EQ(print_term(chars(heap, {7})), "[7]");
  EXPECT_EQ(print_term(chars(heap, {127})), "[127]");
  EXPECT_EQ(print_term(chars(heap, {97, 10, 98})), "\"a\\nb\"");
  EXPECT_EQ(print_term(chars(heap, {8, 9, 11, 12, 13, 27})), "\"\\b\\t\\v\\f\\r\\e\"");
  EXPECT_EQ(print_term(chars(heap, {34, 39, 92})), "\"\\\"'\\\\\"");
  EXPECT_EQ(print_term(chars(heap, {97, 1000})), "[97,1000]");
  EXPECT_EQ(print_term(kNilTerm), "[]");
  EXPECT_EQ(print_term(make_list(heap, {kNilTerm})), "[[]]");
  EXPECT_EQ(print_term(make_list(heap, {make_small(97), chars(heap, {98})})), "[97,\"b\"]");
  EXPECT_EQ(print_term(make_list(heap, std::vector<Term>{make_small(1)}, make_small(2))), "[1|2]");
}

TEST(PrintAtoms, QuotedWhenNeeded) {
  struct Case {
    const char* name;
    const char* text;
  } cases[] = {
      {"hello world", "'hello world'"},
      {"Abc", "'Abc'"},
      {"", "''"},
      {"end", "'end'"},
      {"fun", "'fun'"},
      {"receive", "'receive'"},
      {"andalso", "'andalso'"},
      {"maybe", "maybe"},
      {"else", "else"},
      {"a@b", "a@b"},
      {"a.b", "'a.b'"},
      {"\n", "'\\n'"},
      {"_a", "'_a'"},
      {"aB_1", "aB_1"},
      {"ok", "ok"},
      {"'q", "'\\'q'"},
      {"a\\b", "'a\\\\b'"},
      {"tab\tx", "'tab\\tx'"},
      {"1a", "'1a'"},
      {"@", "'@'"},
      {"a@", "a@"},
      {"\x01", "'\\001'"},
      {"\x1b", "'\\e'"},
      {"\x7f", "'\\d'"},
      {"\"", "'\"'"},
      {"\xc2\x80", "'\\200'"},
      {"\xc2\xa0", "'\xc2\xa0'"},
      {"\xc3\x9f", "\xc3\x9f"},
      {"\xc3\xa9"
       "a",
       "\xc3\xa9"
       "a"},
      {"a\xc3\xa9", "a\xc3\xa9"},
      {"\xc3\x80"
       "a",
       "'\xc3\x80"
       "a'"},
      {"a\xc3\x97", "'a\xc3\x97'"},
      {"\xce\xbb", "'\\x{3BB}'"},
      {"a\xce\xbb", "'a\\x{3BB}'"},
      {"\xc4\x80", "'\\x{100}'"},
      {"\xf0\x9f\x98\x80", "'\\x{1F600}'"},
  };
  for (const Case& c : cases) EXPECT_EQ(print_term(atom(c.name)), c.text) << c.text;
}

TEST(PrintBinaries, PrintableAsTextElseBytes) {
  Heap heap;
  auto bin = [&](std::vector<std::uint8_t> b) { return *make_binary(heap, b); };
  EXPECT_EQ(print_term(make_binary(heap, "abc")), "<<\"abc\">>");
  EXPECT_EQ(print_term(bin({1, 2, 3})), "<<1,2,3>>");
  EXPECT_EQ(print_term(bin({})), "<<>>");
  EXPECT_EQ(print_term(make_binary(heap, "a\nb")), "<<\"a\\nb\">>");
  EXPECT_EQ(print_term(bin({195, 164})), "<<\"\xc3\x83\xc2\xa4\">>");  // latin-1 characters
  EXPECT_EQ(print_term(bin({200})), "<<\"\xc3\x88\">>");
  EXPECT_EQ(print_term(bin({97, 98, 99, 0})), "<<97,98,99,0>>");
  EXPECT_EQ(print_term(bin({127})), "<<127>>");
  EXPECT_EQ(print_term(bin({34, 39, 92})), "<<\"\\\"'\\\\\">>");
  std::vector<std::uint8_t> b16{0x10};
  EXPECT_EQ(print_term(*make_bitstring(heap, b16, 0, 4)), "<<1:4>>");
  std::vector<std::uint8_t> b123{1, 0x40};
  EXPECT_EQ(print_term(*make_bitstring(heap, b123, 1, 3)), "<<1,2:3>>");
  std::vector<std::uint8_t> ab{97, 98, 0x10};
  EXPECT_EQ(print_term(*make_bitstring(heap, ab, 2, 4)), "<<97,98,1:4>>");
  // A long printable binary (refc) prints as text too.
  EXPECT_EQ(print_term(make_binary(heap, std::string(100, 'a'))),
            "<<\"" + std::string(100, 'a') + "\">>");
}

TEST(PrintContainers, TuplesMapsNumbers) {
  Heap heap;
  EXPECT_EQ(print_term(make_tuple(heap, std::span<const Term>{})), "{}");
  EXPECT_EQ(print_term(make_tuple(heap, {atom("a"), make_tuple(heap, {atom("b"), kNilTerm})})),
            "{a,{b,[]}}");
  Term k[] = {atom("b"), atom("a")};
  Term v[] = {make_small(2), make_small(1)};
  EXPECT_EQ(print_term(*make_map(heap, k, v)), "#{a => 1,b => 2}");
  EXPECT_EQ(print_term(make_empty_map(heap)), "#{}");
  Term k2[] = {atom("b"), atom("a"), make_small(1), chars(heap, {'s'})};
  Term v2[] = {make_small(1), make_small(2), atom("x"), atom("y")};
  EXPECT_EQ(print_term(*make_map(heap, k2, v2)), "#{1 => x,a => 2,b => 1,\"s\" => y}");
  EXPECT_EQ(print_term(make_small(-5)), "-5");
  EXPECT_EQ(print_term(bignum(heap, false, {0, 64})), "1180591620717411303424");
  EXPECT_EQ(print_term(bignum(heap, true, {0, 64})), "-1180591620717411303424");
}

TEST(PrintMaps, LargeMapsInHashOrder) {
  // erl: maps:from_list([{N,N} || N <- lists:seq(40,1,-1)]) prints in this order.
  Heap heap;
  std::vector<Term> keys, values;
  for (int i = 40; i >= 1; --i) {
    keys.push_back(make_small(i));
    values.push_back(make_small(i));
  }
  std::string want = "#{";
  const int order[] = {16, 18, 5,  19, 27, 35, 10, 24, 36, 4,  21, 22, 17, 3,
                       8,  1,  7,  2,  14, 15, 20, 40, 13, 38, 6,  28, 25, 34,
                       32, 9,  37, 11, 31, 26, 39, 30, 29, 23, 12, 33};
  for (int i : order)
    want += (want.size() > 2 ? "," : "") + std::to_string(i) + " => " + std::to_string(i);
  want += "}";
  EXPECT_EQ(print_term(*make_map(heap, keys, values)), want);
}

TEST(PrintIdentifiers, LocalAsErlangForeignWithNodeNames) {
  Heap heap;
  EXPECT_EQ(print_term(make_local_pid(85, 3)), "<0.85.3>");
  EXPECT_EQ(print_term(make_local_port(5)), "#Port<0.5>");
  std::uint32_t ids[] = {1, 2, 3};
  EXPECT_EQ(print_term(make_ref(heap, atoms::kNonode, 0, ids)), "#Ref<0.3.2.1>");
  std::uint32_t one[] = {1};
  EXPECT_EQ(print_term(make_ref(heap, atoms::kNonode, 0, one)), "#Ref<0.0.0.1>");
  EXPECT_EQ(print_term(make_pid(heap, atom("a@host"), 85, 7, 3)), "#Pid<a@host.3.85.7>");
  EXPECT_EQ(print_term(make_port(heap, atom("other@example.org"), 5, 2)),
            "#Port<'other@example.org'.2.5>");
  EXPECT_EQ(print_term(make_ref(heap, atom("a@host"), 1, ids)), "#Ref<a@host.1.3.2.1>");
}

TEST(PrintFuns, AsTheRuntimeWritesThem) {
  Heap heap;
  // erl: term_to_binary(fun(X) -> X + 1 end) in module e4 (without 131);
  // printed #Fun<e4.1.37767671>.
  std::vector<std::uint8_t> local{
      112, 0,   0,   0,   70,  1,   72, 9,   62, 224, 182, 77,  59,  238, 114, 122, 11, 236,
      31,  238, 78,  188, 0,   0,   0,  1,   0,  0,   0,   0,   100, 0,   2,   101, 52, 97,
      1,   98,  2,   64,  73,  247, 88, 100, 0,  13,  110, 111, 110, 111, 100, 101, 64, 110,
      111, 104, 111, 115, 116, 0,   0,  0,   9,  0,   0,   0,   0,   0,   0,   0,   0};
  EXPECT_EQ(print_term(make_fun(heap, local)), "#Fun<e4.1.37767671>");
  std::vector<std::uint8_t> ext{113, 100, 0, 5,   'l', 'i', 's', 't', 's',
                                100, 0,   3, 'm', 'a', 'p', 97,  2};
  EXPECT_EQ(print_term(make_fun(heap, ext)), "fun lists:map/2");
  // erl prints fun 'A':'b c'/0 and fun end:fun/1 (reserved words unquoted).
  std::vector<std::uint8_t> ab{113, 100, 0, 1, 'A', 100, 0, 3, 'b', ' ', 'c', 97, 0};
  EXPECT_EQ(print_term(make_fun(heap, ab)), "fun 'A':'b c'/0");
  std::vector<std::uint8_t> ef{113, 100, 0, 3, 'e', 'n', 'd', 100, 0, 3, 'f', 'u', 'n', 97, 1};
  EXPECT_EQ(print_term(make_fun(heap, ef)), "fun end:fun/1");
  // fun 'λ':'µ'/0 prints the atoms' UTF-8 bytes as characters: [206,187] and [194,181].
  std::vector<std::uint8_t> uni{113, 119, 2, 206, 187, 100, 0, 1, 181, 97, 0};
  EXPECT_EQ(print_term(make_fun(heap, uni)), "fun '\xc3\x8e\xc2\xbb':'\xc3\x82\xc2\xb5'/0");
}

TEST(PrintDepth, DeepTermsNeedNoStack) {
  Heap heap;
  Term t = kNilTerm;
  for (int i = 0; i < 200000; ++i) t = make_list(heap, {t});
  std::string s = print_term(t);
  EXPECT_EQ(s.size(), 200000u * 2 + 2);
  EXPECT_EQ(s.substr(0, 3), "[[[");
}

// ------------------------------------------------------------------ round trip
RC_GTEST_PROP(TextRoundTrip, ParseOfPrintIsIdentical, ()) {
  auto t = *nifhost::testing::gen_term();
  std::string text = print_term(t.term);
  Heap heap;
  auto back = parse_term(text, heap);
  RC_ASSERT(back.has_value());
  RC_ASSERT(identical(*back, t.term));
  RC_ASSERT(print_term(*back) == text);
}

RC_GTEST_PROP(TextRoundTrip, DeepTermsRoundTrip, ()) {
  auto t = *nifhost::testing::gen_deep_term(2000);
  std::string text = print_term(t.term);
  Heap heap;
  auto back = parse_term(text, heap);
  RC_ASSERT(back.has_value());
  RC_ASSERT(identical(*back, t.term));
}

RC_GTEST_PROP(TextRoundTrip, FloatsRoundTripBitForBit, (std::uint64_t bits)) {
  double d = std::bit_cast<double>(bits);
  RC_PRE(std::isfinite(d));
  Heap heap;
  std::string text = print_term(make_float(heap, d));
  auto back = parse_term(text, heap);
  RC_ASSERT(back.has_value());
  RC_ASSERT(std::bit_cast<std::uint64_t>(float_value(*back)) == bits);
}

RC_GTEST_PROP(TextRoundTrip, ExternalFunsRoundTrip, ()) {
  Heap heap;
  Term m = nifhost::testing::detail::gen_atom(heap);
  Term f = nifhost::testing::detail::gen_atom(heap);
  // The runtime writes a fun's atom names byte by byte, so names beyond ASCII
  // do not read back (in erl either).
  auto ascii = [](Term a) {
    std::string_view s = atom_text(a);
    return std::all_of(s.begin(), s.end(), [](char c) { return (c & 0x80) == 0; });
  };
  RC_PRE(ascii(m) && ascii(f));
  auto arity = *rc::gen::inRange(0, 256);
  std::vector<std::uint8_t> bytes{113};
  for (Term a : {m, f}) {
    auto enc = encode(a);
    RC_ASSERT(enc.has_value());
    bytes.insert(bytes.end(), enc->begin() + 1, enc->end());
  }
  bytes.push_back(97);
  bytes.push_back(static_cast<std::uint8_t>(arity));
  Term fun = make_fun(heap, bytes);
  auto back = parse_term(print_term(fun), heap);
  RC_ASSERT(back.has_value());
  auto got = fun_bytes(*back);
  RC_ASSERT(std::vector<std::uint8_t>(got.begin(), got.end()) == bytes);
}
