// ETF codec: known answers taken from erl (OTP 25.2.3) and round trips.
//
// Every expected byte string here was printed by the real erl; the comment next
// to it is the Erlang expression (term_to_binary(Expr) unless it says otherwise).
#include "nifhost/core/etf.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "nifhost/core/atom_table.hpp"
#include "nifhost/core/order.hpp"
#include "nifhost/core/terms.hpp"
#include "nifhost/testing/hex.hpp"
#include "nifhost/testing/term_gen.hpp"

namespace {

using namespace nifhost::core;
using nifhost::testing::from_hex;
using nifhost::testing::to_hex;
using Bytes = std::vector<std::uint8_t>;

Bytes unhex(std::string_view h) {
  auto b = from_hex(h);
  EXPECT_TRUE(b.has_value()) << h;
  return b.value_or(Bytes{});
}

std::string encode_hex(Term t, const EncodeOptions& o = {}) {
  auto e = encode(t, o);
  EXPECT_TRUE(e.has_value()) << e.error().what();
  return e ? to_hex(*e) : std::string("<error>");
}

// erlang:crc32/1 (zlib's CRC-32), for checking long encodings against erl.
std::uint32_t crc32(const Bytes& b) {
  std::uint32_t c = 0xFFFFFFFFu;
  for (std::uint8_t x : b) {
    c ^= x;
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
  }
  return ~c;
}

Term list_of(Heap& h, std::size_t n, std::int64_t v) {
  std::vector<Term> xs(n, make_small(v));
  return make_list(h, xs);
}

Term bignum_pow2(Heap& h, unsigned bit, bool negative) {
  std::vector<std::uint64_t> d(bit / 64 + 1, 0);
  d[bit / 64] = std::uint64_t{1} << (bit % 64);
  return make_bignum(h, negative, d);
}

std::string repeat(std::string_view s, std::size_t n) {
  std::string out;
  for (std::size_t i = 0; i < n; ++i) out += s;
  return out;
}

// ---------------------------------------------------------------- exact bytes per tag
struct Kat {
  const char* erl;  // the Erlang expression erl encoded
  Term (*make)(Heap&);
  const char* hex;  // term_to_binary(Expr) as erl printed it
};

const Kat kKats[] = {
    // ATOM_EXT for latin-1 text, SMALL_ATOM_UTF8_EXT otherwise.
    {"ok", [](Heap&) { return atoms::kOk; }, "836400026f6b"},
    {"'\\x{e9}'", [](Heap&) { return atom("\xc3\xa9"); }, "83640001e9"},
    {"'\\x{15d}'", [](Heap&) { return atom("\xc5\x9d"); }, "837702c59d"},
    {"''", [](Heap&) { return atom(""); }, "83640000"},
    // SMALL_INTEGER_EXT, INTEGER_EXT, SMALL_BIG_EXT at their edges.
    {"0", [](Heap&) { return make_small(0); }, "836100"},
    {"255", [](Heap&) { return make_small(255); }, "8361ff"},
    {"256", [](Heap&) { return make_small(256); }, "836200000100"},
    {"-1", [](Heap&) { return make_small(-1); }, "8362ffffffff"},
    {"2147483647", [](Heap&) { return make_small(2147483647); }, "83627fffffff"},
    {"-2147483648", [](Heap&) { return make_small(-2147483648LL); }, "836280000000"},
    {"2147483648", [](Heap&) { return make_small(2147483648LL); }, "836e040000000080"},
    {"-2147483649", [](Heap&) { return make_small(-2147483649LL); }, "836e040101000080"},
    {"1 bsl 59 (a bignum)", [](Heap& h) { return make_integer(h, std::int64_t{1} << 59); },
     "836e08000000000000000008"},
    {"-(1 bsl 59) (a small)", [](Heap&) { return make_small(kSmallMin); },
     "836e08010000000000000008"},
    {"(1 bsl 59) - 1", [](Heap&) { return make_small(kSmallMax); }, "836e0800ffffffffffffff07"},
    {"1 bsl 64", [](Heap& h) { return bignum_pow2(h, 64, false); }, "836e0900000000000000000001"},
    {"-(1 bsl 64)", [](Heap& h) { return bignum_pow2(h, 64, true); }, "836e0901000000000000000001"},
    // NEW_FLOAT_EXT
    {"1.5", [](Heap& h) { return make_float(h, 1.5); }, "83463ff8000000000000"},
    {"-0.0", [](Heap& h) { return make_float(h, -0.0); }, "83468000000000000000"},
    {"5.0e-324", [](Heap& h) { return make_float(h, 5.0e-324); }, "83460000000000000001"},
    // SMALL_TUPLE_EXT
    {"{}", [](Heap& h) { return make_tuple(h, std::span<const Term>{}); }, "836800"},
    {"{a, 1}",
     [](Heap& h) {
       return make_tuple(h, {atom("a"), make_small(1)});
     },
     "836802640001616101"},
    // NIL_EXT, STRING_EXT, LIST_EXT (proper and improper)
    {"[]", [](Heap&) { return kNilTerm; }, "836a"},
    {"\"abc\"",
     [](Heap& h) {
       return make_list(h, {make_small(97), make_small(98), make_small(99)});
     },
     "836b0003616263"},
    {"[1, 256]",
     [](Heap& h) {
       return make_list(h, {make_small(1), make_small(256)});
     },
     "836c00000002610162000001006a"},
    {"[a | b]", [](Heap& h) { return make_cons(h, atom("a"), atom("b")); },
     "836c000000016400016164000162"},
    {"[1, 2 | 3]",
     [](Heap& h) {
       Term xs[] = {make_small(1), make_small(2)};
       return make_list(h, xs, make_small(3));
     },
     "836c00000002610161026103"},
    {"[\"ab\" | \"cd\"]",
     [](Heap& h) {
       Term ab = make_list(h, {make_small(97), make_small(98)});
       return make_cons(h, ab, make_list(h, {make_small(99), make_small(100)}));
     },
     "836c000000036b00026162616361646a"},
    {"[-1]", [](Heap& h) { return make_list(h, {make_small(-1)}); }, "836c0000000162ffffffff6a"},
    // BINARY_EXT, BIT_BINARY_EXT (unused bits zero)
    {"<<>>", [](Heap& h) { return make_binary(h, std::string_view{}); }, "836d00000000"},
    {"<<1,2,3>>", [](Heap& h) { return make_binary(h, std::string_view("\x01\x02\x03", 3)); },
     "836d00000003010203"},
    {"<<1,2,3:4>>",
     [](Heap& h) {
       std::uint8_t b[] = {1, 2, 0x3F};  // garbage in the unused bits is not emitted
       return *make_bitstring(h, b, 2, 4);
     },
     "834d0000000304010230"},
    {"<<1:1>>",
     [](Heap& h) {
       std::uint8_t b[] = {0x80};
       return *make_bitstring(h, b, 0, 1);
     },
     "834d000000010180"},
    // MAP_EXT
    {"#{}", [](Heap& h) { return make_empty_map(h); }, "837400000000"},
    {"#{a => 1, b => 2}",
     [](Heap& h) {
       Term k[] = {atom("b"), atom("a")}, v[] = {make_small(2), make_small(1)};
       return *make_map(h, k, v);
     },
     "837400000002640001616101640001626102"},
    {"#{1 => a, 1.0 => b}",
     [](Heap& h) {
       Term k[] = {make_float(h, 1.0), make_small(1)}, v[] = {atom("b"), atom("a")};
       return *make_map(h, k, v);
     },
     "837400000002610164000161463ff000000000000064000162"},
    // NEW_PID_EXT, NEW_PORT_EXT, V4_PORT_EXT, NEWER_REFERENCE_EXT
    {"list_to_pid(\"<0.9.3>\")", [](Heap&) { return make_local_pid(9, 3); },
     "835864000d6e6f6e6f6465406e6f686f7374000000090000000300000000"},
    {"binary_to_term(<<131,88,100,3:16,\"a@b\",9:32,1:32,7:32>>)",
     [](Heap& h) { return make_pid(h, atom("a@b"), 9, 1, 7); },
     "8358640003614062000000090000000100000007"},
    {"list_to_port(\"#Port<0.5>\")", [](Heap&) { return make_local_port(5); },
     "835964000d6e6f6e6f6465406e6f686f73740000000500000000"},
    {"binary_to_term(<<131,120,100,3:16,\"a@b\",(1 bsl 32):64,2:32>>)",
     [](Heap& h) { return make_port(h, atom("a@b"), std::uint64_t{1} << 32, 2); },
     "8378640003614062000000010000000000000002"},
    {"list_to_ref(\"#Ref<0.1.2.3>\")",
     [](Heap& h) {
       std::uint32_t ids[] = {3, 2, 1};
       return make_ref(h, atoms::kNonode, 0, ids);
     },
     "835a000364000d6e6f6e6f6465406e6f686f737400000000000000030000000200000001"},
    {"binary_to_term(<<131,90,2:16,100,3:16,\"a@b\",5:32,1:32,2:32>>)",
     [](Heap& h) {
       std::uint32_t ids[] = {1, 2};
       return make_ref(h, atom("a@b"), 5, ids);
     },
     "835a0002640003614062000000050000000100000002"},
    // EXPORT_EXT: a fun's bytes are emitted as they are stored.
    {"fun lists:map/2",
     [](Heap& h) {
       std::uint8_t b[] = {0x71, 0x64, 0, 5,   'l', 'i', 's',  't', 's',
                           0x64, 0,    3, 'm', 'a', 'p', 0x61, 2};
       return make_fun(h, b);
     },
     "83716400056c697374736400036d61706102"},
};

TEST(EtfKnownAnswers, EncodeIsByteIdenticalToErl) {
  for (const Kat& k : kKats) {
    Heap h;
    EXPECT_EQ(encode_hex(k.make(h)), k.hex) << k.erl;
  }
}

TEST(EtfKnownAnswers, DecodeGivesTheSameTerm) {
  for (const Kat& k : kKats) {
    Heap h;
    Term expected = k.make(h);
    Bytes b = unhex(k.hex);
    auto d = decode(b, h);
    ASSERT_TRUE(d.has_value()) << k.erl << ": " << d.error().what();
    EXPECT_TRUE(identical(*d, expected)) << k.erl;
    EXPECT_EQ(encoded_size(expected).value(), b.size()) << k.erl;
  }
}

// Encodings too long to spell out: erl's byte_size and erlang:crc32 of them.
struct LongKat {
  const char* erl;
  Term (*make)(Heap&);
  EncodeOptions options;
  std::size_t size;
  std::uint32_t crc;
};

const LongKat kLongKats[] = {
    {"list_to_atom(lists:duplicate(255, $a))  % ATOM_EXT",
     [](Heap&) { return atom(std::string(255, 'a')); },
     {},
     259,
     0xa8d02682},
    {"list_to_atom(lists:duplicate(200, 16#15d))  % ATOM_UTF8_EXT, 400 bytes",
     [](Heap&) { return atom(repeat("\xc5\x9d", 200)); },
     {},
     404,
     0xa2beac14},
    {"1 bsl 2040  % LARGE_BIG_EXT",
     [](Heap& h) { return bignum_pow2(h, 2040, false); },
     {},
     263,
     0x2b38a598},
    {"-(1 bsl 2039)  % SMALL_BIG_EXT of 255 bytes",
     [](Heap& h) { return bignum_pow2(h, 2039, true); },
     {},
     259,
     0x3813eaf5},
    {"list_to_tuple(lists:duplicate(256, 0))  % LARGE_TUPLE_EXT",
     [](Heap& h) {
       std::vector<Term> z(256, make_small(0));
       return nifhost::core::make_tuple(h, z);
     },
     {},
     518,
     0x8065bcf9},
    {"lists:duplicate(65535, 7)  % the longest STRING_EXT",
     [](Heap& h) { return list_of(h, 65535, 7); },
     {},
     65539,
     0x164b9bf2},
    {"lists:duplicate(65536, 7)  % LIST_EXT",
     [](Heap& h) { return list_of(h, 65536, 7); },
     {},
     131079,
     0xd84ee42f},
    {"maps:from_list([{I, I} || I <- lists:seq(1, 33)])  % a HAMT map, iteration order",
     [](Heap& h) {
       std::vector<Term> k;
       for (int i = 1; i <= 33; ++i) k.push_back(make_small(i));
       return *make_map(h, k, k);
     },
     {},
     138,
     0xc425d12b},
    // A HAMT map of binary keys. (Atom keys would not do: the BEAM hashes an
    // atom's table index, so their order differs between two runs of erl.)
    {"maps:from_list([{integer_to_binary(I), I} || I <- lists:seq(1, 100)])",
     [](Heap& h) {
       std::vector<Term> k, v;
       for (int i = 1; i <= 100; ++i) {
         k.push_back(make_binary(h, std::to_string(i)));
         v.push_back(make_small(i));
       }
       return *make_map(h, k, v);
     },
     {},
     898,
     0x1a0b0edb},
    {"term_to_binary(lists:seq(1, 300), [compressed])",
     [](Heap& h) {
       std::vector<Term> xs;
       for (int i = 1; i <= 300; ++i) xs.push_back(make_small(i));
       return make_list(h, xs);
     },
     {.compression = kDefaultCompression},
     496,
     0xee562523},
    {"term_to_binary(lists:seq(1, 300), [{compressed, 1}])",
     [](Heap& h) {
       std::vector<Term> xs;
       for (int i = 1; i <= 300; ++i) xs.push_back(make_small(i));
       return make_list(h, xs);
     },
     {.compression = 1},
     496,
     0x21bf2920},
    {"term_to_binary(lists:seq(1, 300), [{compressed, 9}])",
     [](Heap& h) {
       std::vector<Term> xs;
       for (int i = 1; i <= 300; ++i) xs.push_back(make_small(i));
       return make_list(h, xs);
     },
     {.compression = 9},
     496,
     0xc7e319e1},
    {"term_to_binary(binary:copy(<<\"abcdefgh\">>, 100000), [compressed])",
     [](Heap& h) { return make_binary(h, repeat("abcdefgh", 100000)); },
     {.compression = kDefaultCompression},
     1207,
     0x7afdbd8e},
    {"term_to_binary(list_to_tuple([binary:copy(<<I>>, 70000) || I <- lists:seq(1, 8)]), "
     "[compressed])  % over erl's 256 KiB deflate chunk",
     [](Heap& h) {
       std::vector<Term> e;
       for (int i = 1; i <= 8; ++i)
         e.push_back(make_binary(h, std::string(70000, static_cast<char>(i))));
       return nifhost::core::make_tuple(h, e);
     },
     {.compression = kDefaultCompression},
     614,
     0xe4102c96},
};

TEST(EtfKnownAnswers, LongEncodingsMatchErlsSizeAndCrc) {
  for (const LongKat& k : kLongKats) {
    Heap h;
    Term t = k.make(h);
    auto e = encode(t, k.options);
    ASSERT_TRUE(e.has_value()) << k.erl;
    EXPECT_EQ(e->size(), k.size) << k.erl;
    EXPECT_EQ(crc32(*e), k.crc) << k.erl;
    auto d = decode(*e, h);
    ASSERT_TRUE(d.has_value()) << k.erl << ": " << d.error().what();
    EXPECT_TRUE(identical(*d, t)) << k.erl;
  }
}

TEST(EtfKnownAnswers, CompressionIsUsedOnlyWhenItPays) {
  Heap h;
  // term_to_binary(<<"abc">>, [compressed]): the zlib stream would be longer.
  EXPECT_EQ(encode_hex(make_binary(h, "abc"), {.compression = kDefaultCompression}),
            "836d00000003616263");
  // term_to_binary(lists:duplicate(100, 1), [compressed])
  EXPECT_EQ(encode_hex(list_of(h, 100, 1), {.compression = kDefaultCompression}),
            "835000000067789ccb664861a403000066a20134");
  // term_to_binary(lists:duplicate(20, 1), [compressed]): 14 zlib bytes <= 23 - 5
  EXPECT_EQ(encode_hex(list_of(h, 20, 1), {.compression = kDefaultCompression}),
            "835000000017789ccb661061c402000c2a0094");
  // Level 0 is term_to_binary/1.
  EXPECT_EQ(encode_hex(list_of(h, 100, 1), {.compression = 0}), encode_hex(list_of(h, 100, 1)));
  auto bad = encode(list_of(h, 3, 1), {.compression = 10});
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code, EtfErrc::kUnencodable);
}

