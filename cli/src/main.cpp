// nifhost: command-line access to nifhost's term tools.
//
//   nifhost etf encode '{ok, [1, 2]}'     # 83680264...
//   nifhost etf decode 8368026400026f6b6101   # {ok,1}
#include <iostream>
#include <string_view>
#include <vector>

#include "command.hpp"

namespace {

using nifhost::cli::Io;

void print_help(std::ostream& os) {
  os << "usage: nifhost COMMAND [ARGS...]\n"
        "       nifhost --help | --version\n"
        "\n"
        "Commands:\n";
  for (const auto& c : nifhost::cli::commands())
    if (!c.hidden) os << "  " << c.name << "  " << c.summary << '\n';
  os << "\n";
  for (const auto& c : nifhost::cli::commands())
    if (!c.hidden) nifhost::cli::print_usage(os, c);
  os << "\n"
        "Exit status: 0 success, 1 bad input (term text, hex or ETF), 2 bad command line.\n";
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string_view> args(argv + 1, argv + argc);
  Io io{std::cin, std::cout, std::cerr};
  if (args.empty()) return nifhost::cli::usage_error(io, nullptr, "missing command");
  std::string_view first = args[0];
  if (first == "--help" || first == "-h" || first == "help") {
    print_help(std::cout);
    return nifhost::cli::kExitOk;
  }
  if (first == "--version") {
    std::cout << "nifhost " << NIFHOST_VERSION << '\n';
    return nifhost::cli::kExitOk;
  }
  if (first.starts_with('-'))
    return nifhost::cli::usage_error(io, nullptr, "unknown option '" + std::string(first) + "'");
  const nifhost::cli::Command* command = nifhost::cli::find_command(first);
  if (command == nullptr)
    return nifhost::cli::usage_error(io, nullptr, "unknown command '" + std::string(first) + "'");
  int status = command->run(std::span(args).subspan(1), io);
  std::cout.flush();
  return status;
}
