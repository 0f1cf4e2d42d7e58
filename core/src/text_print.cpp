// print_term: the text of io_lib:format("~100000p", [T]) in OTP 25.
//
// The facts this follows were established against erl (OTP 25) and are
// checked term by term by tests/text_differential_test.cpp:
// - ~p without the t modifier treats text as latin-1: a list prints as a
//   string when it is non-empty, proper, and every element is in the latin-1
//   printable set (8-13, 27, 32-126, 160-255); so does a binary (whole bytes
//   only, at least one). Nothing above 255 is ever printed as a character.
// - Floats print in the shortest form that reads back exactly (the digits of
//   Ryu, as std::to_chars gives them), laid out by io_lib_format:fwrite_g's
//   rules (see format_float).
// - Maps print in maps:iterator/1 order: sorted up to 32 keys (the stored
//   order), and beyond that the reverse of maps:to_list/1 order (which is
//   the stored order of a larger map).
// - Atoms are quoted as io_lib:write_atom_as_latin1 quotes them; funs and
//   identifiers are written by the runtime (erlang:fun_to_list and friends),
//   which quotes atoms by different rules (see append_runtime_atom).
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <boost/multiprecision/cpp_int.hpp>

#include "fun_etf.hpp"
#include "nifhost/core/atom_table.hpp"
#include "nifhost/core/etf.hpp"
#include "nifhost/core/order.hpp"
#include "nifhost/core/terms.hpp"
#include "nifhost/core/text.hpp"
#include "text_internal.hpp"