// ---------------------------------------------------------------- what erl accepts
// Inputs fed to erl 25.2.3 as term_to_binary(binary_to_term(In)): the third
// field is its answer in hex, or "" when binary_to_term raised badarg. Covers the
// older tags erl still reads, non-canonical forms, and the edge cases it refuses.
struct ErlCase {
  const char* name;
  const char* input;
  const char* reencoded;
};

const ErlCase kErlCases[] = {
    {"fun as erl encodes it",
     "83700000004e01469a8ef1f76268b321d258386e6a98b2000000000000000164000276746100620234d4775864000"
     "d6e6f6e6f6465406e6f686f73740000000900000000000000006d00000003616263",
     "83700000004e01469a8ef1f76268b321d258386e6a98b2000000000000000164000276746100620234d4775864000"
     "d6e6f6e6f6465406e6f686f73740000000900000000000000006d00000003616263"},
    {"fun with a wrong Size field",
     "8370ffffffff01469a8ef1f76268b321d258386e6a98b2000000000000000164000276746100620234d4775864000"
     "d6e6f6e6f6465406e6f686f73740000000900000000000000006d00000003616263",
     "83700000004e01469a8ef1f76268b321d258386e6a98b2000000000000000164000276746100620234d4775864000"
     "d6e6f6e6f6465406e6f686f73740000000900000000000000006d00000003616263"},
    {"fun module as SMALL_ATOM_EXT",
     "83700000004e01469a8ef1f76268b321d258386e6a98b20000000000000001730276746100620234d4775864000d6"
     "e6f6e6f6465406e6f686f73740000000900000000000000006d00000003616263",
     "83700000004e01469a8ef1f76268b321d258386e6a98b2000000000000000164000276746100620234d4775864000"
     "d6e6f6e6f6465406e6f686f73740000000900000000000000006d00000003616263"},
    {"fun OldIndex as SMALL_BIG_EXT",
     "83700000004e01469a8ef1f76268b321d258386e6a98b2000000000000000164000276746e010000620234d477586"
     "4000d6e6f6e6f6465406e6f686f73740000000900000000000000006d00000003616263",
     "83700000004e01469a8ef1f76268b321d258386e6a98b2000000000000000164000276746100620234d4775864000"
     "d6e6f6e6f6465406e6f686f73740000000900000000000000006d00000003616263"},
    {"fun OldIndex -1",
     "83700000004e01469a8ef1f76268b321d258386e6a98b20000000000000001640002767462ffffffff620234d4775"
     "864000d6e6f6e6f6465406e6f686f73740000000900000000000000006d00000003616263",
     "83700000005101469a8ef1f76268b321d258386e6a98b20000000000000001640002767462ffffffff620234d4775"
     "864000d6e6f6e6f6465406e6f686f73740000000900000000000000006d00000003616263"},
    {"fun OldUniq 2^40 (kept in 32 bits)",
     "83700000004e01469a8ef1f76268b321d258386e6a98b20000000000000001640002767461006e060000000000000"
     "15864000d6e6f6e6f6465406e6f686f73740000000900000000000000006d00000003616263",
     "83700000004b01469a8ef1f76268b321d258386e6a98b200000000000000016400027674610061005864000d6e6f6"
     "e6f6465406e6f686f73740000000900000000000000006d00000003616263"},
    {"fun OldUniq 2^32+5",
     "83700000004e01469a8ef1f76268b321d258386e6a98b20000000000000001640002767461006e050005000000015"
     "864000d6e6f6e6f6465406e6f686f73740000000900000000000000006d00000003616263",
     "83700000004b01469a8ef1f76268b321d258386e6a98b200000000000000016400027674610061055864000d6e6f6"
     "e6f6465406e6f686f73740000000900000000000000006d00000003616263"},
    {"fun creator as PID_EXT",
     "83700000004e01469a8ef1f76268b321d258386e6a98b2000000000000000164000276746100620234d4776764000"
     "d6e6f6e6f6465406e6f686f73740000000100000000006d00000003616263",
     "83700000004e01469a8ef1f76268b321d258386e6a98b2000000000000000164000276746100620234d4775864000"
     "d6e6f6e6f6465406e6f686f73740000000100000000000000006d00000003616263"},
    {"fun creator external",
     "83700000004e01469a8ef1f76268b321d258386e6a98b2000000000000000164000276746100620234d4775864000"
     "36140620000000100000000000000016d00000003616263",
     "83700000004401469a8ef1f76268b321d258386e6a98b2000000000000000164000276746100620234d4775864000"
     "36140620000000100000000000000016d00000003616263"},
    {"fun free variable as SMALL_ATOM_EXT",
     "83700000004e01469a8ef1f76268b321d258386e6a98b2000000000000000164000276746100620234d4775864000"
     "d6e6f6e6f6465406e6f686f7374000000090000000000000000730178",
     "83700000004a01469a8ef1f76268b321d258386e6a98b2000000000000000164000276746100620234d4775864000"
     "d6e6f6e6f6465406e6f686f737400000009000000000000000064000178"},
    {"fun arity 255, 2 free variables",
     "83700000004eff469a8ef1f76268b321d258386e6a98b2000000000000000264000276746100620234d4775864000"
     "d6e6f6e6f6465406e6f686f73740000000900000000000000006d000000036162636107",
     "837000000050ff469a8ef1f76268b321d258386e6a98b2000000000000000264000276746100620234d4775864000"
     "d6e6f6e6f6465406e6f686f73740000000900000000000000006d000000036162636107"},
    {"fun without free variables",
     "83700000004e00469a8ef1f76268b321d258386e6a98b2000000000000000064000276746100620234d4775864000"
     "d6e6f6e6f6465406e6f686f7374000000090000000000000000",
     "83700000004600469a8ef1f76268b321d258386e6a98b2000000000000000064000276746100620234d4775864000"
     "d6e6f6e6f6465406e6f686f7374000000090000000000000000"},
    {"fun OldUniq float",
     "83700000004e01469a8ef1f76268b321d258386e6a98b200000000000000016400027674610046000000000000000"
     "05864000d6e6f6e6f6465406e6f686f73740000000900000000000000006d00000003616263",
     ""},
    {"fun module not an atom",
     "83700000004e01469a8ef1f76268b321d258386e6a98b2000000000000000161016100620234d4775864000d6e6f6"
     "e6f6465406e6f686f73740000000900000000000000006d00000003616263",
     ""},
    {"fun 256 free variables",
     "83700000004e01469a8ef1f76268b321d258386e6a98b2000000000000010064000276746100620234d4775864000"
     "d6e6f6e6f6465406e6f686f73740000000900000000000000006d00000003616263",
     ""},
    {"export small atoms", "837173056c6973747373036d61706102",
     "83716400056c697374736400036d61706102"},
    {"export arity INTEGER_EXT 256", "83716400016d640001666200000100",
     "83716400016d640001666200000100"},
    {"export arity SMALL_BIG_EXT 5", "83716400016d640001666e010005", "83716400016d640001666105"},
    {"export arity 2^40 (kept in 32 bits)", "83716400016d640001666e0600000000000001",
     "83716400016d640001666100"},
    {"export arity 2^59-1", "83716400016d640001666e0800ffffffffffffff07",
     "83716400016d640001666e0400ffffffff"},
    {"export arity 2^59", "83716400016d640001666e08000000000000000008", ""},
    {"export arity -1", "83716400016d6400016662ffffffff", ""},
    {"export arity atom", "83716400016d6400016664000161", ""},
    {"SMALL_BIG_EXT 5", "836e010005", "836105"},
    {"SMALL_BIG_EXT leading zero", "836e02000500", "836105"},
    {"SMALL_BIG_EXT negative zero", "836e010100", "836100"},
    {"SMALL_BIG_EXT no digits", "836e0000", "836100"},
    {"SMALL_BIG_EXT sign byte 2", "836e010205", "8362fffffffb"},
    {"LARGE_BIG_EXT 7", "836f000000010007", "836107"},
    {"LARGE_BIG_EXT 2^64 with zeros", "836f0000000c00000000000000000001000000",
     "836e0900000000000000000001"},
    {"SMALL_BIG_EXT -2^31", "836e040100000080", "836280000000"},
    {"SMALL_BIG_EXT -2^59", "836e08010000000000000008", "836e08010000000000000008"},
    {"INTEGER_EXT 5", "836200000005", "836105"},
    {"SMALL_ATOM_EXT ok", "8373026f6b", "836400026f6b"},
    {"ATOM_UTF8_EXT e-acute", "83760002c3a9", "83640001e9"},
    {"SMALL_ATOM_UTF8_EXT ascii", "8377026f6b", "836400026f6b"},
    {"ATOM_EXT latin-1 bytes c5 9d", "83640002c59d", "83640002c59d"},
    {"ATOM_EXT NUL", "8364000100", "8364000100"},
    {"SMALL_ATOM_UTF8_EXT U+1F600", "837704f09f9880", "837704f09f9880"},
    {"FLOAT_EXT 1.5", "8363312e3530303030303030303030303030303030303030652b30300000000000",
     "83463ff8000000000000"},
    {"FLOAT_EXT -1.5", "83632d312e35000000000000000000000000000000000000000000000000000000",
     "8346bff8000000000000"},
    {"FLOAT_EXT +1.5", "83632b312e35000000000000000000000000000000000000000000000000000000",
     "83463ff8000000000000"},
    {"FLOAT_EXT 1,5", "8363312e3500000000000000000000000000000000000000000000000000000000",
     "83463ff8000000000000"},
    {"FLOAT_EXT 1.5e+3", "8363312e35652b3300000000000000000000000000000000000000000000000000",
     "83464097700000000000"},
    {"FLOAT_EXT 1.5E-3", "8363312e35452d3300000000000000000000000000000000000000000000000000",
     "83463f589374bc6a7efa"},
    {"FLOAT_EXT 4.9e-324", "8363342e39652d3332340000000000000000000000000000000000000000000000",
     "83460000000000000001"},
    {"FLOAT_EXT 1.0e-400", "8363312e30652d3430300000000000000000000000000000000000000000000000",
     "83460000000000000000"},
    {"FLOAT_EXT -1.0e-400", "83632d312e30652d34303000000000000000000000000000000000000000000000",
     "83468000000000000000"},
    {"FLOAT_EXT text after NUL",
     "8363312e3500616263000000000000000000000000000000000000000000000000", "83463ff8000000000000"},
    {"FLOAT_EXT 1e5", "836331653500000000000000000000000000000000000000000000000000000000", ""},
    {"FLOAT_EXT 1.", "8363312e0000000000000000000000000000000000000000000000000000000000", ""},
    {"FLOAT_EXT .5", "83632e350000000000000000000000000000000000000000000000000000000000", ""},
    {"FLOAT_EXT leading space",
     "836320312e35000000000000000000000000000000000000000000000000000000", ""},
    {"FLOAT_EXT trailing space",
     "8363312e3520000000000000000000000000000000000000000000000000000000", ""},
    {"FLOAT_EXT inf", "8363696e6600000000000000000000000000000000000000000000000000000000", ""},
    {"FLOAT_EXT 1.0e400", "8363312e3065343030000000000000000000000000000000000000000000000000", ""},
    {"FLOAT_EXT 1.7976931348623159e308",
     "8363312e3739373639333133343836323331353965333038000000000000000000", ""},
    {"NEW_FLOAT_EXT NaN", "83467ff8000000000000", ""},
    {"NEW_FLOAT_EXT -inf", "8346fff0000000000000", ""},
    {"PID_EXT local", "836764000d6e6f6e6f6465406e6f686f7374000000090000000000",
     "835864000d6e6f6e6f6465406e6f686f7374000000090000000000000000"},
    {"PID_EXT creation 3", "836764000d6e6f6e6f6465406e6f686f7374000000090000000003",
     "835864000d6e6f6e6f6465406e6f686f7374000000090000000000000003"},
    {"PID_EXT creation 4", "836764000d6e6f6e6f6465406e6f686f7374000000090000000004", ""},
    {"NEW_PID_EXT node as SMALL_ATOM_UTF8_EXT",
     "8358770d6e6f6e6f6465406e6f686f7374000000000000000000000000",
     "835864000d6e6f6e6f6465406e6f686f7374000000000000000000000000"},
    {"NEW_PID_EXT nonode@nohost creation 1",
     "835864000d6e6f6e6f6465406e6f686f7374000000090000000000000001",
     "835864000d6e6f6e6f6465406e6f686f7374000000090000000000000001"},
    {"NEW_PID_EXT local number 0x8000",
     "835864000d6e6f6e6f6465406e6f686f7374000080000000000000000000", ""},
    {"NEW_PID_EXT local serial 0x2000",
     "835864000d6e6f6e6f6465406e6f686f7374000000000000200000000000", ""},
    {"NEW_PID_EXT external 2^32-1", "8358640003614062ffffffffffffffff00000001",
     "8358640003614062ffffffffffffffff00000001"},
    {"NEW_PID_EXT node is an integer", "83586101000000000000000000000000", ""},
    {"PORT_EXT local", "836664000d6e6f6e6f6465406e6f686f73740000000500",
     "835964000d6e6f6e6f6465406e6f686f73740000000500000000"},
    {"PORT_EXT creation 4", "83666400036140620000000504", ""},
    {"V4_PORT_EXT local small", "837864000d6e6f6e6f6465406e6f686f7374000000000fffffff00000000",
     "835964000d6e6f6e6f6465406e6f686f73740fffffff00000000"},
    {"V4_PORT_EXT local 2^28", "837864000d6e6f6e6f6465406e6f686f7374000000001000000000000000", ""},
    {"NEW_PORT_EXT external 2^28", "83596400036140621000000000000002",
     "8378640003614062000000001000000000000002"},
    {"NEW_PORT_EXT external 2^28-1", "83596400036140620fffffff00000002",
     "83596400036140620fffffff00000002"},
    {"REFERENCE_EXT local", "836564000d6e6f6e6f6465406e6f686f73740003ffff00",
     "835a000364000d6e6f6e6f6465406e6f686f7374000000000003ffff0000000000000000"},
    {"REFERENCE_EXT external", "83656400036140620003ffff03",
     "835a0001640003614062000000030003ffff"},
    {"REFERENCE_EXT first word 2^18", "836564000d6e6f6e6f6465406e6f686f73740004000000", ""},
    {"NEW_REFERENCE_EXT local",
     "8372000364000d6e6f6e6f6465406e6f686f737400000000010000000200000003",
     "835a000364000d6e6f6e6f6465406e6f686f737400000000000000010000000200000003"},
    {"NEW_REFERENCE_EXT creation 2",
     "8372000364000d6e6f6e6f6465406e6f686f737402000000010000000200000003",
     "835a000364000d6e6f6e6f6465406e6f686f737400000002000000010000000200000003"},
    {"NEW_REFERENCE_EXT external 5 words",
     "83720005640003614062030003ffffffffffffffffffff0000000100000002",
     "835a0005640003614062000000030003ffffffffffffffffffff0000000100000002"},
    {"NEW_REFERENCE_EXT creation 4", "83720003640003614062040003ffff0000000100000001", ""},
    {"NEW_REFERENCE_EXT first word 2^32-1", "8372000364000361406203ffffffff0000000100000001", ""},
    {"NEWER_REFERENCE_EXT local 1 word", "835a000164000d6e6f6e6f6465406e6f686f73740000000000000001",
     "835a000364000d6e6f6e6f6465406e6f686f737400000000000000010000000000000000"},
    {"NEWER_REFERENCE_EXT local 2 words",
     "835a000264000d6e6f6e6f6465406e6f686f7374000000000000000100000002",
     "835a000364000d6e6f6e6f6465406e6f686f737400000000000000010000000200000000"},
    {"NEWER_REFERENCE_EXT local 4 words",
     "835a000464000d6e6f6e6f6465406e6f686f73740000000000000001000000020000000300000004", ""},
    {"NEWER_REFERENCE_EXT local first word 2^18",
     "835a000364000d6e6f6e6f6465406e6f686f737400000000000400000000000100000002", ""},
    {"NEWER_REFERENCE_EXT external 5 words",
     "835a000564000361406200000001ffffffff00000002000000030000000400000005",
     "835a000564000361406200000001ffffffff00000002000000030000000400000005"},
    {"NEWER_REFERENCE_EXT 6 words",
     "835a000664000361406200000001000000010000000200000003000000040000000500000006", ""},
    {"NEWER_REFERENCE_EXT nonode@nohost creation 1",
     "835a000464000d6e6f6e6f6465406e6f686f737400000001ffffffff000000020000000300000004",
     "835a000464000d6e6f6e6f6465406e6f686f737400000001ffffffff000000020000000300000004"},
    {"LIST_EXT of 0 cells (the tail)", "836c000000006101", "836101"},
    {"LIST_EXT with a STRING_EXT tail", "836c00000002610161026b00020304", "836b000401020304"},
    {"LIST_EXT of small integers", "836c00000002610161026a", "836b00020102"},
    {"STRING_EXT of 0", "836b0000", "836a"},
    {"LARGE_TUPLE_EXT of 2", "83690000000261016102", "83680261016102"},
    {"MAP_EXT out of order", "8374000000026102610261016103", "8374000000026101610361026102"},
    {"MAP_EXT duplicate key", "8374000000026101610261016103", ""},
    {"MAP_EXT 33 keys, one repeated",
     "837400000021610161016102610261036103610461046105610561066106610761076108610861096109610a610a6"
     "10b610b610c610c610d610d610e610e610f610f611061106111611161126112611361136114611461156115611661"
     "16611761176118611861196119611a611a611b611b611c611c611d611d611e611e611f611f6120612061016109",
     ""},
    {"MAP_EXT 1 and 1.0", "837400000002463ff0000000000000610261016103",
     "83740000000261016103463ff00000000000006102"},
    {"BIT_BINARY_EXT unused bits set", "834d0000000104ff", "834d0000000104f0"},
    {"BIT_BINARY_EXT 8 bits", "834d0000000108ff", "836d00000001ff"},
    {"BIT_BINARY_EXT empty", "834d0000000000", "836d00000000"},
    {"BIT_BINARY_EXT 0 bits of 1 byte", "834d0000000100ff", ""},
    {"BIT_BINARY_EXT 3 bits of 0 bytes", "834d0000000003", ""},
    {"BIT_BINARY_EXT 9 bits", "834d0000000109ff", ""},
    {"ATOM_EXT of 256",
     "836401006161616161616161616161616161616161616161616161616161616161616161616161616161616161616"
     "161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161"
     "616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616"
     "161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161"
     "616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616"
     "1616161616161616161616161616161616161616161616161616161",
     ""},
    {"ATOM_UTF8_EXT of 255 two-byte characters",
     "837601fec59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc"
     "59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc5"
     "9dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59"
     "dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59d"
     "c59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc"
     "59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc5"
     "9dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59"
     "dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59d"
     "c59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc"
     "59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc5"
     "9dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59"
     "dc59d",
     "837601fec59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc"
     "59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc5"
     "9dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59"
     "dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59d"
     "c59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc"
     "59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc5"
     "9dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59"
     "dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59d"
     "c59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc"
     "59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc5"
     "9dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59"
     "dc59d"},
    {"ATOM_UTF8_EXT of 256 two-byte characters",
     "83760200c59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc"
     "59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc5"
     "9dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59"
     "dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59d"
     "c59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc"
     "59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc5"
     "9dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59"
     "dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59d"
     "c59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc"
     "59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc5"
     "9dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59dc59"
     "dc59dc59d",
     ""},
    {"SMALL_ATOM_UTF8_EXT invalid byte", "837701ff", ""},
    {"SMALL_ATOM_UTF8_EXT overlong", "837702c080", ""},
    {"SMALL_ATOM_UTF8_EXT surrogate", "837703eda080", ""},
    {"SMALL_ATOM_UTF8_EXT past U+10FFFF", "837704f4908080", ""},
    {"SMALL_ATOM_UTF8_EXT truncated sequence", "837701c3", ""},
    {"ATOM_CACHE_REF", "835200", ""},
    {"FUN_EXT", "83750000000064000d6e6f6e6f6465406e6f686f73746400016d61016101", ""},
    {"LOCAL_EXT", "837900", ""},
    {"COMPRESSED nested", "835000000003789c0b6000020001950051", ""},
    {"COMPRESSED", "835000000067789ccb664861a403000066a20134",
     "836b00640101010101010101010101010101010101010101010101010101010101010101010101010101010101010"
     "101010101010101010101010101010101010101010101010101010101010101010101010101010101010101010101"
     "0101010101010101010101"},
    {"COMPRESSED size too big", "835000000068789ccb664861a403000066a20134", ""},
    {"COMPRESSED size too small", "835000000066789ccb664861a403000066a20134", ""},
    {"COMPRESSED stored (level 0)", "8350000000047801010400fbff6b00010501b70072", "836b000105"},
    {"COMPRESSED raw deflate", "835000000004cb6660640500", ""},
    {"COMPRESSED gzip", "8350000000041f8b0800000000000003cb6660640500d06a12a404000000", ""},
    {"version 130", "826101", ""},
    {"empty", "", ""},
    {"version only", "83", ""},
};

