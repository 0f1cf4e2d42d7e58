#include "failure.hpp"

#include <cstring>
#include <string_view>

#include <fmt/format.h>

#include "nifhost/core/atom_table.hpp"
#include "nifhost/core/terms.hpp"
#include "spawn.hpp"

namespace nifhost::process::detail {

namespace {

// Texts are strings (character lists), as in erlang:load_nif/2's {error, {Reason, Text}}.
core::Term text_term(core::Heap& heap, std::string_view text) {
  return core::make_char_list(heap,
                              {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()});
}

}  // namespace

core::Term Failure::why(core::Heap& heap) const {
  using core::atom;
  switch (kind) {
    case Kind::kSignal:
      return core::make_tuple(heap, {atom("signal"), atom(signal_name(static_cast<int>(value)))});
    case Kind::kExitStatus:
      return core::make_tuple(heap, {atom("exit_status"), core::make_integer(heap, value)});
    case Kind::kTimeout:
      return core::atoms::kTimeout;
    case Kind::kProtocol:
      return core::make_tuple(heap, {atom("protocol"), text_term(heap, text)});
    case Kind::kShutdown:
      return atom("shutdown");
    case Kind::kStartFailed:
      return core::make_tuple(heap, {atom("start_failed"), text_term(heap, text)});
    case Kind::kBudgetExhausted:
      return core::make_tuple(heap,
                              {atom("restart_budget_exhausted"), core::make_integer(heap, value)});
    case Kind::kReloadFailed:
      return core::make_tuple(heap, {atom("reload_failed"), text_term(heap, text)});
    case Kind::kStaleResource:
      return atom("stale_resource");
    case Kind::kForeignResource:
      return atom("foreign_resource");
    case Kind::kTooLarge:
      return core::make_tuple(heap, {atom("too_large"), core::make_integer(heap, value)});
  }
  return core::atoms::kUndefined;
}

std::string Failure::describe() const {
  switch (kind) {
    case Kind::kSignal:
      return fmt::format("the worker was killed by signal {} ({})",
                         signal_name(static_cast<int>(value)),
                         ::strsignal(static_cast<int>(value)));
    case Kind::kExitStatus:
      return fmt::format("the worker exited with status {}", value);
    case Kind::kTimeout:
      return "a call missed its deadline; the worker was killed";
    case Kind::kProtocol:
      return "the worker broke the protocol (" + text + "); it was killed";
    case Kind::kShutdown:
      return "the worker was stopped by the host";
    case Kind::kStartFailed:
      return "the worker could not be started: " + text;
    case Kind::kBudgetExhausted:
      return fmt::format(
          "the worker was restarted {} times within its restart period (the restart budget); "
          "the library is marked failed. {}",
          value, text);
    case Kind::kReloadFailed:
      return "the restarted worker could not load the library again: " + text;
    case Kind::kStaleResource:
      return "an argument holds a resource handle from an earlier incarnation of the worker "
             "(it was restarted, and the resource is gone)";
    case Kind::kForeignResource:
      return "an argument holds a handle to a resource that lives in another worker";
    case Kind::kTooLarge:
      return fmt::format(
          "the arguments take {} bytes, more than a frame may carry "
          "(IsolatedConfig::max_frame_bytes)",
          value);
  }
  return "unknown failure";
}

}  // namespace nifhost::process::detail
