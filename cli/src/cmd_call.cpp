// nifhost call [OPTIONS] LIB FUNCTION [ARG...]: one NIF call, from the command line.
#include <ostream>
#include <vector>

#include "command.hpp"
#include "nif_session.hpp"
#include "nifhost/core/heap.hpp"
#include "nifhost/core/text.hpp"

namespace nifhost::cli {

extern const Command kCallCommand;

namespace {

int run(std::span<const std::string_view> args, Io& io) {
  for (std::string_view a : args) {
    if (a == "--") break;
    if (a == "--help" || a == "-h") {
      print_usage(io.out, kCallCommand);
      io.out << "\nLoads LIB and calls FUNCTION/N with the N ARGs, each an Erlang term\n"
                "(e.g. '<<\"[1,2]\">>' '[]'), on behalf of a process of a small VM, and prints\n"
                "the result on one line. An exception prints as\n"
                "  ** exception Class: Reason        (Reason as ~p prints it)\n"
                "a call the backend could not complete as\n"
                "  ** contained failure: {nifhost,Module,Function,Why}\n"
                "and a FUNCTION/N that LIB lacks raises error:undef, as in Erlang.\n"
                "With --format etf the line is the hex of term_to_binary of the result,\n"
                "of {Class, Reason}, or of the failure's reason.\n\n"
             << kNifOptionsHelp
             << "\nExit status: 0 returned, 1 raised an exception, 2 bad command line or\n"
                "argument, 3 the library did not load, 4 contained failure.\n";
      return kExitOk;
    }
  }
  auto options = parse_nif_options(args, io, kCallCommand);
  if (!options) return options.error();
  if (options->operands.size() < 2)
    return usage_error(io, &kCallCommand,
                       options->operands.empty() ? "missing LIB and FUNCTION" : "missing FUNCTION");
  // Arguments are checked before anything is loaded; they live on a heap of
  // their own that outlives the call.
  core::Heap arg_heap;
  std::vector<core::Term> call_args;
  for (std::size_t i = 2; i < options->operands.size(); ++i) {
    auto t = core::parse_term(options->operands[i], arg_heap);
    if (!t)
      return usage_error(io, &kCallCommand,
                         "argument " + std::to_string(i - 1) + ": " + t.error().message);
    call_args.push_back(*t);
  }
  auto session = NifSession::open(*options, options->operands[0], io, kCallCommand);
  if (!session) return session.error();
  return call_and_print(*session, options->operands[1], call_args, options->format, io);
}

}  // namespace

const Command kCallCommand{
    "call",
    "[OPTIONS] LIB FUNCTION [ARG...]",
    "load a NIF library and call one of its functions",
    run,
};

}  // namespace nifhost::cli
