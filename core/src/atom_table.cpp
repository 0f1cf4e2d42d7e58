#include "nifhost/core/atom_table.hpp"

#include <cassert>
#include <deque>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_map>

namespace nifhost::core {

const char* atom_error_text(AtomError e) {
  switch (e) {
    case AtomError::kTooLong:
      return "atom text is longer than 255 characters";
    case AtomError::kBadEncoding:
      return "atom text is not valid in its encoding";
    case AtomError::kTableFull:
      return "atom table is full";
  }
  return "unknown atom error";
}

long utf8_length(std::string_view s) {
  long count = 0;
  std::size_t i = 0;
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  while (i < s.size()) {
    unsigned c = p[i];
    std::size_t n;
    std::uint32_t cp;
    if (c < 0x80) {
      n = 1;
      cp = c;
    } else if ((c & 0xE0) == 0xC0) {
      n = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 4;
      cp = c & 0x07;
    } else {
      return -1;
    }
    if (i + n > s.size()) return -1;
    for (std::size_t k = 1; k < n; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return -1;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    // Reject overlong forms, surrogates and values past U+10FFFF.
    if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return -1;
    i += n;
    ++count;
  }
  return count;
}

bool utf8_to_latin1(std::string_view utf8, std::string& out) {
  out.clear();
  const auto* p = reinterpret_cast<const unsigned char*>(utf8.data());
  for (std::size_t i = 0; i < utf8.size();) {
    unsigned c = p[i];
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
      ++i;
    } else if ((c & 0xE0) == 0xC0 && i + 1 < utf8.size()) {
      unsigned cp = ((c & 0x1Fu) << 6) | (p[i + 1] & 0x3Fu);
      if (cp > 0xFF) return false;
      out.push_back(static_cast<char>(cp));
      i += 2;
    } else {
      return false;
    }
  }
  return true;
}

struct AtomTable::Impl {
  mutable std::shared_mutex mutex;
  std::deque<std::string> names;  // deque: elements never move, so views stay valid
  std::unordered_map<std::string_view, std::uint32_t> index;
};

AtomTable::AtomTable() : impl_(new Impl) {
  static constexpr const char* kFixed[] = {
#define NIFHOST_ATOM_TEXT(name, text) text,
      NIFHOST_FIXED_ATOMS(NIFHOST_ATOM_TEXT)
#undef NIFHOST_ATOM_TEXT
  };
  for (const char* text : kFixed) {
    impl_->names.emplace_back(text);
    impl_->index.emplace(impl_->names.back(), static_cast<std::uint32_t>(impl_->names.size() - 1));
  }
  assert(impl_->names.size() == atoms::kFixedCount);
}

AtomTable& AtomTable::instance() {
  static AtomTable* table = new AtomTable();  // never destroyed: atoms outlive everything
  return *table;
}

tl::expected<Term, AtomError> AtomTable::intern(std::string_view utf8) {
  {
    std::shared_lock lock(impl_->mutex);
    auto it = impl_->index.find(utf8);
    if (it != impl_->index.end()) return make_atom_term(it->second);
  }
  long len = utf8_length(utf8);
  if (len < 0) return tl::unexpected(AtomError::kBadEncoding);
  if (static_cast<std::size_t>(len) > kMaxCharacters) return tl::unexpected(AtomError::kTooLong);
  std::unique_lock lock(impl_->mutex);
  auto it = impl_->index.find(utf8);
  if (it != impl_->index.end()) return make_atom_term(it->second);
  if (impl_->names.size() >= kMaxAtoms) return tl::unexpected(AtomError::kTableFull);
  impl_->names.emplace_back(utf8);
  auto idx = static_cast<std::uint32_t>(impl_->names.size() - 1);
  impl_->index.emplace(impl_->names.back(), idx);
  return make_atom_term(idx);
}

static std::string latin1_to_utf8(std::string_view latin1) {
  std::string out;
  out.reserve(latin1.size() * 2);
  for (char ch : latin1) {
    auto c = static_cast<unsigned char>(ch);
    if (c < 0x80) {
      out.push_back(ch);
    } else {
      out.push_back(static_cast<char>(0xC0 | (c >> 6)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    }
  }
  return out;
}

tl::expected<Term, AtomError> AtomTable::intern_latin1(std::string_view latin1) {
  if (latin1.size() > kMaxCharacters) return tl::unexpected(AtomError::kTooLong);
  return intern(latin1_to_utf8(latin1));
}

tl::expected<Term, AtomError> AtomTable::find(std::string_view utf8) const {
  std::shared_lock lock(impl_->mutex);
  auto it = impl_->index.find(utf8);
  if (it == impl_->index.end()) return tl::unexpected(AtomError::kBadEncoding);
  return make_atom_term(it->second);
}

std::string_view AtomTable::text(Term atom_term) const {
  assert(is_atom(atom_term));
  std::shared_lock lock(impl_->mutex);
  std::uint32_t idx = atom_index(atom_term);
  assert(idx < impl_->names.size());
  return impl_->names[idx];
}

std::uint32_t AtomTable::count() const {
  std::shared_lock lock(impl_->mutex);
  return static_cast<std::uint32_t>(impl_->names.size());
}

Term atom(std::string_view utf8) {
  auto a = AtomTable::instance().intern(utf8);
  assert(a.has_value());
  return *a;
}

}  // namespace nifhost::core
