// The BEAM's term printer for %T (erts_term_printer.hpp).
//
// The walk mirrors erts's print_term: an explicit stack of pending
// punctuation and terms, and a budget decremented at the same points, so that
// a truncated text ends exactly where the BEAM's ends. The facts this follows
// (besides the OTP 25 source) were checked against erl, and
// tests/enif_printf_test.cpp compares generated terms with the real BEAM's
// enif_snprintf output.
#include "erts_term_printer.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include <boost/multiprecision/cpp_int.hpp>

#include "fun_etf.hpp"
#include "nifhost/core/atom_table.hpp"
#include "nifhost/core/etf.hpp"
#include "nifhost/core/hash.hpp"
#include "nifhost/core/heap.hpp"
#include "nifhost/core/order.hpp"
#include "nifhost/core/terms.hpp"

namespace nifhost::core::enif {
namespace {

// ---------------------------------------------------------------- characters
// erts's CTYPE macros (LATIN1 defined).
bool is_lower(unsigned c) { return (c >= 'a' && c <= 'z') || (c >= 223 && c <= 255 && c != 247); }
bool is_upper(unsigned c) { return (c >= 'A' && c <= 'Z') || (c >= 192 && c <= 222 && c != 215); }
bool is_alnum(unsigned c) { return (c >= '0' && c <= '9') || is_lower(c) || is_upper(c); }

// A list element the runtime prints as a character: a byte that is not a
// control character, or one of the four spaces it allows (not 160).
bool printable_list_byte(std::int64_t c) {
  if (c < 0 || c > 255) return false;
  bool control = c < ' ' || c == 127 || (c >= 128 && c < 160);
  bool space = c == ' ' || c == '\n' || c == '\t' || c == '\r';
  return !control || space;
}

// A non-empty proper list of printable bytes.
bool is_printable_string(Term t) {
  for (; is_cons(t); t = cons_tail(t)) {
    Term h = cons_head(t);
    if (!is_small(h) || !printable_list_byte(small_value(h))) return false;
  }
  return is_nil(t);
}

// How print_atom_name classifies the byte at i of an atom's UTF-8 text: a
// two-byte sequence by its code point, a continuation byte as a letter, the
// start of a longer sequence as something that needs quotes.
unsigned latin1_char(std::span<const std::uint8_t> s, std::size_t i) {
  unsigned c = s[i];
  if ((c & 0x80) == 0) return c;
  if ((c & 0xE0) == 0xC0) return ((c & 0x1Fu) << 6) | (i + 1 < s.size() ? (s[i + 1] & 0x3Fu) : 0u);
  if ((c & 0xC0) == 0x80) return 'a';
  return 0;
}

const char* named_escape(unsigned c) {
  switch (c) {
    case '\'':
      return "\\'";
    case '\\':
      return "\\\\";
    case '\n':
      return "\\n";
    case '\f':
      return "\\f";
    case '\t':
      return "\\t";
    case '\r':
      return "\\r";
    case '\b':
      return "\\b";
    case '\v':
      return "\\v";
    default:
      return nullptr;
  }
}

constexpr std::size_t kNoNode = SIZE_MAX;

// HAMT levels (4 hash bits each) past which keys whose hashes still agree are
// listed side by side instead of nested further: 8 rehashes deep, far beyond
// where distinct keys part in practice (this only bounds the recursion).
constexpr unsigned kMaxHamtLevel = 64;

// A node of the HAMT the BEAM keeps a map of more than 32 keys in: one slot
// per hash nibble in use at its level, ascending; a slot is a leaf (the cons
// [Key|Value]) or a node one level down.
struct HamtSlot {
  Term leaf = kNilTerm;
  std::size_t child = kNoNode;
};
struct HamtNode {
  unsigned bitmap = 0;
  std::vector<HamtSlot> slots;
};

struct Item {
  enum Op : std::uint8_t {
    kComma,
    kBar,
    kCloseList,
    kCloseTuple,
    kAssoc,
    kTerm,
    kOneCons,
    kArray,
    kNode
  };
  Op op;
  Term term = kNilTerm;
  const Term* array = nullptr;
  std::size_t count = 0;  // kArray: elements left; kNode: the node's index
};

class Printer {
 public:
  explicit Printer(long budget) : dcount_(budget) {}