namespace nifhost::core {
namespace {

using text_detail::append_utf8;

// ---------------------------------------------------------------- characters
bool latin1_printable(std::int64_t c) {
  return (c >= 32 && c <= 126) || (c >= 160 && c <= 255) || (c >= 8 && c <= 13) || c == 27;
}

// The escape io_lib uses inside "..." and '...' for the characters that have
// one, or nullptr.
const char* named_escape(std::uint32_t c) {
  switch (c) {
    case '\n':
      return "\\n";
    case '\r':
      return "\\r";
    case '\t':
      return "\\t";
    case '\v':
      return "\\v";
    case '\b':
      return "\\b";
    case '\f':
      return "\\f";
    case 27:
      return "\\e";
    case '\\':
      return "\\\\";
    default:
      return nullptr;
  }
}

// A character of a printable string or binary, inside quote `q`.
void append_string_char(std::string& out, std::uint32_t c, char q) {
  if (c == static_cast<std::uint32_t>(q)) {
    out.push_back('\\');
    out.push_back(q);
  } else if (const char* e = named_escape(c)) {
    out += e;
  } else {
    append_utf8(out, c);
  }
}

void append_octal3(std::string& out, std::uint32_t c) {
  out.push_back('\\');
  out.push_back(static_cast<char>('0' + ((c >> 6) & 7)));
  out.push_back(static_cast<char>('0' + ((c >> 3) & 7)));
  out.push_back(static_cast<char>('0' + (c & 7)));
}

// ---------------------------------------------------------------- atoms
bool is_latin1_lower(std::uint32_t c) {
  return (c >= 'a' && c <= 'z') || (c >= 223 && c <= 255 && c != 247);
}

bool is_name_char(std::uint32_t c) {
  return is_latin1_lower(c) || (c >= 'A' && c <= 'Z') || (c >= 192 && c <= 222 && c != 215) ||
         (c >= '0' && c <= '9') || c == '_' || c == '@';
}

void append_atom_name(std::string& out, std::string_view utf8) {
  std::vector<std::uint32_t> cps = text_detail::decode_utf8(utf8);
  bool quote = cps.empty() || !is_latin1_lower(cps[0]) || text_detail::is_reserved_word(utf8) ||
               !std::all_of(cps.begin() + 1, cps.end(), is_name_char);
  if (!quote) {
    out += utf8;
    return;
  }
  out.push_back('\'');
  for (std::uint32_t c : cps) {
    if (c == '\'') {
      out += "\\'";
    } else if (const char* e = named_escape(c)) {
      out += e;
    } else if (c == 127) {
      out += "\\d";
    } else if (c < 32 || (c >= 128 && c < 160)) {
      append_octal3(out, c);
    } else if (c > 255) {
      char buf[16];
      auto r = std::to_chars(buf, buf + sizeof buf, c, 16);
      out += "\\x{";
      for (char* p = buf; p != r.ptr; ++p)
        out.push_back(*p >= 'a' ? static_cast<char>(*p - 'a' + 'A') : *p);
      out.push_back('}');
    } else {
      append_utf8(out, c);
    }
  }
  out.push_back('\'');
}

// The runtime's own atom printer (erts print_atom_name), used for the names
// inside `fun M:F/A`: it quotes unless the first character is a latin-1
// lowercase letter and the rest are latin-1 alphanumerics or '_' (no '@', and
// reserved words are not quoted), and it writes the atom's UTF-8 bytes as
// characters, escaping only a few controls.
void append_runtime_atom(std::string& out, std::string_view utf8) {
  const auto* s = reinterpret_cast<const std::uint8_t*>(utf8.data());
  std::size_t n = utf8.size();
  // The runtime classifies a 2-byte sequence by its code point, a
  // continuation byte as a letter, and the start of a longer one as "quote".
  auto class_char = [&](std::size_t i) -> std::uint32_t {
    std::uint8_t c = s[i];
    if ((c & 0x80) == 0) return c;
    if ((c & 0xE0) == 0xC0) return ((c & 0x1Fu) << 6) | (i + 1 < n ? (s[i + 1] & 0x3Fu) : 0u);
    if ((c & 0xC0) == 0x80) return 'a';
    return 0;
  };
  auto is_upper = [](std::uint32_t c) {
    return (c >= 'A' && c <= 'Z') || (c >= 192 && c <= 222 && c != 215);
  };
  bool quote = n == 0 || !is_latin1_lower(class_char(0));
  for (std::size_t i = 1; !quote && i < n; ++i) {
    std::uint32_t c = class_char(i);
    if (!(is_latin1_lower(c) || is_upper(c) || (c >= '0' && c <= '9') || c == '_')) quote = true;
  }
  if (quote) out.push_back('\'');
  for (std::size_t i = 0; i < n; ++i) {
    std::uint8_t c = s[i];
    if (c == '\'') {
      out += "\\'";
    } else if (c == '\\') {
      out += "\\\\";
    } else if (c != 27 && named_escape(c) != nullptr) {
      out += named_escape(c);
    } else if (c < 32) {
      append_octal3(out, c);
    } else if (c == 0xC2 && i + 1 < n && s[i + 1] < 0xA0) {
      append_octal3(out, s[++i]);  // a latin-1 control (128-159)
    } else {
      append_utf8(out, c);  // each byte becomes one character
    }
  }
  if (quote) out.push_back('\'');
}

// ---------------------------------------------------------------- numbers
void append_integer(std::string& out, std::int64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

void append_unsigned(std::string& out, std::uint64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

void append_bignum(std::string& out, Term t) {
  boost::multiprecision::cpp_int v;
  const std::uint64_t* d = bignum_digits(t);
  import_bits(v, d, d + bignum_digit_count(t), 64, false);
  if (bignum_negative(t)) out.push_back('-');
  out += v.str();
}

// io_lib_format:fwrite_g (OTP 25): the shortest round-trip digits D (no
// trailing zeros) with the decimal point `place` digits from the left of D,
// i.e. the value is 0.D * 10^place. Scientific notation is used when it is
// shorter, and always for |x| >= 2^53 when the point would fall at or after
// the last digit.
std::string format_float(double x) {
  if (x == 0.0) return std::signbit(x) ? "-0.0" : "0.0";
  char buf[40];
  auto r = std::to_chars(buf, buf + sizeof buf, std::fabs(x), std::chars_format::scientific);
  std::string_view sci(buf, static_cast<std::size_t>(r.ptr - buf));  // d[.ddd]e±XX
  std::size_t e_pos = sci.find('e');
  std::string digits;
  for (char c : sci.substr(0, e_pos))
    if (c != '.') digits.push_back(c);
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
  int exp10 = 0;
  std::string_view ex = sci.substr(e_pos + 1);
  if (!ex.empty() && ex[0] == '+') ex.remove_prefix(1);
  std::from_chars(ex.data(), ex.data() + ex.size(), exp10);

  const long len = static_cast<long>(digits.size());
  const long place = exp10 + 1;
  auto scientific = [&] {
    std::string s(1, digits[0]);
    s.push_back('.');
    s += len == 1 ? std::string("0") : digits.substr(1);
    s.push_back('e');
    s += std::to_string(place - 1);
    return s;
  };
  std::string body;
  if (place == 0) {
    body = "0." + digits;
  } else if (place < 0 || place >= len) {
    const long exp_cost =
        static_cast<long>(std::to_string(place - 1).size()) + 1 + (len == 1 ? 2 : 1);
    if (place < 0) {
      body = 2 - place <= exp_cost
                 ? "0." + std::string(static_cast<std::size_t>(-place), '0') + digits
                 : scientific();
    } else {
      bool fixed = place - len + 2 <= exp_cost && std::fabs(x) < 9007199254740992.0;
      body = fixed ? digits + std::string(static_cast<std::size_t>(place - len), '0') + ".0"
                   : scientific();
    }
  } else {
    body = digits.substr(0, static_cast<std::size_t>(place)) + "." +
           digits.substr(static_cast<std::size_t>(place));
  }
  return std::signbit(x) ? "-" + body : body;
}

// ---------------------------------------------------------------- identifiers
bool is_local_node(Term node, std::uint32_t creation) {
  return node == atoms::kNonode && creation == kLocalCreation;
}

void append_node_prefix(std::string& out, Term node, std::uint32_t creation) {
  append_atom_name(out, atom_text(node));
  out.push_back('.');
  append_unsigned(out, creation);
}

void append_pid(std::string& out, Term t) {
  PidView p = pid_view(t);
  if (is_local_node(p.node, p.creation)) {
    out += "<0.";
  } else {
    out += "#Pid<";
    append_node_prefix(out, p.node, p.creation);
    out.push_back('.');
  }
  append_unsigned(out, p.id);
  out.push_back('.');
  append_unsigned(out, p.serial);
  out.push_back('>');
}

void append_port(std::string& out, Term t) {
  PortView p = port_view(t);
  out += "#Port<";
  if (is_local_node(p.node, p.creation))
    out += "0";
  else
    append_node_prefix(out, p.node, p.creation);
  out.push_back('.');
  append_unsigned(out, p.id);
  out.push_back('>');
}

void append_ref_words(std::string& out, std::span<const std::uint32_t> words) {
  // The runtime keeps at least three words and prints them last to first.
  std::size_t n = std::max<std::size_t>(words.size(), 3);
  for (std::size_t i = n; i-- > 0;) {
    out.push_back('.');
    append_unsigned(out, i < words.size() ? words[i] : 0);
  }
  out.push_back('>');
}

void append_reference(std::string& out, Term t) {
  switch (box_subtag(t)) {
    case Subtag::kRef: {
      RefView r = ref_view(t);
      out += "#Ref<";
      if (is_local_node(r.node, r.creation))
        out += "0";
      else
        append_node_prefix(out, r.node, r.creation);
      append_ref_words(out, {r.id, std::min<std::size_t>(r.count, 5)});
      return;
    }
    case Subtag::kResource: {
      // As the codec encodes it (a local reference with ids derived from the
      // object's address), so that erl prints the encoded term the same way.
      auto bytes = encode(t);
      std::uint32_t words[5] = {};
      std::size_t n = 0;
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
      out += "#Ref<0";
      append_ref_words(out, {words, n});
      return;
    }
    default: {
      // A remote resource handle has no Erlang form at all.
      const RemoteResource* h = handle_object(t);
      out += "#Handle<";
      append_unsigned(out, h->domain());
      out.push_back('.');
      append_unsigned(out, h->generation());
      out.push_back('.');
      append_unsigned(out, h->id());
      out.push_back('.');
      append_unsigned(out, h->type_tag());
      out.push_back('>');
      return;
    }
  }
}

// ---------------------------------------------------------------- funs
void append_fun(std::string& out, Term t) {
  detail::FunInfo f = detail::parse_fun(fun_bytes(t));
  if (f.valid && f.is_export) {
    out += "fun ";
    append_runtime_atom(out, f.module);
    out.push_back(':');
    append_runtime_atom(out, f.function);
    out.push_back('/');
    append_unsigned(out, f.arity);
  } else if (f.valid) {
    // The runtime writes the module's UTF-8 bytes unquoted, then the fun's
    // old index and old uniq (erlang:fun_to_list/1).
    out += "#Fun<";
    for (char c : f.module) append_utf8(out, static_cast<std::uint8_t>(c));
    out.push_back('.');
    append_integer(out, f.old_index);
    out.push_back('.');
    append_integer(out, f.old_uniq);
    out.push_back('>');
  } else {
    out += "#Fun<>";  // bytes the codec would not have produced
  }
}

// ---------------------------------------------------------------- bitstrings
void append_bitstring(std::string& out, Term t) {
  BitstringView v = bitstring_view(t);
  bool printable =
      v.trailing_bits == 0 && v.byte_size > 0 &&
      std::all_of(v.data, v.data + v.byte_size, [](std::uint8_t c) { return latin1_printable(c); });
  out += "<<";
  if (printable) {
    out.push_back('"');
    for (std::size_t i = 0; i < v.byte_size; ++i) append_string_char(out, v.data[i], '"');
    out += "\">>";
    return;
  }
  for (std::size_t i = 0; i < v.byte_size; ++i) {
    if (i > 0) out.push_back(',');
    append_unsigned(out, v.data[i]);
  }
  if (v.trailing_bits != 0) {
    if (v.byte_size > 0) out.push_back(',');
    append_unsigned(out, static_cast<unsigned>(v.data[v.byte_size] >> (8 - v.trailing_bits)));
    out.push_back(':');
    append_unsigned(out, v.trailing_bits);
  }
  out += ">>";
}

// A list prints as a string when it is proper, non-empty and all printable.
bool printable_list(Term t) {
  for (; is_cons(t); t = cons_tail(t)) {
    Term h = cons_head(t);
    if (!is_small(h) || !latin1_printable(small_value(h))) return false;
  }
  return is_nil(t);
}

// ---------------------------------------------------------------- the printer
// An explicit stack instead of recursion: decoded terms can nest deeper than
// any thread's stack would allow.
struct Task {
  enum Kind : std::uint8_t { kTerm, kText, kListRest, kTupleRest, kMapRest } kind;
  Term term;
  std::size_t index;
  const char* text;
};

void append_term(std::string& out, Term root) {
  std::vector<Task> stack;
  stack.push_back({Task::kTerm, root, 0, nullptr});
  while (!stack.empty()) {
    Task task = stack.back();
    stack.pop_back();
    Term t = task.term;
    switch (task.kind) {
      case Task::kText:
        out += task.text;
        continue;
      case Task::kListRest:
        if (is_cons(t)) {
          out.push_back(',');
          stack.push_back({Task::kListRest, cons_tail(t), 0, nullptr});
          stack.push_back({Task::kTerm, cons_head(t), 0, nullptr});
        } else if (is_nil(t)) {
          out.push_back(']');
        } else {
          out.push_back('|');
          stack.push_back({Task::kText, 0, 0, "]"});
          stack.push_back({Task::kTerm, t, 0, nullptr});
        }
        continue;
      case Task::kTupleRest:
        if (task.index < tuple_arity(t)) {
          if (task.index > 0) out.push_back(',');
          stack.push_back({Task::kTupleRest, t, task.index + 1, nullptr});
          stack.push_back({Task::kTerm, tuple_elements(t)[task.index], 0, nullptr});
        } else {
          out.push_back('}');
        }
        continue;
      case Task::kMapRest:
        if (task.index < map_size(t)) {
          // ~p walks a map with maps:iterator/1 and maps:next/1. For a flatmap
          // that is the stored (sorted) order; for a HAMT (more than 32 keys)
          // it is the reverse of maps:to_list/1 order, which is what nifhost
          // stores.
          std::size_t n = map_size(t);
          std::size_t i = n > kFlatmapLimit ? n - 1 - task.index : task.index;
          if (task.index > 0) out.push_back(',');
          stack.push_back({Task::kMapRest, t, task.index + 1, nullptr});
          stack.push_back({Task::kTerm, map_values(t)[i], 0, nullptr});
          stack.push_back({Task::kText, 0, 0, " => "});
          stack.push_back({Task::kTerm, map_keys(t)[i], 0, nullptr});
        } else {
          out.push_back('}');
        }
        continue;
      case Task::kTerm:
        break;
    }
    switch (kind_of(t)) {
      case Kind::kInteger:
        if (is_small(t))
          append_integer(out, small_value(t));
        else
          append_bignum(out, t);
        break;
      case Kind::kFloat:
        out += format_float(float_value(t));
        break;
      case Kind::kAtom:
        append_atom_name(out, atom_text(t));
        break;
      case Kind::kReference:
        append_reference(out, t);
        break;
      case Kind::kFun:
        append_fun(out, t);
        break;
      case Kind::kPort:
        append_port(out, t);
        break;
      case Kind::kPid:
        append_pid(out, t);
        break;
      case Kind::kTuple:
        out.push_back('{');
        stack.push_back({Task::kTupleRest, t, 0, nullptr});
        break;
      case Kind::kMap:
        out += "#{";
        stack.push_back({Task::kMapRest, t, 0, nullptr});
        break;
      case Kind::kNil:
        out += "[]";
        break;
      case Kind::kList:
        if (printable_list(t)) {
          out.push_back('"');
          for (Term c : ListRange(t))
            append_string_char(out, static_cast<std::uint32_t>(small_value(c)), '"');
          out.push_back('"');
        } else {
          out.push_back('[');
          stack.push_back({Task::kListRest, cons_tail(t), 0, nullptr});
          stack.push_back({Task::kTerm, cons_head(t), 0, nullptr});
        }
        break;
      case Kind::kBitstring:
        append_bitstring(out, t);
        break;
    }
  }
}

}  // namespace

std::string print_term(Term t) {
  std::string out;
  append_term(out, t);
  return out;
}

}  // namespace nifhost::core
