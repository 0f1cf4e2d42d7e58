// The ETF decoder on hostile input: every class of malformed input gets a typed
// error naming the byte where it starts; nothing crashes, nothing allocates
// without bound, and failed decodes leave the heap usable and leak nothing.
#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "nifhost/core/atom_table.hpp"
#include "nifhost/core/etf.hpp"
#include "nifhost/core/order.hpp"
#include "nifhost/core/terms.hpp"
#include "nifhost/testing/term_gen.hpp"

namespace {

using namespace nifhost::core;
using Bytes = std::vector<std::uint8_t>;

// A zlib stream of `data` (the test builds its own compressed inputs).
Bytes zlib_of(const Bytes& data, int level = 6) {
  // Let the codec compress: it must, to be useful to erl, produce zlib streams.
  Heap h;
  Term bin =
      make_binary(h, std::string_view(reinterpret_cast<const char*>(data.data()), data.size()));
  Bytes e = encode(bin, {.compression = level}).value();
  EXPECT_EQ(e[1], etf_tag::kCompressed);
  // Strip 131, 80, size: what is left is the stream of the BINARY_EXT body.
  return Bytes(e.begin() + 6, e.end());
}

void put32(Bytes& b, std::uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<std::uint8_t>(v >> s));
}

Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const Bytes& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

const Bytes kNonode = {100, 0, 13, 'n', 'o', 'n', 'o', 'd', 'e', '@', 'n', 'o', 'h', 'o', 's', 't'};

struct Bad {
  const char* what;
  Bytes input;
  EtfErrc code;
  std::size_t offset;
};

void expect_error(const Bad& c, const DecodeOptions& options = {}) {
  Heap h;
  auto d = decode(c.input, h, options);
  ASSERT_FALSE(d.has_value()) << c.what << " decoded";
  EXPECT_EQ(etf_errc_name(d.error().code), std::string(etf_errc_name(c.code)))
      << c.what << ": " << d.error().what();
  EXPECT_EQ(d.error().offset, c.offset) << c.what << ": " << d.error().what();
  EXPECT_FALSE(d.error().detail.empty()) << c.what;
}

// ---------------------------------------------------------------- truncation
TEST(EtfHardening, TruncatedInput) {
  const Bad cases[] = {
      {"empty input", {}, EtfErrc::kTruncated, 0},
      {"version byte only", {131}, EtfErrc::kTruncated, 1},
      {"INTEGER_EXT cut short", {131, 98, 0, 0}, EtfErrc::kTruncated, 1},
      {"NEW_FLOAT_EXT cut short", {131, 70, 0, 0, 0}, EtfErrc::kTruncated, 1},
      {"FLOAT_EXT cut short", {131, 99, '1', '.', '0'}, EtfErrc::kTruncated, 1},
      {"tuple missing its second element", {131, 104, 2, 97, 1}, EtfErrc::kTruncated, 5},
      {"list missing its tail", {131, 108, 0, 0, 0, 1, 97, 1}, EtfErrc::kTruncated, 8},
      {"map missing a value", {131, 116, 0, 0, 0, 1, 97, 1}, EtfErrc::kTruncated, 8},
      {"LIST_EXT length cut short", {131, 108, 0, 0}, EtfErrc::kTruncated, 1},
      {"pid cut short after its node", cat({{131, 88}, kNonode, {0, 0, 0}}), EtfErrc::kTruncated,
       1},
      {"pid node cut short", {131, 88, 100, 0, 13, 'n', 'o'}, EtfErrc::kTruncated, 2},
      {"COMPRESSED without a size", {131, 80, 0, 0}, EtfErrc::kTruncated, 1},
      {"NEW_FUN_EXT header cut short", {131, 112, 0, 0, 0, 10, 1, 2}, EtfErrc::kTruncated, 1},
  };
  for (const Bad& c : cases) expect_error(c);
}

