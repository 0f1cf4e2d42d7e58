// parse_term: one Erlang term in Erlang syntax (plus the identifier forms ~p
// prints), scanned and parsed in one pass over the text's code points.
//
// Containers are parsed with an explicit stack of open frames, never by
// recursion, so the nesting limit is a parse error and not a stack overflow.
#include <algorithm>
#include <bit>
#include <cassert>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/multiprecision/cpp_int.hpp>

#include "nifhost/core/atom_table.hpp"
#include "nifhost/core/etf.hpp"
#include "nifhost/core/order.hpp"
#include "nifhost/core/terms.hpp"
#include "nifhost/core/text.hpp"
#include "text_internal.hpp"

namespace nifhost::core {
namespace {

using boost::multiprecision::cpp_int;
using text_detail::append_utf8;

constexpr char32_t kEnd = 0xFFFFFFFF;
// Bits one binary segment value, and one whole binary, may take.
constexpr std::uint64_t kMaxSegmentBits = std::uint64_t{1} << 26;
constexpr std::uint64_t kMaxBinaryBits = std::uint64_t{1} << 30;

// A failure at a position (a code point index), turned into a ParseError with
// line and column once, at the end.
struct Failure {
  std::size_t pos;
  std::string message;
};
template <typename T>
using Result = tl::expected<T, Failure>;

bool is_digit(char32_t c) { return c >= '0' && c <= '9'; }
int digit_value(char32_t c) {
  if (c >= '0' && c <= '9') return static_cast<int>(c - '0');
  if (c >= 'a' && c <= 'z') return static_cast<int>(c - 'a' + 10);
  if (c >= 'A' && c <= 'Z') return static_cast<int>(c - 'A' + 10);
  return 99;
}
// erl_scan's character classes (latin-1 letters count as letters).
bool is_lower(char32_t c) { return (c >= 'a' && c <= 'z') || (c >= 223 && c <= 255 && c != 247); }
bool is_upper(char32_t c) { return (c >= 'A' && c <= 'Z') || (c >= 192 && c <= 222 && c != 215); }
bool is_name_char(char32_t c) {
  return is_lower(c) || is_upper(c) || is_digit(c) || c == '_' || c == '@';
}
bool is_space(char32_t c) { return c <= ' ' || (c >= 128 && c <= 160); }

std::string describe(char32_t c) {
  if (c == kEnd) return "end of input";
  std::string s = "'";
  if (c == '\n')
    s += "\\n";
  else if (c == '\t')
    s += "\\t";
  else if (c < 32 || c == 127 || (c >= 128 && c < 160)) {
    char buf[16];
    auto r = std::to_chars(buf, buf + sizeof buf, static_cast<std::uint32_t>(c), 16);
    s += "\\x{" + std::string(buf, r.ptr) + "}";
  } else {
    append_utf8(s, c);
  }
  return s + "'";
}

// The external-term encoding of an atom (no version byte), for the bytes of
// an external fun.
std::vector<std::uint8_t> atom_etf(Term atom) {
  auto bytes = encode(atom);
  assert(bytes.has_value() && bytes->size() > 1);
  return {bytes->begin() + 1, bytes->end()};
}

// Appends bits most significant first.
class BitWriter {
 public:
  void bit(bool b) {
    if (bits_ % 8 == 0) bytes_.push_back(0);
    if (b) bytes_.back() |= static_cast<std::uint8_t>(0x80u >> (bits_ % 8));
    ++bits_;
  }
  void bits(std::uint64_t v, unsigned n) {
    for (unsigned i = n; i-- > 0;) bit(((v >> i) & 1) != 0);
  }
  // The low n bits of v in two's complement.
  void bits(const cpp_int& v, std::size_t n) {
    cpp_int u = v;
    if (u < 0) u += cpp_int(1) << n;
    for (std::size_t i = n; i-- > 0;)
      bit(boost::multiprecision::bit_test(u, static_cast<unsigned>(i)));
  }
  const std::vector<std::uint8_t>& bytes() const { return bytes_; }
  std::size_t bit_count() const { return bits_; }

