// nifhost run [OPTIONS] LIB SCRIPT: a sequence of NIF calls, like an erl shell session.
//
// A script is Erlang-like statements, each ending with a `.`:
//   Dec = nif_decode_init(<<"[1,2]">>, []).
//   nif_encode_init(Dec, []).
// Arguments are terms in Erlang syntax in which bound variables may appear
// (anywhere but inside a binary). The parser has no variables, so each one is
// replaced by a placeholder atom before parsing and the bound term is put in
// its place afterwards: a resource or any other term without a text form
// passes through unchanged.
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "command.hpp"
#include "nif_session.hpp"
#include "nifhost/core/atom_table.hpp"
#include "nifhost/core/etf.hpp"
#include "nifhost/core/order.hpp"
#include "nifhost/core/terms.hpp"
#include "nifhost/core/text.hpp"

namespace nifhost::cli {

extern const Command kRunCommand;

namespace {

using core::Term;

constexpr std::string_view kPlaceholderPrefix = "$nifhost_var_";
constexpr int kScriptError = kExitUsage;  // a statement that cannot run (syntax, unbound variable)

struct Statement {
  std::size_t line;  // where it starts (1-based)
  std::string text;  // without the final dot
};

bool is_ident_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '@';
}
bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'; }

// Skips a quoted string or atom starting at text[i] (the quote); returns the
// index after the closing quote (or text.size() if it never closes).
std::size_t skip_quoted(std::string_view text, std::size_t i) {
  const char quote = text[i];
  for (++i; i < text.size(); ++i) {
    if (text[i] == '\\') {
      ++i;
    } else if (text[i] == quote) {
      return i + 1;
    }
  }
  return text.size();
}

// Skips a character literal ($a, $\n, $\x{41}, $\101) starting at the `$`.
std::size_t skip_char_literal(std::string_view text, std::size_t i) {
  ++i;  // $
  if (i >= text.size()) return i;
  if (text[i] != '\\') {
    // One UTF-8 character.
    ++i;
    while (i < text.size() && (static_cast<unsigned char>(text[i]) & 0xC0) == 0x80) ++i;
    return i;
  }
  ++i;  // backslash
  if (i >= text.size()) return i;
  if (text[i] == 'x' && i + 1 < text.size() && text[i + 1] == '{') {
    auto close = text.find('}', i);
    return close == std::string_view::npos ? text.size() : close + 1;
  }
  if (text[i] >= '0' && text[i] <= '7') {
    std::size_t end = i + 1;
    while (end < text.size() && end < i + 3 && text[end] >= '0' && text[end] <= '7') ++end;
    return end;
  }
  if (text[i] == '^' || text[i] == 'x') return std::min(text.size(), i + 2);
  return i + 1;
}

// Splits a script into statements at Erlang's end-of-form dot: a `.` followed
// by whitespace, a comment or the end, outside strings, quoted atoms and
// character literals. Comments are dropped.
std::vector<Statement> split_statements(std::string_view script) {
  std::vector<Statement> out;
  std::string current;
  std::size_t line = 1, start_line = 1;
  auto line_of = [&](std::size_t from, std::size_t to) {
    for (std::size_t k = from; k < to; ++k)
      if (script[k] == '\n') ++line;
  };
  for (std::size_t i = 0; i < script.size();) {
    char c = script[i];
    if (current.find_first_not_of(" \t\r\n\f") == std::string::npos) start_line = line;
    if (c == '"' || c == '\'') {
      std::size_t end = skip_quoted(script, i);
      current.append(script.substr(i, end - i));
      line_of(i, end);
      i = end;
    } else if (c == '$') {
      std::size_t end = skip_char_literal(script, i);
      current.append(script.substr(i, end - i));
      i = end;
    } else if (c == '%') {
      while (i < script.size() && script[i] != '\n') ++i;
    } else if (c == '.' &&
               (i + 1 == script.size() || is_space(script[i + 1]) || script[i + 1] == '%')) {
      out.push_back({start_line, current});
      current.clear();
      ++i;
    } else {
      if (c == '\n') ++line;
      current.push_back(c);
      ++i;
    }
  }
  if (current.find_first_not_of(" \t\r\n\f") != std::string::npos)
    out.push_back({start_line, current});  // the last statement may leave out its dot
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// Replaces each variable in `text` by a placeholder atom; `names` gets the
// variable of each placeholder index.
std::string hide_variables(std::string_view text, std::vector<std::string>& names) {
  std::string out;
  for (std::size_t i = 0; i < text.size();) {
    char c = text[i];
    if (c == '"' || c == '\'') {
      std::size_t end = skip_quoted(text, i);
      out.append(text.substr(i, end - i));
      i = end;
    } else if (c == '$') {
      std::size_t end = skip_char_literal(text, i);
      out.append(text.substr(i, end - i));
      i = end;
    } else if ((c == '_' || (c >= 'A' && c <= 'Z')) &&
               (i == 0 || (!is_ident_char(text[i - 1]) && text[i - 1] != '#'))) {
      // A variable (not part of an atom, a number such as 16#FF or 1.0E3, or
      // an identifier form such as #Ref<...>).
      std::size_t end = i;
      while (end < text.size() && is_ident_char(text[end])) ++end;
      std::string name(text.substr(i, end - i));
      std::size_t index = names.size();
      for (std::size_t k = 0; k < names.size(); ++k)
        if (names[k] == name) index = k;
      if (index == names.size()) names.push_back(name);
      out += fmt::format("'{}{}'", kPlaceholderPrefix, index);
      i = end;
    } else if (c >= '0' && c <= '9') {
      // Numbers, including 16#FFFF and 1.5E3, pass whole.
      std::size_t end = i;
      while (end < text.size() && (is_ident_char(text[end]) || text[end] == '#' ||
                                   (text[end] == '.' && end + 1 < text.size() &&
                                    text[end + 1] >= '0' && text[end + 1] <= '9')))
        ++end;
      out.append(text.substr(i, end - i));
      i = end;
    } else {
      out.push_back(c);
      ++i;
    }
  }
  return out;
}

// Puts bound terms where the placeholders are; containers holding one are rebuilt.
Term substitute(core::Heap& heap, Term t, const std::vector<Term>& values) {
  if (core::is_atom(t)) {
    std::string_view name = core::atom_text(t);
    if (name.starts_with(kPlaceholderPrefix)) {
      std::size_t index = std::stoul(std::string(name.substr(kPlaceholderPrefix.size())));
      if (index < values.size()) return values[index];
    }
    return t;
  }
  if (core::is_tuple(t)) {
    std::size_t n = core::box_arity(t);
    std::vector<Term> elements(core::box_ptr(t) + 1, core::box_ptr(t) + 1 + n);
    bool changed = false;
    for (Term& e : elements) {
      Term s = substitute(heap, e, values);
      changed |= s != e;
      e = s;
    }
    return changed ? core::make_tuple(heap, elements) : t;
  }
  if (core::is_cons(t)) {
    std::vector<Term> elements;
    core::ListRange range(t);
    bool changed = false;
    for (Term e : range) {
      Term s = substitute(heap, e, values);
      changed |= s != e;
      elements.push_back(s);
    }
    Term tail = substitute(heap, range.tail(), values);
    changed |= tail != range.tail();
    return changed ? core::make_list(heap, elements, tail) : t;
  }
  if (core::is_map(t)) {
    // [hdr] n, keys[n], values[n]
    const Term* p = core::box_ptr(t);
    auto n = static_cast<std::size_t>(p[1]);
    std::vector<Term> keys(p + 2, p + 2 + n), vals(p + 2 + n, p + 2 + 2 * n);
    bool changed = false;
    for (std::size_t k = 0; k < n; ++k) {
      Term sk = substitute(heap, keys[k], values), sv = substitute(heap, vals[k], values);
      changed |= sk != keys[k] || sv != vals[k];
      keys[k] = sk;
      vals[k] = sv;
    }
    if (!changed) return t;
    auto m = core::make_map(heap, keys, vals);
    return m ? *m : t;  // two keys became the same term: keep the text's map
  }
  return t;
}

struct Call {
  std::optional<std::string> bind;  // the variable on the left of `=`
  std::optional<std::string> module;
  std::string function;
  std::string args;  // the text between the parentheses
};

// `[Var =] [module:]function(Args)`, or an error message.
tl::expected<Call, std::string> parse_call(std::string_view text) {
  Call call;
  text = trim(text);
  // Var = ...
  if (!text.empty() && (text[0] == '_' || (text[0] >= 'A' && text[0] <= 'Z'))) {
    std::size_t end = 0;
    while (end < text.size() && is_ident_char(text[end])) ++end;
    std::string_view rest = trim(text.substr(end));
    if (rest.empty() || rest[0] != '=' || (rest.size() > 1 && (rest[1] == '=' || rest[1] == ':')))
      return tl::make_unexpected("expected 'Var = function(...)' or 'function(...)'");
    call.bind = std::string(text.substr(0, end));
    text = trim(rest.substr(1));
  }
  auto read_atom = [&](std::string_view& s) -> std::optional<std::string> {
    if (s.empty()) return std::nullopt;
    if (s[0] == '\'') {
      std::size_t end = skip_quoted(s, 0);
      core::Heap heap;
      auto t = core::parse_term(s.substr(0, end), heap);
      if (!t || !core::is_atom(*t)) return std::nullopt;
      s = trim(s.substr(end));
      return std::string(core::atom_text(*t));
    }
    if (!(s[0] >= 'a' && s[0] <= 'z')) return std::nullopt;
    std::size_t end = 0;
    while (end < s.size() && is_ident_char(s[end])) ++end;
    std::string name(s.substr(0, end));
    s = trim(s.substr(end));
    return name;
  };
  auto name = read_atom(text);
  if (!name) return tl::make_unexpected("expected a function name");
  if (!text.empty() && text[0] == ':') {
    text = trim(text.substr(1));
    auto fn = read_atom(text);
    if (!fn) return tl::make_unexpected("expected a function name after ':'");
    call.module = std::move(name);
    name = std::move(fn);
  }
  call.function = std::move(*name);
  if (text.empty() || text[0] != '(' || text.back() != ')')
    return tl::make_unexpected("expected '(' arguments ')' after " + call.function);
  call.args = std::string(text.substr(1, text.size() - 2));
  return call;
}

class Shell {
 public:
  Shell(NifSession& session, OutputFormat format, Io& io)
      : session_(session), format_(format), io_(io) {}

  // Runs one statement; returns its status.
  int run(const Statement& st) {
    auto call = parse_call(st.text);
    if (!call) return script_error(st, call.error());
    if (call->function == "flush" && !call->module && trim(call->args).empty() &&
        !session_.vm().lookup(session_.library(), "flush", 0))
      return flush();

    core::Heap& heap = session_.shell().heap();
    std::vector<std::string> names;
    std::string hidden = "[" + hide_variables(call->args, names) + "]";
    std::vector<Term> values;
    for (const std::string& n : names) {
      auto it = bound_.find(n);
      if (it == bound_.end()) return script_error(st, "variable '" + n + "' is unbound");
      values.push_back(it->second);
    }
    auto list = core::parse_term(hidden, heap);
    if (!list) return script_error(st, "syntax error in the arguments: " + list.error().message);
    list = substitute(heap, *list, values);
    std::vector<Term> args;
    for (Term a : core::ListRange(*list)) args.push_back(a);

    if (call->module && *call->module != session_.info().module) {
      print_exception(core::atoms::kError, core::atoms::kUndef);
      return kExitRaised;
    }
    std::optional<Term> result;
    std::ostringstream out;
    Io capture{io_.in, out, io_.err};
    int status = call_and_print(session_, call->function, args, format_, capture, &result);
    if (status == kExitOk && call->bind) {
      auto it = bound_.find(*call->bind);
      if (it != bound_.end() && !core::identical(it->second, *result)) {
        // Erlang's match of a bound variable against another value.
        print_exception(core::atoms::kError,
                        core::make_tuple(heap, {core::atoms::kBadmatch, *result}));
        return kExitRaised;
      }
      bound_.emplace(*call->bind, *result);
    }
    io_.out << out.str();
    return status;
  }

 private:
  int script_error(const Statement& st, const std::string& message) {
    io_.out << "* " << st.line << ": " << message << '\n';
    return kScriptError;
  }

  void print_exception(Term klass, Term reason) {
    core::Heap& heap = session_.shell().heap();
    if (format_ == OutputFormat::kErl) {
      io_.out << "** exception " << core::print_term(klass) << ": " << core::print_term(reason)
              << '\n';
    } else {
      auto bytes = core::encode(core::make_tuple(heap, {klass, reason}));
      io_.out << (bytes ? hex(*bytes) : "** " + bytes.error().what()) << '\n';
    }
  }

  // The erl shell's flush(): every message, then ok.
  int flush() {
    while (auto m = session_.shell().receive())
      io_.out << "Shell got " << core::print_term(*m) << '\n';
    io_.out << "ok\n";
    return kExitOk;
  }

  NifSession& session_;
  OutputFormat format_;
  Io& io_;
  std::map<std::string, Term> bound_;
};

int run(std::span<const std::string_view> args, Io& io) {
  for (std::string_view a : args) {
    if (a == "--") break;
    if (a == "--help" || a == "-h") {
      print_usage(io.out, kRunCommand);
      io.out << "\nLoads LIB and runs the statements of SCRIPT ('-' reads standard input) on\n"
                "behalf of one process of a small VM, printing one line per statement:\n"
                "  Var = function(Arg, ...).   binds Var to the result (a bound Var must match)\n"
                "  function(Arg, ...).         Args are Erlang terms and bound variables\n"
                "  module:function(...).       module must be LIB's\n"
                "  flush().                    prints 'Shell got Msg' for each message the\n"
                "                              process received, then ok (as erl's flush/0)\n"
                "Lines print as `nifhost call` prints them; a statement that cannot run\n"
                "prints '* LINE: why' (syntax error, unbound variable). Every statement runs,\n"
                "whatever happened before it; % starts a comment.\n\n"
             << kNifOptionsHelp
             << "\nExit status: the largest of the statements' statuses - 0 all returned,\n"
                "1 an exception was raised, 2 a statement could not run (or bad command\n"
                "line), 4 a contained failure - or 3 if the library did not load.\n";
      return kExitOk;
    }
  }
  auto options = parse_nif_options(args, io, kRunCommand);
  if (!options) return options.error();
  if (options->operands.size() != 2)
    return usage_error(
        io, &kRunCommand,
        options->operands.size() < 2 ? "missing LIB or SCRIPT" : "expected LIB and SCRIPT only");
  std::string script;
  if (options->operands[1] == "-") {
    script.assign(std::istreambuf_iterator<char>(io.in), std::istreambuf_iterator<char>());
  } else {
    std::ifstream file{std::string(options->operands[1])};
    if (!file)
      return usage_error(io, &kRunCommand,
                         "cannot read SCRIPT '" + std::string(options->operands[1]) + "'");
    script.assign(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
  }
  auto session = NifSession::open(*options, options->operands[0], io, kRunCommand);
  if (!session) return session.error();
  Shell shell(*session, options->format, io);
  int worst = kExitOk;
  for (const Statement& st : split_statements(script)) worst = std::max(worst, shell.run(st));
  return worst;
}

}  // namespace

const Command kRunCommand{
    "run",
    "[OPTIONS] LIB SCRIPT",
    "load a NIF library and run a script of calls, one result per line",
    run,
};

}  // namespace nifhost::cli