TEST(EtfHardening, LengthsPastTheEnd) {
  const Bad cases[] = {
      {"BINARY_EXT of 1000 bytes, 3 given",
       {131, 109, 0, 0, 3, 232, 1, 2, 3},
       EtfErrc::kTruncated,
       1},
      {"BINARY_EXT of 2^32-1 bytes", {131, 109, 255, 255, 255, 255, 0}, EtfErrc::kTruncated, 1},
      {"BIT_BINARY_EXT of 9 bytes, 1 given", {131, 77, 0, 0, 0, 9, 3, 1}, EtfErrc::kTruncated, 1},
      {"STRING_EXT of 65535, 2 given", {131, 107, 255, 255, 1, 2}, EtfErrc::kTruncated, 1},
      {"ATOM_EXT of 200, 2 given", {131, 100, 0, 200, 'o', 'k'}, EtfErrc::kTruncated, 1},
      {"SMALL_BIG_EXT of 255 bytes, 1 given", {131, 110, 255, 0, 1}, EtfErrc::kTruncated, 1},
      {"LARGE_BIG_EXT of 70000 bytes, 1 given",
       {131, 111, 0, 1, 17, 112, 0, 1},
       EtfErrc::kTruncated,
       1},
      {"NEWER_REFERENCE_EXT of 5 words, 1 given",
       cat({{131, 90, 0, 5}, kNonode, {0, 0, 0, 0, 0, 0, 0, 1}}), EtfErrc::kTruncated, 1},
      {"element inside a tuple runs past the end",
       {131, 104, 2, 97, 1, 109, 0, 0, 0, 9, 1},
       EtfErrc::kTruncated,
       5},
  };
  for (const Bad& c : cases) expect_error(c);
}

// ---------------------------------------------------------------- absurd sizes
TEST(EtfHardening, ClaimedCountsAreCheckedBeforeAllocating) {
  const Bad cases[] = {
      {"LIST_EXT of 2^32-1 elements in 10 bytes",
       {131, 108, 255, 255, 255, 255, 97, 1, 106, 0},
       EtfErrc::kTooLarge,
       1},
      {"LARGE_TUPLE_EXT of 2^32-1", {131, 105, 255, 255, 255, 255, 97, 1}, EtfErrc::kTooLarge, 1},
      {"MAP_EXT of 2^31 pairs", {131, 116, 128, 0, 0, 0, 97, 1, 97, 2}, EtfErrc::kTooLarge, 1},
      {"SMALL_TUPLE_EXT of 255 in 3 bytes", {131, 104, 255, 97, 1, 106}, EtfErrc::kTooLarge, 1},
      // Each claim fits alone, but together they promise more terms than bytes.
      {"nested claims that add up past the input",
       {131, 104, 3, 104, 3, 104, 3, 97, 1, 97, 2},
       EtfErrc::kTooLarge,
       5},
      {"fun environment of 200 in a few bytes",
       cat({{131, 112, 0, 0, 0, 0, 0},
            Bytes(16, 0),
            {0, 0, 0, 0, 0, 0, 0, 200, 100, 0, 1, 'm', 97, 0, 97, 0, 88},
            kNonode,
            Bytes(12, 0),
            {106}}),
       EtfErrc::kTooLarge, 1},
  };
  for (const Bad& c : cases) expect_error(c);
}

TEST(EtfHardening, AbsurdClaimsAllocateNothingBig) {
  Heap h(64);
  std::size_t before = h.heap_size();
  Bytes in = {131, 108, 255, 255, 255, 255, 97, 1, 106, 0};
  for (int i = 0; i < 1000; ++i) ASSERT_FALSE(decode(in, h).has_value());
  EXPECT_EQ(h.heap_size(), before);
}

TEST(EtfHardening, BignumsBeyondTheLimit) {
  // The BEAM's own limit: (2^19 - 1) * 8 bytes of magnitude.
  Bytes ok = {131, 111};
  put32(ok, (1u << 22) - 8);
  ok.push_back(0);
  ok.resize(ok.size() + (1u << 22) - 8, 0);
  ok.back() = 1;
  Heap h;
  EXPECT_TRUE(decode(ok, h).has_value());
  Bytes over = {131, 111};
  put32(over, (1u << 22) - 7);
  over.push_back(0);
  over.resize(over.size() + (1u << 22) - 7, 1);
  expect_error({"LARGE_BIG_EXT one byte over the BEAM's limit", over, EtfErrc::kTooLarge, 1});
  expect_error({"bignum over a configured limit",
                {131, 110, 9, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9},
                EtfErrc::kTooLarge,
                1},
               {.max_bignum_bytes = 8});
}