TEST(EtfDecodeAsErl, AcceptsAndReencodesLikeErl) {
  for (const ErlCase& c : kErlCases) {
    Heap h;
    Bytes in = unhex(c.input);
    auto d = decode(in, h);
    if (std::string_view(c.reencoded).empty()) {
      EXPECT_FALSE(d.has_value()) << c.name << " decoded, erl refuses it";
      continue;
    }
    ASSERT_TRUE(d.has_value()) << c.name << ": " << d.error().what();
    EXPECT_EQ(encode_hex(*d), c.reencoded) << c.name;
  }
}

TEST(EtfDecodeAsErl, TrailingBytesAreIgnoredOnlyByDecodePrefix) {
  Heap h;
  // binary_to_term(<<131,97,1,2,3>>, [used]) =:= {1, 3}
  Bytes in = {131, 97, 1, 2, 3};
  auto p = decode_prefix(in, h);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->term, make_small(1));
  EXPECT_EQ(p->used, 3u);
  auto d = decode(in, h);
  ASSERT_FALSE(d.has_value());
  EXPECT_EQ(d.error().code, EtfErrc::kTrailingBytes);
  EXPECT_EQ(d.error().offset, 3u);
  // binary_to_term(<<Compressed/binary, 1, 2, 3>>, [used]): the zlib stream's end counts.
  Bytes z = unhex("835000000067789ccb664861a403000066a20134010203");
  auto pz = decode_prefix(z, h);
  ASSERT_TRUE(pz.has_value()) << pz.error().what();
  EXPECT_EQ(pz->used, 20u);
  EXPECT_EQ(list_length(pz->term), std::optional<std::size_t>(100));
}

