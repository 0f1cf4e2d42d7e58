// The enif ABI is complete: every function the installed erl_nif_api_funcs.h
// declares for this platform is exported by libnifhost_core.so itself, and
// the list is the one the real beam.smp exports.
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <dlfcn.h>
#include <filesystem>
#include <fstream>
#include <memory>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

extern "C" {
#include <erl_nif.h>
}

namespace {

namespace fs = std::filesystem;

const fs::path kHeader = "/usr/lib/erlang/usr/include/erl_nif_api_funcs.h";

struct Decl {
  std::string return_type;
  std::string name;
};

std::string trim(std::string s) {
  auto not_space = [](unsigned char c) { return !std::isspace(c); };
  s.erase(s.begin(), std::find_if(s.begin(), s.end(), not_space));
  s.erase(std::find_if(s.rbegin(), s.rend(), not_space).base(), s.end());
  return s;
}

// The ERL_NIF_API_FUNC_DECL(RET, NAME, ARGS) entries the header declares on
// an LP64 target. The only platform conditional inside the declaration list
// is `#if SIZEOF_LONG != 8` (the int64 functions that are macros on LP64);
// any other conditional is followed as true, since the list is read with
// ERL_NIF_API_FUNC_DECL defined.
std::vector<Decl> header_declarations() {
  std::ifstream in(kHeader);
  EXPECT_TRUE(in) << "cannot read " << kHeader;
  const std::regex decl(R"(^\s*ERL_NIF_API_FUNC_DECL\(\s*([^,]+?)\s*,\s*(\w+)\s*,)");
  const std::regex if_long(R"(^\s*#\s*if\s+SIZEOF_LONG\s*!=\s*8)");
  const std::regex if_any(R"(^\s*#\s*if)");
  const std::regex else_(R"(^\s*#\s*else)");
  const std::regex endif(R"(^\s*#\s*endif)");
  static_assert(sizeof(long) == 8, "the header is read for an LP64 target");
  std::vector<bool> active{true};  // one entry per open conditional
  std::vector<Decl> out;
  std::string line;
  while (std::getline(in, line)) {
    std::smatch m;
    if (std::regex_search(line, if_long)) {
      active.push_back(false);
    } else if (std::regex_search(line, if_any)) {
      active.push_back(true);
    } else if (std::regex_search(line, else_)) {
      active.back() = !active.back();
    } else if (std::regex_search(line, endif)) {
      if (active.size() > 1) active.pop_back();
    } else if (std::regex_search(line, m, decl)) {
      bool on = std::all_of(active.begin(), active.end(), [](bool b) { return b; });
      if (on) out.push_back(Decl{trim(m[1].str()), m[2].str()});
    }
  }
  return out;
}

// The file that defines the enif functions in this process.
std::string core_library_path() {
  Dl_info info;
  if (dladdr(reinterpret_cast<void*>(&enif_alloc), &info) == 0 || info.dli_fname == nullptr)
    return {};
  return fs::canonical(info.dli_fname).string();
}

TEST(EnifAbi, TheHeaderDeclares169FunctionsForThisPlatform) {
  std::vector<Decl> decls = header_declarations();
  EXPECT_EQ(decls.size(), 169u);
  std::set<std::string> names;
  for (const Decl& d : decls) {
    EXPECT_FALSE(d.return_type.empty()) << d.name;
    EXPECT_EQ(d.name.rfind("enif_", 0), 0u) << d.name;
    EXPECT_TRUE(names.insert(d.name).second) << "declared twice: " << d.name;
  }
  // The four int64 functions are macros over the long ones on LP64.
  for (const char* macro :
       {"enif_get_int64", "enif_get_uint64", "enif_make_int64", "enif_make_uint64"})
    EXPECT_EQ(names.count(macro), 0u) << macro;
}

TEST(EnifAbi, LibnifhostCoreExportsEveryDeclaredFunction) {
  std::string path = core_library_path();
  ASSERT_FALSE(path.empty());
  EXPECT_NE(fs::path(path).filename().string().find("libnifhost_core.so"), std::string::npos)
      << path;
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_NOLOAD);
  ASSERT_NE(handle, nullptr) << dlerror();
  int found = 0;
  for (const Decl& d : header_declarations()) {
    void* sym = dlsym(handle, d.name.c_str());
    if (sym == nullptr) {
      ADD_FAILURE() << "not exported: " << d.name;
      continue;
    }
    // Defined by the core library itself, not by something it links.
    Dl_info where;
    ASSERT_NE(dladdr(sym, &where), 0) << d.name;
    EXPECT_EQ(fs::canonical(where.dli_fname).string(), path) << d.name;
    ++found;
  }
  EXPECT_EQ(found, 169);
  dlclose(handle);
}

// The real BEAM's exports (`nm -D beam.smp`), when its binary has a dynamic
// symbol table to read.
std::set<std::string> beam_exports() {
  std::set<std::string> out;
  fs::path erts_root = "/usr/lib/erlang";
  if (!fs::exists(erts_root)) return out;
  for (const auto& entry : fs::directory_iterator(erts_root)) {
    fs::path beam = entry.path() / "bin" / "beam.smp";
    if (entry.path().filename().string().rfind("erts-", 0) != 0 || !fs::exists(beam)) continue;
    std::string cmd = "nm -D --defined-only '" + beam.string() + "' 2>/dev/null";
    std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(cmd.c_str(), "r"), pclose);
    if (!pipe) continue;
    char buf[512];
    while (std::fgets(buf, sizeof buf, pipe.get()) != nullptr) {
      std::istringstream line(buf);
      std::string addr, kind, name;
      if (line >> addr >> kind >> name && kind == "T" && name.rfind("enif_", 0) == 0)
        out.insert(name);
    }
  }
  return out;
}

TEST(EnifAbi, TheListIsWhatTheRealBeamExports) {
  std::set<std::string> beam = beam_exports();
  if (beam.empty()) GTEST_SKIP() << "beam.smp has no readable dynamic symbol table here";
  std::set<std::string> header;
  for (const Decl& d : header_declarations()) header.insert(d.name);
  EXPECT_EQ(beam.size(), 169u);
  for (const std::string& n : beam) EXPECT_EQ(header.count(n), 1u) << "BEAM-only: " << n;
  for (const std::string& n : header) EXPECT_EQ(beam.count(n), 1u) << "header-only: " << n;
}

}  // namespace