// ---------------------------------------------------------------- nesting
Bytes nested_tuples(std::size_t depth) {
  Bytes b = {131};
  for (std::size_t i = 0; i < depth; ++i) {
    b.push_back(104);
    b.push_back(1);
  }
  b.push_back(106);
  return b;
}

TEST(EtfHardening, DeepNestingIsRefused) {
  // Tuple i sits at byte 1 + 2i and at depth i; its element would be at depth i + 1,
  // so with max_depth N, N nested tuples decode and tuple N is refused.
  expect_error({"20000 nested tuples", nested_tuples(20000), EtfErrc::kTooDeep, 1 + 2 * 10000});
  expect_error({"6 nested tuples, limit 5", nested_tuples(6), EtfErrc::kTooDeep, 1 + 2 * 5},
               {.max_depth = 5});
  Heap h;
  EXPECT_TRUE(decode(nested_tuples(5), h, {.max_depth = 5}).has_value());
  EXPECT_TRUE(decode(nested_tuples(10000), h).has_value());
  // A list sent as a chain of one-cell LIST_EXTs is long, not deep.
  Bytes chain = {131};
  for (int i = 0; i < 200000; ++i) {
    Bytes cell = {108, 0, 0, 0, 1, 97, 7};
    chain.insert(chain.end(), cell.begin(), cell.end());
  }
  chain.push_back(106);
  auto d = decode(chain, h);
  ASSERT_TRUE(d.has_value()) << d.error().what();
  EXPECT_EQ(list_length(*d), std::optional<std::size_t>(200000));
  // So are 200000 empty LIST_EXTs in front of a term (each is just its tail).
  Bytes empties = {131};
  for (int i = 0; i < 200000; ++i) empties.insert(empties.end(), {108, 0, 0, 0, 0});
  empties.push_back(106);
  EXPECT_TRUE(decode(empties, h).has_value());
}

// ---------------------------------------------------------------- atoms
TEST(EtfHardening, BadAtomText) {
  const Bad cases[] = {
      {"invalid UTF-8", {131, 119, 1, 255}, EtfErrc::kBadAtom, 1},
      {"overlong UTF-8", {131, 119, 2, 0xC0, 0x80}, EtfErrc::kBadAtom, 1},
      {"UTF-8 surrogate", {131, 119, 3, 0xED, 0xA0, 0x80}, EtfErrc::kBadAtom, 1},
      {"UTF-8 cut inside a character", {131, 119, 1, 0xC3}, EtfErrc::kBadAtom, 1},
      {"past U+10FFFF", {131, 119, 4, 0xF4, 0x90, 0x80, 0x80}, EtfErrc::kBadAtom, 1},
      {"ATOM_EXT of 256 characters", cat({{131, 100, 1, 0}, Bytes(256, 'a')}), EtfErrc::kBadAtom,
       1},
      {"ATOM_UTF8_EXT of 256 characters", cat({{131, 118, 1, 0}, Bytes(256, 'a')}),
       EtfErrc::kBadAtom, 1},
      {"ATOM_UTF8_EXT of 1021 bytes", cat({{131, 118, 3, 253}, Bytes(1021, 'a')}),
       EtfErrc::kBadAtom, 1},
      {"a bad atom as a pid's node", cat({{131, 88, 119, 1, 255}, Bytes(12, 0)}), EtfErrc::kBadAtom,
       2},
  };
  for (const Bad& c : cases) expect_error(c);
}

