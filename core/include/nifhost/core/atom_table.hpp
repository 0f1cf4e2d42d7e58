#pragma once
// nifhost/core/atom_table.hpp — the global, thread-safe atom table.
//
// Atoms are interned once for the life of the process (as in the BEAM) and
// named by index; the text is stored as UTF-8 and is at most 255 characters.
//
//   auto a = AtomTable::instance().intern("ok");   // tl::expected<Term, AtomError>
//   std::string_view name = atom_text(*a);
#include <cstdint>
#include <string_view>

#include <tl/expected.hpp>

#include "nifhost/core/term.hpp"

namespace nifhost::core {

enum class AtomError {
  kTooLong,      // more than 255 characters
  kBadEncoding,  // text is not valid UTF-8 (or latin-1 input had no mapping)
  kTableFull,    // the table reached its limit (like the BEAM's atom limit)
};
const char* atom_error_text(AtomError e);

// Atoms every component needs, at fixed indexes (created when the table is).
#define NIFHOST_FIXED_ATOMS(X) \
  X(False, "false")            \
  X(True, "true")              \
  X(Ok, "ok")                  \
  X(Error, "error")            \
  X(Undefined, "undefined")    \
  X(Badarg, "badarg")          \
  X(Nonode, "nonode@nohost")   \
  X(Exit, "exit")              \
  X(Throw, "throw")            \
  X(Nif, "nif")                \
  X(Badmatch, "badmatch")      \
  X(Enomem, "enomem")          \
  X(Timeout, "timeout")        \
  X(Infinity, "infinity")      \
  X(Normal, "normal")          \
  X(Undef, "undef")            \
  X(Nifhost, "nifhost")

namespace atoms {
enum FixedAtomIndex : std::uint32_t {
#define NIFHOST_ATOM_ENUM(name, text) k##name##Index,
  NIFHOST_FIXED_ATOMS(NIFHOST_ATOM_ENUM)
#undef NIFHOST_ATOM_ENUM
      kFixedCount
};
#define NIFHOST_ATOM_CONST(name, text) \
  inline constexpr Term k##name = make_atom_term(k##name##Index);
NIFHOST_FIXED_ATOMS(NIFHOST_ATOM_CONST)
#undef NIFHOST_ATOM_CONST
}  // namespace atoms

class AtomTable {
 public:
  static constexpr std::size_t kMaxCharacters = 255;
  static constexpr std::uint32_t kMaxAtoms = 1u << 24;

  static AtomTable& instance();

  // Interns UTF-8 text. Fails if it is not UTF-8 or longer than 255 characters.
  tl::expected<Term, AtomError> intern(std::string_view utf8);
  // Interns latin-1 text (each byte one character), as enif_make_atom does.
  tl::expected<Term, AtomError> intern_latin1(std::string_view latin1);
  // Finds an existing atom without creating it (enif_make_existing_atom).
  tl::expected<Term, AtomError> find(std::string_view utf8) const;
  // The atom's UTF-8 text; valid for the life of the process.
  std::string_view text(Term atom) const;
  std::uint32_t count() const;

  AtomTable(const AtomTable&) = delete;
  AtomTable& operator=(const AtomTable&) = delete;

 private:
  AtomTable();
  struct Impl;
  Impl* impl_;  // never freed: atoms live as long as the process
};

inline std::string_view atom_text(Term atom) { return AtomTable::instance().text(atom); }
// Interns UTF-8 text that the caller knows is valid (asserts otherwise).
Term atom(std::string_view utf8);

// Number of characters (code points) in valid UTF-8, or -1 if it is not valid.
long utf8_length(std::string_view s);
// latin-1 text of a UTF-8 string, if every character is below 256.
bool utf8_to_latin1(std::string_view utf8, std::string& out);

}  // namespace nifhost::core
