// nifhost etf encode TERM | nifhost etf decode HEX: between Erlang term text
// (as io_lib:format("~p") prints it) and External Term Format bytes in hex.
#include <cctype>
#include <iostream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include "command.hpp"
#include "nifhost/core/etf.hpp"
#include "nifhost/core/heap.hpp"
#include "nifhost/core/text.hpp"

namespace nifhost::cli {

extern const Command kEtfCommand;

namespace {

std::string to_hex(std::span<const std::uint8_t> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (std::uint8_t b : bytes) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 0xF]);
  }
  return out;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Hex digits in either case; whitespace around them is ignored.
tl::expected<std::vector<std::uint8_t>, std::string> from_hex(std::string_view hex) {
  while (!hex.empty() && std::isspace(static_cast<unsigned char>(hex.front())))
    hex.remove_prefix(1);
  while (!hex.empty() && std::isspace(static_cast<unsigned char>(hex.back()))) hex.remove_suffix(1);
  if (hex.size() % 2 != 0) return tl::unexpected(std::string("odd number of hex digits"));
  std::vector<std::uint8_t> out(hex.size() / 2);
  for (std::size_t i = 0; i < hex.size(); ++i) {
    int v = hex_value(hex[i]);
    if (v < 0)
      return tl::unexpected("not a hex digit at position " + std::to_string(i + 1) + ": '" +
                            std::string(1, hex[i]) + "'");
    out[i / 2] = static_cast<std::uint8_t>(out[i / 2] * 16 + v);
  }
  return out;
}

// The one operand of a subcommand ("-" reads it from standard input), or a
// usage error already reported.
std::optional<std::string> operand(std::span<const std::string_view> args, Io& io,
                                   std::string_view name, int& status) {
  std::vector<std::string_view> operands;
  bool options_done = false;
  for (std::string_view a : args) {
    if (!options_done && a == "--") {
      options_done = true;
    } else if (!options_done && a.starts_with("--")) {
      status = usage_error(io, &kEtfCommand, "unknown option '" + std::string(a) + "'");
      return std::nullopt;
    } else {
      operands.push_back(a);
    }
  }
  if (operands.size() != 1) {
    status = usage_error(io, &kEtfCommand,
                         operands.empty() ? "missing " + std::string(name)
                                          : "expected one " + std::string(name) + ", got " +
                                                std::to_string(operands.size()) + " arguments");
    return std::nullopt;
  }
  if (operands[0] == "-")
    return std::string(std::istreambuf_iterator<char>(io.in), std::istreambuf_iterator<char>());
  return std::string(operands[0]);
}

int encode_command(std::span<const std::string_view> args, Io& io) {
  int status = kExitOk;
  auto text = operand(args, io, "TERM", status);
  if (!text) return status;
  core::Heap heap;
  auto term = core::parse_term(*text, heap);
  if (!term) return input_error(io, "etf encode", term.error().message);
  auto bytes = core::encode(*term);
  if (!bytes) return input_error(io, "etf encode", bytes.error().what());
  io.out << to_hex(*bytes) << '\n';
  return kExitOk;
}

int decode_command(std::span<const std::string_view> args, Io& io) {
  int status = kExitOk;
  auto hex = operand(args, io, "HEX", status);
  if (!hex) return status;
  auto bytes = from_hex(*hex);
  if (!bytes) return input_error(io, "etf decode", bytes.error());
  core::Heap heap;
  auto term = core::decode(*bytes, heap);
  if (!term) return input_error(io, "etf decode", term.error().what());
  io.out << core::print_term(*term) << '\n';
  return kExitOk;
}

int run(std::span<const std::string_view> args, Io& io) {
  if (args.empty()) return usage_error(io, &kEtfCommand, "missing subcommand (encode or decode)");
  std::string_view sub = args[0];
  if (sub == "--help" || sub == "-h") {
    print_usage(io.out, kEtfCommand);
    io.out << "\nTERM is Erlang term text, as io_lib:format(\"~p\") prints it; HEX is the\n"
              "term_to_binary/1 bytes in hex. '-' reads the operand from standard input.\n";
    return kExitOk;
  }
  if (sub == "encode") return encode_command(args.subspan(1), io);
  if (sub == "decode") return decode_command(args.subspan(1), io);
  return usage_error(io, &kEtfCommand, "unknown subcommand '" + std::string(sub) + "'");
}

}  // namespace

const Command kEtfCommand{
    "etf",
    "encode TERM\n"
    "decode HEX",
    "convert between Erlang term text and External Term Format bytes (hex)",
    run,
};

}  // namespace nifhost::cli