  ErtsTermText run(Term root) {
    walk(root);
    if (dcount_ <= 0) out_ += "... ";
    return {std::move(out_), numeric_};
  }

 private:
  // ---------------------------------------------------------------- output
  // Text the BEAM writes with PRINT_CHAR/PRINT_STRING/PRINT_BUF.
  void put(char c) { out_.push_back(c); }
  void put(std::string_view s) { out_ += s; }
  // Text it writes with its numeric conversions (PRINT_UWORD and friends).
  void numeric(std::string_view s) {
    out_ += s;
    numeric_ += s.size();
  }
  template <class T>
  void number(T v, int base = 10) {
    char buf[72];
    auto r = std::to_chars(buf, buf + sizeof buf, v, base);
    numeric({buf, static_cast<std::size_t>(r.ptr - buf)});
  }
  void octal3(unsigned v) {
    char buf[3] = {static_cast<char>('0' + ((v >> 6) & 7)), static_cast<char>('0' + ((v >> 3) & 7)),
                   static_cast<char>('0' + (v & 7))};
    numeric({buf, 3});
  }
  void float_number(double v) {
    char buf[400];  // %.6e of any double fits in a few dozen bytes
    int n = std::snprintf(buf, sizeof buf, "%.6e", v);
    if (n > 0) numeric({buf, static_cast<std::size_t>(n)});
  }

  // ---------------------------------------------------------------- leaves
  // print_atom_name: charges the atom's length; false when that empties the budget.
  bool atom(Term a) {
    std::string_view text = atom_text(a);
    dcount_ -= static_cast<long>(text.size());
    atom_name(text);
    return dcount_ > 0;
  }

  void atom_name(std::string_view text) {
    std::span<const std::uint8_t> s(reinterpret_cast<const std::uint8_t*>(text.data()),
                                    text.size());
    if (s.empty()) {
      put("''");
      return;
    }
    bool quote = !is_lower(latin1_char(s, 0));
    for (std::size_t i = 1; !quote && i < s.size(); ++i) {
      unsigned c = latin1_char(s, i);
      if (!is_alnum(c) && c != '_') quote = true;
    }
    if (quote) put('\'');
    for (std::size_t i = 0; i < s.size(); ++i) {
      unsigned c = s[i];
      if (const char* e = named_escape(c)) {
        put(e);
      } else if (c < ' ') {
        put('\\');
        octal3(c);
      } else if (c >= 0x80) {
        std::size_t n = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : 4;
        n = std::min(n, s.size() - i);
        if (c == 0xC2 && i + 1 < s.size() && s[i + 1] < 0xA0) {
          put('\\');  // a latin-1 control character (128-159)
          octal3(s[++i]);
        } else {
          put(text.substr(i, n));
          i += n - 1;
        }
      } else {
        put(static_cast<char>(c));
      }
    }
    if (quote) put('\'');
  }

  void bignum(Term t) {
    boost::multiprecision::cpp_int v;
    const std::uint64_t* d = bignum_digits(t);
    import_bits(v, d, d + bignum_digit_count(t), 64, false);
    if (bignum_negative(t)) put('-');
    put(v.str());  // erts_printf_string: not a numeric conversion
  }

  static bool is_local_node(Term node, std::uint32_t creation) {
    return node == atoms::kNonode && creation == kLocalCreation;
  }

  // Identifiers of another node: the BEAM writes the index of that node in its
  // own distribution table, which names nothing outside that VM. Written here
  // as print_term writes them (text.hpp), naming the node and its creation.
  void foreign_node(Term node, std::uint32_t creation) {
    atom_name(atom_text(node));
    put('.');
    number(creation);
  }

  void pid(Term t) {
    PidView p = pid_view(t);
    if (is_local_node(p.node, p.creation)) {
      put('<');
      number(0);
    } else {
      put("#Pid<");
      foreign_node(p.node, p.creation);
    }
    put('.');
    number(p.id);
    put('.');
    number(p.serial);
    put('>');
  }

