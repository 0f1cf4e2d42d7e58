#include "proptest.hpp"

#include <algorithm>
#include <cstdlib>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "nifhost/backends/select.hpp"
#include "nifhost/core/atom_table.hpp"
#include "nifhost/core/etf.hpp"
#include "nifhost/core/order.hpp"
#include "nifhost/core/terms.hpp"
#include "nifhost/core/text.hpp"
#include "nifhost/testing/hex.hpp"

namespace nifhost::proptests {

// ------------------------------------------------------------------ where things are

namespace {
std::filesystem::path nif_dir() {
  const char* dir = std::getenv("NIFHOST_BINARY_DIR");
  return std::filesystem::path(dir != nullptr ? dir : ".") / "nifs";
}
}  // namespace

std::string suite_stem(std::string_view suite) { return (nif_dir() / suite).string(); }
std::string suite_path(std::string_view suite) { return suite_stem(suite) + ".so"; }

// ------------------------------------------------------------------ backends

std::vector<BackendKind> backend_kinds() { return backends::available_backends(); }

std::string backend_param_name(const ::testing::TestParamInfo<BackendKind>& info) {
  return core::backend_name(info.param);
}

core::LibrarySpec library_spec(std::string path, std::string module) {
  core::LibrarySpec spec;
  spec.path = std::move(path);
  spec.module = std::move(module);
  return spec;
}

Host::Host(BackendKind kind) : kind_(kind) {
  auto vm = model::Vm::create(kind);
  if (!vm)
    throw HarnessError(
        fmt::format("cannot create a {} VM: {}", core::backend_name(kind), vm.error().message()));
  vm_ = std::move(*vm);
  self_ = &vm_->spawn();
}

core::LibraryHandle Host::load(std::string_view suite) {
  return load_spec(library_spec(suite_path(suite)));
}

core::LibraryHandle Host::load_spec(const core::LibrarySpec& spec) {
  auto lib = vm_->load(spec);
  if (!lib)
    throw HarnessError(fmt::format("{} does not load on {}: {}", spec.path.string(),
                                   core::backend_name(kind_), lib.error().message()));
  return *lib;
}

core::FunctionHandle Host::function(core::LibraryHandle lib, std::string_view name,
                                    unsigned arity) {
  auto fn = vm_->lookup(lib, name, arity);
  if (!fn)
    throw HarnessError(fmt::format("no function {}/{}: {}", name, arity, fn.error().message()));
  return *fn;
}

core::CallResult Host::call(model::Process& caller, core::LibraryHandle lib, std::string_view name,
                            std::span<const Term> args) {
  return vm_->call(caller, function(lib, name, static_cast<unsigned>(args.size())), args);
}

core::CallResult Host::call_text(core::LibraryHandle lib, std::string_view name,
                                 std::string_view args_text) {
  auto list = core::parse_term(args_text, self_->heap());
  if (!list)
    throw HarnessError(fmt::format("bad argument text {}: {}", args_text, list.error().message));
  auto args = list_elements(*list);
  return call(lib, name, args);
}

// ------------------------------------------------------------------ outcomes

Bytes etf(Term t) {
  auto bytes = core::encode(t);
  if (!bytes) throw HarnessError("term_to_binary failed: " + bytes.error().what());
  return std::move(*bytes);
}

Bytes args_etf(std::span<const Term> args) {
  core::Heap heap;
  return etf(core::make_list(heap, args));
}

std::string show(const core::CallResult& r) {
  if (const auto* v = std::get_if<Term>(&r.outcome)) return "value " + core::print_term(*v);
  if (const auto* e = std::get_if<core::Exception>(&r.outcome))
    return "exception " + core::print_term(e->klass) + ":" + core::print_term(e->reason);
  const auto& c = std::get<core::ContainedFailure>(r.outcome);
  return "contained " + core::print_term(c.reason) + " (" + c.detail + ")";
}

std::string show_args(std::span<const Term> args) {
  std::string out = "(";
  for (std::size_t i = 0; i < args.size(); ++i) out += (i ? ", " : "") + core::print_term(args[i]);
  return out + ")";
}

std::vector<Term> list_elements(Term list) {
  if (!core::list_length(list)) throw HarnessError("not a proper list: " + core::print_term(list));
  std::vector<Term> out;
  for (Term t : core::ListRange(list)) out.push_back(t);
  return out;
}

bool is_exception(const core::CallResult& r, std::string_view klass, Term reason) {
  const auto* e = std::get_if<core::Exception>(&r.outcome);
  return e != nullptr && core::atom_text(e->klass) == klass && core::identical(e->reason, reason);
}

bool is_badarg(const core::CallResult& r) { return is_exception(r, "error", core::atoms::kBadarg); }

bool is_contained(const core::CallResult& r) {
  return std::holds_alternative<core::ContainedFailure>(r.outcome);
}

// ------------------------------------------------------------------ the real BEAM

namespace {

std::set<std::string>& beam_modules() {
  static std::set<std::string> loaded;
  return loaded;
}

std::vector<testing::NifFunctionSpec> specs_of(std::span<const core::FunctionInfo> functions) {
  std::vector<testing::NifFunctionSpec> out;
  for (const auto& f : functions) out.push_back({f.name, f.arity});
  return out;
}

// The text of an ETF payload the BEAM sent, for messages.
std::string show_etf(const Bytes& bytes) {
  core::Heap heap;
  auto t = core::decode(bytes, heap);
  if (!t) return "<" + testing::to_hex(bytes) + ">";
  return core::print_term(*t);
}

// The BEAM keeps a map of more than 32 keys in the order of its internal hash,
// which hashes atoms, pids and ports by their index in that VM's tables: the
// order (and so term_to_binary) of such a map is particular to each VM, the
// real BEAM's as much as a nifhost host's. Keys made only of numbers,
// binaries, [] and tuples, lists and small maps of those hash alike everywhere.
bool hashes_as_in_the_beam(Term t) {
  if (core::is_number(t) || core::is_nil(t) || core::is_bitstring(t)) return true;
  if (core::is_cons(t)) {
    for (; core::is_cons(t); t = core::cons_tail(t))
      if (!hashes_as_in_the_beam(core::cons_head(t))) return false;
    return hashes_as_in_the_beam(t);
  }
  if (core::is_tuple(t)) {
    for (std::size_t i = 0; i < core::tuple_arity(t); ++i)
      if (!hashes_as_in_the_beam(core::tuple_elements(t)[i])) return false;
    return true;
  }
  if (core::is_map(t) && core::map_size(t) <= core::kFlatmapLimit) {
    for (std::size_t i = 0; i < core::map_size(t); ++i)
      if (!hashes_as_in_the_beam(core::map_keys(t)[i]) ||
          !hashes_as_in_the_beam(core::map_values(t)[i]))
        return false;
    return true;
  }
  return false;
}

// Where two encodings part (the texts of different terms can be the same:
// -0.0 and 0.0 in a map, the order of a map's keys).
std::string bytes_difference(const Bytes& mine, const Bytes& theirs) {
  std::size_t at = 0;
  while (at < mine.size() && at < theirs.size() && mine[at] == theirs[at]) ++at;
  auto window = [&](const Bytes& b) {
    const std::size_t from = at > 8 ? at - 8 : 0;
    const std::size_t to = std::min(b.size(), at + 24);
    return testing::to_hex(std::span(b).subspan(from, to - from));
  };
  return fmt::format(" (term_to_binary differs at byte {} of {}/{}: here ...{}..., BEAM ...{}...)",
                     at, mine.size(), theirs.size(), window(mine), window(theirs));
}

}  // namespace

testing::BeamOracle& beam() {
  // Lives until the program exits (its destructor stops erl). A failed start
  // throws, and the next use tries again.
  static testing::BeamOracle instance = [] {
    auto started = testing::BeamOracle::start();
    if (!started)
      throw HarnessError("the BEAM oracle does not start: " + testing::describe(started.error()));
    return std::move(*started);
  }();
  return instance;
}

void beam_load(std::string_view stem, std::string_view module,
               std::span<const core::FunctionInfo> functions) {
  if (beam_modules().contains(std::string(module))) return;
  std::string error = beam_reload(stem, module, functions, etf(core::make_small(0)));
  if (!error.empty()) throw HarnessError(error);
}

std::string beam_reload(std::string_view stem, std::string_view module,
                        std::span<const core::FunctionInfo> functions, const Bytes& load_info) {
  auto specs = specs_of(functions);
  auto r = beam().load_nif(stem, module, specs, load_info);
  if (!r) {
    if (r.error().kind == testing::OracleError::Kind::erl_error) return r.error().message;
    throw HarnessError(
        fmt::format("the BEAM oracle failed loading {}: {}", stem, testing::describe(r.error())));
  }
  beam_modules().insert(std::string(module));
  return {};
}

std::vector<std::string> beam_pipeline(const std::vector<std::string>& lines) {
  auto answers = beam().pipeline(lines);
  if (!answers) throw HarnessError("the BEAM oracle failed: " + testing::describe(answers.error()));
  return std::move(*answers);
}

std::vector<testing::CallOutcome> beam_calls(const std::vector<BeamRequest>& requests) {
  std::vector<std::string> lines;
  lines.reserve(requests.size());
  for (const auto& r : requests)
    lines.push_back(testing::oracle_request::call(r.module, r.function, r.args));
  auto answers = beam_pipeline(lines);
  std::vector<testing::CallOutcome> out;
  out.reserve(answers.size());
  for (std::size_t i = 0; i < answers.size(); ++i) {
    auto parsed = testing::oracle_answer::parse_call(answers[i]);
    if (!parsed)
      throw HarnessError(fmt::format("the BEAM could not run {}:{}: {}", requests[i].module,
                                     requests[i].function, testing::describe(parsed.error())));
    out.push_back(std::move(*parsed));
  }
  return out;
}

namespace {

// True if t holds a map whose order is particular to the VM (see
// hashes_as_in_the_beam).
bool vm_ordered_maps(Term t) {
  if (core::is_cons(t)) {
    for (; core::is_cons(t); t = core::cons_tail(t))
      if (vm_ordered_maps(core::cons_head(t))) return true;
    return vm_ordered_maps(t);
  }
  if (core::is_tuple(t)) {
    for (std::size_t i = 0; i < core::tuple_arity(t); ++i)
      if (vm_ordered_maps(core::tuple_elements(t)[i])) return true;
    return false;
  }
  if (!core::is_map(t)) return false;
  for (std::size_t i = 0; i < core::map_size(t); ++i) {
    if (core::map_size(t) > core::kFlatmapLimit && !hashes_as_in_the_beam(core::map_keys(t)[i]))
      return true;
    if (vm_ordered_maps(core::map_keys(t)[i]) || vm_ordered_maps(core::map_values(t)[i]))
      return true;
  }
  return false;
}

}  // namespace

bool beam_same_term(Term mine, const Bytes& theirs) {
  Bytes bytes = etf(mine);
  if (bytes == theirs) return true;
  if (!vm_ordered_maps(mine)) return false;
  core::Heap heap;
  auto decoded = core::decode(theirs, heap);
  return decoded && core::identical(*decoded, mine);
}

std::string beam_mismatch(const core::CallResult& ours, const testing::CallOutcome& theirs) {
  const std::string beam_text =
      theirs.raised ? "exception " + theirs.exception_class + ":" + show_etf(theirs.term)
                    : "value " + show_etf(theirs.term);
  auto differ = [&] { return "here " + show(ours) + ", in the BEAM " + beam_text; };
  if (const auto* v = std::get_if<Term>(&ours.outcome)) {
    if (theirs.raised) return differ();
    if (!beam_same_term(*v, theirs.term)) return differ() + bytes_difference(etf(*v), theirs.term);
    return {};
  }
  if (const auto* e = std::get_if<core::Exception>(&ours.outcome)) {
    if (!theirs.raised || core::atom_text(e->klass) != theirs.exception_class ||
        !beam_same_term(e->reason, theirs.term))
      return differ();
    return {};
  }
  return differ();
}

// ------------------------------------------------------------------ running properties

rc::detail::TestParams property_params(int runs) {
  rc::detail::TestParams params = rc::detail::configuration().testParams;
  const char* env = std::getenv("RC_PARAMS");
  if (env == nullptr || std::string_view(env).find("max_success") == std::string_view::npos)
    params.maxSuccess = runs;
  return params;
}

bool shrinking_requested() {
  const char* env = std::getenv("NIFHOST_PROPTEST_SHRINK");
  return env != nullptr && std::string_view(env) == "1";
}

void report_property(const rc::detail::TestResult& result) {
  if (result.template is<rc::detail::SuccessResult>()) return;
  std::ostringstream message;
  rc::detail::printResultMessage(result, message);
  ADD_FAILURE() << message.str();
}

}  // namespace nifhost::proptests