// erl 25 reads one 32-bit word after a reference of length 0, past what the
// reference declares: given binary_to_term(<<131,90,0:16,100,3:16,"a@b",3:32,
// 0:32>>) it answers #Ref<...> having used all 18 bytes, and its own encoding of
// that reference, <<131,90,0:16,100,3:16,"a@b",3:32>>, it can only read by
// reading past the end of the binary. nifhost reads the words the length says,
// so the encoding erl makes round-trips.
TEST(EtfDecodeAsErl, ZeroWordReferencesReadNoWords) {
  Heap h;
  // term_to_binary(binary_to_term(<<131,90,0:16,100,3:16,"a@b",3:32,0:32>>))
  Bytes erl_made = unhex("835a000064000361406200000003");
  auto d = decode(erl_made, h);
  ASSERT_TRUE(d.has_value()) << d.error().what();
  EXPECT_EQ(ref_view(*d).count, 0u);
  EXPECT_EQ(encode(*d).value(), erl_made);
  // The same for the older tag, and for a local reference, which is padded to
  // three words as erl pads it:
  // term_to_binary(binary_to_term(<<131,90,0:16,100,13:16,"nonode@nohost",0:32,0:32>>))
  auto local = decode(unhex("835a000064000d6e6f6e6f6465406e6f686f737400000000"), h);
  ASSERT_TRUE(local.has_value()) << local.error().what();
  EXPECT_EQ(encode_hex(*local),
            "835a000364000d6e6f6e6f6465406e6f686f737400000000000000000000000000000000");
  auto old = decode(unhex("8372000064000361406203"), h);
  ASSERT_TRUE(old.has_value()) << old.error().what();
  EXPECT_EQ(encode(*old).value(), erl_made);
}