  void port(Term t) {
    PortView p = port_view(t);
    put("#Port<");
    if (is_local_node(p.node, p.creation))
      number(0);
    else
      foreign_node(p.node, p.creation);
    put('.');
    number(p.id);
    put('>');
  }

  // The BEAM keeps a local reference in (at least) three words and prints
  // them from the last to the first.
  void ref_words(std::span<const std::uint32_t> words) {
    std::size_t n = std::max<std::size_t>(words.size(), 3);
    for (std::size_t i = n; i-- > 0;) {
      put('.');
      number(i < words.size() ? words[i] : 0u);
    }
    put('>');
  }

  void reference(Term t) {
    switch (box_subtag(t)) {
      case Subtag::kRef: {
        RefView r = ref_view(t);
        put("#Ref<");
        if (is_local_node(r.node, r.creation))
          number(0);
        else
          foreign_node(r.node, r.creation);
        ref_words({r.id, std::min<std::size_t>(r.count, 5)});
        return;
      }
      case Subtag::kResource: {
        // In the BEAM a resource term is a magic reference. Its words here are
        // those of the local reference the ETF codec encodes it as, so erl
        // prints the encoded term the same way.
        std::uint32_t words[5] = {};
        std::size_t n = 0;
        auto bytes = encode(t);
        // 131, NEWER_REFERENCE_EXT, count(2), node atom, creation(4), ids(4 each)
        if (bytes && bytes->size() > 4 && (*bytes)[1] == etf_tag::kNewerReference) {
          n = std::min<std::size_t>((std::size_t{(*bytes)[2]} << 8) | (*bytes)[3], 5);
          std::size_t ids = bytes->size() - 4 * n;
          for (std::size_t i = 0; i < n; ++i) {
            const std::uint8_t* p = bytes->data() + ids + 4 * i;
            words[i] = (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) |
                       (std::uint32_t{p[2]} << 8) | p[3];
          }
        }
        put("#Ref<");
        number(0);
        ref_words({words, n});
        return;
      }
      default: {
        // A remote resource handle has no BEAM form; written as print_term does.
        const RemoteResource* h = handle_object(t);
        put("#Handle<");
        number(h->domain());
        put('.');
        number(h->generation());
        put('.');
        number(h->id());
        put('.');
        number(h->type_tag());
        put('>');
        return;
      }
    }
  }

  void fun(Term t) {
    detail::FunInfo f = detail::parse_fun(fun_bytes(t));
    if (f.valid && f.is_export) {
      // The names cost the budget their lengths, but cannot end the text
      // between module and function.
      put("fun ");
      dcount_ -= static_cast<long>(f.module.size() + f.function.size());
      atom_name(f.module);
      put(':');
      atom_name(f.function);
      put('/');
      number(f.arity);
    } else if (f.valid) {
      put("#Fun<");
      put(f.module);  // the module's bytes, unquoted
      put('.');
      number(f.old_index);
      put('.');
      number(f.old_uniq);
      put('>');
    } else {
      put("#Fun<>");  // bytes the codec would not have produced
    }
  }

  // False when the budget runs out inside the bitstring.
  bool bitstring(Term t) {
    BitstringView v = bitstring_view(t);
    bool text = v.trailing_bits == 0 && v.byte_size > 0 &&
                std::all_of(v.data, v.data + v.byte_size,
                            [](std::uint8_t c) { return c >= ' ' && c < 127; });
    if (text) {
      put("<<\"");
      for (std::size_t i = 0; i < v.byte_size; ++i) {
        if (v.data[i] == '"') put('\\');
        put(static_cast<char>(v.data[i]));
        if (dcount_-- <= 0) return false;
      }
      put("\">>");
      return true;
    }
    put("<<");
    for (std::size_t i = 0; i < v.byte_size; ++i) {
      if (i > 0) put(',');
      number(unsigned{v.data[i]});
      if (dcount_-- <= 0) return false;
    }
    if (v.trailing_bits != 0) {
      if (v.byte_size > 0) put(',');
      number(static_cast<unsigned>(v.data[v.byte_size] >> (8 - v.trailing_bits)));
      put(':');
      number(v.trailing_bits);
    }
    put(">>");
    return true;
  }

