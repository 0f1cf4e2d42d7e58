// The enif binary functions through the C ABI: ErlNifBinary buffers, binary
// terms, sub-binaries, iolists and the external term format. Expected values
// come from the erl_nif documentation and erl_nif.c, or from the real BEAM
// (the oracle), never from nifhost itself.
#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "enif_fixture.hpp"
#include "nifhost/core/atom_table.hpp"
#include "nifhost/core/env.hpp"
#include "nifhost/core/heap.hpp"
#include "nifhost/core/offheap.hpp"
#include "nifhost/core/terms.hpp"
#include "nifhost/testing/beam_oracle.hpp"
#include "nifhost/testing/term_gen.hpp"

namespace {

using namespace nifhost::core;
using nifhost::core::test::EnifFixture;
using nifhost::core::test::oracle;
using nifhost::core::test::TestEnv;
using nifhost::testing::Bytes;

// A sanitizer's allocator aborts on an impossible allocation instead of failing it.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kHugeAllocationsFail = false;
#else
constexpr bool kHugeAllocationsFail = true;
#endif

class EnifBinaries : public EnifFixture {};

// ---------------------------------------------------------------- ErlNifBinary buffers
TEST_F(EnifBinaries, AllocAndReleaseOwnAReference) {
  std::int64_t before = RefcBinary::live_count();
  ErlNifBinary bin;
  ASSERT_TRUE(enif_alloc_binary(100, &bin));
  EXPECT_EQ(bin.size, 100u);
  EXPECT_NE(bin.data, nullptr);
  EXPECT_NE(bin.ref_bin, nullptr);
  EXPECT_EQ(RefcBinary::live_count(), before + 1);
  std::memset(bin.data, 0xAB, bin.size);
  enif_release_binary(&bin);
  EXPECT_EQ(RefcBinary::live_count(), before);
}

TEST_F(EnifBinaries, AllocFailsWhenMemoryCannotBeHad) {
  if (!kHugeAllocationsFail) GTEST_SKIP() << "the sanitizer aborts instead";
  ErlNifBinary bin;
  EXPECT_FALSE(enif_alloc_binary(SIZE_MAX - 64, &bin));
}

TEST_F(EnifBinaries, MakeBinaryHandsTheBufferToTheHeap) {
  std::int64_t before = RefcBinary::live_count();
  {
    TestEnv e;
    ErlNifBinary bin;
    ASSERT_TRUE(enif_alloc_binary(200, &bin));
    for (std::size_t i = 0; i < bin.size; ++i) bin.data[i] = static_cast<unsigned char>(i);
    ERL_NIF_TERM t = enif_make_binary(e.get(), &bin);
    EXPECT_TRUE(enif_is_binary(e.get(), t));
    // Still readable after the hand-over, until the env ends.
    EXPECT_EQ(bin.data[199], 199);
    std::string expected(200, '\0');
    for (std::size_t i = 0; i < 200; ++i) expected[i] = static_cast<char>(i);
    ErlNifBinary seen;
    ASSERT_TRUE(enif_inspect_binary(e.get(), t, &seen));
    EXPECT_EQ(std::string(reinterpret_cast<char*>(seen.data), seen.size), expected);
    enif_release_binary(&bin);  // harmless after the hand-over
    EXPECT_EQ(RefcBinary::live_count(), before + 1);
  }
  EXPECT_EQ(RefcBinary::live_count(), before);
}

TEST_F(EnifBinaries, MakeBinaryOfAShrunkBuffer) {
  ErlNifBinary bin;
  ASSERT_TRUE(enif_alloc_binary(10, &bin));
  std::memcpy(bin.data, "abcdefghij", 10);
  bin.size = 4;
  EXPECT_EQ(bytes_of(enif_make_binary(env, &bin)), "abcd");
}

TEST_F(EnifBinaries, MakeBinaryRefusesASizeBeyondTheBuffer) {
  ErlNifBinary bin;
  ASSERT_TRUE(enif_alloc_binary(10, &bin));
  bin.size = 11;
  expect_badarg(enif_make_binary(env, &bin));
  bin.size = 10;
  enif_release_binary(&bin);
}

TEST_F(EnifBinaries, MakeBinaryOfAnInspectedBinaryCopiesIt) {
  ErlNifBinary bin;
  ASSERT_TRUE(enif_inspect_binary(env, beam_term("<<\"hello\">>"), &bin));
  EXPECT_EQ(bin.ref_bin, nullptr);
  TestEnv other;
  ERL_NIF_TERM copy = enif_make_binary(other.get(), &bin);
  ErlNifBinary seen;
  ASSERT_TRUE(enif_inspect_binary(other.get(), copy, &seen));
  EXPECT_EQ(std::string(reinterpret_cast<char*>(seen.data), seen.size), "hello");
  enif_release_binary(&bin);  // an inspected binary: nothing to release
}

TEST_F(EnifBinaries, ReallocGrowsAndShrinksKeepingTheBytes) {
  ErlNifBinary bin;
  ASSERT_TRUE(enif_alloc_binary(4, &bin));
  std::memcpy(bin.data, "abcd", 4);
  ASSERT_TRUE(enif_realloc_binary(&bin, 100000));
  EXPECT_EQ(bin.size, 100000u);
  EXPECT_EQ(std::memcmp(bin.data, "abcd", 4), 0);
  bin.data[99999] = 'z';
  ASSERT_TRUE(enif_realloc_binary(&bin, 2));
  EXPECT_EQ(bin.size, 2u);
  EXPECT_EQ(bytes_of(enif_make_binary(env, &bin)), "ab");
}

TEST_F(EnifBinaries, ReallocOfAnInspectedBinaryMakesAnOwnedCopy) {
  std::int64_t before = RefcBinary::live_count();
  ErlNifBinary bin;
  ASSERT_TRUE(enif_inspect_binary(env, beam_term("<<\"xyz\">>"), &bin));
  ASSERT_TRUE(enif_realloc_binary(&bin, 5));
  EXPECT_NE(bin.ref_bin, nullptr);
  EXPECT_EQ(bin.size, 5u);
  EXPECT_EQ(std::memcmp(bin.data, "xyz", 3), 0);
  EXPECT_EQ(RefcBinary::live_count(), before + 1);
  enif_release_binary(&bin);
  EXPECT_EQ(RefcBinary::live_count(), before);
}

TEST_F(EnifBinaries, ReallocFailsWhenMemoryCannotBeHad) {
  if (!kHugeAllocationsFail) GTEST_SKIP() << "the sanitizer aborts instead";
  ErlNifBinary bin;
  ASSERT_TRUE(enif_alloc_binary(8, &bin));
  std::memcpy(bin.data, "12345678", 8);
  EXPECT_FALSE(enif_realloc_binary(&bin, SIZE_MAX - 64));
  EXPECT_EQ(bin.size, 8u);  // untouched
  EXPECT_EQ(std::memcmp(bin.data, "12345678", 8), 0);
  enif_release_binary(&bin);
}

// ---------------------------------------------------------------- binary terms
TEST_F(EnifBinaries, InspectBinaryOfHeapAndRefcBinaries) {
  ErlNifBinary bin;
  ASSERT_TRUE(enif_inspect_binary(env, beam_term("<<1, 2, 3>>"), &bin));
  EXPECT_EQ(bin.size, 3u);
  EXPECT_EQ(bin.data[2], 3);
  std::string big(1000, 'q');
  ASSERT_TRUE(enif_inspect_binary(env, make_binary(te.heap, big), &bin));
  EXPECT_EQ(std::string(reinterpret_cast<char*>(bin.data), bin.size), big);
  ASSERT_TRUE(enif_inspect_binary(env, beam_term("<<>>"), &bin));
  EXPECT_EQ(bin.size, 0u);
}

TEST_F(EnifBinaries, InspectBinaryRefusesBitstringsAndOtherTerms) {
  ErlNifBinary bin;
  bin.size = 77;
  EXPECT_FALSE(enif_inspect_binary(env, beam_term("<<1, 2:3>>"), &bin));
  EXPECT_FALSE(enif_inspect_binary(env, beam_term("\"abc\""), &bin));
  EXPECT_FALSE(enif_inspect_binary(env, atom("abc"), &bin));
  EXPECT_EQ(bin.size, 77u);
}

TEST_F(EnifBinaries, MakeNewBinaryIsWritable) {
  for (std::size_t size :
       {std::size_t{0}, std::size_t{5}, std::size_t{64}, std::size_t{65}, std::size_t{5000}}) {
    ERL_NIF_TERM t = kNilTerm;
    unsigned char* data = enif_make_new_binary(env, size, &t);
    ASSERT_NE(data, nullptr);
    for (std::size_t i = 0; i < size; ++i) data[i] = static_cast<unsigned char>('a' + i % 26);
    std::string expected;
    for (std::size_t i = 0; i < size; ++i) expected.push_back(static_cast<char>('a' + i % 26));
    EXPECT_EQ(bytes_of(t), expected) << size;
  }
  ERL_NIF_TERM t;
  std::memcpy(enif_make_new_binary(env, 3, &t), "abc", 3);
  EXPECT_EQ(etf_of(t), *oracle().encode_text("<<\"abc\">>"));
}

TEST_F(EnifBinaries, MakeNewBinaryFailsWhenMemoryCannotBeHad) {
  if (!kHugeAllocationsFail) GTEST_SKIP() << "the sanitizer aborts instead";
  ERL_NIF_TERM t = atom("untouched");
  EXPECT_EQ(enif_make_new_binary(env, SIZE_MAX - 64, &t), nullptr);
  EXPECT_EQ(t, atom("untouched"));
}

TEST_F(EnifBinaries, SubBinaries) {
  std::string big(300, 'x');
  big.replace(100, 5, "HELLO");
  ERL_NIF_TERM refc = make_binary(te.heap, big);
  EXPECT_EQ(bytes_of(enif_make_sub_binary(env, refc, 100, 5)), "HELLO");
  ERL_NIF_TERM small = beam_term("<<\"abcdef\">>");
  EXPECT_EQ(bytes_of(enif_make_sub_binary(env, small, 2, 3)), "cde");
  EXPECT_EQ(bytes_of(enif_make_sub_binary(env, small, 6, 0)), "");
  EXPECT_EQ(bytes_of(enif_make_sub_binary(env, small, 0, 6)), "abcdef");
}

TEST_F(EnifBinaries, SubBinaryOutOfBoundsIsBadarg) {
  ERL_NIF_TERM small = beam_term("<<\"abcdef\">>");
  expect_badarg(enif_make_sub_binary(env, small, 4, 3));
  TestEnv e2, e3;
  EXPECT_TRUE(enif_is_exception(e2.get(), enif_make_sub_binary(e2.get(), small, 7, 0)));
  EXPECT_TRUE(enif_is_exception(e3.get(), enif_make_sub_binary(e3.get(), atom("a"), 0, 0)));
}

// ---------------------------------------------------------------- iolists
TEST_F(EnifBinaries, InspectIolistFlattensInOrder) {
  ErlNifBinary bin;
  ASSERT_TRUE(enif_inspect_iolist_as_binary(
      env, beam_term("[1, <<2, 3>>, [[4], [] | <<5>>], \"67\" | <<\"89\">>]"), &bin));
  EXPECT_EQ(std::string(reinterpret_cast<char*>(bin.data), bin.size),
            std::string("\x01\x02\x03\x04\x05"
                        "6789"));
  ASSERT_TRUE(enif_inspect_iolist_as_binary(env, beam_term("<<\"bin\">>"), &bin));
  EXPECT_EQ(std::string(reinterpret_cast<char*>(bin.data), bin.size), "bin");
  ASSERT_TRUE(enif_inspect_iolist_as_binary(env, kNilTerm, &bin));
  EXPECT_EQ(bin.size, 0u);
  EXPECT_NE(bin.data, nullptr);
  ASSERT_TRUE(enif_inspect_iolist_as_binary(env, beam_term("[[], [[]]]"), &bin));
  EXPECT_EQ(bin.size, 0u);
}

TEST_F(EnifBinaries, InspectIolistRefusesNonIolists) {
  ErlNifBinary bin;
  for (const char* text : {"[256]", "[-1]", "[a]", "[1 | 2]", "[<<1:3>>]", "<<1:3>>", "abc",
                           "[1.0]", "{1}", "[[1 | a]]"}) {
    EXPECT_FALSE(enif_inspect_iolist_as_binary(env, beam_term(text), &bin)) << text;
  }
}

TEST_F(EnifBinaries, DeepIolistsDoNotExhaustTheStack) {
  ERL_NIF_TERM t = enif_make_int(env, 7);
  for (int i = 0; i < 200000; ++i) t = enif_make_list1(env, t);
  ErlNifBinary bin;
  ASSERT_TRUE(enif_inspect_iolist_as_binary(env, t, &bin));
  ASSERT_EQ(bin.size, 1u);
  EXPECT_EQ(bin.data[0], 7);
}

// ---------------------------------------------------------------- external term format
TEST_F(EnifBinaries, TermToBinaryMatchesTheBeam) {
  for (const char* text : {"{ok, [1, 2.5, <<\"bin\">>, #{k => v}], \"str\", -99999999999999999999}",
                           "[]", "'caf\\x{e9}'", "[a | b]"}) {
    auto beam = oracle().encode_text(text);
    ASSERT_TRUE(beam.has_value());
    ErlNifBinary bin;
    ASSERT_TRUE(enif_term_to_binary(env, beam_term(text), &bin));
    EXPECT_NE(bin.ref_bin, nullptr);  // the caller owns it
    EXPECT_EQ(Bytes(bin.data, bin.data + bin.size), *beam) << text;
    enif_release_binary(&bin);
  }
}

// A remote resource handle only means something to the backend that made
// it: the external format has no place for it.
class TestRemoteResource final : public RemoteResource {
 public:
  TestRemoteResource() : RemoteResource(1, 2, 3, 4) {}

