// BeamOracle: Debian's real Erlang VM (erl, OTP 25) as the reference that
// nifhost's tests and benchmarks compare against, byte for byte.
//
//   auto oracle = nifhost::testing::BeamOracle::start().value();
//   std::vector<std::uint8_t> etf = oracle.encode_text("{ok, [1, 2.0]}").value();
//
// The oracle is an `erl` child process running testing/beam/oracle.erl (compiled
// into the build tree). It speaks lines of text: one request per line on its
// standard input, one answer per line on its standard output, in order. Every
// payload is lowercase hex (`<etf>` is an external term, `<text>` UTF-8 text),
// so checking nifhost's term codec never goes through that codec.
//
//   version                          ok <text>         OTP release and erts version: "25 13.1.5"
//   encode_text <text>               ok <etf>          term_to_binary of the parsed term text
//   roundtrip <etf>                  ok <etf>          term_to_binary(binary_to_term(B))
//   roundtrip_safe <etf>             ok <etf>          ... with binary_to_term(B, [safe])
//   decode_check <etf>               ok                binary_to_term accepts B
//   used <etf>                       ok <decimal>      bytes binary_to_term(B, [used]) consumed
//   print <etf>                      ok <text>         io_lib:format("~100000p", [T])
//   compare <etf> <etf>              ok <-1|0|1> <0|1 ==> <0|1 =:=>
//   phash2 <etf>                     ok <decimal>      erlang:phash2(T)
//   maps_to_list <etf>               ok <etf>          maps:to_list(M), in iteration order
//   load_nif <text path> <text module> <text "f/1,g/2"> <etf load info>      ok
//   call <text module> <text function> <etf argument list>
//                                    ok <etf result> | exception <class> <etf reason>
//   flush                            ok <etf>          the caller's mailbox as a list, drained
//   time_call <text m> <text f> <etf args> <iterations>
//                                    ok <median ns> <min ns> <max ns>  (per call, 7 rounds)
//                                    | exception <class> <etf reason>  (the call raised)
//   time_etf <etf> <iterations>      ok <median ns term_to_binary> <median ns binary_to_term>
//   quit                             (no answer; the VM halts)
//
// Any request the oracle cannot serve is answered `error <text>`; it never dies
// on a bad request. Calls run in one long-lived caller process, so what a NIF
// sends to self() stays observable until `flush`. load_nif generates and loads
// a stub module whose on_load calls erlang:load_nif/2; its error text starts
// with BEAM's reason atom (load_failed, bad_lib, load, upgrade, ...).
//
// The VM's own output (logger reports, io from called Erlang code) goes to
// the caller's standard error; a NIF that writes to C's stdout inside the VM
// would corrupt the answer stream (seen as malformed_answer).
//
// A BeamOracle is not thread-safe: use one per thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

#include <tl/expected.hpp>

namespace nifhost::testing {

using Bytes = std::vector<std::uint8_t>;

struct OracleError {
  enum class Kind {
    erl_not_found,     // no erl on PATH nor at /usr/bin/erl: scripts/setup.sh installs it
    oracle_missing,    // the compiled oracle module is not where the build put it
    spawn_failed,      // the OS refused to start erl
    oracle_died,       // erl exited, or was stopped after a timeout or I/O failure
    timed_out,         // no answer within the oracle's timeout (the oracle is then stopped)
    malformed_answer,  // a line that does not fit the protocol
    erl_error,         // the oracle answered `error <text>`; message holds its text
    call_raised,       // time_call: the call raised instead of returning
    bad_request,       // a request line the client refuses to send (it holds a newline)
  };
  Kind kind;
  std::string message;
};

std::string_view to_string(OracleError::Kind kind);
// "kind: message", for test failure output.
std::string describe(const OracleError& error);

struct Comparison {
  int order;   // -1, 0, 1: A < B, A == B, A > B in Erlang term order
  bool equal;  // A == B
  bool exact;  // A =:= B
};

struct CallOutcome {
  bool raised = false;
  std::string exception_class;  // error, exit or throw when raised
  Bytes term;                   // the result, or the exception's reason, as ETF
};

struct CallTiming {
  double median_ns;
  double min_ns;
  double max_ns;
};

struct EtfTiming {
  double encode_ns;  // median term_to_binary
  double decode_ns;  // median binary_to_term
};

struct NifFunctionSpec {
  std::string name;
  unsigned arity;
};

// Request lines (without the newline), for building batches for pipeline().
namespace oracle_request {
std::string version();
std::string encode_text(std::string_view text);
std::string roundtrip(std::span<const std::uint8_t> etf);
std::string roundtrip_safe(std::span<const std::uint8_t> etf);
std::string decode_check(std::span<const std::uint8_t> etf);
std::string used(std::span<const std::uint8_t> etf);
std::string print(std::span<const std::uint8_t> etf);
std::string compare(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b);
std::string phash2(std::span<const std::uint8_t> etf);
std::string maps_to_list(std::span<const std::uint8_t> etf);
// path is the library without its .so suffix, as erlang:load_nif/2 wants it.
std::string load_nif(std::string_view path, std::string_view module,
                     std::span<const NifFunctionSpec> functions,
                     std::span<const std::uint8_t> load_info);
std::string call(std::string_view module, std::string_view function,
                 std::span<const std::uint8_t> args_list);
std::string flush();
std::string time_call(std::string_view module, std::string_view function,
                      std::span<const std::uint8_t> args_list, std::uint64_t iterations);
std::string time_etf(std::span<const std::uint8_t> etf, std::uint64_t iterations);
}  // namespace oracle_request

// Answer parsers, one per answer shape; `error <text>` becomes Kind::erl_error.
namespace oracle_answer {
tl::expected<void, OracleError> parse_ok(std::string_view line);
tl::expected<Bytes, OracleError> parse_etf(std::string_view line);
tl::expected<std::string, OracleError> parse_text(std::string_view line);
tl::expected<std::uint64_t, OracleError> parse_count(std::string_view line);
tl::expected<Comparison, OracleError> parse_comparison(std::string_view line);
tl::expected<CallOutcome, OracleError> parse_call(std::string_view line);
tl::expected<CallTiming, OracleError> parse_call_timing(std::string_view line);
tl::expected<EtfTiming, OracleError> parse_etf_timing(std::string_view line);
}  // namespace oracle_answer

class BeamOracle {
 public:
  // Finds erl (PATH, then /usr/bin/erl), starts the oracle and checks that it answers.
  static tl::expected<BeamOracle, OracleError> start();

