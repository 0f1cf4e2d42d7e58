// nifhost info [OPTIONS] LIB: what a NIF library declares, once loaded.
#include <ostream>
#include <vector>

#include <fmt/format.h>

#include "command.hpp"
#include "nif_session.hpp"
#include "nifhost/core/atom_table.hpp"
#include "nifhost/core/env.hpp"  // erl_nif.h: the dirty flags
#include "nifhost/core/etf.hpp"
#include "nifhost/core/heap.hpp"
#include "nifhost/core/terms.hpp"

namespace nifhost::cli {

extern const Command kInfoCommand;

namespace {

const char* flags_name(unsigned flags) {
  switch (flags) {
    case 0:
      return "normal";
    case ERL_NIF_DIRTY_JOB_CPU_BOUND:
      return "dirty_cpu";
    case ERL_NIF_DIRTY_JOB_IO_BOUND:
      return "dirty_io";
    default:
      return "unknown";
  }
}

std::string version_text(const core::LibraryInfo& info) {
  if (info.via_metadata)
    return fmt::format("metadata {} (module version {})", info.metadata_version,
                       info.module_version.empty() ? "none" : info.module_version);
  return fmt::format("{}.{}", info.nif_major, info.nif_minor);
}

// Function and module names are latin-1 (as the BEAM reads them).
core::Term latin1_atom(std::string_view name) {
  return core::AtomTable::instance().intern_latin1(name).value();
}

// The same facts as one term, for --format etf:
// [{module, M}, {path, P}, {version, V}, {functions, [{Name, Arity, Flags}]}]
core::Term info_term(core::Heap& heap, const core::LibraryInfo& info) {
  std::vector<core::Term> fns;
  for (const auto& f : info.functions)
    fns.push_back(core::make_tuple(
        heap, {latin1_atom(f.name), core::make_small(f.arity), core::atom(flags_name(f.flags))}));
  return core::make_list(
      heap,
      {core::make_tuple(heap, {core::atom("module"), latin1_atom(info.module)}),
       core::make_tuple(heap, {core::atom("path"), core::make_binary(heap, info.path)}),
       core::make_tuple(heap, {core::atom("version"), core::make_binary(heap, version_text(info))}),
       core::make_tuple(heap, {core::atom("functions"), core::make_list(heap, fns)})});
}

int run(std::span<const std::string_view> args, Io& io) {
  for (std::string_view a : args)
    if (a == "--help" || a == "-h") {
      print_usage(io.out, kInfoCommand);
      io.out << "\nLoads LIB (its load callback runs) and prints its module, NIF API version\n"
                "and functions (name/arity and scheduling: normal, dirty_cpu, dirty_io).\n\n"
             << kNifOptionsHelp
             << "\nExit status: 0 loaded, 2 bad command line, 3 the library did not load.\n";
      return kExitOk;
    }
  auto options = parse_nif_options(args, io, kInfoCommand);
  if (!options) return options.error();
  if (options->operands.size() != 1)
    return usage_error(io, &kInfoCommand,
                       options->operands.empty() ? "missing LIB" : "expected one LIB");
  auto session = NifSession::open(*options, options->operands[0], io, kInfoCommand);
  if (!session) return session.error();
  const core::LibraryInfo& info = session->info();
  if (options->format == OutputFormat::kEtf) {
    core::Heap heap;
    auto bytes = core::encode(info_term(heap, info));
    io.out << (bytes ? hex(*bytes) : "** " + bytes.error().what()) << '\n';
    return kExitOk;
  }
  io.out << "module: " << info.module << '\n'
         << "path: " << info.path << '\n'
         << "nif_version: " << version_text(info) << '\n';
  if (!info.via_metadata)
    io.out << "vm_variant: " << info.vm_variant << '\n' << "min_erts: " << info.min_erts << '\n';
  io.out << "backend: " << core::backend_name(options->backend) << '\n'
         << "functions: " << info.functions.size() << '\n';
  for (const auto& f : info.functions)
    io.out << "  " << f.name << '/' << f.arity << ' ' << flags_name(f.flags) << '\n';
  return kExitOk;
}

}  // namespace

const Command kInfoCommand{
    "info",
    "[OPTIONS] LIB",
    "load a NIF library and show its module, NIF version and functions",
    run,
};

}  // namespace nifhost::cli