TEST(EtfHardening, ExistingAtomsOnly) {
  std::string fresh = "etf_hardening_never_seen_atom";
  Bytes in = {131, 119, static_cast<std::uint8_t>(fresh.size())};
  in.insert(in.end(), fresh.begin(), fresh.end());
  std::uint32_t atoms_before = AtomTable::instance().count();
  expect_error({"an atom that does not exist", in, EtfErrc::kBadAtom, 1},
               {.existing_atoms_only = true});
  EXPECT_EQ(AtomTable::instance().count(), atoms_before);
  Heap h;
  EXPECT_TRUE(
      decode(Bytes{131, 100, 0, 2, 'o', 'k'}, h, {.existing_atoms_only = true}).has_value());
}

// ---------------------------------------------------------------- compression
TEST(EtfHardening, CompressedDataThatLies) {
  Bytes body(1000, 'z');
  Bytes z = zlib_of(body);  // inflates to BINARY_EXT (5 bytes) + 1000 bytes
  auto compressed = [&](std::uint32_t declared, const Bytes& stream) {
    Bytes b = {131, 80};
    put32(b, declared);
    b.insert(b.end(), stream.begin(), stream.end());
    return b;
  };
  Heap h;
  EXPECT_TRUE(decode(compressed(1005, z), h).has_value());
  const Bad cases[] = {
      {"declares more than it inflates to", compressed(1006, z), EtfErrc::kBadCompression, 2},
      {"declares less than it inflates to", compressed(1004, z), EtfErrc::kBadCompression, 2},
      {"declares more than deflate can make of it", compressed(1000000, z),
       EtfErrc::kBadCompression, 2},
      {"declares more than the limit", compressed(0xFFFFFFFF, z), EtfErrc::kTooLarge, 2},
      {"stream cut short", compressed(1005, Bytes(z.begin(), z.end() - 4)),
       EtfErrc::kBadCompression, 6},
      {"not a zlib stream", compressed(5, {1, 2, 3, 4, 5, 6, 7, 8}), EtfErrc::kBadCompression, 6},
      {"COMPRESSED inside a term", {131, 104, 1, 80, 0, 0, 0, 1, 0}, EtfErrc::kUnknownTag, 3},
      {"trailing bytes after the stream", cat({compressed(1005, z), {0}}), EtfErrc::kTrailingBytes,
       6 + z.size()},
  };
  for (const Bad& c : cases) expect_error(c);
  // The inflated term is checked like any other; offsets count from 6. The
  // stream is a stored (uncompressed) zlib block around the bad term.
  Bytes bad_inner = {104, 2, 97, 1, 70, 0x7F, 0xF0, 0, 0, 0, 0, 0, 0};
  Bytes stored = {0x78, 0x01,
                  0x01, static_cast<std::uint8_t>(bad_inner.size()),
                  0,    static_cast<std::uint8_t>(~bad_inner.size()),
                  0xFF};
  stored.insert(stored.end(), bad_inner.begin(), bad_inner.end());
  std::uint32_t a = 1, b = 0;
  for (std::uint8_t x : bad_inner) {
    a = (a + x) % 65521;
    b = (b + a) % 65521;
  }
  put32(stored, (b << 16) | a);
  expect_error({"NaN inside compressed data",
                compressed(static_cast<std::uint32_t>(bad_inner.size()), stored),
                EtfErrc::kBadFloat, 6 + 4});
}

TEST(EtfHardening, InflatingIsBoundedByTheDeclaredSize) {
  // 8 MiB of zeros deflate to ~8 KiB; declared as 1 MiB, inflating stops there.
  Bytes zeros(8u << 20, 0);
  Bytes z = zlib_of(zeros, 9);
  Bytes b = {131, 80};
  put32(b, 1u << 20);
  b.insert(b.end(), z.begin(), z.end());
  Heap h;
  auto d = decode(b, h);
  ASSERT_FALSE(d.has_value());
  EXPECT_EQ(d.error().code, EtfErrc::kBadCompression);
  EXPECT_EQ(d.error().offset, 2u);
  // Declared truthfully but over the configured limit: refused before inflating.
  Bytes t = {131, 80};
  put32(t, 5 + (8u << 20));
  t.insert(t.end(), z.begin(), z.end());
  auto over = decode(t, h, {.max_inflated_size = 4u << 20});
  ASSERT_FALSE(over.has_value());
  EXPECT_EQ(over.error().code, EtfErrc::kTooLarge);
  EXPECT_EQ(over.error().offset, 2u);
  auto fits = decode(t, h);  // the default limit is 64 MiB
  ASSERT_TRUE(fits.has_value()) << fits.error().what();
  EXPECT_EQ(bitstring_view(*fits).byte_size, 8u << 20);
}

