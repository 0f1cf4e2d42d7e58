// The command table and the shared error reporting.
#include <array>
#include <ostream>

#include "command.hpp"

namespace nifhost::cli {

// Defined in the commands' own files.
extern const Command kEtfCommand;
extern const Command kInfoCommand;
extern const Command kCallCommand;
extern const Command kRunCommand;
extern const Command kCompareCommand;
extern const Command kFaultProbeCommand;

std::span<const Command> commands() {
  static const std::array kCommands{kEtfCommand, kInfoCommand,    kCallCommand,
                                    kRunCommand, kCompareCommand, kFaultProbeCommand};
  return kCommands;
}

const Command* find_command(std::string_view name) {
  for (const Command& c : commands())
    if (c.name == name) return &c;
  return nullptr;
}

void print_usage(std::ostream& os, const Command& command) {
  std::string_view lines = command.usage;
  const char* prefix = "usage: ";
  while (!lines.empty()) {
    std::size_t nl = lines.find('\n');
    os << prefix << "nifhost " << command.name << ' ' << lines.substr(0, nl) << '\n';
    prefix = "       ";
    lines = nl == std::string_view::npos ? std::string_view{} : lines.substr(nl + 1);
  }
}

int usage_error(Io& io, const Command* command, std::string_view message) {
  io.err << "nifhost" << (command ? " " : "") << (command ? command->name : "") << ": " << message
         << '\n';
  if (command) print_usage(io.err, *command);
  io.err << "Try 'nifhost --help'.\n";
  return kExitUsage;
}

int input_error(Io& io, std::string_view what, std::string_view message) {
  io.err << "nifhost " << what << ": " << message << '\n';
  return kExitBadInput;
}

}  // namespace nifhost::cli