 private:
  void destroy() override { delete this; }
};

TEST_F(EnifBinaries, TermToBinaryFailsForWhatEtfCannotCarry) {
  auto* remote = new TestRemoteResource();
  ERL_NIF_TERM handle = make_handle_term(te.heap, remote);
  remote->release();  // the heap holds its own reference
  ErlNifBinary bin;
  bin.size = 77;
  EXPECT_FALSE(enif_term_to_binary(env, enif_make_tuple2(env, atom("h"), handle), &bin));
  EXPECT_EQ(bin.size, 77u);
}

TEST_F(EnifBinaries, BinaryToTermReturnsTheBytesItUsed) {
  Bytes bytes = *oracle().encode_text("{1, two}");
  std::size_t term_size = bytes.size();
  bytes.push_back(0xFF);
  bytes.push_back(0x00);
  auto beam_used = oracle().used(bytes);
  ASSERT_TRUE(beam_used.has_value());
  ERL_NIF_TERM t;
  EXPECT_EQ(enif_binary_to_term(env, bytes.data(), bytes.size(), &t, 0), *beam_used);
  EXPECT_EQ(*beam_used, term_size);
  EXPECT_EQ(enif_compare(t, enif_make_tuple2(env, enif_make_int(env, 1), atom("two"))), 0);
}

TEST_F(EnifBinaries, BinaryToTermRefusesBadInputAndUnknownOptions) {
  ERL_NIF_TERM t = atom("untouched");
  const unsigned char not_etf[] = {130, 97, 1};
  EXPECT_EQ(enif_binary_to_term(env, not_etf, sizeof not_etf, &t, 0), 0u);
  const unsigned char truncated[] = {131, 104, 2, 97};
  EXPECT_EQ(enif_binary_to_term(env, truncated, sizeof truncated, &t, 0), 0u);
  EXPECT_EQ(enif_binary_to_term(env, truncated, 0, &t, 0), 0u);
  const unsigned char one[] = {131, 97, 1};
  EXPECT_EQ(enif_binary_to_term(env, one, sizeof one, &t, 1), 0u);  // no such option
  EXPECT_EQ(t, atom("untouched"));
  EXPECT_EQ(enif_binary_to_term(env, one, sizeof one, &t, ERL_NIF_BIN2TERM_SAFE), 3u);
  EXPECT_EQ(t, enif_make_int(env, 1));
}

TEST_F(EnifBinaries, SafeBinaryToTermMakesNoNewAtoms) {
  std::string name = "enif_binaries_test_fresh_atom";
  Bytes bytes = {131, 119, static_cast<std::uint8_t>(name.size())};
  bytes.insert(bytes.end(), name.begin(), name.end());
  // The BEAM itself refuses this in safe mode (the atom is new to it too).
  EXPECT_FALSE(oracle().roundtrip_safe(bytes).has_value());
  ERL_NIF_TERM t, existing;
  EXPECT_EQ(enif_binary_to_term(env, bytes.data(), bytes.size(), &t, ERL_NIF_BIN2TERM_SAFE), 0u);
  EXPECT_FALSE(enif_make_existing_atom(env, name.c_str(), &existing, ERL_NIF_LATIN1));
  EXPECT_EQ(enif_binary_to_term(env, bytes.data(), bytes.size(), &t, 0), bytes.size());
  EXPECT_TRUE(enif_make_existing_atom(env, name.c_str(), &existing, ERL_NIF_LATIN1));
  EXPECT_EQ(t, existing);
  EXPECT_EQ(enif_binary_to_term(env, bytes.data(), bytes.size(), &t, ERL_NIF_BIN2TERM_SAFE),
            bytes.size());
}

// Local pids of the generator may exceed what binary_to_term accepts for this
// node (as in the BEAM), so the round trip uses terms without identifiers.
RC_GTEST_PROP(EnifBinariesProp, BinaryToTermUndoesTermToBinary, ()) {
  auto t = *nifhost::testing::gen_term(nifhost::testing::TermGenOptions{.identifiers = false});
  TestEnv e;
  ErlNifBinary bin;
  RC_ASSERT(enif_term_to_binary(e.get(), t.term, &bin));
  ERL_NIF_TERM back;
  std::size_t used = enif_binary_to_term(e.get(), bin.data, bin.size, &back, 0);
  RC_ASSERT(used == bin.size);
  RC_ASSERT(enif_is_identical(back, t.term));
  enif_release_binary(&bin);
}

}  // namespace