// ---------------------------------------------------------------- trailing bytes
TEST(EtfHardening, TrailingBytes) {
  expect_error({"a byte after the term", {131, 97, 1, 0}, EtfErrc::kTrailingBytes, 3});
  expect_error({"a second term", {131, 106, 106}, EtfErrc::kTrailingBytes, 2});
  Heap h;
  auto p = decode_prefix(Bytes{131, 97, 1, 0}, h);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->used, 3u);
}

// ---------------------------------------------------------------- values erl refuses
TEST(EtfHardening, ValuesOutOfRange) {
  Bytes pid_tail = {0, 0, 0, 9, 0, 0, 0, 0};
  const Bad cases[] = {
      {"NEW_FLOAT_EXT NaN", {131, 70, 0x7F, 0xF8, 0, 0, 0, 0, 0, 0}, EtfErrc::kBadFloat, 1},
      {"NEW_FLOAT_EXT -inf", {131, 70, 0xFF, 0xF0, 0, 0, 0, 0, 0, 0}, EtfErrc::kBadFloat, 1},
      {"FLOAT_EXT overflow", cat({{131, 99}, {'1', '.', '0', 'e', '4', '0', '0'}, Bytes(24, 0)}),
       EtfErrc::kBadFloat, 1},
      {"FLOAT_EXT without a fraction", cat({{131, 99, '1', 'e', '5'}, Bytes(28, 0)}),
       EtfErrc::kBadFloat, 1},
      {"duplicate map key",
       {131, 116, 0, 0, 0, 2, 97, 1, 97, 2, 97, 1, 97, 3},
       EtfErrc::kDuplicateMapKey,
       1},
      {"duplicate key in a map inside a tuple",
       {131, 104, 2, 97, 0, 116, 0, 0, 0, 2, 100, 0, 1, 'a', 106, 100, 0, 1, 'a', 106},
       EtfErrc::kDuplicateMapKey,
       5},
      {"BIT_BINARY_EXT 0 bits of 1 byte", {131, 77, 0, 0, 0, 1, 0, 255}, EtfErrc::kBadBitstring, 1},
      {"BIT_BINARY_EXT 3 bits of 0 bytes", {131, 77, 0, 0, 0, 0, 3}, EtfErrc::kBadBitstring, 1},
      {"BIT_BINARY_EXT 9 bits", {131, 77, 0, 0, 0, 1, 9, 255}, EtfErrc::kBadBitstring, 1},
      {"local pid number over 15 bits", cat({{131, 88}, kNonode, {0, 0, 0x80, 0}, Bytes(8, 0)}),
       EtfErrc::kBadIdentifier, 1},
      {"PID_EXT creation 4", cat({{131, 103}, kNonode, pid_tail, {4}}), EtfErrc::kBadIdentifier, 1},
      {"pid node is not an atom", cat({{131, 88, 97, 1}, Bytes(12, 0)}), EtfErrc::kBadIdentifier,
       2},
      {"local port over 28 bits", cat({{131, 89}, kNonode, {0x10, 0, 0, 0}, Bytes(4, 0)}),
       EtfErrc::kBadIdentifier, 1},
      {"NEWER_REFERENCE_EXT of 6 words", cat({{131, 90, 0, 6}, kNonode, Bytes(28, 0)}),
       EtfErrc::kBadIdentifier, 1},
      {"local reference of 4 words", cat({{131, 90, 0, 4}, kNonode, Bytes(20, 0)}),
       EtfErrc::kBadIdentifier, 1},
      {"NEW_REFERENCE_EXT first word over 18 bits",
       cat({{131, 114, 0, 1}, kNonode, {0, 0, 4, 0, 0}}), EtfErrc::kBadIdentifier, 1},
      {"export arity -1",
       {131, 113, 100, 0, 1, 'm', 100, 0, 1, 'f', 98, 255, 255, 255, 255},
       EtfErrc::kBadFun,
       1},
      {"export arity is an atom",
       {131, 113, 100, 0, 1, 'm', 100, 0, 1, 'f', 100, 0, 1, 'a'},
       EtfErrc::kBadFun,
       10},
      {"export module is an integer",
       {131, 113, 97, 1, 100, 0, 1, 'f', 97, 0},
       EtfErrc::kBadFun,
       2},
      {"fun of 256 free variables",
       cat({{131, 112, 0, 0, 0, 0, 0}, Bytes(16, 0), {0, 0, 0, 0, 0, 0, 1, 0}}), EtfErrc::kBadFun,
       1},
      // erl 25.2.3 crashes on this one (a non-pid creator); refusing is the safe reading.
      {"fun creator is an atom",
       cat({{131, 112, 0, 0, 0, 0, 0}, Bytes(16, 0), {0,   0,  0, 0,  0, 0,   0, 0, 100, 0,  1,
                                                      'm', 97, 0, 97, 0, 100, 0, 2, 'o', 'k'}}),
       EtfErrc::kBadFun, 39},
  };
  for (const Bad& c : cases) expect_error(c);
}

