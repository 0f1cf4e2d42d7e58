// The BEAM oracle against facts from the external term format specification
// and the Erlang reference manual: nothing here is produced by nifhost's code.

#include "nifhost/testing/beam_oracle.hpp"

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <iostream>
#include <signal.h>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "nifhost/testing/hex.hpp"

namespace {

using nifhost::testing::BeamOracle;
using nifhost::testing::Bytes;
using nifhost::testing::describe;
using nifhost::testing::NifFunctionSpec;
using nifhost::testing::OracleError;
namespace request = nifhost::testing::oracle_request;
namespace answer = nifhost::testing::oracle_answer;

constexpr std::uint8_t kVersion = 131;
constexpr std::uint8_t kSmallInteger = 97;
constexpr std::uint8_t kInteger = 98;
constexpr std::uint8_t kNewFloat = 70;
constexpr std::uint8_t kAtom = 100;
constexpr std::uint8_t kSmallAtomUtf8 = 119;
constexpr std::uint8_t kSmallTuple = 104;
constexpr std::uint8_t kNil = 106;
constexpr std::uint8_t kString = 107;
constexpr std::uint8_t kList = 108;
constexpr std::uint8_t kBinary = 109;
constexpr std::uint8_t kSmallBig = 110;
constexpr std::uint8_t kMap = 116;

const char* const kJiffy = "/usr/lib/erlang/lib/jiffy-1.1.1/priv/jiffy";

BeamOracle& oracle() { return nifhost::testing::shared_oracle(); }

Bytes atom_ext(std::string_view name) {
  // Built with reserve + push_back: GCC 12 at -O2 warns falsely (array-bounds)
  // on an insert after an initializer list.
  Bytes out;
  out.reserve(4 + name.size());
  for (std::uint8_t b : {kVersion, kAtom, std::uint8_t{0}, static_cast<std::uint8_t>(name.size())})
    out.push_back(b);
  for (char c : name) out.push_back(static_cast<std::uint8_t>(c));
  return out;
}

// Integer encoding as the ETF specification lays it out.
Bytes integer_ext(std::int64_t value) {
  if (value >= 0 && value <= 255)
    return {kVersion, kSmallInteger, static_cast<std::uint8_t>(value)};
  if (value >= INT32_MIN && value <= INT32_MAX) {
    const auto u = static_cast<std::uint32_t>(static_cast<std::int32_t>(value));
    return {kVersion,
            kInteger,
            static_cast<std::uint8_t>(u >> 24),
            static_cast<std::uint8_t>(u >> 16),
            static_cast<std::uint8_t>(u >> 8),
            static_cast<std::uint8_t>(u)};
  }
  std::uint64_t magnitude =
      value < 0 ? ~static_cast<std::uint64_t>(value) + 1 : static_cast<std::uint64_t>(value);
  Bytes digits;
  while (magnitude != 0) {
    digits.push_back(static_cast<std::uint8_t>(magnitude & 0xff));
    magnitude >>= 8;
  }
  Bytes out = {kVersion, kSmallBig, static_cast<std::uint8_t>(digits.size()),
               static_cast<std::uint8_t>(value < 0 ? 1 : 0)};
  out.insert(out.end(), digits.begin(), digits.end());
  return out;
}

// Strips the version byte, for embedding a term inside another.
Bytes inner(const Bytes& etf) { return Bytes(etf.begin() + 1, etf.end()); }

Bytes list_ext(const std::vector<Bytes>& elements) {
  Bytes out = {kVersion, kList, 0, 0, 0, static_cast<std::uint8_t>(elements.size())};
  for (const Bytes& e : elements) {
    const Bytes body = inner(e);
    out.insert(out.end(), body.begin(), body.end());
  }
  out.push_back(kNil);
  return out;
}

Bytes binary_ext(const Bytes& data) {
  const auto n = static_cast<std::uint32_t>(data.size());
  Bytes out = {kVersion,
               kBinary,
               static_cast<std::uint8_t>(n >> 24),
               static_cast<std::uint8_t>(n >> 16),
               static_cast<std::uint8_t>(n >> 8),
               static_cast<std::uint8_t>(n)};
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

Bytes text_bytes(std::string_view s) { return Bytes(s.begin(), s.end()); }

// --- hex helpers -----------------------------------------------------------

RC_GTEST_PROP(Hex, RoundTripsAnyBytes, (const std::vector<std::uint8_t>& bytes)) {
  const std::string hex = nifhost::testing::to_hex(bytes);
  RC_ASSERT(hex.size() == 2 * bytes.size());
  RC_ASSERT(hex.find_first_not_of("0123456789abcdef") == std::string::npos);
  RC_ASSERT(nifhost::testing::from_hex(hex) == std::optional(bytes));
}

TEST(Hex, RejectsOddLengthAndNonDigits) {
  EXPECT_FALSE(nifhost::testing::from_hex("abc").has_value());
  EXPECT_FALSE(nifhost::testing::from_hex("zz").has_value());
  EXPECT_EQ(nifhost::testing::from_hex("0aFf"), std::optional(Bytes{0x0a, 0xff}));
}

// --- start-up --------------------------------------------------------------

TEST(BeamOracle, StartsQuicklyAndIsOtp25) {
  const auto t0 = std::chrono::steady_clock::now();
  auto started = BeamOracle::start();
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  ASSERT_TRUE(started.has_value()) << describe(started.error());
  std::cout << "oracle start-up: " << ms << " ms\n";
  ::testing::Test::RecordProperty("startup_ms", static_cast<int>(ms));
  auto version = started->version();
  ASSERT_TRUE(version.has_value()) << describe(version.error());
  EXPECT_TRUE(version->starts_with("25 ")) << *version;
}

TEST(BeamOracle, DestructorReapsTheVm) {
  pid_t pid = -1;
  {
    auto started = BeamOracle::start();
    ASSERT_TRUE(started.has_value()) << describe(started.error());
    pid = started->pid();
    ASSERT_GT(pid, 0);
    ASSERT_EQ(::kill(pid, 0), 0);
  }
  // Reaped, so not even a zombie is left.
  EXPECT_EQ(::kill(pid, 0), -1);
  EXPECT_EQ(errno, ESRCH);
}

// --- external term format facts (OTP 25) -----------------------------------

TEST(BeamOracle, Otp25EncodesLatin1AtomsAsAtomExt) {
  auto etf = oracle().encode_text("ok");
  ASSERT_TRUE(etf.has_value()) << describe(etf.error());
  EXPECT_EQ(*etf, (Bytes{kVersion, kAtom, 0, 2, 'o', 'k'}));
}

TEST(BeamOracle, Otp25EncodesOtherAtomsAsSmallAtomUtf8Ext) {
  auto etf = oracle().encode_text("'\xcf\x89'");  // the atom omega, U+03C9
  ASSERT_TRUE(etf.has_value()) << describe(etf.error());
  EXPECT_EQ(*etf, (Bytes{kVersion, kSmallAtomUtf8, 2, 0xcf, 0x89}));
}

TEST(BeamOracle, SmallIntegerListsAreStringExt) {
  auto etf = oracle().encode_text("[1,2,3]");
  ASSERT_TRUE(etf.has_value()) << describe(etf.error());
  EXPECT_EQ(*etf, (Bytes{kVersion, kString, 0, 3, 1, 2, 3}));
}

TEST(BeamOracle, FloatsAreNewFloatExt) {
  auto etf = oracle().encode_text("1.5");
  ASSERT_TRUE(etf.has_value()) << describe(etf.error());
  EXPECT_EQ(*etf, (Bytes{kVersion, kNewFloat, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0}));
}

TEST(BeamOracle, IntegersFollowTheSpecificationInOnePipeline) {
  std::vector<std::int64_t> values;
  for (std::int64_t v = -300; v <= 300; ++v) values.push_back(v);
  for (int shift = 8; shift < 63; ++shift) {
    for (std::int64_t delta : {-1, 0, 1}) {
      values.push_back((std::int64_t{1} << shift) + delta);
      values.push_back(-(std::int64_t{1} << shift) + delta);
    }
  }
  std::vector<std::string> lines;
  for (std::int64_t v : values) lines.push_back(request::encode_text(std::to_string(v)));
  auto answers = oracle().pipeline(lines);
  ASSERT_TRUE(answers.has_value()) << describe(answers.error());
  ASSERT_EQ(answers->size(), values.size());
  for (std::size_t i = 0; i < values.size(); ++i) {
    auto etf = answer::parse_etf((*answers)[i]);
    ASSERT_TRUE(etf.has_value()) << describe(etf.error());
    EXPECT_EQ(*etf, integer_ext(values[i])) << "for " << values[i];
  }
}

TEST(BeamOracle, BadTermTextIsAnError) {
  auto etf = oracle().encode_text("{a, 1");
  ASSERT_FALSE(etf.has_value());
  EXPECT_EQ(etf.error().kind, OracleError::Kind::erl_error);
  EXPECT_NE(etf.error().message.find("syntax error"), std::string::npos) << etf.error().message;
}

TEST(BeamOracle, RoundtripReencodesUtf8AtomsAsAtomExt) {
  auto etf = oracle().roundtrip(Bytes{kVersion, kSmallAtomUtf8, 2, 'o', 'k'});
  ASSERT_TRUE(etf.has_value()) << describe(etf.error());
  EXPECT_EQ(*etf, atom_ext("ok"));
}

TEST(BeamOracle, RoundtripRejectsTruncatedInput) {
  auto etf = oracle().roundtrip(Bytes{kVersion, kAtom, 0, 5, 'o'});
  ASSERT_FALSE(etf.has_value());
  EXPECT_EQ(etf.error().kind, OracleError::Kind::erl_error);
  EXPECT_EQ(etf.error().message, "badarg");
  EXPECT_FALSE(oracle().decode_check(Bytes{kVersion}).has_value());
  EXPECT_TRUE(oracle().decode_check(Bytes{kVersion, kNil}).has_value());
}

TEST(BeamOracle, SafeDecodingRefusesUnknownAtoms) {
  const Bytes fresh = atom_ext("nifhost_oracle_test_atom_not_seen_before");
  auto safe = oracle().roundtrip_safe(fresh);
  ASSERT_FALSE(safe.has_value());
  EXPECT_EQ(safe.error().kind, OracleError::Kind::erl_error);
  auto plain = oracle().roundtrip(fresh);
  ASSERT_TRUE(plain.has_value()) << describe(plain.error());
  EXPECT_EQ(*plain, fresh);
  // Now the atom exists, so safe decoding accepts it.
  EXPECT_TRUE(oracle().roundtrip_safe(fresh).has_value());
}

TEST(BeamOracle, UsedCountsOnlyTheTermsBytes) {
  auto used = oracle().used(Bytes{kVersion, kSmallInteger, 7, 0xff, 0xff});
  ASSERT_TRUE(used.has_value()) << describe(used.error());
  EXPECT_EQ(*used, 3u);
}

TEST(BeamOracle, IntegerEqualsFloatButNotExactly) {
  const Bytes one = integer_ext(1);
  const Bytes one_float = {kVersion, kNewFloat, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0};
  auto c = oracle().compare(one, one_float);
  ASSERT_TRUE(c.has_value()) << describe(c.error());
  EXPECT_EQ(c->order, 0);
  EXPECT_TRUE(c->equal);
  EXPECT_FALSE(c->exact);
  // number < atom in term order.
  auto d = oracle().compare(one, atom_ext("a"));
  ASSERT_TRUE(d.has_value()) << describe(d.error());
  EXPECT_EQ(d->order, -1);
  EXPECT_FALSE(d->equal);
}

TEST(BeamOracle, PrintsAMap) {
  const Bytes map = {kVersion, kMap, 0, 0, 0, 1, kAtom, 0, 1, 'a', kSmallInteger, 1};
  auto text = oracle().print(map);
  ASSERT_TRUE(text.has_value()) << describe(text.error());
  EXPECT_EQ(*text, "#{a => 1}");
}

TEST(BeamOracle, Phash2IgnoresTheAtomEncoding) {
  auto a = oracle().phash2(atom_ext("ok"));
  auto b = oracle().phash2(Bytes{kVersion, kSmallAtomUtf8, 2, 'o', 'k'});
  ASSERT_TRUE(a.has_value()) << describe(a.error());
  ASSERT_TRUE(b.has_value()) << describe(b.error());
  EXPECT_EQ(*a, *b);
  EXPECT_LT(*a, 1u << 27);  // phash2/1's range is 0..2^27-1
}

TEST(BeamOracle, SmallMapsListInKeyOrder) {
  // #{b => 1, a => 2} with b written first.
  const Bytes map = {kVersion,      kMap, 0,     0, 0, 2,   kAtom,         0, 1, 'b',
                     kSmallInteger, 1,    kAtom, 0, 1, 'a', kSmallInteger, 2};
  auto list = oracle().maps_to_list(map);
  ASSERT_TRUE(list.has_value()) << describe(list.error());
  const Bytes expected = {
      kVersion,      kList, 0,           0, 0,     2, kSmallTuple, 2,   kAtom,         0, 1,   'a',
      kSmallInteger, 2,     kSmallTuple, 2, kAtom, 0, 1,           'b', kSmallInteger, 1, kNil};
  EXPECT_EQ(*list, expected);
  EXPECT_FALSE(oracle().maps_to_list(integer_ext(1)).has_value());
}

TEST(BeamOracle, SixteenMebibyteBinaryRoundTrips) {
  Bytes data(16u << 20);
  for (std::size_t i = 0; i < data.size(); ++i) {
    data[i] = static_cast<std::uint8_t>((i * 2654435761u) >> 13);
  }
  const Bytes etf = binary_ext(data);
  auto back = oracle().roundtrip(etf);
  ASSERT_TRUE(back.has_value()) << describe(back.error());
  EXPECT_TRUE(*back == etf);
  // The stream is still in step afterwards.
  EXPECT_TRUE(oracle().version().has_value());
}

RC_GTEST_PROP(BeamOracle, BinariesRoundTripUnchanged, (const std::vector<std::uint8_t>& data)) {
  const Bytes etf = binary_ext(data);
  auto back = oracle().roundtrip(etf);
  RC_ASSERT(back.has_value());
  RC_ASSERT(*back == etf);
}

// --- bad requests ----------------------------------------------------------

TEST(BeamOracle, MalformedRequestsGetErrorsNotDeath) {
  for (const char* line :
       {"bogus", "roundtrip zz", "roundtrip 8", "roundtrip", "", "compare 836a", "call zz 00 836a",
        "time_call 65 66 836a 0", "load_nif 2f 6d 6d2f 836a"}) {
    auto reply = oracle().request(line);
    ASSERT_TRUE(reply.has_value()) << describe(reply.error());
    auto ok = answer::parse_ok(*reply);
    ASSERT_FALSE(ok.has_value()) << line;
    EXPECT_EQ(ok.error().kind, OracleError::Kind::erl_error) << line << " -> " << *reply;
  }
  auto newline = oracle().request("version\nversion");
  ASSERT_FALSE(newline.has_value());
  EXPECT_EQ(newline.error().kind, OracleError::Kind::bad_request);
  auto version = oracle().version();
  ASSERT_TRUE(version.has_value()) << describe(version.error());
}

// --- NIFs and calls --------------------------------------------------------

TEST(BeamOracle, LoadNifOfMissingLibraryFails) {
  const NifFunctionSpec functions[] = {{"f", 1}};
  auto loaded = oracle().load_nif("/nonexistent/nifhost_no_such_nif", "nifhost_no_such_nif",
                                  functions, integer_ext(0));
  ASSERT_FALSE(loaded.has_value());
  EXPECT_EQ(loaded.error().kind, OracleError::Kind::erl_error);
  EXPECT_TRUE(loaded.error().message.starts_with("load_failed ")) << loaded.error().message;
}

const NifFunctionSpec kJiffyFunctions[] = {
    {"nif_decode_init", 2}, {"nif_decode_iter", 5}, {"nif_encode_init", 2}, {"nif_encode_iter", 3}};

TEST(BeamOracle, LoadNifChecksTheModuleName) {
  if (!std::filesystem::exists(std::string(kJiffy) + ".so")) GTEST_SKIP() << "erlang-jiffy absent";
  auto loaded = oracle().load_nif(kJiffy, "not_jiffy", kJiffyFunctions, integer_ext(0));
  ASSERT_FALSE(loaded.has_value());
  EXPECT_TRUE(loaded.error().message.starts_with("bad_lib ")) << loaded.error().message;
}

TEST(BeamOracle, JiffyDecodesThroughItsNif) {
  if (!std::filesystem::exists(std::string(kJiffy) + ".so")) GTEST_SKIP() << "erlang-jiffy absent";
  auto loaded = oracle().load_nif(kJiffy, "jiffy", kJiffyFunctions, integer_ext(0));
  ASSERT_TRUE(loaded.has_value()) << describe(loaded.error());
  const Bytes args = list_ext({binary_ext(text_bytes("[1,2]")), Bytes{kVersion, kNil}});
  auto result = oracle().call("jiffy", "nif_decode_init", args);
  ASSERT_TRUE(result.has_value()) << describe(result.error());
  ASSERT_FALSE(result->raised);
  EXPECT_EQ(result->term, (Bytes{kVersion, kString, 0, 2, 1, 2}));
}

TEST(BeamOracle, CallReportsExceptionsWithClass) {
  auto error = oracle().call("erlang", "error", list_ext({atom_ext("bar")}));
  ASSERT_TRUE(error.has_value()) << describe(error.error());
  EXPECT_TRUE(error->raised);
  EXPECT_EQ(error->exception_class, "error");
  EXPECT_EQ(error->term, atom_ext("bar"));
  auto thrown = oracle().call("erlang", "throw", list_ext({integer_ext(7)}));
  ASSERT_TRUE(thrown.has_value()) << describe(thrown.error());
  EXPECT_TRUE(thrown->raised);
  EXPECT_EQ(thrown->exception_class, "throw");
  EXPECT_EQ(thrown->term, integer_ext(7));
}

TEST(BeamOracle, MessagesToTheCallerWaitForFlush) {
  auto self = oracle().call("erlang", "self", Bytes{kVersion, kNil});
  ASSERT_TRUE(self.has_value()) << describe(self.error());
  ASSERT_EQ(self->term.at(1), 88);            // NEW_PID_EXT
  ASSERT_TRUE(oracle().flush().has_value());  // start from an empty mailbox
  auto sent = oracle().call("erlang", "send", list_ext({self->term, atom_ext("hello")}));
  ASSERT_TRUE(sent.has_value()) << describe(sent.error());
  EXPECT_EQ(sent->term, atom_ext("hello"));
  // The caller stays the same process from call to call.
  auto again = oracle().call("erlang", "self", Bytes{kVersion, kNil});
  ASSERT_TRUE(again.has_value()) << describe(again.error());
  EXPECT_EQ(again->term, self->term);
  auto mailbox = oracle().flush();
  ASSERT_TRUE(mailbox.has_value()) << describe(mailbox.error());
  EXPECT_EQ(*mailbox, list_ext({atom_ext("hello")}));
  auto empty = oracle().flush();
  ASSERT_TRUE(empty.has_value()) << describe(empty.error());
  EXPECT_EQ(*empty, (Bytes{kVersion, kNil}));
}

TEST(BeamOracle, KilledCallerIsReplaced) {
  auto self = oracle().call("erlang", "self", Bytes{kVersion, kNil});
  ASSERT_TRUE(self.has_value()) << describe(self.error());
  auto killed = oracle().call("erlang", "exit", list_ext({self->term, atom_ext("kill")}));
  ASSERT_FALSE(killed.has_value());
  EXPECT_EQ(killed.error().kind, OracleError::Kind::erl_error);
  EXPECT_NE(killed.error().message.find("caller process died"), std::string::npos);
  auto fresh = oracle().call("erlang", "self", Bytes{kVersion, kNil});
  ASSERT_TRUE(fresh.has_value()) << describe(fresh.error());
  EXPECT_NE(fresh->term, self->term);
}

TEST(BeamOracle, TimesCallsAndTheCodec) {
  auto timing = oracle().time_call("erlang", "abs", list_ext({integer_ext(-5)}), 1000);
  ASSERT_TRUE(timing.has_value()) << describe(timing.error());
  EXPECT_GT(timing->median_ns, 0.0);
  EXPECT_LE(timing->min_ns, timing->median_ns);
  EXPECT_LE(timing->median_ns, timing->max_ns);
  auto raising = oracle().time_call("erlang", "error", list_ext({atom_ext("x")}), 10);
  ASSERT_FALSE(raising.has_value());
  EXPECT_EQ(raising.error().kind, OracleError::Kind::call_raised);
  auto codec = oracle().time_etf(list_ext({integer_ext(1000), atom_ext("ok")}), 1000);
  ASSERT_TRUE(codec.has_value()) << describe(codec.error());
  EXPECT_GT(codec->encode_ns, 0.0);
  EXPECT_GT(codec->decode_ns, 0.0);
}

TEST(BeamOracle, DeadOracleGivesErrors) {
  auto own = BeamOracle::start();
  ASSERT_TRUE(own.has_value()) << describe(own.error());
  auto halted = own->call("erlang", "halt", list_ext({integer_ext(3)}));
  ASSERT_FALSE(halted.has_value());
  EXPECT_EQ(halted.error().kind, OracleError::Kind::oracle_died);
  EXPECT_NE(halted.error().message.find("status 3"), std::string::npos) << halted.error().message;
  EXPECT_FALSE(own->alive());
  auto after = own->version();
  ASSERT_FALSE(after.has_value());
  EXPECT_EQ(after.error().kind, OracleError::Kind::oracle_died);
}

TEST(BeamOracle, SilentOracleTimesOutAndIsStopped) {
  auto own = BeamOracle::start();
  ASSERT_TRUE(own.has_value()) << describe(own.error());
  own->set_timeout(std::chrono::milliseconds(200));
  auto slept = own->call("timer", "sleep", list_ext({integer_ext(10'000)}));
  ASSERT_FALSE(slept.has_value());
  EXPECT_EQ(slept.error().kind, OracleError::Kind::timed_out);
  EXPECT_FALSE(own->alive());
}

}  // namespace