 private:
  std::vector<std::uint8_t> bytes_;
  std::size_t bits_ = 0;
};

// IEEE half precision, rounded to nearest even; nullopt when out of range.
std::optional<std::uint16_t> to_half(double d) {
  auto bits = std::bit_cast<std::uint64_t>(d);
  auto sign = static_cast<std::uint16_t>((bits >> 48) & 0x8000);
  int exp = static_cast<int>((bits >> 52) & 0x7FF);
  std::uint64_t mant = bits & ((std::uint64_t{1} << 52) - 1);
  if (exp == 0 && mant == 0) return sign;
  if (exp == 0) return sign;  // double subnormals are far below half's range
  mant |= std::uint64_t{1} << 52;
  int e = exp - 1023;
  auto round_shift = [](std::uint64_t m, int shift) -> std::uint64_t {
    if (shift >= 64) return 0;
    std::uint64_t q = m >> shift;
    std::uint64_t rem = m & ((std::uint64_t{1} << shift) - 1);
    std::uint64_t half = std::uint64_t{1} << (shift - 1);
    if (rem > half || (rem == half && (q & 1))) ++q;
    return q;
  };
  if (e >= -14) {
    std::uint64_t q = round_shift(mant, 42);  // 11 significant bits
    if (q == (std::uint64_t{1} << 11)) {
      q >>= 1;
      ++e;
    }
    if (e > 15) return std::nullopt;
    return static_cast<std::uint16_t>(sign | (static_cast<std::uint64_t>(e + 15) << 10) |
                                      (q & 0x3FF));
  }
  // Subnormal half: units of 2^-24.
  std::uint64_t q = round_shift(mant, 28 - e);
  return static_cast<std::uint16_t>(sign | q);
}

class Parser {
 public:
  Parser(std::u32string text, Heap& heap) : s_(std::move(text)), heap_(heap) {}

  Result<Term> run();
  const std::u32string& text() const { return s_; }

 private:
  struct Frame {
    enum Kind : std::uint8_t { kList, kTuple, kMap } kind = kList;
    std::size_t open = 0;  // position of the opening bracket
    std::vector<Term> items;
    std::vector<Term> values;  // map values
    bool in_tail = false;      // list: after '|'
    bool want_value = false;   // map: after '=>'
  };

  char32_t peek(std::size_t k = 0) const { return pos_ + k < s_.size() ? s_[pos_ + k] : kEnd; }
  bool at(std::u32string_view w) const { return s_.compare(pos_, w.size(), w) == 0; }
  void skip_space();
  tl::unexpected<Failure> fail(std::string message) const {
    return fail_at(pos_, std::move(message));
  }
  static tl::unexpected<Failure> fail_at(std::size_t pos, std::string message) {
    return tl::unexpected(Failure{pos, std::move(message)});
  }
  tl::unexpected<Failure> expected(std::string_view what) const {
    return fail(std::string("expected ") + std::string(what) + ", found " + describe(peek()));
  }

  Result<Term> scalar();
  Result<Term> number(bool negative);
  Result<cpp_int> integer_literal();
  Result<std::string> digit_run(int base);
  Result<Term> float_literal(std::string digits, bool negative);
  Result<char32_t> char_literal();
  Result<char32_t> escape();
  Result<Term> quoted_atom();
  Result<Term> unquoted_atom(bool allow_reserved);
  Result<Term> atom_any(bool allow_reserved);
  Result<Term> intern(const std::u32string& name, std::size_t start);
  Result<std::u32string> string_literal();
  Result<Term> binary();
  Result<void> segment(BitWriter& out);
  Result<Term> external_fun();
  Result<std::uint64_t> uint_field(std::uint64_t max, std::string_view what);
  Result<Term> identifier();
  Result<Term> local_pid();
  Term make_integer_term(const cpp_int& v);