TEST(EtfHardening, TagsThatStartNoTerm) {
  const Bad cases[] = {
      {"version 130", {130, 97, 1}, EtfErrc::kBadVersion, 0},
      {"ATOM_CACHE_REF", {131, 82, 0}, EtfErrc::kDistributionOnly, 1},
      {"DIST_HEADER", {131, 68, 0}, EtfErrc::kDistributionOnly, 1},
      {"FUN_EXT", cat({{131, 117, 0, 0, 0, 0}, kNonode}), EtfErrc::kUnknownTag, 1},
      {"LOCAL_EXT", {131, 121, 0}, EtfErrc::kUnknownTag, 1},
      {"byte 255", {131, 104, 1, 255}, EtfErrc::kUnknownTag, 3},
      {"the handle tag without the extension", cat({{131, 72}, Bytes(32, 0)}), EtfErrc::kUnknownTag,
       1},
  };
  for (const Bad& c : cases) expect_error(c);
}

// ---------------------------------------------------------------- the heap after failures
TEST(EtfHardening, FailuresLeakNothingAndLeaveTheHeapUsable) {
  std::int64_t live = RefcBinary::live_count();
  {
    Heap h;
    // A big binary decoded, then a duplicate map key: the binary is the heap's,
    // dropped with it.
    Bytes in = {131, 104, 2, 109, 0, 0, 4, 0};
    in.resize(in.size() + 1024, 7);
    Bytes dup = {116, 0, 0, 0, 2, 97, 1, 97, 2, 97, 1, 97, 3};
    in.insert(in.end(), dup.begin(), dup.end());
    for (int i = 0; i < 100; ++i) ASSERT_FALSE(decode(in, h).has_value());
    auto ok = decode(Bytes{131, 104, 2, 97, 1, 106}, h);
    ASSERT_TRUE(ok.has_value());
    Bytes again = encode(*ok).value();
    EXPECT_EQ(again, (Bytes{131, 104, 2, 97, 1, 106}));
  }
  EXPECT_EQ(RefcBinary::live_count(), live);
}

