#pragma once
// The nifhost tool's commands: one table entry per command, each implemented
// in its own file, so a new command is a new file plus one line in commands.cpp.
//
//   const Command* c = find_command("etf");
//   int status = c->run(args, io);   // an ExitCode
#include <iosfwd>
#include <span>
#include <string_view>

namespace nifhost::cli {

// The tool's exit statuses.
enum ExitCode : int {
  kExitOk = 0,
  kExitBadInput = 1,  // the input was read but is wrong: bad term text, bad hex, bad ETF
  kExitUsage = 2,     // the command line itself is wrong
};

struct Io {
  std::istream& in;
  std::ostream& out;
  std::ostream& err;
};

struct Command {
  std::string_view name;
  std::string_view usage;    // the lines after "usage:", one per form
  std::string_view summary;  // one line for `nifhost --help`
  // Runs with the arguments after the command name; returns an ExitCode.
  int (*run)(std::span<const std::string_view> args, Io& io);
  bool hidden = false;  // a helper other commands run; left out of --help
};

std::span<const Command> commands();
const Command* find_command(std::string_view name);

// Reports a command-line mistake on stderr with the command's usage; returns kExitUsage.
int usage_error(Io& io, const Command* command, std::string_view message);
// Reports bad input on stderr ("nifhost <what>: <message>"); returns kExitBadInput.
int input_error(Io& io, std::string_view what, std::string_view message);
// Writes a command's usage lines ("usage: nifhost etf encode TERM" ...).
void print_usage(std::ostream& os, const Command& command);

}  // namespace nifhost::cli