// ---------------------------------------------------------------- funs
TEST(EtfFuns, DecodedFunsKeepTheirCanonicalBytes) {
  Heap h;
  // The first case is a closure exactly as erl encodes it.
  Bytes in = unhex(kErlCases[0].input);
  auto d = decode(in, h);
  ASSERT_TRUE(d.has_value()) << d.error().what();
  ASSERT_TRUE(is_fun(*d));
  auto fb = fun_bytes(*d);
  EXPECT_EQ(Bytes(fb.begin(), fb.end()), Bytes(in.begin() + 1, in.end()));
  EXPECT_EQ(encode(*d).value(), in);
}

// ---------------------------------------------------------------- resources and handles
class TestResource final : public OffHeapObject {
 public:
  TestResource() : OffHeapObject(Type::kResource) {}

 private:
  void destroy() override { delete this; }
};

class TestRemote final : public RemoteResource {
 public:
  TestRemote(std::uint64_t d, std::uint64_t g, std::uint64_t i, std::uint64_t t)
      : RemoteResource(d, g, i, t) {}

 private:
  void destroy() override { delete this; }
};

TEST(EtfResources, ResourceIsALocalReferenceErlWouldAccept) {
  Heap h;
  auto* r = new TestResource();
  Term t = make_resource_term(h, r);
  r->release();  // the heap holds it now
  auto e = encode(t);
  ASSERT_TRUE(e.has_value());
  // NEWER_REFERENCE_EXT, 3 words, nonode@nohost, creation 0
  ASSERT_EQ(e->size(), 1 + 1 + 2 + 16 + 4 + 12u);
  EXPECT_EQ(to_hex(Bytes(e->begin(), e->begin() + 24)),
            "835a000364000d6e6f6e6f6465406e6f686f737400000000");
  // It decodes (as a plain reference: the resource itself does not come back),
  // and the same resource always gets the same reference.
  auto d = decode(*e, h);
  ASSERT_TRUE(d.has_value()) << d.error().what();
  EXPECT_TRUE(is_boxed_of(*d, Subtag::kRef));
  EXPECT_EQ(encode(*d).value(), *e);
  EXPECT_EQ(encode(make_resource_term(h, r)).value(), *e);
}