  // False when the budget runs out inside the string.
  bool string(Term t) {
    put('"');
    for (; is_cons(t); t = cons_tail(t)) {
      if (dcount_-- <= 0) return false;
      auto c = static_cast<char>(small_value(cons_head(t)));
      if (c == '\n') {
        put("\\n");
      } else {
        if (c == '"') put('\\');
        put(c);
      }
    }
    put('"');
    return true;
  }

  // ---------------------------------------------------------------- maps
  Heap& leaf_heap() {
    if (!leaf_heap_) leaf_heap_ = std::make_unique<Heap>();
    return *leaf_heap_;
  }

  struct HamtEntry {
    Term key;
    Term value;
    std::vector<std::uint32_t> hashes;  // by rehash depth, computed as needed
  };

  static unsigned nibble(HamtEntry& e, unsigned level) {
    unsigned depth = level / 8;
    while (e.hashes.size() <= depth)
      e.hashes.push_back(map_key_hash(e.key, static_cast<unsigned>(e.hashes.size())));
    return (e.hashes[depth] >> (4 * (level % 8))) & 0xF;
  }

  // The node holding `members` at `level`; returns its index in nodes_.
  std::size_t build_node(std::vector<HamtEntry>& entries, const std::vector<std::size_t>& members,
                         unsigned level) {
    std::array<std::vector<std::size_t>, 16> groups;
    for (std::size_t m : members) groups[nibble(entries[m], level)].push_back(m);
    HamtNode node;
    for (unsigned i = 0; i < 16; ++i) {
      const auto& g = groups[i];
      if (g.empty()) continue;
      node.bitmap |= 1u << i;
      if (g.size() == 1 || level + 1 >= kMaxHamtLevel) {
        for (std::size_t m : g)
          node.slots.push_back({make_cons(leaf_heap(), entries[m].key, entries[m].value), kNoNode});
      } else {
        node.slots.push_back({kNilTerm, build_node(entries, g, level + 1)});
      }
    }
    nodes_.push_back(std::move(node));
    return nodes_.size() - 1;
  }

  // Opens a node ("#<" at the root, "<" below) and schedules its slots.
  void node(std::size_t index, bool root, std::vector<Item>& stack) {
    const HamtNode& n = nodes_[index];
    put(root ? "#<" : "<");
    number(n.bitmap, 16);
    put(">{");
    stack.push_back({Item::kCloseTuple});
    for (std::size_t i = n.slots.size(); i-- > 0;) {
      if (i + 1 < n.slots.size()) stack.push_back({Item::kComma});
      const HamtSlot& s = n.slots[i];
      if (s.child == kNoNode)
        stack.push_back({Item::kTerm, s.leaf});
      else
        stack.push_back({Item::kNode, kNilTerm, nullptr, s.child});
    }
  }

  void map(Term t, std::vector<Item>& stack) {
    std::size_t n = map_size(t);
    const Term* keys = map_keys(t);
    const Term* values = map_values(t);
    if (n <= kFlatmapLimit) {
      put("#{");
      stack.push_back({Item::kCloseTuple});
      for (std::size_t i = n; i-- > 0;) {
        if (i + 1 < n) stack.push_back({Item::kComma});
        stack.push_back({Item::kTerm, values[i]});
        stack.push_back({Item::kAssoc});
        stack.push_back({Item::kTerm, keys[i]});
      }
      return;
    }
    std::vector<HamtEntry> entries;
    entries.reserve(n);
    for (std::size_t i = 0; i < n; ++i) entries.push_back({keys[i], values[i], {}});
    std::vector<std::size_t> all(n);
    for (std::size_t i = 0; i < n; ++i) all[i] = i;
    node(build_node(entries, all, 0), true, stack);
  }

