#pragma once
// nifhost/core/loader.hpp — opens a NIF library and runs its lifecycle as the BEAM does.
//
// open() dlopens the shared object (RTLD_NOW | RTLD_LOCAL, as erlang:load_nif/2
// does), finds `nif_init` (or the seed's `nif_get_metadata`), and validates the
// entry with the BEAM's checks and the BEAM's error texts. load()/upgrade() run
// the library's callback; the unload callback and dlclose run when the last
// owner lets go and no resource of the library's types is left.
//
//   auto lib = NifLibrary::open("/usr/lib/erlang/lib/jiffy-1.1.1/priv/jiffy.so", {});
//   if (lib && (*lib)->load(&host, kNilTerm)) call((*lib)->functions()[0]);
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <tl/expected.hpp>

#include "nifhost/core/backend.hpp"
#include "nifhost/core/env.hpp"
#include "nifhost/core/host_services.hpp"
#include "nifhost/core/load_error.hpp"
#include "nifhost/core/term.hpp"

namespace nifhost::core {

using NifFunctionPointer = ERL_NIF_TERM (*)(ErlNifEnv*, int, const ERL_NIF_TERM[]);

// One NIF as the library declares it (after validation: a latin-1 name of at
// most 255 characters, arity <= 255, flags 0 or one dirty flag, unique).
struct NifFunction {
  std::string name;
  Term name_atom = kNilTerm;
  unsigned arity = 0;
  unsigned flags = 0;
  NifFunctionPointer fptr = nullptr;
};

struct OpenOptions {
  // The module the caller loads the library for; empty accepts the library's own
  // name. The BEAM always has one (the module calling erlang:load_nif/2).
  std::string expected_module;
};

// The BEAM's NIF API version this host implements (erl_nif.h 2.16).
inline constexpr int kNifMajor = ERL_NIF_MAJOR_VERSION;
inline constexpr int kNifMinor = ERL_NIF_MINOR_VERSION;

class NifLibrary {
 public:
  // Opens and validates; runs no callback. The returned pointer's deleter
  // unloads (see the header comment), so hold it as long as the code may run.
  static tl::expected<std::shared_ptr<NifLibrary>, LoadError> open(
      const std::filesystem::path& path, const OpenOptions& options);

  NifLibrary(const NifLibrary&) = delete;
  NifLibrary& operator=(const NifLibrary&) = delete;

  // The initial load: runs the load callback (if any) with load_info, which
  // may live on any heap that outlives the call. Fails with kLoad on a veto.
  tl::expected<void, LoadError> load(HostServices* host, Term load_info);
  // A code upgrade: runs this library's upgrade callback with `previous`'s
  // private data (which the callback may change). Fails with kUpgrade when
  // the library has no upgrade callback or vetoes; `previous` is unchanged then.
  tl::expected<void, LoadError> upgrade(NifLibrary& previous, HostServices* host, Term load_info);
  // True once load() or upgrade() succeeded: the functions may be called.
  bool loaded() const { return loaded_; }

  const LibraryInfo& info() const { return info_; }
  const std::string& module() const { return info_.module; }
  std::span<const NifFunction> functions() const { return functions_; }
  std::optional<std::uint32_t> find_function(std::string_view name, unsigned arity) const;
  // What enif_* functions see as env->library for this instance.
  LibraryContext& context() { return context_; }
  // sizeof(ErlNifResourceTypeInit) the library was compiled with (0 before
  // 2.12): how much of an ErlNifResourceTypeInit it passes may be read.
  std::size_t sizeof_resource_type_init() const { return sizeof_resource_type_init_; }

  // Unloads libraries whose unload was waiting for their last resource to go
  // (the loader also does this on every open()). Returns how many remain waiting.
  static std::size_t collect_retired();

 private:
  struct Handle;   // the open shared object
  struct Delete {  // for a library no one has seen yet (open() failing half-way)
    void operator()(NifLibrary* lib) const { delete lib; }
  };
  NifLibrary() = default;
  ~NifLibrary();
  static void retire(NifLibrary* lib);
  tl::expected<void, LoadError> read_entry(ErlNifEntry* (*init)(), const OpenOptions& options);
  tl::expected<void, LoadError> read_metadata(const OpenOptions& options);
  void fill_function_info();
  bool has_live_resources() const;
  tl::expected<void, LoadError> run_callback(NifLibrary* previous, HostServices* host,
                                             Term load_info);

  std::unique_ptr<Handle> handle_;
  LibraryInfo info_;
  std::vector<NifFunction> functions_;
  LibraryContext context_;
  std::size_t sizeof_resource_type_init_ = 0;
  int (*load_)(ErlNifEnv*, void**, ERL_NIF_TERM) = nullptr;
  int (*upgrade_)(ErlNifEnv*, void**, void**, ERL_NIF_TERM) = nullptr;
  void (*unload_)(ErlNifEnv*, void*) = nullptr;
  bool loaded_ = false;
};

}  // namespace nifhost::core
