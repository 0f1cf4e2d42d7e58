// The NIF library loader: erlang:load_nif/2's checks and lifecycle, without a BEAM.
//
// The order of the checks and their texts follow erts_load_nif in OTP 25's
// erl_nif.c, so that a library refused here is refused by the BEAM with the
// same {Reason, Text}. Where the BEAM relies on the Erlang module (a NIF must
// replace a function of that module, hence "Function not found"), the loader
// checks what such a function could be: a latin-1 atom name and an arity of
// at most 255.
#include "nifhost/core/loader.hpp"

#include <algorithm>
#include <cassert>
#include <cstddef>
#include <cstring>
#include <dlfcn.h>
#include <mutex>
#include <new>
#include <unordered_set>
#include <utility>

#include <boost/dll/shared_library.hpp>
#include <fmt/format.h>

#include "enif_runtime.hpp"
#include "nifhost/core/atom_table.hpp"
#include "nifhost/core/heap.hpp"
#include "nifhost/core/text.hpp"
#include "nifhost/nif_metadata.h"
#include "resource_registry.hpp"

namespace nifhost::core {

namespace {

constexpr unsigned kMaxArity = 255;  // MAX_ARG in the BEAM
constexpr std::size_t kMaxAtomChars = AtomTable::kMaxCharacters;
// A sanity bound on num_of_funcs: far above any real library, low enough that
// a garbage count is refused rather than walked.
constexpr int kMaxEntryFunctions = 1 << 20;

LoadError bad_lib(std::string text) { return {LoadErrc::kBadLib, std::move(text)}; }

// The BEAM's AT_LEAST_VERSION for an entry's declared version.
bool at_least(int major, int minor, int want_major, int want_minor) {
  return major * 0x100 + minor >= want_major * 0x100 + want_minor;
}

// %T of an atom named by latin-1 text: quoted when Erlang needs quotes.
std::string atom_text_quoted(std::string_view latin1) {
  auto a = AtomTable::instance().intern_latin1(latin1);
  if (!a) return fmt::format("'{}'", latin1);
  return print_term(*a);
}

// strlen bounded: a name longer than an atom can be is refused without
// walking unbounded memory.
std::size_t bounded_length(const char* s, std::size_t limit) {
  const void* nul = std::memchr(s, '\0', limit + 1);
  return nul ? static_cast<std::size_t>(static_cast<const char*>(nul) - s) : limit + 1;
}

// The layout of ErlNifFunc before 2.7 (no flags field), as erl_nif.c's create_lib reads it.
struct ErlNifFuncV1 {
  const char* name;
  unsigned arity;
  NifFunctionPointer fptr;
};

// Sweeps on every open: what a retired library waited for may be gone now.
std::mutex& retired_mutex() {
  static std::mutex m;
  return m;
}
std::vector<NifLibrary*>& retired_list() {
  static auto* list = new std::vector<NifLibrary*>();  // never destroyed: see retire()
  return *list;
}

}  // namespace

struct NifLibrary::Handle {
  boost::dll::shared_library library;
};

// ------------------------------------------------------------------ validation

namespace {

// Checks one function as erts_load_nif does, in its order: a name the module
// could have ("Function not found"), legal flags, no repeat.
tl::expected<NifFunction, LoadError> check_function(const std::string& module_quoted,
                                                    const char* name, unsigned arity,
                                                    unsigned flags, NifFunctionPointer fptr,
                                                    std::size_t index) {
  if (name == nullptr)
    return tl::make_unexpected(
        bad_lib(fmt::format("Function entry {} of {} has no name.", index, module_quoted)));
  std::size_t len = bounded_length(name, kMaxAtomChars);
  std::string_view name_view(name, std::min(len, kMaxAtomChars));
  if (len > kMaxAtomChars || arity > kMaxArity)
    return tl::make_unexpected(
        bad_lib(fmt::format("Function not found {}:{}{}/{}", module_quoted, name_view,
                            len > kMaxAtomChars ? "..." : "", arity)));
  if (flags != 0 && flags != ERL_NIF_DIRTY_JOB_IO_BOUND && flags != ERL_NIF_DIRTY_JOB_CPU_BOUND)
    return tl::make_unexpected(bad_lib(fmt::format("Illegal flags field value {} for NIF {}:{}/{}",
                                                   flags, module_quoted, name_view, arity)));
  if (fptr == nullptr)
    return tl::make_unexpected(bad_lib(
        fmt::format("NIF {}:{}/{} has no function pointer.", module_quoted, name_view, arity)));
  auto atom = AtomTable::instance().intern_latin1(name_view);
  if (!atom)
    return tl::make_unexpected(
        bad_lib(fmt::format("Function not found {}:{}/{}", module_quoted, name_view, arity)));
  return NifFunction{std::string(name_view), *atom, arity, flags, fptr};
}

tl::expected<void, LoadError> add_function(std::vector<NifFunction>& out,
                                           std::unordered_set<std::string>& seen,
                                           const std::string& module_quoted, NifFunction f) {
  std::string key = fmt::format("{}/{}", f.name, f.arity);
  if (!seen.insert(key).second)
    return tl::make_unexpected(
        bad_lib(fmt::format("Duplicate NIF entry for {}:{}/{}", module_quoted, f.name, f.arity)));
  out.push_back(std::move(f));
  return {};
}

// The module name must be what the caller loads for; without a caller's
// module, it must at least be an atom.
tl::expected<void, LoadError> check_module(const char* name, const OpenOptions& options) {
  if (name == nullptr) return tl::make_unexpected(bad_lib("Library module name is missing."));
  std::size_t len = bounded_length(name, kMaxAtomChars);
  std::string_view view(name, std::min(len, kMaxAtomChars));
  if (!options.expected_module.empty()) {
    if (len > kMaxAtomChars || view != options.expected_module)
      return tl::make_unexpected(bad_lib(fmt::format(
          "Library module name '{}{}' does not match calling module '{}'", view,
          len > kMaxAtomChars ? "..." : "", atom_text_quoted(options.expected_module))));
    return {};
  }
  if (len > kMaxAtomChars)
    return tl::make_unexpected(bad_lib(fmt::format(
        "Library module name '{}...' is not an atom (over {} characters).", view, kMaxAtomChars)));
  return {};
}

}  // namespace

// ------------------------------------------------------------------ open

tl::expected<std::shared_ptr<NifLibrary>, LoadError> NifLibrary::open(
    const std::filesystem::path& path, const OpenOptions& options) try {
  collect_retired();

  std::unique_ptr<NifLibrary, Delete> lib(new NifLibrary());
  lib->handle_ = std::make_unique<Handle>();
  lib->info_.path = path.string();

  // dlopen as the BEAM does: resolve everything now, keep the symbols local.
  // The error_code overload leaves dlerror() set (the throwing one reads it too).
  boost::dll::fs::error_code ec;
  lib->handle_->library.load(boost::dll::fs::path(path.string()),
                             boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local,
                             ec);
  if (ec) {
    const char* why = dlerror();
    std::string text = why ? why : ec.message();
    // erts_load_nif leaves out the path when dlerror already names it.
    std::string lib_name = path.string();
    if (lib_name.ends_with(".so")) lib_name.resize(lib_name.size() - 3);
    if (text.find(lib_name) != std::string::npos)
      return tl::make_unexpected(
          LoadError{LoadErrc::kLoadFailed, fmt::format("Failed to load NIF library: '{}'", text)});
    return tl::make_unexpected(LoadError{
        LoadErrc::kLoadFailed, fmt::format("Failed to load NIF library {}: '{}'", lib_name, text)});
  }

  // The BEAM looks for nif_init, then _nif_init (and reports the last
  // failure); the seed's metadata convention comes after both.
  auto& so = lib->handle_->library;
  void* init = nullptr;
  std::string why = "nif_init is NULL";
  for (const char* name : {"nif_init", "_nif_init"}) {
    dlerror();
    init = dlsym(so.native(), name);
    if (const char* e = dlerror()) why = e;
    if (init != nullptr) break;
  }
  if (init != nullptr) {
    auto result = lib->read_entry(reinterpret_cast<ErlNifEntry* (*)()>(init), options);
    if (!result) return tl::make_unexpected(result.error());
  } else if (so.has(NIFHOST_NIF_METADATA_SYMBOL)) {
    auto result = lib->read_metadata(options);
    if (!result) return tl::make_unexpected(result.error());
  } else {
    return tl::make_unexpected(
        bad_lib(fmt::format("Failed to find library init function: '{}'", why)));
  }

  lib->context_.module = lib->info_.module;
  lib->context_.module_atom = *AtomTable::instance().intern_latin1(lib->info_.module);
  lib->context_.priv_data = nullptr;
  return std::shared_ptr<NifLibrary>(lib.release(), &NifLibrary::retire);
} catch (const std::bad_alloc&) {
  return tl::make_unexpected(
      LoadError{LoadErrc::kLoadFailed, "Failed to load NIF library: out of memory"});
} catch (const std::exception& e) {  // a path the file system library refuses
  return tl::make_unexpected(
      LoadError{LoadErrc::kLoadFailed, fmt::format("Failed to load NIF library: {}", e.what())});
}

tl::expected<void, LoadError> NifLibrary::read_entry(ErlNifEntry* (*init)(),
                                                     const OpenOptions& options) {
  const ErlNifEntry* entry = init();
  if (entry == nullptr) return tl::make_unexpected(bad_lib("Library init-call unsuccessful"));

  // Only the fields every version has may be read before the version is known.
  const int major = entry->major;
  const int minor = entry->minor;
  if (major > kNifMajor || (major == kNifMajor && minor > kNifMinor)) {
    // A newer library has min_erts (2.14 on); the BEAM reads it unchecked.
    const char* min_erts = entry->min_erts ? entry->min_erts : "erts-?";
    // The BEAM names the calling module; without one, the library's own.
    std::string module = options.expected_module.empty() && entry->name ? std::string(entry->name)
                                                                        : options.expected_module;
    return tl::make_unexpected(bad_lib(fmt::format(
        "That '{}' NIF library needs {} or newer. Either try to recompile the NIF lib or use a "
        "newer erts runtime.",
        atom_text_quoted(module), min_erts)));
  }
  if (major < ERL_NIF_MIN_REQUIRED_MAJOR_VERSION_ON_LOAD ||
      (major == 2 && minor == 5) /* the experimental maps API */)
    return tl::make_unexpected(
        bad_lib(fmt::format("That old NIF library ({}.{}) is not compatible with this erts runtime "
                            "({}.{}). Try recompile the NIF lib.",
                            major, minor, kNifMajor, kNifMinor)));

  const char* variant = at_least(major, minor, 2, 1) ? entry->vm_variant : "beam.vanilla";
  if (variant == nullptr || std::strcmp(variant, ERL_NIF_VM_VARIANT) != 0)
    return tl::make_unexpected(
        bad_lib(fmt::format("Library ({}) not compiled for this vm variant ({}).",
                            variant ? variant : "(null)", ERL_NIF_VM_VARIANT)));

  if (auto ok = check_module(entry->name, options); !ok) return ok;

  info_.module = entry->name;
  info_.nif_major = major;
  info_.nif_minor = minor;
  info_.vm_variant = variant;
  info_.min_erts = at_least(major, minor, 2, 14) && entry->min_erts ? entry->min_erts : "erts-?";
  info_.via_metadata = false;
  sizeof_resource_type_init_ =
      at_least(major, minor, 2, 12) ? entry->sizeof_ErlNifResourceTypeInit : 0;
  load_ = entry->load;
  upgrade_ = entry->upgrade;
  unload_ = entry->unload;
  // entry->reload has been ignored since OTP 20 (a second load is refused).

  if (entry->num_of_funcs < 0 || entry->num_of_funcs > kMaxEntryFunctions ||
      (entry->num_of_funcs > 0 && entry->funcs == nullptr))
    return tl::make_unexpected(
        bad_lib(fmt::format("Library function table is invalid ({} functions at {}).",
                            entry->num_of_funcs, static_cast<const void*>(entry->funcs))));

  const std::string module_quoted = atom_text_quoted(info_.module);
  const auto count = static_cast<std::size_t>(entry->num_of_funcs);
  const bool modern = at_least(major, minor, 2, 7);
  const auto* v1 = reinterpret_cast<const ErlNifFuncV1*>(entry->funcs);
  std::unordered_set<std::string> seen;
  functions_.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    const char* name = modern ? entry->funcs[i].name : v1[i].name;
    unsigned arity = modern ? entry->funcs[i].arity : v1[i].arity;
    unsigned flags = modern ? entry->funcs[i].flags : 0;
    NifFunctionPointer fptr = modern ? entry->funcs[i].fptr : v1[i].fptr;
    auto f = check_function(module_quoted, name, arity, flags, fptr, i);
    if (!f) return tl::make_unexpected(f.error());
    if (auto ok = add_function(functions_, seen, module_quoted, std::move(*f)); !ok) return ok;
  }
  fill_function_info();
  return {};
}