TEST(EtfResources, HandlesNeedTheExtension) {
  Heap h;
  auto* remote = new TestRemote(1, 2, 3, 4);
  Term t = make_handle_term(h, remote);
  remote->release();
  Term tuple = make_tuple(h, {atoms::kOk, t});
  auto plain = encode(tuple);
  ASSERT_FALSE(plain.has_value());
  EXPECT_EQ(plain.error().code, EtfErrc::kUnencodable);

  HandleWords seen{};
  HandleExtension ext(
      nullptr, [&](Heap& heap, const HandleWords& w) -> tl::expected<Term, std::string> {
        seen = w;
        return make_tuple(heap, {atom("handle"), make_small(static_cast<std::int64_t>(w.id))});
      });
  auto e = encode(tuple, {.extension = &ext});
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(to_hex(*e),
            "8368026400026f6b48"
            "0000000000000001000000000000000200000000000000030000000000000004");
  EXPECT_EQ(encoded_size(tuple, {.extension = &ext}).value(), e->size());

  auto d = decode(*e, h, {.extension = &ext});
  ASSERT_TRUE(d.has_value()) << d.error().what();
  EXPECT_EQ((seen == HandleWords{1, 2, 3, 4}), true);
  Term expected = make_tuple(h, {atoms::kOk, make_tuple(h, {atom("handle"), make_small(3)})});
  EXPECT_TRUE(identical(*d, expected));

  auto without = decode(*e, h);
  ASSERT_FALSE(without.has_value());
  EXPECT_EQ(without.error().code, EtfErrc::kUnknownTag);
  EXPECT_EQ(without.error().offset, 8u);

  HandleExtension refusing(nullptr,
                           [](Heap&, const HandleWords&) -> tl::expected<Term, std::string> {
                             return tl::unexpected(std::string("stale handle"));
                           });
  auto refused = decode(*e, h, {.extension = &refusing});
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, EtfErrc::kExtension);
  EXPECT_EQ(refused.error().offset, 8u);
}