// ---------------------------------------------------------------- random damage
// Mutations of valid encodings: every one decodes or is refused with an error;
// whatever decodes is a valid term that round-trips.
Bytes mutate(Bytes b) {
  if (b.size() < 2) return b;
  switch (*rc::gen::inRange(0, 8)) {
    case 0:  // truncate
      b.resize(*rc::gen::inRange<std::size_t>(0, b.size()));
      break;
    case 1: {  // flip bits in one byte
      auto i = *rc::gen::inRange<std::size_t>(1, b.size());
      b[i] ^= *rc::gen::inRange<std::uint8_t>(1, 255);
      break;
    }
    case 2: {  // one byte set to an interesting value
      auto i = *rc::gen::inRange<std::size_t>(1, b.size());
      b[i] = *rc::gen::element<std::uint8_t>(0, 1, 0x7F, 0x80, 0xFF, 104, 108, 116, 80);
      break;
    }
    case 3: {  // a 32-bit field blown up
      if (b.size() < 6) break;
      auto i = *rc::gen::inRange<std::size_t>(1, b.size() - 4);
      b[i] = b[i + 1] = 0xFF;
      break;
    }
    case 4: {  // delete a span
      auto i = *rc::gen::inRange<std::size_t>(1, b.size());
      auto n = *rc::gen::inRange<std::size_t>(1, std::min<std::size_t>(8, b.size() - i) + 1);
      b.erase(b.begin() + static_cast<long>(i), b.begin() + static_cast<long>(i + n));
      break;
    }
    case 5: {  // insert random bytes
      auto i = *rc::gen::inRange<std::size_t>(1, b.size() + 1);
      auto ins = *rc::gen::container<Bytes>(*rc::gen::inRange<std::size_t>(1, 6),
                                            rc::gen::arbitrary<std::uint8_t>());
      b.insert(b.begin() + static_cast<long>(i), ins.begin(), ins.end());
      break;
    }
    case 6: {  // duplicate a span (repeats structure)
      auto i = *rc::gen::inRange<std::size_t>(1, b.size());
      auto n = *rc::gen::inRange<std::size_t>(1, b.size() - i + 1);
      Bytes span(b.begin() + static_cast<long>(i), b.begin() + static_cast<long>(i + n));
      b.insert(b.begin() + static_cast<long>(i), span.begin(), span.end());
      break;
    }
    default: {  // several random bytes
      for (int k = 0; k < 3; ++k)
        b[*rc::gen::inRange<std::size_t>(1, b.size())] = *rc::gen::arbitrary<std::uint8_t>();
      break;
    }
  }
  return b;
}

RC_GTEST_PROP(EtfHardening, MutatedEncodingsNeverCrash, ()) {
  auto t = *nifhost::testing::gen_term();
  bool compressed = *rc::gen::inRange(0, 4) == 0;
  Bytes valid = encode(t.term, {.compression = compressed ? 6 : 0}).value();
  // 30 damaged copies per generated term: a few thousand inputs per run.
  for (int round = 0; round < 30; ++round) {
    Bytes bad = mutate(valid);
    if (*rc::gen::inRange(0, 3) == 0) bad = mutate(bad);
    Heap h;
    auto p = decode_prefix(bad, h, {.max_depth = 50});
    if (!p) {
      RC_ASSERT(!p.error().detail.empty());
      RC_ASSERT(p.error().offset <= bad.size() + 6 + (64u << 20));
      auto d = decode(bad, h, {.max_depth = 50});
      RC_ASSERT(!d.has_value());
      continue;
    }
    RC_ASSERT(p->used <= bad.size());
    auto again = encode(p->term);
    RC_ASSERT(again.has_value());
    Heap h2;
    auto back = decode(*again, h2, {.beam_identifier_limits = false});
    if (!back) RC_FAIL(back.error().what());
    RC_ASSERT(identical(*back, p->term));
  }
}

RC_GTEST_PROP(EtfHardening, RandomBytesNeverCrash, ()) {
  auto body = *rc::gen::container<Bytes>(*rc::gen::inRange<std::size_t>(0, 64),
                                         rc::gen::arbitrary<std::uint8_t>());
  for (std::uint8_t first : {std::uint8_t{104}, std::uint8_t{108}, std::uint8_t{116},
                             std::uint8_t{80}, std::uint8_t{112}}) {
    Bytes b = {131, first};
    b.insert(b.end(), body.begin(), body.end());
    Heap h;
    auto d = decode(b, h);
    if (d) RC_ASSERT(encode(*d).has_value());
  }
}

}  // namespace