tl::expected<void, LoadError> NifLibrary::read_metadata(const OpenOptions& options) {
  auto get = handle_->library.get<const nifhost_nif_metadata*()>(NIFHOST_NIF_METADATA_SYMBOL);
  const nifhost_nif_metadata* md = get();
  if (md == nullptr) return tl::make_unexpected(bad_lib("Library metadata-call unsuccessful"));
  if (md->magic != NIFHOST_NIF_METADATA_MAGIC)
    return tl::make_unexpected(
        bad_lib(fmt::format("Library metadata has a bad magic number (0x{:08x}).", md->magic)));
  if (md->abi_version < 1 || md->abi_version > NIFHOST_NIF_METADATA_ABI_VERSION)
    return tl::make_unexpected(
        bad_lib(fmt::format("Library metadata version ({}) not compatible (with {}).",
                            md->abi_version, NIFHOST_NIF_METADATA_ABI_VERSION)));
  // Version 1's table ends after `functions`; later versions only append.
  constexpr std::size_t kV1Size = offsetof(nifhost_nif_metadata, functions) + sizeof(void*);
  if (md->struct_size < kV1Size)
    return tl::make_unexpected(bad_lib(fmt::format(
        "Library metadata is truncated ({} bytes, version 1 has {}).", md->struct_size, kV1Size)));
  if (auto ok = check_module(md->module_name, options); !ok) return ok;
  if (md->module_name[0] == '\0')
    return tl::make_unexpected(bad_lib("Library module name is empty."));
  if (md->module_version == nullptr)
    return tl::make_unexpected(bad_lib("Library metadata has no module version."));
  if (md->function_count > NIFHOST_NIF_METADATA_MAX_FUNCTIONS ||
      (md->function_count > 0 && md->functions == nullptr))
    return tl::make_unexpected(
        bad_lib(fmt::format("Library function table is invalid ({} functions at {}).",
                            md->function_count, static_cast<const void*>(md->functions))));

  info_.module = md->module_name;
  info_.module_version = md->module_version;
  info_.nif_major = 0;
  info_.nif_minor = 0;
  info_.metadata_version = md->abi_version;
  info_.via_metadata = true;

  const std::string module_quoted = atom_text_quoted(info_.module);
  std::unordered_set<std::string> seen;
  functions_.reserve(md->function_count);
  for (std::size_t i = 0; i < md->function_count; ++i) {
    const nifhost_nif_function_metadata& fm = md->functions[i];
    NifFunctionPointer fptr = nullptr;
    std::string missing;
    if (fm.symbol == nullptr) {
      missing = "no symbol given";
    } else {
      dlerror();
      fptr = reinterpret_cast<NifFunctionPointer>(dlsym(handle_->library.native(), fm.symbol));
      if (fptr == nullptr) {
        const char* why = dlerror();
        missing = why ? why : fmt::format("symbol '{}' is NULL", fm.symbol);
      }
    }
    if (fptr == nullptr && fm.name != nullptr && fm.arity <= kMaxArity &&
        bounded_length(fm.name, kMaxAtomChars) <= kMaxAtomChars)
      return tl::make_unexpected(bad_lib(fmt::format("Function not found {}:{}/{} ({})",
                                                     module_quoted, fm.name, fm.arity, missing)));
    auto f = check_function(module_quoted, fm.name, fm.arity, fm.flags, fptr, i);
    if (!f) return tl::make_unexpected(f.error());
    if (auto ok = add_function(functions_, seen, module_quoted, std::move(*f)); !ok) return ok;
  }
  fill_function_info();
  return {};
}

