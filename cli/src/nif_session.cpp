#include "nif_session.hpp"

#include <cstdlib>
#include <filesystem>
#include <ostream>

#include "nifhost/core/atom_table.hpp"
#include "nifhost/core/etf.hpp"
#include "nifhost/core/heap.hpp"
#include "nifhost/core/terms.hpp"
#include "nifhost/core/text.hpp"

namespace nifhost::cli {

const char* const kNifOptionsHelp =
    "Options:\n"
    "  --backend B      inproc, process or shm (default inproc; NIFHOST_BACKEND\n"
    "                   sets the default)\n"
    "  --format F       erl: results as io_lib:format(\"~p\") prints them (default);\n"
    "                   etf: term_to_binary/1 bytes in hex\n"
    "  --load-info T    the term passed to the library's load callback (default 0)\n"
    "  --module M       the module the library must be for (default: its own)\n";

std::string hex(std::span<const std::uint8_t> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (std::uint8_t b : bytes) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 0xF]);
  }
  return out;
}

tl::expected<NifOptions, int> parse_nif_options(std::span<const std::string_view> args, Io& io,
                                                const Command& command) {
  NifOptions options;
  if (const char* env = std::getenv("NIFHOST_BACKEND"); env != nullptr && *env != '\0') {
    auto kind = core::parse_backend_kind(env);
    if (!kind)
      return tl::make_unexpected(usage_error(
          io, &command, "NIFHOST_BACKEND names no backend: '" + std::string(env) + "'"));
    options.backend = *kind;
  }
  bool options_done = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string_view a = args[i];
    if (options_done || !a.starts_with("--")) {
      options.operands.push_back(a);
      continue;
    }
    if (a == "--") {
      options_done = true;
      continue;
    }
    // --name VALUE or --name=VALUE
    std::string_view name = a;
    std::optional<std::string_view> value;
    if (auto eq = a.find('='); eq != std::string_view::npos) {
      name = a.substr(0, eq);
      value = a.substr(eq + 1);
    }
    auto take_value = [&]() -> std::optional<std::string_view> {
      if (value) return value;
      if (i + 1 < args.size()) return args[++i];
      return std::nullopt;
    };
    if (name == "--backend") {
      auto v = take_value();
      if (!v) return tl::make_unexpected(usage_error(io, &command, "--backend needs a value"));
      auto kind = core::parse_backend_kind(*v);
      if (!kind)
        return tl::make_unexpected(usage_error(
            io, &command, "unknown backend '" + std::string(*v) + "' (inproc, process or shm)"));
      options.backend = *kind;
    } else if (name == "--format") {
      auto v = take_value();
      if (v == "erl") {
        options.format = OutputFormat::kErl;
      } else if (v == "etf") {
        options.format = OutputFormat::kEtf;
      } else {
        return tl::make_unexpected(usage_error(io, &command, "--format is erl or etf"));
      }
    } else if (name == "--load-info") {
      auto v = take_value();
      if (!v) return tl::make_unexpected(usage_error(io, &command, "--load-info needs a term"));
      options.load_info = std::string(*v);
    } else if (name == "--module") {
      auto v = take_value();
      if (!v) return tl::make_unexpected(usage_error(io, &command, "--module needs a name"));
      options.module = std::string(*v);
    } else {
      return tl::make_unexpected(
          usage_error(io, &command, "unknown option '" + std::string(a) + "'"));
    }
  }
  return options;
}

tl::expected<NifSession, int> NifSession::open(const NifOptions& options, std::string_view lib,
                                               Io& io, const Command& command) {
  core::LibrarySpec spec;
  // Like erlang:load_nif/2, the path may leave out the .so.
  std::filesystem::path path(lib);
  if (!std::filesystem::exists(path) && path.extension() != ".so") path += ".so";
  spec.path = path;
  spec.module = options.module;
  if (options.load_info) {
    core::Heap heap;
    auto info = core::parse_term(*options.load_info, heap);
    if (!info)
      return tl::make_unexpected(usage_error(io, &command, "--load-info: " + info.error().message));
    auto bytes = core::encode(*info);
    if (!bytes)
      return tl::make_unexpected(usage_error(io, &command, "--load-info: " + bytes.error().what()));
    spec.load_info_etf = std::move(*bytes);
  }

  NifSession session;
  auto vm = model::Vm::create(options.backend);
  if (!vm) {
    io.err << "nifhost " << command.name << ": " << vm.error().message() << '\n';
    return tl::make_unexpected(kExitLoad);
  }
  session.vm_ = std::move(*vm);
  session.shell_ = &session.vm_->spawn();
  auto handle = session.vm_->load(spec);
  if (!handle) {
    io.err << "nifhost " << command.name << ": cannot load " << spec.path.string() << ": "
           << handle.error().message() << '\n';
    return tl::make_unexpected(kExitLoad);
  }
  session.library_ = *handle;
  auto info = session.vm_->backend().info(*handle);
  if (!info) {
    io.err << "nifhost " << command.name << ": " << info.error().message() << '\n';
    return tl::make_unexpected(kExitLoad);
  }
  session.info_ = std::move(*info);
  return session;
}

namespace {

// One term in the chosen format (ETF failures are reported in its place).
std::string format_term(core::Term t, OutputFormat format) {
  if (format == OutputFormat::kErl) return core::print_term(t);
  auto bytes = core::encode(t);
  if (!bytes) return "** cannot encode the result: " + bytes.error().what();
  return hex(*bytes);
}

}  // namespace

int call_and_print(NifSession& session, std::string_view function, std::span<const core::Term> args,
                   OutputFormat format, Io& io, std::optional<core::Term>* result) {
  core::Heap& heap = session.shell().heap();
  auto fn = session.vm().lookup(session.library(), function, static_cast<unsigned>(args.size()));
  core::CallResult r;
  if (!fn) {
    // What calling a function the module does not export raises in Erlang.
    r.outcome = core::Exception{core::atoms::kError, core::atoms::kUndef};
    io.err << "nifhost: " << fn.error().text << '\n';
  } else {
    r = session.vm().call(session.shell(), *fn, args);
  }
  if (r.ok()) {
    if (result) *result = r.value();
    io.out << format_term(r.value(), format) << '\n';
    return kExitOk;
  }
  if (const auto* e = std::get_if<core::Exception>(&r.outcome)) {
    if (format == OutputFormat::kErl)
      io.out << "** exception " << core::print_term(e->klass) << ": " << core::print_term(e->reason)
             << '\n';
    else
      io.out << format_term(core::make_tuple(heap, {e->klass, e->reason}), format) << '\n';
    return kExitRaised;
  }
  const auto& failure = std::get<core::ContainedFailure>(r.outcome);
  if (format == OutputFormat::kErl)
    io.out << "** contained failure: " << core::print_term(failure.reason) << '\n';
  else
    io.out << format_term(failure.reason, format) << '\n';
  if (!failure.detail.empty()) io.err << "nifhost: " << failure.detail << '\n';
  return kExitContained;
}

}  // namespace nifhost::cli