  std::u32string s_;
  std::size_t pos_ = 0;
  Heap& heap_;
};

void Parser::skip_space() {
  for (;;) {
    char32_t c = peek();
    if (c == kEnd) return;
    if (c == '%') {
      while (peek() != kEnd && peek() != '\n') ++pos_;
    } else if (is_space(c)) {
      ++pos_;
    } else {
      return;
    }
  }
}

Term Parser::make_integer_term(const cpp_int& v) {
  if (v >= std::numeric_limits<std::int64_t>::min() &&
      v <= std::numeric_limits<std::int64_t>::max())
    return make_integer(heap_, static_cast<std::int64_t>(v));
  std::vector<std::uint64_t> digits;
  export_bits(cpp_int(abs(v)), std::back_inserter(digits), 64, false);
  return make_bignum(heap_, v < 0, digits);
}

// Digits of `base` with single underscores between them (OTP 23+), without
// the underscores.
Result<std::string> Parser::digit_run(int base) {
  std::string out;
  if (digit_value(peek()) >= base) return expected("a digit");
  for (;;) {
    char32_t c = peek();
    if (digit_value(c) < base) {
      out.push_back(static_cast<char>(c));
      ++pos_;
    } else if (c == '_' && digit_value(peek(1)) < base) {
      ++pos_;
    } else {
      return out;
    }
  }
}

cpp_int digits_to_int(std::string_view digits, int base) {
  // Whole chunks that fit a 64-bit word keep the bignum work linear in chunks.
  unsigned per_chunk = 1;
  std::uint64_t chunk_scale = static_cast<std::uint64_t>(base);
  while (chunk_scale <=
         UINT64_MAX / static_cast<std::uint64_t>(base) / static_cast<std::uint64_t>(base)) {
    chunk_scale *= static_cast<std::uint64_t>(base);
    ++per_chunk;
  }
  cpp_int v = 0;
  for (std::size_t i = 0; i < digits.size();) {
    std::size_t n = std::min<std::size_t>(per_chunk, digits.size() - i);
    std::uint64_t chunk = 0, scale = 1;
    for (std::size_t k = 0; k < n; ++k) {
      chunk = chunk * static_cast<std::uint64_t>(base) +
              static_cast<std::uint64_t>(digit_value(static_cast<char32_t>(digits[i + k])));
      scale *= static_cast<std::uint64_t>(base);
    }
    v = v * scale + chunk;
    i += n;
  }
  return v;
}

// A non-negative integer literal: decimal, radix (16#ff) or a character ($a).
Result<cpp_int> Parser::integer_literal() {
  if (peek() == '$') {
    auto c = char_literal();
    if (!c) return tl::unexpected(c.error());
    return cpp_int(static_cast<std::uint32_t>(*c));
  }
  std::size_t start = pos_;
  auto digits = digit_run(10);
  if (!digits) return tl::unexpected(digits.error());
  if (peek() != '#') return digits_to_int(*digits, 10);
  cpp_int base = digits_to_int(*digits, 10);
  if (base < 2 || base > 36) return fail_at(start, "radix " + *digits + " is out of range (2..36)");
  ++pos_;
  auto radix_digits = digit_run(static_cast<int>(base));
  if (!radix_digits) return tl::unexpected(radix_digits.error());
  return digits_to_int(*radix_digits, static_cast<int>(base));
}

Result<Term> Parser::float_literal(std::string digits, bool negative) {
  std::size_t start = pos_;
  ++pos_;  // '.'
  auto frac = digit_run(10);
  if (!frac) return tl::unexpected(frac.error());
  std::string text = digits + "." + *frac;
  char32_t e = peek();
  if ((e == 'e' || e == 'E') &&
      (is_digit(peek(1)) || ((peek(1) == '+' || peek(1) == '-') && is_digit(peek(2))))) {
    ++pos_;
    text.push_back('e');
    if (peek() == '+' || peek() == '-') text.push_back(static_cast<char>(s_[pos_++]));
    auto exp = digit_run(10);
    if (!exp) return tl::unexpected(exp.error());
    text += *exp;
  }
  double v = 0;
  auto r = std::from_chars(text.data(), text.data() + text.size(), v);
  if (r.ec == std::errc::result_out_of_range) {
    // Too small rounds to zero, as in Erlang; too large is an error.
    bool tiny = text.find("e-") != std::string::npos;
    if (!tiny) return fail_at(start - digits.size(), "float " + text + " is out of range");
    v = 0.0;
  }
  return make_float(heap_, negative ? -v : v);
}

Result<Term> Parser::number(bool negative) {
  std::size_t start = pos_;
  if (peek() != '$' && is_digit(peek())) {
    auto digits = digit_run(10);
    if (!digits) return tl::unexpected(digits.error());
    if (peek() == '.' && is_digit(peek(1))) return float_literal(*digits, negative);
    pos_ = start;  // an integer: decimal or radix
  }
  auto v = integer_literal();
  if (!v) return tl::unexpected(v.error());
  return make_integer_term(negative ? cpp_int(-*v) : *v);
}

Result<char32_t> Parser::escape() {
  // After the backslash, as erl_scan reads escapes.
  char32_t c = peek();
  if (c == kEnd) return expected("an escape sequence");
  ++pos_;
  if (c >= '0' && c <= '7') {
    std::uint32_t v = c - '0';
    for (int i = 0; i < 2 && peek() >= '0' && peek() <= '7'; ++i) v = v * 8 + (s_[pos_++] - '0');
    return static_cast<char32_t>(v);
  }
  switch (c) {
    case 'x': {
      std::uint64_t v = 0;
      if (peek() == '{') {
        std::size_t start = pos_ - 2;
        ++pos_;
        if (digit_value(peek()) >= 16) return expected("a hex digit");
        while (digit_value(peek()) < 16) {
          v = v * 16 + static_cast<std::uint64_t>(digit_value(s_[pos_++]));
          if (v > 0x10FFFF) return fail_at(start, "character code in \\x{...} is above 16#10FFFF");
        }
        if (peek() != '}') return expected("'}' to end \\x{...}");
        ++pos_;
        return static_cast<char32_t>(v);
      }
      for (int i = 0; i < 2; ++i) {
        if (digit_value(peek()) >= 16) return expected("two hex digits after \\x");
        v = v * 16 + static_cast<std::uint64_t>(digit_value(s_[pos_++]));
      }
      return static_cast<char32_t>(v);
    }
    case '^': {
      char32_t k = peek();
      if (k == kEnd) return expected("a character after \\^");
      ++pos_;
      return static_cast<char32_t>(k & 31);
    }
    case 'n':
      return U'\n';
    case 'r':
      return U'\r';
    case 't':
      return U'\t';
    case 'v':
      return U'\v';
    case 'b':
      return U'\b';
    case 'f':
      return U'\f';
    case 'e':
      return char32_t{27};
    case 's':
      return U' ';
    case 'd':
      return char32_t{127};
    default:
      return c;  // \\ \' \" and any other character stand for themselves
  }
}

Result<char32_t> Parser::char_literal() {
  ++pos_;  // '$'
  char32_t c = peek();
  if (c == kEnd) return expected("a character after '$'");
  ++pos_;
  if (c == '\\') return escape();
  return c;
}

Result<std::u32string> Parser::string_literal() {
  std::u32string out;
  // Adjacent string literals are one string, as in Erlang.
  while (peek() == '"') {
    std::size_t open = pos_++;
    for (;;) {
      char32_t c = peek();
      if (c == kEnd) return fail_at(open, "unterminated string");
      ++pos_;
      if (c == '"') break;
      if (c == '\\') {
        auto e = escape();
        if (!e) return tl::unexpected(e.error());
        c = *e;
      }
      out.push_back(c);
    }
    std::size_t after = pos_;
    skip_space();
    if (peek() != '"') pos_ = after;
  }
  return out;
}

Result<Term> Parser::intern(const std::u32string& name, std::size_t start) {
  if (name.size() > AtomTable::kMaxCharacters)
    return fail_at(start, "atom is too long (" + std::to_string(name.size()) +
                              " characters; the limit is 255)");
  std::string utf8;
  for (char32_t c : name) {
    if (c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
      return fail_at(start, "atom contains a character that is not Unicode");
    append_utf8(utf8, c);
  }
  auto a = AtomTable::instance().intern(utf8);
  if (!a) return fail_at(start, std::string("cannot make atom: ") + atom_error_text(a.error()));
  return *a;
}

Result<Term> Parser::quoted_atom() {
  std::size_t open = pos_++;
  std::u32string name;
  for (;;) {
    char32_t c = peek();
    if (c == kEnd) return fail_at(open, "unterminated quoted atom");
    ++pos_;
    if (c == '\'') break;
    if (c == '\\') {
      auto e = escape();
      if (!e) return tl::unexpected(e.error());
      c = *e;
    }
    name.push_back(c);
  }
  return intern(name, open);
}

Result<Term> Parser::unquoted_atom(bool allow_reserved) {
  std::size_t start = pos_;
  std::u32string name;
  while (is_name_char(peek())) name.push_back(s_[pos_++]);
  std::string utf8;
  for (char32_t c : name) append_utf8(utf8, c);
  if (!allow_reserved && text_detail::is_reserved_word(utf8))
    return fail_at(start,
                   "'" + utf8 + "' is a reserved word; write it quoted to use it as an atom");
  return intern(name, start);
}

Result<Term> Parser::atom_any(bool allow_reserved) {
  if (peek() == '\'') return quoted_atom();
  if (is_lower(peek())) return unquoted_atom(allow_reserved);
  return expected("an atom");
}

// fun Module:Function/Arity. The runtime prints these names unquoted even
// when they are reserved words (fun erlang:'and'/2 prints as fun erlang:and/2),
// so reserved words are accepted here.
Result<Term> Parser::external_fun() {
  skip_space();
  if (!is_lower(peek()) && peek() != '\'')
    return fail(std::string("only external funs (fun Module:Function/Arity) can be written as "
                            "terms; found ") +
                describe(peek()));
  auto module = atom_any(true);
  if (!module) return module;
  skip_space();
  if (peek() != ':')
    return fail(
        "only external funs (fun Module:Function/Arity) can be written as terms; "
        "expected ':', found " +
        describe(peek()));
  ++pos_;
  skip_space();
  auto function = atom_any(true);
  if (!function) return function;
  skip_space();
  if (peek() != '/') return expected("'/' after the function of an external fun");
  ++pos_;
  skip_space();
  if (!is_digit(peek())) return expected("an arity");
  auto arity = uint_field(255, "arity");
  if (!arity) return tl::unexpected(arity.error());
  // EXPORT_EXT: tag, module atom, function atom, arity as SMALL_INTEGER_EXT.
  std::vector<std::uint8_t> bytes{113};
  for (Term a : {*module, *function}) {
    auto enc = atom_etf(a);
    bytes.insert(bytes.end(), enc.begin(), enc.end());
  }
  bytes.push_back(97);
  bytes.push_back(static_cast<std::uint8_t>(*arity));
  return make_fun(heap_, bytes);
}

Result<std::uint64_t> Parser::uint_field(std::uint64_t max, std::string_view what) {
  if (!is_digit(peek())) return expected(std::string(what));
  std::size_t start = pos_;
  std::uint64_t v = 0;
  while (is_digit(peek())) {
    std::uint64_t d = s_[pos_++] - '0';
    if (v > (max - d) / 10) return fail_at(start, std::string(what) + " is too large");
    v = v * 10 + d;
  }
  return v;
}

// <0.Id.Serial>: a pid of the local node, as ~p prints it.
Result<Term> Parser::local_pid() {
  std::size_t open = pos_++;
  auto node = uint_field(UINT32_MAX, "a node number");
  if (!node) return tl::unexpected(node.error());
  if (*node != 0)
    return fail_at(open, "<" + std::to_string(*node) +
                             ".…> names a node by its index in some running VM; only local pids "
                             "(<0.Id.Serial>) and #Pid<Node.Creation.Id.Serial> can be read");
  if (peek() != '.') return expected("'.' in a pid");
  ++pos_;
  auto id = uint_field(UINT32_MAX, "a pid number");
  if (!id) return tl::unexpected(id.error());
  if (peek() != '.') return expected("'.' in a pid");
  ++pos_;
  auto serial = uint_field(UINT32_MAX, "a pid serial");
  if (!serial) return tl::unexpected(serial.error());
  if (peek() != '>') return expected("'>' to end a pid");
  ++pos_;
  return make_pid(heap_, atoms::kNonode, static_cast<std::uint32_t>(*id),
                  static_cast<std::uint32_t>(*serial), kLocalCreation);
}

// #Ref<...>, #Port<...>, #Pid<...> (and #Fun<...>, which cannot be read).
Result<Term> Parser::identifier() {
  std::size_t open = pos_;
  enum { kRef, kPort, kPid } kind;
  if (at(U"#Ref<")) {
    kind = kRef;
    pos_ += 5;
  } else if (at(U"#Port<")) {
    kind = kPort;
    pos_ += 6;
  } else if (at(U"#Pid<")) {
    kind = kPid;
    pos_ += 5;
  } else if (at(U"#Fun<")) {
    return fail(
        "a local fun (#Fun<...>) cannot be read back: its code and environment are not "
        "in the text (only fun Module:Function/Arity can)");
  } else {
    ++pos_;
    return expected("'{', 'Ref<', 'Port<' or 'Pid<' after '#'");
  }
  Term node = atoms::kNonode;
  std::uint32_t creation = kLocalCreation;
  if (kind != kPid && is_digit(peek())) {
    auto n = uint_field(UINT32_MAX, "a node number");
    if (!n) return tl::unexpected(n.error());
    if (*n != 0)
      return fail_at(open, "node number " + std::to_string(*n) +
                               " is an index in some running VM's node table; only 0 (the local "
                               "node) or a node name with its creation can be read");
  } else {
    auto a = atom_any(false);
    if (!a) return a;
    node = *a;
    if (peek() != '.') return expected("'.' after the node name");
    ++pos_;
    auto c = uint_field(UINT32_MAX, "a creation");
    if (!c) return tl::unexpected(c.error());
    creation = static_cast<std::uint32_t>(*c);
  }
  std::vector<std::uint64_t> fields;
  while (peek() == '.') {
    ++pos_;
    auto f = uint_field(kind == kPort ? UINT64_MAX : UINT32_MAX, "a number");
    if (!f) return tl::unexpected(f.error());
    fields.push_back(*f);
  }
  if (peek() != '>') return expected("'.' or '>'");
  ++pos_;
  switch (kind) {
    case kPort:
      if (fields.size() != 1) return fail_at(open, "a port has one number after its node");
      return make_port(heap_, node, fields[0], creation);
    case kPid:
      if (fields.size() != 2)
        return fail_at(open, "a pid has two numbers after its node and creation");
      return make_pid(heap_, node, static_cast<std::uint32_t>(fields[0]),
                      static_cast<std::uint32_t>(fields[1]), creation);
    case kRef: {
      if (fields.empty() || fields.size() > 5)
        return fail_at(open, "a reference has 1 to 5 numbers after its node");
      std::vector<std::uint32_t> ids(fields.rbegin(), fields.rend());  // printed last word first
      return make_ref(heap_, node, creation, ids);
    }
  }
  return fail_at(open, "unreachable");
}

// One binary segment: Value[:Size][/Type-Specifiers].
Result<void> Parser::segment(BitWriter& out) {
  std::size_t start = pos_;
  // The value: a number (maybe signed), a character, or a string.
  std::vector<cpp_int> ints;
  std::optional<double> float_value;
  if (peek() == '"') {
    auto s = string_literal();
    if (!s) return tl::unexpected(s.error());
    for (char32_t c : *s) ints.emplace_back(static_cast<std::uint32_t>(c));
  } else {
    bool negative = false;
    if (peek() == '-' || peek() == '+') {
      negative = peek() == '-';
      ++pos_;
      skip_space();
    }
    if (!is_digit(peek()) && peek() != '$')
      return expected("a number, a character or a string in a binary segment");
    auto t = number(negative);
    if (!t) return tl::unexpected(t.error());
    if (is_float(*t)) {
      float_value = core::float_value(*t);
    } else if (auto i = integer_to_int64(*t)) {
      ints.emplace_back(*i);
    } else {
      cpp_int v;
      import_bits(v, bignum_digits(*t), bignum_digits(*t) + bignum_digit_count(*t), 64, false);
      ints.push_back(bignum_negative(*t) ? cpp_int(-v) : v);
    }
  }
  skip_space();
  std::optional<std::uint64_t> size;
  if (peek() == ':') {
    ++pos_;
    skip_space();
    auto sz = uint_field(UINT32_MAX, "a segment size");
    if (!sz) return tl::unexpected(sz.error());
    size = *sz;
    skip_space();
  }
  enum { kInteger, kFloat, kUtf8, kUtf16, kUtf32 } type = kInteger;
  bool little = false;
  std::optional<std::uint64_t> unit;
  if (peek() == '/') {
    ++pos_;
    for (;;) {
      skip_space();
      std::size_t spec_pos = pos_;
      std::string spec;
      while (is_name_char(peek())) spec.push_back(static_cast<char>(s_[pos_++] & 0x7F));
      if (spec == "integer" || spec == "signed" || spec == "unsigned" || spec == "big") {
        if (spec == "integer") type = kInteger;
        if (spec == "big") little = false;
      } else if (spec == "little" || spec == "native") {
        little = std::endian::native == std::endian::little || spec == "little";
      } else if (spec == "float") {
        type = kFloat;
      } else if (spec == "utf8") {
        type = kUtf8;
      } else if (spec == "utf16") {
        type = kUtf16;
      } else if (spec == "utf32") {
        type = kUtf32;
      } else if (spec == "unit") {
        skip_space();
        if (peek() != ':') return expected("':' after unit");
        ++pos_;
        skip_space();
        auto u = uint_field(256, "a unit");
        if (!u) return tl::unexpected(u.error());
        if (*u < 1) return fail_at(spec_pos, "unit must be 1..256");
        unit = *u;
      } else if (spec == "binary" || spec == "bytes" || spec == "bitstring" || spec == "bits") {
        return fail_at(spec_pos,
                       "a " + spec + " segment needs a binary value; write its bytes instead");
      } else {
        pos_ = spec_pos;
        return expected(
            "a type specifier (integer, float, utf8, utf16, utf32, signed, unsigned, "
            "big, little, native or unit:N)");
      }
      skip_space();
      if (peek() != '-') break;
      ++pos_;
    }
  }
  bool utf = type == kUtf8 || type == kUtf16 || type == kUtf32;
  if (utf && (size || unit)) return fail_at(start, "a utf segment cannot have a size or unit");
  if (unit && !size) return fail_at(start, "a unit needs a size");
  if (float_value && type != kFloat)
    return fail_at(start, "a float value needs the float type in a binary segment");

  std::uint64_t bits = (size ? *size : (type == kFloat ? 64 : 8)) * (unit ? *unit : 1);
  // A few characters of text must not ask for gigabytes.
  if (bits > kMaxSegmentBits || out.bit_count() + bits * ints.size() > kMaxBinaryBits)
    return fail_at(start, "binary is too large for term text (the limit is " +
                              std::to_string(kMaxBinaryBits / 8 / 1024 / 1024) + " MiB)");
  if (type == kFloat && bits != 16 && bits != 32 && bits != 64)
    return fail_at(start, "a float segment is 16, 32 or 64 bits");

  auto put_float = [&](double d) -> Result<void> {
    std::uint64_t raw;
    if (bits == 64) {
      raw = std::bit_cast<std::uint64_t>(d);
    } else if (bits == 32) {
      auto f = static_cast<float>(d);
      if (std::isinf(f)) return fail_at(start, "float does not fit 32 bits");
      raw = std::bit_cast<std::uint32_t>(f);
    } else {
      auto h = to_half(d);
      if (!h) return fail_at(start, "float does not fit 16 bits");
      raw = *h;
    }
    if (little)
      for (unsigned i = 0; i < bits / 8; ++i) out.bits(raw >> (8 * i), 8);
    else
      out.bits(raw, static_cast<unsigned>(bits));
    return {};
  };
  if (float_value) return put_float(*float_value);

  for (const cpp_int& v : ints) {
    switch (type) {
      case kFloat: {
        auto r = put_float(static_cast<double>(v));
        if (!r) return r;
        break;
      }
      case kInteger:
        if (little && bits > 8) {
          // Low bytes first; a partial most significant part goes last.
          cpp_int u = v;
          if (u < 0) u += cpp_int(1) << bits;
          std::uint64_t done = 0;
          for (; done + 8 <= bits; done += 8)
            out.bits(static_cast<std::uint64_t>((u >> done) & 0xFF), 8);
          if (done < bits)
            out.bits(static_cast<std::uint64_t>(u >> done), static_cast<unsigned>(bits - done));
        } else {
          out.bits(v, bits);
        }
        break;
      default: {
        if (v < 0 || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
          return fail_at(start, "not a Unicode code point in a utf segment");
        auto cp = static_cast<std::uint32_t>(v);
        if (type == kUtf8) {
          std::string u8;
          append_utf8(u8, cp);
          for (char c : u8) out.bits(static_cast<std::uint8_t>(c), 8);
        } else if (type == kUtf32) {
          for (int i = 0; i < 4; ++i) out.bits(cp >> (little ? 8 * i : 24 - 8 * i), 8);
        } else {
          std::vector<std::uint16_t> units;
          if (cp >= 0x10000) {
            units = {static_cast<std::uint16_t>(0xD800 + ((cp - 0x10000) >> 10)),
                     static_cast<std::uint16_t>(0xDC00 + ((cp - 0x10000) & 0x3FF))};
          } else {
            units = {static_cast<std::uint16_t>(cp)};
          }
          for (std::uint16_t u : units) {
            out.bits(little ? u & 0xFFu : u >> 8, 8);
            out.bits(little ? u >> 8 : u & 0xFFu, 8);
          }
        }
      }
    }
  }
  return {};
}

Result<Term> Parser::binary() {
  std::size_t open = pos_;
  pos_ += 2;  // "<<"
  BitWriter bits;
  skip_space();
  if (!at(U">>")) {
    for (;;) {
      skip_space();
      auto seg = segment(bits);
      if (!seg) return tl::unexpected(seg.error());
      skip_space();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (at(U">>")) break;
      return expected("',' or '>>' after a binary segment");
    }
  }
  pos_ += 2;
  std::size_t whole = bits.bit_count() / 8;
  auto t = make_bitstring(heap_, bits.bytes(), whole, static_cast<unsigned>(bits.bit_count() % 8));
  if (!t) return fail_at(open, "out of memory for a binary");
  return *t;
}

Result<Term> Parser::scalar() {
  char32_t c = peek();
  if (is_digit(c) || c == '$') return number(false);
  if (c == '-' || c == '+') {
    ++pos_;
    skip_space();
    if (!is_digit(peek()) && peek() != '$')
      return expected(std::string("a number after '") + static_cast<char>(c) + "'");
    return number(c == '-');
  }
  if (c == '\'') return quoted_atom();
  if (c == '"') {
    auto s = string_literal();
    if (!s) return tl::unexpected(s.error());
    std::vector<Term> chars;
    chars.reserve(s->size());
    for (char32_t ch : *s) chars.push_back(make_small(static_cast<std::int64_t>(ch)));
    return make_list(heap_, chars);
  }
  if (c == '<') return peek(1) == '<' ? binary() : local_pid();
  if (c == '#') return identifier();
  if (is_lower(c)) {
    std::size_t start = pos_;
    std::size_t end = pos_;
    while (end < s_.size() && is_name_char(s_[end])) ++end;
    if (s_.compare(start, end - start, U"fun") == 0) {
      pos_ = end;
      return external_fun();
    }
    return unquoted_atom(false);
  }
  if (is_upper(c) || c == '_') {
    std::string name;
    for (std::size_t i = pos_; i < s_.size() && is_name_char(s_[i]); ++i) append_utf8(name, s_[i]);
    return fail("'" + name + "' is a variable; a term cannot contain variables");
  }
  return expected("a term");
}

Result<Term> Parser::run() {
  std::vector<Frame> stack;
  for (;;) {
    // A value, or the opening of a container.
    skip_space();
    Term value;
    char32_t c = peek();
    if (c == '[' || c == '{' || (c == '#' && peek(1) == '{')) {
      std::size_t open = pos_;
      pos_ += c == '#' ? 2 : 1;
      skip_space();
      char32_t close = c == '[' ? ']' : '}';
      if (peek() == close) {
        ++pos_;
        if (c == '[')
          value = kNilTerm;
        else if (c == '{')
          value = core::make_tuple(heap_, std::span<const Term>{});
        else
          value = make_empty_map(heap_);
      } else {
        if (stack.size() >= kMaxParseDepth)
          return fail_at(open,
                         "terms nest deeper than " + std::to_string(kMaxParseDepth) + " levels");
        Frame frame;
        frame.kind = c == '[' ? Frame::kList : c == '{' ? Frame::kTuple : Frame::kMap;
        frame.open = open;
        stack.push_back(std::move(frame));
        continue;
      }
    } else {
      auto v = scalar();
      if (!v) return v;
      value = *v;
    }

    // Hand the value to the open containers, closing those that end here.
    for (;;) {
      if (stack.empty()) {
        skip_space();
        if (peek() == '.') {
          ++pos_;
          skip_space();
        }
        if (peek() != kEnd) return expected("end of input after the term");
        return value;
      }
      Frame& f = stack.back();
      skip_space();
      bool next = false;
      switch (f.kind) {
        case Frame::kList:
          if (f.in_tail) {
            if (peek() != ']') return expected("']' after the tail of a list");
            ++pos_;
            value = make_list(heap_, f.items, value);
            stack.pop_back();
            break;
          }
          f.items.push_back(value);
          if (peek() == ',' || peek() == '|') {
            f.in_tail = peek() == '|';
            ++pos_;
            next = true;
          } else if (peek() == ']') {
            ++pos_;
            value = make_list(heap_, f.items);
            stack.pop_back();
          } else {
            return expected("',', '|' or ']' after list element");
          }
          break;
        case Frame::kTuple:
          f.items.push_back(value);
          if (peek() == ',') {
            ++pos_;
            next = true;
          } else if (peek() == '}') {
            ++pos_;
            value = core::make_tuple(heap_, f.items);
            stack.pop_back();
          } else {
            return expected("',' or '}' after tuple element");
          }
          break;
        case Frame::kMap:
          if (!f.want_value) {
            f.items.push_back(value);
            if (!at(U"=>")) return expected("'=>' after map key");
            pos_ += 2;
            f.want_value = true;
            next = true;
            break;
          }
          f.values.push_back(value);
          f.want_value = false;
          if (peek() == ',') {
            ++pos_;
            next = true;
          } else if (peek() == '}') {
            ++pos_;
            auto m = make_map(heap_, f.items, f.values);
            if (!m) {
              // A repeated key keeps its last value, as when Erlang builds the map.
              std::vector<std::size_t> idx(f.items.size());
              for (std::size_t i = 0; i < idx.size(); ++i) idx[i] = i;
              std::stable_sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) {
                return compare_map_keys(f.items[a], f.items[b]) < 0;
              });
              std::vector<Term> keys, values;
              for (std::size_t k = 0; k < idx.size(); ++k) {
                bool last = k + 1 == idx.size() ||
                            compare_map_keys(f.items[idx[k]], f.items[idx[k + 1]]) != 0;
                if (!last) continue;
                keys.push_back(f.items[idx[k]]);
                values.push_back(f.values[idx[k]]);
              }
              m = make_map(heap_, keys, values);
            }
            value = *m;
            stack.pop_back();
          } else {
            return expected("',' or '}' after map value");
          }
          break;
      }
      if (next) break;
    }
  }
}

// Decodes UTF-8 strictly. `ok` is false when it stops at an invalid sequence;
// `text` then holds what came before it.
struct Decoded {
  std::u32string text;
  bool ok;
};
Decoded decode_text(std::string_view bytes) {
  Decoded d{{}, false};
  d.text.reserve(bytes.size());
  const auto* s = reinterpret_cast<const std::uint8_t*>(bytes.data());
  std::size_t n = bytes.size();
  for (std::size_t i = 0; i < n;) {
    std::uint8_t c = s[i];
    std::size_t len;
    char32_t cp, min;
    if (c < 0x80) {
      d.text.push_back(c);
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2, cp = c & 0x1Fu, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3, cp = c & 0x0Fu, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4, cp = c & 0x07u, min = 0x10000;
    } else {
      return d;
    }
    if (n - i < len) return d;
    for (std::size_t k = 1; k < len; ++k) {
      if ((s[i + k] & 0xC0) != 0x80) return d;
      cp = (cp << 6) | (s[i + k] & 0x3Fu);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return d;
    d.text.push_back(cp);
    i += len;
  }
  d.ok = true;
  return d;
}

ParseError make_error(const std::u32string& text, const Failure& f) {
  std::size_t line = 1, column = 1;
  for (std::size_t i = 0; i < f.pos && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  return ParseError{line, column,
                    std::to_string(line) + ":" + std::to_string(column) + ": " + f.message};
}

}  // namespace

tl::expected<Term, ParseError> parse_term(std::string_view text, Heap& heap) {
  Decoded decoded = decode_text(text);
  if (!decoded.ok)
    return tl::unexpected(
        make_error(decoded.text, Failure{decoded.text.size(), "text is not valid UTF-8"}));
  Parser parser(std::move(decoded.text), heap);
  auto t = parser.run();
  if (!t) return tl::unexpected(make_error(parser.text(), t.error()));
  return *t;
}

}  // namespace nifhost::core
