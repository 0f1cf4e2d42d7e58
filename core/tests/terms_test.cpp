// Term building, reading, heaps and copying.
#include "nifhost/core/terms.hpp"

#include <limits>
#include <vector>

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "nifhost/core/atom_table.hpp"
#include "nifhost/core/heap.hpp"

using namespace nifhost::core;

TEST(Immediates, SmallIntegersRoundTripAtTheEdges) {
  for (std::int64_t v : {kSmallMin, kSmallMin + 1, std::int64_t{-1}, std::int64_t{0},
                         std::int64_t{1}, kSmallMax - 1, kSmallMax}) {
    Term t = make_small(v);
    EXPECT_TRUE(is_small(t));
    EXPECT_EQ(small_value(t), v);
    EXPECT_EQ(kind_of(t), Kind::kInteger);
  }
}

RC_GTEST_PROP(Integers, Int64RoundTripsThroughSmallOrBignum, (std::int64_t v)) {
  Heap heap;
  Term t = make_integer(heap, v);
  RC_ASSERT(is_integer(t));
  RC_ASSERT(is_small(t) == fits_small(v));
  RC_ASSERT(integer_to_int64(t) == std::optional<std::int64_t>(v));
}

RC_GTEST_PROP(Integers, Uint64RoundTrips, (std::uint64_t v)) {
  Heap heap;
  Term t = make_unsigned(heap, v);
  RC_ASSERT(integer_to_uint64(t) == std::optional<std::uint64_t>(v));
}

TEST(Integers, BignumIsNormalised) {
  Heap heap;
  std::uint64_t digits[3] = {5, 0, 0};
  EXPECT_EQ(make_bignum(heap, false, digits), make_small(5));
  EXPECT_EQ(make_bignum(heap, true, digits), make_small(-5));
  std::uint64_t min_mag = std::uint64_t{1} << 59;
  EXPECT_EQ(make_bignum(heap, true, {&min_mag, 1}), make_small(kSmallMin));
  Term big = make_bignum(heap, false, {&min_mag, 1});
  EXPECT_TRUE(is_bignum(big));
  EXPECT_EQ(bignum_digit_count(big), 1u);
  EXPECT_EQ(integer_to_int64(make_integer(heap, std::numeric_limits<std::int64_t>::min())),
            std::numeric_limits<std::int64_t>::min());
}

TEST(Atoms, InternIsStableAndFixedAtomsHaveFixedIndexes) {
  EXPECT_EQ(atom("ok"), atoms::kOk);
  EXPECT_EQ(atom("true"), atoms::kTrue);
  EXPECT_EQ(atom_text(atoms::kNonode), "nonode@nohost");
  Term a = atom("some_atom_nifhost_test");
  EXPECT_EQ(atom("some_atom_nifhost_test"), a);
  EXPECT_EQ(atom_text(a), "some_atom_nifhost_test");
}

TEST(Atoms, LengthLimitCountsCharactersNotBytes) {
  std::string ok255(255, 'a');
  EXPECT_TRUE(AtomTable::instance().intern(ok255).has_value());
  EXPECT_EQ(AtomTable::instance().intern(std::string(256, 'a')).error(), AtomError::kTooLong);
  std::string utf8;
  for (int i = 0; i < 255; ++i) utf8 += "\xc3\xa9";  // é: 2 bytes, 1 character
  EXPECT_TRUE(AtomTable::instance().intern(utf8).has_value());
  EXPECT_EQ(AtomTable::instance().intern("\xc3").error(), AtomError::kBadEncoding);
  EXPECT_EQ(AtomTable::instance().intern("\xed\xa0\x80").error(), AtomError::kBadEncoding);
  auto l = AtomTable::instance().intern_latin1("caf\xe9");
  ASSERT_TRUE(l.has_value());
  EXPECT_EQ(atom_text(*l), "caf\xc3\xa9");
}