void NifLibrary::fill_function_info() {
  info_.functions.clear();
  info_.functions.reserve(functions_.size());
  for (const NifFunction& f : functions_) info_.functions.push_back({f.name, f.arity, f.flags});
}

std::optional<std::uint32_t> NifLibrary::find_function(std::string_view name,
                                                       unsigned arity) const {
  for (std::size_t i = 0; i < functions_.size(); ++i)
    if (functions_[i].arity == arity && functions_[i].name == name)
      return static_cast<std::uint32_t>(i);
  return std::nullopt;
}

// ------------------------------------------------------------------ callbacks

tl::expected<void, LoadError> NifLibrary::load(HostServices* host, Term load_info) {
  return run_callback(nullptr, host, load_info);
}

tl::expected<void, LoadError> NifLibrary::upgrade(NifLibrary& previous, HostServices* host,
                                                  Term load_info) {
  assert(previous.loaded_ && "upgrading from a library that is not loaded");
  return run_callback(&previous, host, load_info);
}

tl::expected<void, LoadError> NifLibrary::run_callback(NifLibrary* previous, HostServices* host,
                                                       Term load_info) try {
  assert(!loaded_ && "load or upgrade runs once per library instance");
  context_.host = host;
  context_.priv_data = nullptr;
  if (previous != nullptr && upgrade_ == nullptr)
    return tl::make_unexpected(
        LoadError{LoadErrc::kUpgrade, "Upgrade not supported by this NIF library."});

  int veto = 0;
  {
    // The callbacks run as on a normal scheduler, in an env with no process.
    Heap heap;
    EnvScope env(EnvKind::kCallback, heap, &context_, host);
    ThreadRoleScope role(ThreadRole::kNormalScheduler);
    runtime::CallContextScope call_context(&context_, host);
    ResourceTypeOpening opening(context_, sizeof_resource_type_init_);
    if (previous != nullptr) {
      void* previous_old = previous->context_.priv_data;
      veto = upgrade_(env.get(), &context_.priv_data, &previous->context_.priv_data, load_info);
      if (veto != 0) previous->context_.priv_data = previous_old;
    } else if (load_ != nullptr) {
      veto = load_(env.get(), &context_.priv_data, load_info);
    }
    if (veto == 0) opening.commit();
  }
  if (veto != 0) {
    if (previous != nullptr)
      return tl::make_unexpected(LoadError{
          LoadErrc::kUpgrade, fmt::format("Library upgrade-call unsuccessful ({}).", veto)});
    return tl::make_unexpected(
        LoadError{LoadErrc::kLoad, fmt::format("Library load-call unsuccessful ({}).", veto)});
  }
  loaded_ = true;
  return {};
} catch (const std::bad_alloc&) {
  return tl::make_unexpected(
      LoadError{previous ? LoadErrc::kUpgrade : LoadErrc::kLoad, "out of memory while loading"});
}

