// enif_snprintf, enif_vsnprintf, enif_fprintf and enif_vfprintf: C printf
// plus the BEAM's %T, which formats an ERL_NIF_TERM.
//
// Every ordinary conversion is handed, one at a time and with its own flags,
// width, precision and length modifier, to the C library's snprintf, so it
// prints exactly as printf would. %T prints the term as the BEAM's own term
// printer does, with its width and precision rules (erts_term_printer.hpp).
#include <climits>
#include <cstdarg>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <cwchar>
#include <string>

#include "enif_common.hpp"
#include "erts_term_printer.hpp"

namespace core = nifhost::core;

namespace {

enum class Length { kNone, kChar, kShort, kLong, kLongLong, kLongDouble, kIntmax, kSize, kPtrdiff };

// Appends what snprintf makes of `spec` and one argument. The format is built
// at run time from the caller's, one conversion at a time, by design.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
template <class T>
void append_formatted(std::string& out, const std::string& spec, T value) {
  char small[128];
  int n = std::snprintf(small, sizeof small, spec.c_str(), value);
  if (n < 0) return;
  if (static_cast<std::size_t>(n) < sizeof small) {
    out.append(small, static_cast<std::size_t>(n));
    return;
  }
  std::string big(static_cast<std::size_t>(n) + 1, '\0');
  std::snprintf(big.data(), big.size(), spec.c_str(), value);
  out.append(big.data(), static_cast<std::size_t>(n));
}
#pragma GCC diagnostic pop

template <class T>
void store_count(void* p, std::size_t count) {
  *static_cast<T*>(p) = static_cast<T>(count);
}

// Formats `fmt` with the arguments in `ap` onto `out`.
void format(std::string& out, const char* fmt, va_list ap) {
  va_list args;
  va_copy(args, ap);
  const char* p = fmt;
  while (*p != '\0') {
    if (*p != '%') {
      const char* next = std::strchr(p, '%');
      std::size_t n = next != nullptr ? static_cast<std::size_t>(next - p) : std::strlen(p);
      out.append(p, n);
      p += n;
      continue;
    }
    const char* start = p++;
    std::string spec = "%";
    // %T's own reading of the flags, width and precision, as the BEAM's
    // erts_printf_format reads them (a lone '.' leaves the precision unset).
    bool left_adjust = false;
    int width = -1;
    int precision = -1;
    auto add_digit = [](int& v, char c) {
      int d = c - '0';
      v = v < 0 ? d : v > (INT_MAX - d) / 10 ? INT_MAX : v * 10 + d;
    };
    while (*p != '\0' && std::strchr("-+ #0'I", *p) != nullptr) {
      if (*p == '-') left_adjust = true;
      spec.push_back(*p++);
    }
    if (*p == '*') {
      width = va_arg(args, int);
      spec += std::to_string(width);
      ++p;
    } else {
      while (*p >= '0' && *p <= '9') {
        add_digit(width, *p);
        spec.push_back(*p++);
      }
    }
    if (*p == '.') {
      ++p;
      if (*p == '*') {
        precision = va_arg(args, int);
        if (precision >= 0) spec += "." + std::to_string(precision);
        ++p;
      } else {
        spec.push_back('.');
        while (*p >= '0' && *p <= '9') {
          add_digit(precision, *p);
          spec.push_back(*p++);
        }
      }
    }
    Length length = Length::kNone;
    std::string length_text;
    switch (*p) {
      case 'h':
        length = p[1] == 'h' ? Length::kChar : Length::kShort;
        break;
      case 'l':
        length = p[1] == 'l' ? Length::kLongLong : Length::kLong;
        break;
      case 'q':
        length = Length::kLongLong;
        break;
      case 'L':
        length = Length::kLongDouble;
        break;
      case 'j':
        length = Length::kIntmax;
        break;
      case 'z':
      case 'Z':
        length = Length::kSize;
        break;
      case 't':
        length = Length::kPtrdiff;
        break;
      default:
        break;
    }
    if (length != Length::kNone) {
      bool doubled = (length == Length::kChar || (length == Length::kLongLong && *p == 'l'));
      length_text.assign(p, doubled ? 2 : 1);
      p += doubled ? 2 : 1;
    }
    char conv = *p;
    if (conv == '\0') {  // a lone or unfinished % at the end: printed as written
      out.append(start);
      break;
    }
    ++p;
    spec += length_text;
    spec.push_back(conv);
    switch (conv) {
      case '%':
        out.push_back('%');
        break;
      case 'd':
      case 'i':
        switch (length) {
          case Length::kLong:
            append_formatted(out, spec, va_arg(args, long));
            break;
          case Length::kLongLong:
            append_formatted(out, spec, va_arg(args, long long));
            break;
          case Length::kIntmax:
            append_formatted(out, spec, va_arg(args, std::intmax_t));
            break;
          case Length::kSize:
            append_formatted(out, spec, va_arg(args, std::ptrdiff_t));  // signed size_t
            break;
          case Length::kPtrdiff:
            append_formatted(out, spec, va_arg(args, std::ptrdiff_t));
            break;
          default:  // char and short are promoted to int
            append_formatted(out, spec, va_arg(args, int));
            break;
        }
        break;
      case 'o':
      case 'u':
      case 'x':
      case 'X':
        switch (length) {
          case Length::kLong:
            append_formatted(out, spec, va_arg(args, unsigned long));
            break;
          case Length::kLongLong:
            append_formatted(out, spec, va_arg(args, unsigned long long));
            break;
          case Length::kIntmax:
            append_formatted(out, spec, va_arg(args, std::uintmax_t));
            break;
          case Length::kSize:
            append_formatted(out, spec, va_arg(args, std::size_t));
            break;
          case Length::kPtrdiff:
            append_formatted(out, spec, va_arg(args, std::size_t));  // unsigned ptrdiff_t
            break;
          default:
            append_formatted(out, spec, va_arg(args, unsigned));
            break;
        }
        break;
      case 'e':
      case 'E':
      case 'f':
      case 'F':
      case 'g':
      case 'G':
      case 'a':
      case 'A':
        if (length == Length::kLongDouble)
          append_formatted(out, spec, va_arg(args, long double));
        else
          append_formatted(out, spec, va_arg(args, double));
        break;
      case 'c':
        if (length == Length::kLong)
          append_formatted(out, spec, va_arg(args, std::wint_t));
        else
          append_formatted(out, spec, va_arg(args, int));
        break;
      case 's':
        if (length == Length::kLong)
          append_formatted(out, spec, va_arg(args, const wchar_t*));
        else
          append_formatted(out, spec, va_arg(args, const char*));
        break;
      case 'p':
        append_formatted(out, spec, va_arg(args, void*));
        break;
      case 'n': {
        void* target = va_arg(args, void*);
        switch (length) {
          case Length::kChar:
            store_count<signed char>(target, out.size());
            break;
          case Length::kShort:
            store_count<short>(target, out.size());
            break;
          case Length::kLong:
            store_count<long>(target, out.size());
            break;
          case Length::kLongLong:
            store_count<long long>(target, out.size());
            break;
          case Length::kIntmax:
            store_count<std::intmax_t>(target, out.size());
            break;
          case Length::kSize:
            store_count<std::size_t>(target, out.size());
            break;
          case Length::kPtrdiff:
            store_count<std::ptrdiff_t>(target, out.size());
            break;
          default:
            store_count<int>(target, out.size());
            break;
        }
        break;
      }
      case 'T':
        core::enif::append_erts_percent_t(out, va_arg(args, ERL_NIF_TERM), width, precision,
                                          left_adjust);
        break;
      default:
        // Not a conversion printf knows: written as it stands (as glibc does).
        out.append(start, static_cast<std::size_t>(p - start));
        break;
    }
  }
  va_end(args);
}

// snprintf's contract: writes at most size bytes including the NUL, returns
// the length the whole output has (or -1 if it cannot be told in an int).
int copy_out(const std::string& text, char* buffer, std::size_t size) {
  if (size > 0) {
    std::size_t n = text.size() < size - 1 ? text.size() : size - 1;
    std::memcpy(buffer, text.data(), n);
    buffer[n] = '\0';
  }
  return text.size() > static_cast<std::size_t>(INT32_MAX) ? -1 : static_cast<int>(text.size());
}

}  // namespace

extern "C" {

int enif_vsnprintf(char* buffer, size_t size, const char* fmt, va_list ap) {
  try {
    std::string text;
    format(text, fmt, ap);
    return copy_out(text, buffer, size);
  } catch (...) {
    return -1;
  }
}

int enif_snprintf(char* buffer, size_t size, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = enif_vsnprintf(buffer, size, fmt, ap);
  va_end(ap);
  return n;
}

int enif_vfprintf(FILE* file, const char* fmt, va_list ap) {
  try {
    std::string text;
    format(text, fmt, ap);
    if (std::fwrite(text.data(), 1, text.size(), file) != text.size()) return -1;
    return text.size() > static_cast<std::size_t>(INT32_MAX) ? -1 : static_cast<int>(text.size());
  } catch (...) {
    return -1;
  }
}

int enif_fprintf(FILE* file, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = enif_vfprintf(file, fmt, ap);
  va_end(ap);
  return n;
}

}  // extern "C"
