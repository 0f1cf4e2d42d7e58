// The enif term functions through the C ABI: numbers, atoms, strings, tuples,
// lists, type tests, comparison, hashing, copying, identifiers, exceptions,
// printf and time. Expected values come from the erl_nif documentation and
// erl_nif.c, or from the real BEAM (the oracle), never from nifhost itself.
#include <chrono>
#include <climits>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "enif_fixture.hpp"
#include "nifhost/core/atom_table.hpp"
#include "nifhost/core/env.hpp"
#include "nifhost/core/heap.hpp"
#include "nifhost/core/order.hpp"
#include "nifhost/core/terms.hpp"
#include "nifhost/testing/beam_oracle.hpp"
#include "nifhost/testing/term_gen.hpp"

namespace {

using namespace nifhost::core;
using nifhost::core::test::EnifFixture;
using nifhost::core::test::oracle;
using nifhost::core::test::TestEnv;
using nifhost::testing::Bytes;

class EnifTerms : public EnifFixture {
 protected:
  std::vector<long> small_list(ERL_NIF_TERM list) {
    std::vector<long> out;
    ERL_NIF_TERM head, tail;
    while (enif_get_list_cell(env, list, &head, &tail)) {
      long v = 0;
      EXPECT_TRUE(enif_get_long(env, head, &v));
      out.push_back(v);
      list = tail;
    }
    EXPECT_TRUE(enif_is_empty_list(env, list));
    return out;
  }
};

// ---------------------------------------------------------------- integers
TEST_F(EnifTerms, IntRoundTripsAtItsLimits) {
  for (int v : {INT_MIN, -1, 0, 1, INT_MAX}) {
    int out = 7;
    ASSERT_TRUE(enif_get_int(env, enif_make_int(env, v), &out));
    EXPECT_EQ(out, v);
  }
}

TEST_F(EnifTerms, GetIntRefusesWhatDoesNotFitAnInt) {
  int out = 7;
  EXPECT_FALSE(enif_get_int(env, enif_make_long(env, long{INT_MAX} + 1), &out));
  EXPECT_FALSE(enif_get_int(env, enif_make_long(env, long{INT_MIN} - 1), &out));
  EXPECT_FALSE(enif_get_int(env, enif_make_ulong(env, ULONG_MAX), &out));  // a bignum
  EXPECT_FALSE(enif_get_int(env, enif_make_double(env, 1.0), &out));
  EXPECT_FALSE(enif_get_int(env, enif_make_atom(env, "one"), &out));
  EXPECT_EQ(out, 7);
}

TEST_F(EnifTerms, UintRoundTripsAndRefusesNegatives) {
  unsigned out = 7;
  ASSERT_TRUE(enif_get_uint(env, enif_make_uint(env, UINT_MAX), &out));
  EXPECT_EQ(out, UINT_MAX);
  ASSERT_TRUE(enif_get_uint(env, enif_make_uint(env, 0), &out));
  EXPECT_EQ(out, 0u);
  EXPECT_FALSE(enif_get_uint(env, enif_make_int(env, -1), &out));
  EXPECT_FALSE(
      enif_get_uint(env, enif_make_ulong(env, static_cast<unsigned long>(UINT_MAX) + 1), &out));
  EXPECT_FALSE(enif_get_uint(env, enif_make_double(env, 2.0), &out));
}

TEST_F(EnifTerms, LongAndInt64RoundTripThroughBignums) {
  for (long v :
       {LONG_MIN, LONG_MIN + 1, -(1L << 59) - 1, -(1L << 59), (1L << 59) - 1, 1L << 59, LONG_MAX}) {
    ERL_NIF_TERM t = enif_make_long(env, v);
    long out = 0;
    ASSERT_TRUE(enif_get_long(env, t, &out)) << v;
    EXPECT_EQ(out, v);
    ErlNifSInt64 out64 = 0;
    ASSERT_TRUE(enif_get_int64(env, enif_make_int64(env, v), &out64));
    EXPECT_EQ(out64, v);
  }
  // Past the 60-bit immediate range the BEAM makes a bignum: same bytes as its own.
  EXPECT_EQ(etf_of(enif_make_long(env, LONG_MIN)), *oracle().encode_text("-9223372036854775808"));
  EXPECT_EQ(etf_of(enif_make_int64(env, 1L << 59)), *oracle().encode_text("576460752303423488"));
  EXPECT_EQ(etf_of(enif_make_ulong(env, ULONG_MAX)), *oracle().encode_text("18446744073709551615"));
  EXPECT_EQ(etf_of(enif_make_uint64(env, 1UL << 63)), *oracle().encode_text("9223372036854775808"));
}

TEST_F(EnifTerms, GetLongRefusesBignumsBeyondLongAndFloats) {
  long out = 7;
  EXPECT_FALSE(enif_get_long(env, enif_make_ulong(env, 1UL << 63), &out));
  EXPECT_FALSE(enif_get_long(env, beam_term("-9223372036854775809"), &out));
  EXPECT_FALSE(enif_get_long(env, enif_make_double(env, 3.0), &out));
  EXPECT_FALSE(enif_get_long(env, kNilTerm, &out));
  EXPECT_EQ(out, 7);
}

TEST_F(EnifTerms, UlongRoundTripsAndRefusesNegativesAndHugeBignums) {
  unsigned long out = 7;
  ASSERT_TRUE(enif_get_ulong(env, enif_make_ulong(env, ULONG_MAX), &out));
  EXPECT_EQ(out, ULONG_MAX);
  ErlNifUInt64 out64 = 0;
  ASSERT_TRUE(enif_get_uint64(env, enif_make_uint64(env, 1UL << 60), &out64));
  EXPECT_EQ(out64, 1UL << 60);
  EXPECT_FALSE(enif_get_ulong(env, enif_make_long(env, -1), &out));
  EXPECT_FALSE(enif_get_ulong(env, beam_term("18446744073709551616"), &out));
  EXPECT_FALSE(enif_get_uint64(env, enif_make_double(env, 1.0), &out64));
}

// ---------------------------------------------------------------- floats
TEST_F(EnifTerms, DoubleRoundTrips) {
  for (double d : {0.0, -0.0, 1.5, -1e300, 5e-324, std::numeric_limits<double>::max()}) {
    double out = 7;
    ERL_NIF_TERM t = enif_make_double(env, d);
    ASSERT_FALSE(enif_is_exception(env, t));
    ASSERT_TRUE(enif_get_double(env, t, &out));
    EXPECT_EQ(std::memcmp(&out, &d, sizeof d), 0) << d;
  }
  EXPECT_EQ(etf_of(enif_make_double(env, 0.1)), *oracle().encode_text("0.1"));
}

TEST_F(EnifTerms, GetDoubleOnlyTakesFloats) {
  double out = 7;
  EXPECT_FALSE(enif_get_double(env, enif_make_int(env, 1), &out));
  EXPECT_FALSE(enif_get_double(env, enif_make_ulong(env, ULONG_MAX), &out));
  EXPECT_FALSE(enif_get_double(env, enif_make_atom(env, "x"), &out));
  EXPECT_EQ(out, 7);
}

TEST_F(EnifTerms, MakeDoubleOfNanOrInfinityIsBadarg) {
  expect_badarg(enif_make_double(env, std::numeric_limits<double>::quiet_NaN()));
  TestEnv other;
  ErlNifEnv* e2 = other.get();
  ERL_NIF_TERM t = enif_make_double(e2, -std::numeric_limits<double>::infinity());
  EXPECT_TRUE(enif_is_exception(e2, t));
}

// ---------------------------------------------------------------- atoms
TEST_F(EnifTerms, MakeAtomIsLatin1) {
  EXPECT_EQ(enif_make_atom(env, "hello"), atom("hello"));
  // Byte 0xE9 is é in latin-1: the same atom as the UTF-8 text "café".
  EXPECT_EQ(enif_make_atom(env, "caf\xe9"), atom("caf\xc3\xa9"));
  EXPECT_EQ(enif_make_atom_len(env, "abcdef", 3), atom("abc"));
  EXPECT_EQ(enif_make_atom_len(env, "a\0b", 3), atom(std::string_view("a\0b", 3)));
  EXPECT_EQ(etf_of(enif_make_atom(env, "caf\xe9")), *oracle().encode_text("'caf\\x{e9}'"));
}

TEST_F(EnifTerms, AtomsLongerThan255CharactersAreBadarg) {
  std::string name(256, 'a');
  ERL_NIF_TERM ok = enif_make_atom_len(env, name.data(), 255);
  EXPECT_TRUE(enif_is_atom(env, ok));
  EXPECT_FALSE(enif_has_pending_exception(env, nullptr));
  expect_badarg(enif_make_atom_len(env, name.data(), 256));
  TestEnv other;
  EXPECT_TRUE(enif_is_exception(other.get(), enif_make_atom(other.get(), name.c_str())));
}

TEST_F(EnifTerms, MakeExistingAtomFindsOnlyExistingAtoms) {
  ERL_NIF_TERM out = kNilTerm;
  EXPECT_TRUE(enif_make_existing_atom(env, "ok", &out, ERL_NIF_LATIN1));
  EXPECT_EQ(out, atom("ok"));
  const char* fresh = "enif_terms_test_never_made_before_\xe9";
  EXPECT_FALSE(enif_make_existing_atom(env, fresh, &out, ERL_NIF_LATIN1));
  ERL_NIF_TERM made = enif_make_atom(env, fresh);
  EXPECT_TRUE(enif_make_existing_atom(env, fresh, &out, ERL_NIF_LATIN1));
  EXPECT_EQ(out, made);
  EXPECT_TRUE(enif_make_existing_atom_len(env, "okay", 2, &out, ERL_NIF_LATIN1));
  EXPECT_EQ(out, atom("ok"));
  std::string long_name(256, 'b');
  EXPECT_FALSE(enif_make_existing_atom_len(env, long_name.data(), 256, &out, ERL_NIF_LATIN1));
}

TEST_F(EnifTerms, GetAtomCopiesLatin1AndCountsTheNul) {
  char buf[16];
  EXPECT_EQ(enif_get_atom(env, atom("hello"), buf, 6, ERL_NIF_LATIN1), 6);
  EXPECT_STREQ(buf, "hello");
  EXPECT_EQ(enif_get_atom(env, atom("caf\xc3\xa9"), buf, sizeof buf, ERL_NIF_LATIN1), 5);
  EXPECT_STREQ(buf, "caf\xe9");
  EXPECT_EQ(enif_get_atom(env, atom(""), buf, 1, ERL_NIF_LATIN1), 1);
  EXPECT_STREQ(buf, "");
}

TEST_F(EnifTerms, GetAtomFailsWhenItCannot) {
  char buf[16] = "untouched";
  EXPECT_EQ(enif_get_atom(env, atom("hello"), buf, 5, ERL_NIF_LATIN1), 0);  // no room for NUL
  EXPECT_EQ(enif_get_atom(env, atom("hello"), buf, 0, ERL_NIF_LATIN1), 0);
  EXPECT_EQ(enif_get_atom(env, enif_make_int(env, 1), buf, 16, ERL_NIF_LATIN1), 0);
  EXPECT_EQ(enif_get_atom(env, atom("\xe2\x82\xac"), buf, 16, ERL_NIF_LATIN1), 0);  // €
}

TEST_F(EnifTerms, GetAtomLength) {
  unsigned len = 99;
  ASSERT_TRUE(enif_get_atom_length(env, atom("hello"), &len, ERL_NIF_LATIN1));
  EXPECT_EQ(len, 5u);
  ASSERT_TRUE(enif_get_atom_length(env, atom("caf\xc3\xa9"), &len, ERL_NIF_LATIN1));
  EXPECT_EQ(len, 4u);
  EXPECT_FALSE(enif_get_atom_length(env, atom("\xe2\x82\xac"), &len, ERL_NIF_LATIN1));
  EXPECT_FALSE(enif_get_atom_length(env, kNilTerm, &len, ERL_NIF_LATIN1));
}

// ---------------------------------------------------------------- strings
TEST_F(EnifTerms, MakeStringIsAListOfBytes) {
  EXPECT_EQ(small_list(enif_make_string(env, "abc", ERL_NIF_LATIN1)),
            (std::vector<long>{97, 98, 99}));
  EXPECT_EQ(small_list(enif_make_string_len(env, "\xff\0z", 3, ERL_NIF_LATIN1)),
            (std::vector<long>{255, 0, 122}));
  EXPECT_TRUE(enif_is_empty_list(env, enif_make_string(env, "", ERL_NIF_LATIN1)));
  EXPECT_EQ(etf_of(enif_make_string(env, "h\xe9", ERL_NIF_LATIN1)),
            *oracle().encode_text("[104, 233]"));
}

TEST_F(EnifTerms, GetStringReturnsLengthWithNul) {
  char buf[8];
  ERL_NIF_TERM abc = enif_make_string(env, "abc", ERL_NIF_LATIN1);
  EXPECT_EQ(enif_get_string(env, abc, buf, 4, ERL_NIF_LATIN1), 4);
  EXPECT_STREQ(buf, "abc");
  EXPECT_EQ(enif_get_string(env, kNilTerm, buf, 1, ERL_NIF_LATIN1), 1);
  EXPECT_STREQ(buf, "");
}

TEST_F(EnifTerms, GetStringTruncatesWithNegativeLength) {
  char buf[8];
  ERL_NIF_TERM abc = enif_make_string(env, "abc", ERL_NIF_LATIN1);
  EXPECT_EQ(enif_get_string(env, abc, buf, 3, ERL_NIF_LATIN1), -3);
  EXPECT_STREQ(buf, "ab");
  EXPECT_EQ(enif_get_string(env, abc, buf, 1, ERL_NIF_LATIN1), -1);
  EXPECT_STREQ(buf, "");
}

TEST_F(EnifTerms, GetStringFailsOnNonStrings) {
  char buf[8];
  EXPECT_EQ(
      enif_get_string(env, enif_make_string(env, "a", ERL_NIF_LATIN1), buf, 0, ERL_NIF_LATIN1), 0);
  EXPECT_EQ(enif_get_string(env, atom("abc"), buf, 8, ERL_NIF_LATIN1), 0);
  EXPECT_EQ(enif_get_string(env, beam_term("[97, 256]"), buf, 8, ERL_NIF_LATIN1), 0);
  EXPECT_EQ(enif_get_string(env, beam_term("[97, -1]"), buf, 8, ERL_NIF_LATIN1), 0);
  EXPECT_EQ(enif_get_string(env, beam_term("[97 | 98]"), buf, 8, ERL_NIF_LATIN1), 0);
  EXPECT_EQ(enif_get_string(env, beam_term("[97, 1.0]"), buf, 8, ERL_NIF_LATIN1), 0);
}

// NIF API 2.16 knows one encoding; anything else is refused, not guessed at.
TEST_F(EnifTerms, EncodingsOtherThanLatin1Fail) {
  auto other = static_cast<ErlNifCharEncoding>(2);
  char buf[8];
  unsigned len;
  ERL_NIF_TERM out;
  EXPECT_EQ(enif_get_string(env, enif_make_string(env, "a", ERL_NIF_LATIN1), buf, 8, other), 0);
  EXPECT_EQ(enif_get_atom(env, atom("a"), buf, 8, other), 0);
  EXPECT_FALSE(enif_get_atom_length(env, atom("a"), &len, other));
  EXPECT_FALSE(enif_make_existing_atom(env, "ok", &out, other));
  expect_badarg(enif_make_string(env, "a", other));
}

// ---------------------------------------------------------------- tuples
TEST_F(EnifTerms, TuplesFromVarargsAndArrays) {
  ERL_NIF_TERM t3 = enif_make_tuple3(env, enif_make_int(env, 1), atom("a"), kNilTerm);
  EXPECT_EQ(etf_of(t3), *oracle().encode_text("{1, a, []}"));
  ERL_NIF_TERM elems[] = {atom("x"), enif_make_int(env, 2)};
  ERL_NIF_TERM t2 = enif_make_tuple_from_array(env, elems, 2);
  int arity = 0;
  const ERL_NIF_TERM* array = nullptr;
  ASSERT_TRUE(enif_get_tuple(env, t2, &arity, &array));
  ASSERT_EQ(arity, 2);
  EXPECT_EQ(array[0], atom("x"));
  EXPECT_EQ(array[1], enif_make_int(env, 2));
  ASSERT_TRUE(enif_get_tuple(env, enif_make_tuple(env, 0), &arity, &array));
  EXPECT_EQ(arity, 0);
  EXPECT_EQ(etf_of(enif_make_tuple_from_array(env, elems, 0)), *oracle().encode_text("{}"));
}

TEST_F(EnifTerms, GetTupleRefusesNonTuples) {
  int arity = -5;
  const ERL_NIF_TERM* array = nullptr;
  EXPECT_FALSE(enif_get_tuple(env, enif_make_list1(env, atom("a")), &arity, &array));
  EXPECT_FALSE(enif_get_tuple(env, enif_make_new_map(env), &arity, &array));
  EXPECT_EQ(arity, -5);
}

// ---------------------------------------------------------------- lists
TEST_F(EnifTerms, ListsFromVarargsArraysAndCells) {
  ERL_NIF_TERM one = enif_make_int(env, 1), two = enif_make_int(env, 2);
  EXPECT_TRUE(enif_is_empty_list(env, enif_make_list(env, 0)));
  EXPECT_EQ(small_list(enif_make_list3(env, one, two, one)), (std::vector<long>{1, 2, 1}));
  EXPECT_EQ(small_list(enif_make_list9(env, one, one, one, one, one, one, one, one, two)),
            (std::vector<long>{1, 1, 1, 1, 1, 1, 1, 1, 2}));
  ERL_NIF_TERM arr[] = {two, one};
  EXPECT_EQ(small_list(enif_make_list_from_array(env, arr, 2)), (std::vector<long>{2, 1}));
  EXPECT_TRUE(enif_is_empty_list(env, enif_make_list_from_array(env, arr, 0)));
  ERL_NIF_TERM improper = enif_make_list_cell(env, one, two);
  EXPECT_EQ(etf_of(improper), *oracle().encode_text("[1 | 2]"));
  ERL_NIF_TERM head, tail;
  ASSERT_TRUE(enif_get_list_cell(env, improper, &head, &tail));
  EXPECT_EQ(head, one);
  EXPECT_EQ(tail, two);
}

TEST_F(EnifTerms, GetListCellRefusesNilAndNonLists) {
  ERL_NIF_TERM head = 0, tail = 0;
  EXPECT_FALSE(enif_get_list_cell(env, kNilTerm, &head, &tail));
  EXPECT_FALSE(enif_get_list_cell(env, enif_make_tuple(env, 0), &head, &tail));
  EXPECT_EQ(head, 0u);
}

TEST_F(EnifTerms, ListLengthOfProperListsOnly) {
  unsigned len = 99;
  ASSERT_TRUE(enif_get_list_length(env, beam_term("[1, [2, 3], 4]"), &len));
  EXPECT_EQ(len, 3u);
  ASSERT_TRUE(enif_get_list_length(env, kNilTerm, &len));
  EXPECT_EQ(len, 0u);
  len = 99;
  EXPECT_FALSE(enif_get_list_length(env, beam_term("[1, 2 | 3]"), &len));
  EXPECT_FALSE(enif_get_list_length(env, atom("a"), &len));
  EXPECT_EQ(len, 99u);
}

TEST_F(EnifTerms, ReverseList) {
  ERL_NIF_TERM out = 0;
  ASSERT_TRUE(enif_make_reverse_list(env, beam_term("[1, 2, 3]"), &out));
  EXPECT_EQ(small_list(out), (std::vector<long>{3, 2, 1}));
  ASSERT_TRUE(enif_make_reverse_list(env, kNilTerm, &out));
  EXPECT_TRUE(enif_is_empty_list(env, out));
  out = 0;
  EXPECT_FALSE(enif_make_reverse_list(env, beam_term("[1 | 2]"), &out));
  EXPECT_FALSE(enif_make_reverse_list(env, atom("a"), &out));
  EXPECT_EQ(out, 0u);
}

// ---------------------------------------------------------------- type tests
TEST_F(EnifTerms, TypePredicatesAndTermType) {
  struct Case {
    const char* text;
    ErlNifTermType type;
  };
  const Case cases[] = {
      {"42", ERL_NIF_TERM_TYPE_INTEGER},
      {"123456789012345678901234567890", ERL_NIF_TERM_TYPE_INTEGER},
      {"1.5", ERL_NIF_TERM_TYPE_FLOAT},
      {"abc", ERL_NIF_TERM_TYPE_ATOM},
      {"<<1,2>>", ERL_NIF_TERM_TYPE_BITSTRING},
      {"<<1:3>>", ERL_NIF_TERM_TYPE_BITSTRING},
      {"[]", ERL_NIF_TERM_TYPE_LIST},
      {"[1|2]", ERL_NIF_TERM_TYPE_LIST},
      {"#{a => 1}", ERL_NIF_TERM_TYPE_MAP},
      {"{a}", ERL_NIF_TERM_TYPE_TUPLE},
      {"fun erlang:abs/1", ERL_NIF_TERM_TYPE_FUN},
  };
  for (const Case& c : cases) {
    ERL_NIF_TERM t = beam_term(c.text);
    EXPECT_EQ(enif_term_type(env, t), c.type) << c.text;
    EXPECT_EQ(enif_is_number(env, t) != 0,
              c.type == ERL_NIF_TERM_TYPE_INTEGER || c.type == ERL_NIF_TERM_TYPE_FLOAT)
        << c.text;
    EXPECT_EQ(enif_is_atom(env, t) != 0, c.type == ERL_NIF_TERM_TYPE_ATOM) << c.text;
    EXPECT_EQ(enif_is_list(env, t) != 0, c.type == ERL_NIF_TERM_TYPE_LIST) << c.text;
    EXPECT_EQ(enif_is_map(env, t) != 0, c.type == ERL_NIF_TERM_TYPE_MAP) << c.text;
    EXPECT_EQ(enif_is_tuple(env, t) != 0, c.type == ERL_NIF_TERM_TYPE_TUPLE) << c.text;
    EXPECT_EQ(enif_is_fun(env, t) != 0, c.type == ERL_NIF_TERM_TYPE_FUN) << c.text;
    EXPECT_FALSE(enif_is_pid(env, t)) << c.text;
    EXPECT_FALSE(enif_is_port(env, t)) << c.text;
    EXPECT_FALSE(enif_is_ref(env, t)) << c.text;
    EXPECT_FALSE(enif_is_exception(env, t)) << c.text;
  }
  EXPECT_TRUE(enif_is_binary(env, beam_term("<<1,2>>")));
  EXPECT_FALSE(enif_is_binary(env, beam_term("<<1:3>>")));  // a bitstring is no binary
  EXPECT_TRUE(enif_is_empty_list(env, beam_term("[]")));
  EXPECT_FALSE(enif_is_empty_list(env, beam_term("[[]]")));

  ERL_NIF_TERM pid = make_local_pid(85, 0), port = make_local_port(5), ref = enif_make_ref(env);
  EXPECT_TRUE(enif_is_pid(env, pid));
  EXPECT_TRUE(enif_is_port(env, port));
  EXPECT_TRUE(enif_is_ref(env, ref));
  EXPECT_FALSE(enif_is_ref(env, pid));
  EXPECT_EQ(enif_term_type(env, pid), ERL_NIF_TERM_TYPE_PID);
  EXPECT_EQ(enif_term_type(env, port), ERL_NIF_TERM_TYPE_PORT);
  EXPECT_EQ(enif_term_type(env, ref), ERL_NIF_TERM_TYPE_REFERENCE);
}

// ---------------------------------------------------------------- comparison and hashing
TEST_F(EnifTerms, CompareAnswersMinusOneZeroOrOne) {
  ERL_NIF_TERM one = enif_make_int(env, 1), one_f = enif_make_double(env, 1.0);
  EXPECT_EQ(enif_compare(one, one_f), 0);
  EXPECT_FALSE(enif_is_identical(one, one_f));
  EXPECT_TRUE(enif_is_identical(beam_term("{a, [1]}"), beam_term("{a, [1]}")));
  EXPECT_EQ(enif_compare(enif_make_int(env, 1), enif_make_int(env, 1000)), -1);
  EXPECT_EQ(enif_compare(atom("a"), enif_make_long(env, LONG_MAX)), 1);  // number < atom
  EXPECT_EQ(enif_compare(beam_term("[]"), beam_term("{}")), 1);          // tuple < nil
}

TEST_F(EnifTerms, Phash2MatchesTheBeamAndIgnoresTheSalt) {
  for (const char* text : {"0", "hello", "{ok, [1, 2.5, <<\"bin\">>]}", "#{a => 1}"}) {
    ERL_NIF_TERM t = beam_term(text);
    auto beam = oracle().phash2(*oracle().encode_text(text));
    ASSERT_TRUE(beam.has_value());
    EXPECT_EQ(enif_hash(ERL_NIF_PHASH2, t, 0), *beam) << text;
    EXPECT_EQ(enif_hash(ERL_NIF_PHASH2, t, 12345), *beam) << text;
  }
}

TEST_F(EnifTerms, InternalHashIsStableAndUnknownTypesGiveZero) {
  ERL_NIF_TERM a = beam_term("{ok, 1}"), b = beam_term("{ok, 1}");
  EXPECT_EQ(enif_hash(ERL_NIF_INTERNAL_HASH, a, 7), enif_hash(ERL_NIF_INTERNAL_HASH, b, 7));
  EXPECT_EQ(enif_hash(static_cast<ErlNifHash>(99), a, 7), 0u);
}

// ---------------------------------------------------------------- copying
TEST_F(EnifTerms, MakeCopyOutlivesTheSource) {
  TestEnv dst;
  ERL_NIF_TERM copy;
  {
    TestEnv src;
    auto etf =
        oracle().encode_text("{ok, [1, 2.5, <<\"bin\">>, #{k => v}], -99999999999999999999}");
    ERL_NIF_TERM t;
    ASSERT_TRUE(enif_binary_to_term(src.get(), etf->data(), etf->size(), &t, 0));
    copy = enif_make_copy(dst.get(), t);
    EXPECT_TRUE(enif_is_identical(copy, t));
  }  // the source heap is gone
  ErlNifBinary bin;
  ASSERT_TRUE(enif_term_to_binary(dst.get(), copy, &bin));
  Bytes bytes(bin.data, bin.data + bin.size);
  enif_release_binary(&bin);
  EXPECT_EQ(bytes,
            *oracle().encode_text("{ok, [1, 2.5, <<\"bin\">>, #{k => v}], -99999999999999999999}"));
}

RC_GTEST_PROP(EnifTermsProp, MakeCopyPreservesIdentity, (nifhost::testing::OwnedTerm t)) {
  TestEnv dst;
  ERL_NIF_TERM copy = enif_make_copy(dst.get(), t.term);
  RC_ASSERT(enif_is_identical(copy, t.term));
  RC_ASSERT(enif_compare(copy, t.term) == 0);
}

// ---------------------------------------------------------------- references and unique integers
TEST_F(EnifTerms, RefsAreUnique) {
  ERL_NIF_TERM a = enif_make_ref(env), b = enif_make_ref(env);
  EXPECT_TRUE(enif_is_ref(env, a));
  EXPECT_NE(enif_compare(a, b), 0);
  EXPECT_FALSE(enif_is_identical(a, b));
}

TEST_F(EnifTerms, UniqueIntegers) {
  std::set<long> seen;
  long previous = LONG_MIN;
  for (int i = 0; i < 100; ++i) {
    long v;
    ASSERT_TRUE(enif_get_long(env, enif_make_unique_integer(env, ERL_NIF_UNIQUE_MONOTONIC), &v));
    EXPECT_GT(v, previous);
    previous = v;
    EXPECT_TRUE(seen.insert(v).second);
    long p;
    ASSERT_TRUE(enif_get_long(
        env,
        enif_make_unique_integer(env, static_cast<ErlNifUniqueInteger>(ERL_NIF_UNIQUE_POSITIVE |
                                                                       ERL_NIF_UNIQUE_MONOTONIC)),
        &p));
    EXPECT_GT(p, 0);
    EXPECT_TRUE(seen.insert(p).second);
    ERL_NIF_TERM plain = enif_make_unique_integer(env, static_cast<ErlNifUniqueInteger>(0));
    ASSERT_TRUE(enif_get_long(env, plain, &p));
    EXPECT_TRUE(seen.insert(p).second);
  }
}

// ---------------------------------------------------------------- pids and ports
TEST_F(EnifTerms, LocalPidsAndUndefined) {
  ErlNifPid pid;
  ERL_NIF_TERM local = make_local_pid(85, 0);
  ASSERT_TRUE(enif_get_local_pid(env, local, &pid));
  EXPECT_EQ(enif_make_pid(env, &pid), local);
  ErlNifPid same;
  ASSERT_TRUE(enif_get_local_pid(env, make_local_pid(85, 0), &same));
  EXPECT_EQ(enif_compare_pids(&pid, &same), 0);
  EXPECT_FALSE(enif_is_pid_undefined(&pid));
  enif_set_pid_undefined(&pid);
  EXPECT_TRUE(enif_is_pid_undefined(&pid));
  EXPECT_EQ(enif_make_pid(env, &pid), atom("undefined"));
}

TEST_F(EnifTerms, GetLocalPidRefusesOtherTerms) {
  ErlNifPid pid;
  pid.pid = atom("untouched");
  EXPECT_FALSE(enif_get_local_pid(env, atom("self"), &pid));
  EXPECT_FALSE(enif_get_local_pid(env, make_local_port(3), &pid));
  ERL_NIF_TERM remote = make_pid(te.heap, atom("a@host"), 85, 0, 3);
  EXPECT_TRUE(enif_is_pid(env, remote));
  EXPECT_FALSE(enif_get_local_pid(env, remote, &pid));
  EXPECT_EQ(pid.pid, atom("untouched"));
}

TEST_F(EnifTerms, LocalPorts) {
  ErlNifPort port;
  ASSERT_TRUE(enif_get_local_port(env, make_local_port(5), &port));
  EXPECT_EQ(port.port_id, make_local_port(5));
  port.port_id = kNilTerm;
  EXPECT_FALSE(enif_get_local_port(env, make_local_pid(5, 0), &port));
  EXPECT_FALSE(enif_get_local_port(env, make_port(te.heap, atom("a@host"), 5, 2), &port));
  EXPECT_EQ(port.port_id, kNilTerm);
}

// ---------------------------------------------------------------- exceptions
TEST_F(EnifTerms, NoExceptionUntilOneIsRaised) {
  ERL_NIF_TERM reason = atom("untouched");
  EXPECT_FALSE(enif_has_pending_exception(env, &reason));
  EXPECT_EQ(reason, atom("untouched"));
  EXPECT_FALSE(enif_is_exception(env, enif_make_int(env, 0)));
}

TEST_F(EnifTerms, MakeBadargRaisesBadarg) {
  ERL_NIF_TERM r = enif_make_badarg(env);
  expect_badarg(r);
  EXPECT_TRUE(enif_has_pending_exception(env, nullptr));
  EXPECT_FALSE(enif_is_exception(env, atom("badarg")));  // only the returned value is
}

TEST_F(EnifTerms, RaiseExceptionKeepsTheLastReason) {
  ERL_NIF_TERM first = enif_raise_exception(env, atom("first"));
  EXPECT_TRUE(enif_is_exception(env, first));
  ERL_NIF_TERM reason_term = enif_make_tuple2(env, atom("error"), enif_make_int(env, 42));
  ERL_NIF_TERM second = enif_raise_exception(env, reason_term);
  EXPECT_TRUE(enif_is_exception(env, second));
  ERL_NIF_TERM reason;
  ASSERT_TRUE(enif_has_pending_exception(env, &reason));
  EXPECT_TRUE(enif_is_identical(reason, reason_term));
}

// ---------------------------------------------------------------- printf
TEST_F(EnifTerms, SnprintfFormatsLikePrintf) {
  char ours[256], libc[256];
  int n = enif_snprintf(ours, sizeof ours, "%d|%5.2f|%-4s|%x|%lu|%c|%%|%lld|%zu|%p|%e", -42,
                        3.14159, "ab", 255u, ULONG_MAX, 'z', LLONG_MIN, sizeof(int),
                        static_cast<void*>(ours), 1e-300);
  int m = std::snprintf(libc, sizeof libc, "%d|%5.2f|%-4s|%x|%lu|%c|%%|%lld|%zu|%p|%e", -42,
                        3.14159, "ab", 255u, ULONG_MAX, 'z', LLONG_MIN, sizeof(int),
                        static_cast<void*>(ours), 1e-300);
  EXPECT_EQ(n, m);
  EXPECT_STREQ(ours, libc);
  n = enif_snprintf(ours, sizeof ours, "[%*d][%.*s][%hhd][%hd]", 6, 7, 2, "xyz", 300, 70000);
  m = std::snprintf(libc, sizeof libc, "[%*d][%.*s][%hhd][%hd]", 6, 7, 2, "xyz", 300, 70000);
  EXPECT_EQ(n, m);
  EXPECT_STREQ(ours, libc);
  int count = -1;
  enif_snprintf(ours, sizeof ours, "abc%n!", &count);
  EXPECT_EQ(count, 3);
}

TEST_F(EnifTerms, SnprintfTruncatesAndReturnsTheFullLength) {
  char buf[5];
  EXPECT_EQ(enif_snprintf(buf, sizeof buf, "%s", "hello world"), 11);
  EXPECT_STREQ(buf, "hell");
  EXPECT_EQ(enif_snprintf(nullptr, 0, "%d", 12345), 5);
}

// %T itself is checked against the BEAM's own printer in enif_printf_test.cpp.

int call_vsnprintf(char* buf, size_t size, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = enif_vsnprintf(buf, size, fmt, ap);
  va_end(ap);
  return n;
}

TEST_F(EnifTerms, VsnprintfAndFprintf) {
  char buf[64];
  EXPECT_EQ(call_vsnprintf(buf, sizeof buf, "%s=%T", "k", atom("v")), 3);
  EXPECT_STREQ(buf, "k=v");
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(enif_fprintf(f, "%d %T\n", 7, enif_make_tuple1(env, atom("x"))), 6);
  std::rewind(f);
  char line[64] = {};
  ASSERT_NE(std::fgets(line, sizeof line, f), nullptr);
  EXPECT_STREQ(line, "7 {x}\n");
  std::fclose(f);
}

int call_vfprintf(std::FILE* f, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = enif_vfprintf(f, fmt, ap);
  va_end(ap);
  return n;
}

TEST_F(EnifTerms, FprintfReportsAFailedWrite) {
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(call_vfprintf(f, "%T|%d", enif_make_list1(env, atom("a")), 5), 5);
  std::rewind(f);
  char line[16] = {};
  ASSERT_NE(std::fgets(line, sizeof line, f), nullptr);
  EXPECT_STREQ(line, "[a]|5");
  std::fclose(f);
  std::FILE* read_only = std::fopen("/dev/null", "r");
  ASSERT_NE(read_only, nullptr);
  EXPECT_EQ(enif_fprintf(read_only, "%s", "cannot be written"), -1);
  EXPECT_EQ(call_vfprintf(read_only, "%d", 1), -1);
  std::fclose(read_only);
}

// ---------------------------------------------------------------- time
TEST(EnifTime, MonotonicTimeNeedsASchedulerThread) {
  EXPECT_EQ(enif_monotonic_time(ERL_NIF_NSEC), ERL_NIF_TIME_ERROR);
  EXPECT_EQ(enif_time_offset(ERL_NIF_NSEC), ERL_NIF_TIME_ERROR);
}

TEST(EnifTime, MonotonicTimeAndOffsetGiveSystemTime) {
  ThreadRoleScope role(ThreadRole::kNormalScheduler);
  ErlNifTime a = enif_monotonic_time(ERL_NIF_NSEC);
  ErlNifTime b = enif_monotonic_time(ERL_NIF_NSEC);
  ASSERT_NE(a, ERL_NIF_TIME_ERROR);
  EXPECT_LE(a, b);
  ErlNifTime ms = enif_monotonic_time(ERL_NIF_MSEC);
  EXPECT_LE(ms,
            enif_convert_time_unit(enif_monotonic_time(ERL_NIF_NSEC), ERL_NIF_NSEC, ERL_NIF_MSEC));
  ErlNifTime system_us = enif_monotonic_time(ERL_NIF_USEC) + enif_time_offset(ERL_NIF_USEC);
  auto os_us = std::chrono::duration_cast<std::chrono::microseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
  EXPECT_LT(std::abs(os_us - system_us), 2'000'000);
  EXPECT_EQ(enif_monotonic_time(static_cast<ErlNifTimeUnit>(7)), ERL_NIF_TIME_ERROR);
  EXPECT_EQ(enif_time_offset(static_cast<ErlNifTimeUnit>(-1)), ERL_NIF_TIME_ERROR);
}

TEST(EnifTime, ConvertTimeUnitFloors) {
  // erlang:convert_time_unit/3 floors: -1 ns is in second -1.
  EXPECT_EQ(enif_convert_time_unit(-1, ERL_NIF_NSEC, ERL_NIF_SEC), -1);
  EXPECT_EQ(enif_convert_time_unit(-1000, ERL_NIF_USEC, ERL_NIF_MSEC), -1);
  EXPECT_EQ(enif_convert_time_unit(-1001, ERL_NIF_USEC, ERL_NIF_MSEC), -2);
  EXPECT_EQ(enif_convert_time_unit(1999, ERL_NIF_MSEC, ERL_NIF_SEC), 1);
  EXPECT_EQ(enif_convert_time_unit(3, ERL_NIF_SEC, ERL_NIF_USEC), 3'000'000);
  EXPECT_EQ(enif_convert_time_unit(5, ERL_NIF_MSEC, ERL_NIF_MSEC), 5);
  EXPECT_EQ(enif_convert_time_unit(1, static_cast<ErlNifTimeUnit>(4), ERL_NIF_SEC),
            ERL_NIF_TIME_ERROR);
  EXPECT_EQ(enif_convert_time_unit(1, ERL_NIF_SEC, static_cast<ErlNifTimeUnit>(-1)),
            ERL_NIF_TIME_ERROR);
}

TEST_F(EnifTerms, NowTimeIsStrictlyIncreasing) {
  auto micros = [&](ERL_NIF_TERM t) {
    int arity;
    const ERL_NIF_TERM* e;
    EXPECT_TRUE(enif_get_tuple(env, t, &arity, &e));
    EXPECT_EQ(arity, 3);
    long mega, sec, micro;
    EXPECT_TRUE(enif_get_long(env, e[0], &mega) && enif_get_long(env, e[1], &sec) &&
                enif_get_long(env, e[2], &micro));
    EXPECT_LT(sec, 1'000'000);
    EXPECT_LT(micro, 1'000'000);
    return (mega * 1'000'000 + sec) * 1'000'000 + micro;
  };
  long previous = micros(enif_now_time(env));
  for (int i = 0; i < 1000; ++i) {
    long next = micros(enif_now_time(env));
    ASSERT_GT(next, previous);
    previous = next;
  }
  auto os_us = std::chrono::duration_cast<std::chrono::microseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
  EXPECT_LT(std::abs(os_us - previous), 2'000'000);
}

TEST_F(EnifTerms, CpuTimeIsATimestampThatGrows) {
  int arity;
  const ERL_NIF_TERM* e;
  ASSERT_TRUE(enif_get_tuple(env, enif_cpu_time(env), &arity, &e));
  ASSERT_EQ(arity, 3);
  long sec1, micro1;
  ASSERT_TRUE(enif_get_long(env, e[1], &sec1) && enif_get_long(env, e[2], &micro1));
  volatile double sink = 0;
  for (int i = 0; i < 5'000'000; ++i) sink = sink + std::sqrt(static_cast<double>(i));
  ASSERT_TRUE(enif_get_tuple(env, enif_cpu_time(env), &arity, &e));
  long sec2, micro2;
  ASSERT_TRUE(enif_get_long(env, e[1], &sec2) && enif_get_long(env, e[2], &micro2));
  EXPECT_GT(sec2 * 1'000'000 + micro2, sec1 * 1'000'000 + micro1);
}

}  // namespace