// ------------------------------------------------------------------ unload

bool NifLibrary::has_live_resources() const { return resources_pending_for(context_); }

NifLibrary::~NifLibrary() {
  if (loaded_) {
    // The BEAM's close_lib: the unload callback, then dlclose.
    if (unload_ != nullptr) {
      Heap heap;
      EnvScope env(EnvKind::kCallback, heap, &context_, context_.host);
      ThreadRoleScope role(ThreadRole::kNormalScheduler);
      runtime::CallContextScope call_context(&context_, context_.host);
      unload_(env.get(), context_.priv_data);
    }
    // Resources the unload callback released had their destructors run;
    // nothing may call into the library from here on.
    forget_resource_types(context_);
  }
  // handle_ goes last: nothing of the library's code runs after this.
  handle_.reset();
}

void NifLibrary::retire(NifLibrary* lib) {
  // Like the BEAM's dynlib reference count: resources whose type has
  // callbacks keep the code mapped and delay the unload callback. (Their
  // types stay registered meanwhile: forget_resource_types also drops the
  // callbacks, which must still run.)
  if (lib->loaded_ && lib->has_live_resources()) {
    std::lock_guard lock(retired_mutex());
    retired_list().push_back(lib);
    return;
  }
  delete lib;
}

std::size_t NifLibrary::collect_retired() {
  std::vector<NifLibrary*> ready;
  std::size_t waiting;
  {
    std::lock_guard lock(retired_mutex());
    auto& list = retired_list();
    auto it = std::stable_partition(list.begin(), list.end(),
                                    [](NifLibrary* l) { return l->has_live_resources(); });
    ready.assign(it, list.end());
    list.erase(it, list.end());
    waiting = list.size();
  }
  for (NifLibrary* lib : ready) delete lib;
  return waiting;
}

}  // namespace nifhost::core