  // ---------------------------------------------------------------- the walk
  // The head of a list cell, scheduling the rest of the list after it.
  static Term one_cons(Term cell, std::vector<Item>& stack) {
    Term tail = cons_tail(cell);
    if (is_cons(tail)) {
      stack.push_back({Item::kOneCons, tail});
      stack.push_back({Item::kComma});
    } else if (!is_nil(tail)) {
      stack.push_back({Item::kTerm, tail});
      stack.push_back({Item::kBar});
    }
    return cons_head(cell);
  }

  void walk(Term root) {
    std::vector<Item> stack;
    Term obj = root;
    std::size_t obj_node = kNoNode;
    bool have = true;  // obj (or obj_node) is the next thing to print
    for (;;) {
      if (!have) {
        if (stack.empty()) return;
        Item it = stack.back();
        stack.pop_back();
        obj_node = kNoNode;
        switch (it.op) {
          case Item::kComma:
            put(',');
            continue;
          case Item::kBar:
            put('|');
            continue;
          case Item::kCloseList:
            put(']');
            continue;
          case Item::kCloseTuple:
            put('}');
            continue;
          case Item::kAssoc:
            put("=>");
            continue;
          case Item::kTerm:
            obj = it.term;
            break;
          case Item::kOneCons:
            obj = one_cons(it.term, stack);
            break;
          case Item::kArray:
            obj = *it.array;
            if (it.count > 1) {
              stack.push_back({Item::kArray, kNilTerm, it.array + 1, it.count - 1});
              stack.push_back({Item::kComma});
            }
            break;
          case Item::kNode:
            obj_node = it.count;
            break;
        }
      }
      have = false;

      // Every term visited costs one unit of the budget.
      if (dcount_-- <= 0) return;
      if (obj_node != kNoNode) {
        node(obj_node, false, stack);
        continue;
      }
      if (obj == 0) {  // THE_NON_VALUE
        put("<TNV>");
        return;
      }
      switch (kind_of(obj)) {
        case Kind::kNil:
          put("[]");
          break;
        case Kind::kAtom:
          if (!atom(obj)) return;
          break;
        case Kind::kInteger:
          if (is_small(obj))
            number(small_value(obj));
          else
            bignum(obj);
          break;
        case Kind::kFloat:
          float_number(float_value(obj));
          break;
        case Kind::kReference:
          reference(obj);
          break;
        case Kind::kPid:
          pid(obj);
          break;
        case Kind::kPort:
          port(obj);
          break;
        case Kind::kFun:
          fun(obj);
          break;
        case Kind::kBitstring:
          if (!bitstring(obj)) return;
          break;
        case Kind::kList:
          if (is_printable_string(obj)) {
            if (!string(obj)) return;
          } else {
            put('[');
            stack.push_back({Item::kCloseList});
            obj = one_cons(obj, stack);
            have = true;
          }
          break;
        case Kind::kTuple: {
          std::size_t n = tuple_arity(obj);
          put('{');
          stack.push_back({Item::kCloseTuple});
          if (n > 0) stack.push_back({Item::kArray, kNilTerm, tuple_elements(obj), n});
          break;
        }
        case Kind::kMap:
          map(obj, stack);
          break;
      }
    }
  }

  std::string out_;
  std::size_t numeric_ = 0;
  long dcount_;
  std::vector<HamtNode> nodes_;
  std::unique_ptr<Heap> leaf_heap_;  // the [Key|Value] cells of HAMT leaves
};

}  // namespace

ErtsTermText erts_term_text(Term t, long budget) { return Printer(budget).run(t); }

void append_erts_percent_t(std::string& out, Term t, int width, int precision, bool left_adjust) {
  long budget = precision < 0          ? kErtsDefaultBudget
                : precision == INT_MAX ? LONG_MAX
                                       : static_cast<long>(precision);
  ErtsTermText text = erts_term_text(t, budget);
  auto w = static_cast<std::size_t>(std::max(width, 0));
  if (!left_adjust && w > text.numeric_bytes) out.append(w - text.numeric_bytes, ' ');
  out += text.text;
  if (left_adjust && w > text.text.size()) out.append(w - text.text.size(), ' ');
}

}  // namespace nifhost::core::enif