TEST(EtfResources, ExportedResourcesTravelAsHandles) {
  Heap h;
  auto* r = new TestResource();
  Term t = make_resource_term(h, r);
  r->release();
  HandleExtension ext(
      [&](OffHeapObject* o) -> std::optional<HandleWords> {
        if (o != r) return std::nullopt;
        return HandleWords{9, 8, 7, 6};
      },
      nullptr);
  auto e = encode(t, {.extension = &ext});
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(to_hex(*e),
            "8348"
            "0000000000000009000000000000000800000000000000070000000000000006");
  auto d = decode(*e, h, {.extension = &ext});
  ASSERT_FALSE(d.has_value());  // this side imports no handles
  EXPECT_EQ(d.error().code, EtfErrc::kExtension);
}

// ---------------------------------------------------------------- binaries
TEST(EtfBinaries, LargeBinariesAreRefcAndCanShareTheInput) {
  Heap h;
  std::string big(100, 'x');
  Term t = make_binary(h, big);
  auto e = encode(t).value();
  auto d = decode(e, h).value();
  EXPECT_NE(bitstring_view(d).owner, nullptr);  // one copy, off the heap
  auto small = decode(encode(make_binary(h, std::string(64, 'y'))).value(), h).value();
  EXPECT_EQ(bitstring_view(small).owner, nullptr);  // up to 64 bytes on the heap

  RefcBinary* buf = RefcBinary::create(e.size());
  std::memcpy(buf->data(), e.data(), e.size());
  auto shared =
      decode(std::span<const std::uint8_t>(buf->data(), buf->size()), h, {.input_owner = buf});
  buf->release();  // the decoded binary keeps the buffer alive
  ASSERT_TRUE(shared.has_value());
  BitstringView v = bitstring_view(*shared);
  EXPECT_EQ(v.owner, static_cast<OffHeapObject*>(buf));
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(v.data), v.byte_size), big);
}