TEST(Heap, GrowsWithoutMovingWhatItHandedOut) {
  Heap heap(16);
  Term* first = heap.allocate_words(10);
  first[0] = 42;
  std::vector<Term*> all;
  for (int i = 0; i < 1000; ++i) all.push_back(heap.allocate_words(7));
  EXPECT_EQ(first[0], 42u);
  EXPECT_EQ(heap.heap_top(), 10u + 7000u);
  EXPECT_GE(heap.heap_size(), heap.heap_top());
  EXPECT_TRUE(heap.contains(first));
  EXPECT_TRUE(heap.contains(all.back()));
  int outside = 0;
  EXPECT_FALSE(heap.contains(&outside));
  heap.clear();
  EXPECT_EQ(heap.heap_top(), 0u);
}

TEST(Lists, BuildAndWalk) {
  Heap heap;
  Term l = make_list(heap, {make_small(1), make_small(2), make_small(3)});
  EXPECT_EQ(list_length(l), 3u);
  std::int64_t sum = 0;
  for (Term x : ListRange(l)) sum += small_value(x);
  EXPECT_EQ(sum, 6);
  Term improper = make_cons(heap, make_small(1), make_small(2));
  EXPECT_EQ(list_length(improper), std::nullopt);
  EXPECT_EQ(ListRange(improper).tail(), make_small(2));
  EXPECT_EQ(list_length(kNilTerm), 0u);
}

TEST(Binaries, HeapAndRefcBinariesAndSubBinaries) {
  std::int64_t live_before = RefcBinary::live_count();
  {
    Heap heap;
    Term small = make_binary(heap, "hello");
    BitstringView v = bitstring_view(small);
    EXPECT_EQ(v.owner, nullptr);
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(v.data), v.byte_size), "hello");
    std::string big_text(1000, 'x');
    Term big = make_binary(heap, big_text);
    EXPECT_NE(bitstring_view(big).owner, nullptr);
    EXPECT_EQ(RefcBinary::live_count(), live_before + 1);
    Term sub = make_sub_binary(heap, big, 10, 500);
    EXPECT_EQ(bitstring_view(sub).byte_size, 500u);
    EXPECT_EQ(bitstring_view(sub).owner, bitstring_view(big).owner);
    Heap other;
    Term copy = copy_term(other, sub);
    heap.clear();
    EXPECT_EQ(RefcBinary::live_count(), live_before + 1) << "the copy keeps the bytes alive";
    EXPECT_EQ(bitstring_view(copy).data[0], 'x');
  }
  EXPECT_EQ(RefcBinary::live_count(), live_before);
}

TEST(Copy, DeepCopyIsIndependentOfTheSource) {
  Heap a;
  std::uint64_t mag[2] = {1, 2};
  Term t = make_tuple(a, {make_list(a, {make_float(a, 1.5), make_bignum(a, true, mag)}),
                          make_binary(a, "abc"), atoms::kOk, make_unique_ref(a)});
  Heap b;
  Term c = copy_term(b, t);
  EXPECT_EQ(flat_size(t), b.heap_top());
  a.clear();
  ASSERT_TRUE(is_tuple(c));
  Term l = tuple_elements(c)[0];
  EXPECT_EQ(float_value(cons_head(l)), 1.5);
  Term big = cons_head(cons_tail(l));
  EXPECT_TRUE(bignum_negative(big));
  EXPECT_EQ(bignum_digits(big)[1], 2u);
  EXPECT_EQ(tuple_elements(c)[2], atoms::kOk);
}

TEST(Pids, LocalPidsAreImmediateAndForeignOnesBoxed) {
  Heap heap;
  Term p = make_pid(heap, atoms::kNonode, 85, 0, 0);
  EXPECT_TRUE(is_local_pid(p));
  EXPECT_EQ(pid_view(p).id, 85u);
  Term q = make_pid(heap, atom("other@host"), 85, 0, 3);
  EXPECT_TRUE(is_pid(q));
  EXPECT_FALSE(is_local_pid(q));
  EXPECT_EQ(pid_view(q).creation, 3u);
}
