#pragma once
// What `nifhost info`, `call` and `run` share: their options, a VM with one
// shell process to call on behalf of, the loaded library, and printing a
// call's outcome the way erl prints it.
//
//   auto opts = parse_nif_options(args, io, kCallCommand);       // or a status
//   auto session = NifSession::open(*opts, opts->operands[0], io, kCallCommand);
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <tl/expected.hpp>

#include "command.hpp"
#include "nifhost/core/backend.hpp"
#include "nifhost/model/vm.hpp"

namespace nifhost::cli {

// Exit statuses of the NIF commands (0 and 2 as every command).
inline constexpr int kExitRaised = 1;  // the NIF raised an exception
inline constexpr int kExitLoad = 3;    // the library did not load (or the backend is unavailable)
inline constexpr int kExitContained = 4;  // the call failed without an answer (contained failure)

enum class OutputFormat { kErl, kEtf };

struct NifOptions {
  core::BackendKind backend = core::BackendKind::kInproc;
  OutputFormat format = OutputFormat::kErl;
  std::optional<std::string> load_info;  // term text
  std::string module;                    // expected module ("" = the library's own)
  std::vector<std::string_view> operands;
};

// The options every NIF command takes, anywhere before `--`. The default
// backend is inproc, or NIFHOST_BACKEND when set. On a mistake the usage
// error is reported and its status returned as the error.
tl::expected<NifOptions, int> parse_nif_options(std::span<const std::string_view> args, Io& io,
                                                const Command& command);
// The option lines for a command's --help.
extern const char* const kNifOptionsHelp;

class NifSession {
 public:
  // Creates the VM and its shell process and loads LIB (a path, with or
  // without .so). Reports a failure and returns its status.
  static tl::expected<NifSession, int> open(const NifOptions& options, std::string_view lib, Io& io,
                                            const Command& command);

  model::Vm& vm() { return *vm_; }
  model::Process& shell() { return *shell_; }
  core::LibraryHandle library() const { return library_; }
  const core::LibraryInfo& info() const { return info_; }

 private:
  NifSession() = default;
  std::unique_ptr<model::Vm> vm_;
  model::Process* shell_ = nullptr;
  core::LibraryHandle library_;
  core::LibraryInfo info_;
};

// Calls FUNCTION with args (on the shell's heap) and prints the outcome on
// one line: erl -> the result as ~p prints it, or "** exception Class: Reason"
// (Reason as ~p), or "** contained failure: Reason" (detail on stderr);
// etf -> hex of term_to_binary(Result), of {Class, Reason}, or of Reason.
// A name/arity the library does not have raises error:undef, as in Erlang.
// Returns the call's status: 0, kExitRaised or kExitContained.
int call_and_print(NifSession& session, std::string_view function, std::span<const core::Term> args,
                   OutputFormat format, Io& io, std::optional<core::Term>* result = nullptr);

std::string hex(std::span<const std::uint8_t> bytes);

}  // namespace nifhost::cli