// ---------------------------------------------------------------- API shapes
TEST(EtfApi, EncodeAppendAppendsAndLeavesOutAloneOnError) {
  Heap h;
  Bytes out = {1, 2, 3};
  auto n = encode_append(atoms::kOk, out);
  ASSERT_TRUE(n.has_value());
  EXPECT_EQ(*n, 6u);
  EXPECT_EQ(to_hex(out), "010203836400026f6b");
  auto* remote = new TestRemote(1, 2, 3, 4);
  Term handle = make_handle_term(h, remote);
  remote->release();
  auto bad = encode_append(make_list(h, {make_small(1), handle}), out);
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(to_hex(out), "010203836400026f6b");
}

TEST(EtfApi, DecodePrefixReadsOneTermOfASequence) {
  Heap h;
  Bytes seq = encode(atoms::kOk).value();
  Bytes second = encode(make_small(7)).value();
  seq.insert(seq.end(), second.begin(), second.end());
  auto first = decode_prefix(seq, h).value();
  EXPECT_EQ(first.term, atoms::kOk);
  auto rest = decode(std::span<const std::uint8_t>(seq).subspan(first.used), h).value();
  EXPECT_EQ(rest, make_small(7));
}

TEST(EtfApi, ErrorsSayWhatAndWhere) {
  Heap h;
  Bytes in = {131, 104, 2, 97, 1, 70, 0x7f, 0xf0, 0, 0, 0, 0, 0, 0};
  auto d = decode(in, h);
  ASSERT_FALSE(d.has_value());
  EXPECT_EQ(d.error().code, EtfErrc::kBadFloat);
  EXPECT_EQ(d.error().offset, 5u);
  EXPECT_EQ(d.error().what(), "bad float at byte 5: NEW_FLOAT_EXT holds NaN or an infinity");
}

// ---------------------------------------------------------------- round trips
// nifhost VMs make local identifiers past the BEAM's ranges; round trips of
// generated terms accept them.
const DecodeOptions kAnyIdentifier{.beam_identifier_limits = false};

RC_GTEST_PROP(EtfRoundTrip, DecodeOfEncodeIsIdentical, (nifhost::testing::OwnedTerm t)) {
  auto e = encode(t.term);
  RC_ASSERT(e.has_value());
  RC_ASSERT(encoded_size(t.term).value() == e->size());
  Heap h;
  auto d = decode(*e, h, kAnyIdentifier);
  if (!d) RC_FAIL(d.error().what());
  RC_ASSERT(identical(*d, t.term));
  RC_ASSERT(encode(*d).value() == *e);
}

RC_GTEST_PROP(EtfRoundTrip, CompressedRoundTrips, ()) {
  auto t = *nifhost::testing::gen_term();
  int level = *rc::gen::inRange(1, 10);
  auto e = encode(t.term, {.compression = level});
  RC_ASSERT(e.has_value());
  Heap h;
  auto d = decode(*e, h, kAnyIdentifier);
  if (!d) RC_FAIL(d.error().what());
  RC_ASSERT(identical(*d, t.term));
}

// Large parts of every kind, built directly (generating them byte by byte with
// RapidCheck costs minutes, not the codec).
TEST(EtfRoundTrip, LargeTermsRoundTrip) {
  Heap h;
  std::string mib(1 << 20, '\0');
  for (std::size_t i = 0; i < mib.size(); ++i) mib[i] = static_cast<char>(i * 7 + i / 251);
  std::vector<std::uint64_t> digits(600);
  for (std::size_t i = 0; i < digits.size(); ++i) digits[i] = 0x9E3779B97F4A7C15ull * (i + 1);
  std::vector<Term> keys, values, elems;
  for (int i = 0; i < 50; ++i) {
    keys.push_back(make_binary(h, "key" + std::to_string(i)));
    values.push_back(make_binary(h, std::string(1000 + i, static_cast<char>('a' + i % 26))));
  }
  for (int i = 0; i < 1000; ++i) elems.push_back(make_float(h, i * 0.25));
  std::uint8_t bits[3] = {1, 2, 0xC0};
  Term parts[] = {
      make_binary(h, mib),
      list_of(h, 100000, 1000),
      list_of(h, 70000, 65),
      make_bignum(h, true, digits),
      *make_map(h, keys, values),
      nifhost::core::make_tuple(h, elems),
      *make_bitstring(h, bits, 2, 2),
  };
  Term t = make_list(h, parts);
  auto e = encode(t);
  ASSERT_TRUE(e.has_value());
  EXPECT_GT(e->size(), (1u << 20) + 500000);
  Heap back;
  auto d = decode(*e, back);
  ASSERT_TRUE(d.has_value()) << d.error().what();
  EXPECT_TRUE(identical(*d, t));
  EXPECT_EQ(encode(*d).value(), *e);
  auto z = encode(t, {.compression = kDefaultCompression});
  ASSERT_TRUE(z.has_value());
  EXPECT_LT(z->size(), e->size());
  auto dz = decode(*z, back);
  ASSERT_TRUE(dz.has_value()) << dz.error().what();
  EXPECT_TRUE(identical(*dz, t));
}

RC_GTEST_PROP(EtfRoundTrip, DeepTermsRoundTrip, ()) {
  auto t = *nifhost::testing::gen_deep_term(3000);
  auto e = encode(t.term);
  RC_ASSERT(e.has_value());
  Heap h;
  auto d = decode(*e, h, kAnyIdentifier);
  if (!d) RC_FAIL(d.error().what());
  RC_ASSERT(identical(*d, t.term));
}

TEST(EtfRoundTrip, VeryLongAndVeryDeepTermsNeedNoMachineStack) {
  Heap h;
  // A million-element improper list and a 100000-deep list of lists.
  Term longl = list_of(h, 1000000, 300);
  Term one[] = {longl};
  longl = make_list(h, one, atoms::kOk);
  Term deep = kNilTerm;
  for (int i = 0; i < 100000; ++i) deep = make_cons(h, deep, kNilTerm);
  for (Term t : {longl, deep}) {
    auto e = encode(t);
    ASSERT_TRUE(e.has_value());
    Heap back;
    auto d = decode(*e, back, {.max_depth = 200000});
    ASSERT_TRUE(d.has_value()) << d.error().what();
    EXPECT_EQ(encode(*d).value(), *e);
  }
}

}  // namespace