  BeamOracle(BeamOracle&& other) noexcept;
  BeamOracle& operator=(BeamOracle&& other) noexcept;
  BeamOracle(const BeamOracle&) = delete;
  BeamOracle& operator=(const BeamOracle&) = delete;
  // Asks the VM to quit, then reaps it (killing it if it does not go in time).
  ~BeamOracle();

  tl::expected<std::string, OracleError> version();
  tl::expected<Bytes, OracleError> encode_text(std::string_view text);
  tl::expected<Bytes, OracleError> roundtrip(std::span<const std::uint8_t> etf);
  tl::expected<Bytes, OracleError> roundtrip_safe(std::span<const std::uint8_t> etf);
  tl::expected<void, OracleError> decode_check(std::span<const std::uint8_t> etf);
  tl::expected<std::uint64_t, OracleError> used(std::span<const std::uint8_t> etf);
  tl::expected<std::string, OracleError> print(std::span<const std::uint8_t> etf);
  tl::expected<Comparison, OracleError> compare(std::span<const std::uint8_t> a,
                                                std::span<const std::uint8_t> b);
  tl::expected<std::uint32_t, OracleError> phash2(std::span<const std::uint8_t> etf);
  tl::expected<Bytes, OracleError> maps_to_list(std::span<const std::uint8_t> etf);
  tl::expected<void, OracleError> load_nif(std::string_view path, std::string_view module,
                                           std::span<const NifFunctionSpec> functions,
                                           std::span<const std::uint8_t> load_info);
  tl::expected<CallOutcome, OracleError> call(std::string_view module, std::string_view function,
                                              std::span<const std::uint8_t> args_list);
  tl::expected<Bytes, OracleError> flush();
  tl::expected<CallTiming, OracleError> time_call(std::string_view module,
                                                  std::string_view function,
                                                  std::span<const std::uint8_t> args_list,
                                                  std::uint64_t iterations);
  tl::expected<EtfTiming, OracleError> time_etf(std::span<const std::uint8_t> etf,
                                                std::uint64_t iterations);

  // One raw exchange: a request line (no newline) in, its answer line out.
  tl::expected<std::string, OracleError> request(std::string_view line);
  // Sends every request, then collects every answer, in order. Writing and
  // reading interleave, so a batch of any size cannot deadlock on full pipes.
  tl::expected<std::vector<std::string>, OracleError> pipeline(
      const std::vector<std::string>& request_lines);

  // How long the oracle may stay silent while an answer is due (default 5 min).
  void set_timeout(std::chrono::milliseconds timeout) { timeout_ = timeout; }
  bool alive() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }

 private:
  BeamOracle(pid_t pid, int fd) : pid_(pid), fd_(fd) {}
  tl::expected<std::vector<std::string>, OracleError> exchange(std::span<const std::string> lines);
  OracleError fail(OracleError::Kind kind, std::string message);
  std::string reap(std::chrono::milliseconds grace);
  void stop();

  pid_t pid_ = -1;
  int fd_ = -1;
  std::string pending_;  // bytes read past the last complete answer line
  std::chrono::milliseconds timeout_{std::chrono::minutes(5)};
};

// One oracle per test executable, started on first use. A test run without a
// working erl cannot check anything, so a failed start says why and aborts.
BeamOracle& shared_oracle();

}  // namespace nifhost::testing
